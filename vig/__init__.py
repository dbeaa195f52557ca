"""vig: ViG vision backbones (arXiv 2405.18425) and their bidirectional gated linear attention,
with interchangeable kernel backends chosen at run time."""
from .backend import Backend, BackendUnavailableError, KernelBackend
from .ops import bidirectional_gla
from .registry import (
    available_backends,
    get_backend,
    known_backends,
    set_backend,
    use_backend,
)

__version__ = "0.1.0"

__all__ = [
    "bidirectional_gla",
    "set_backend", "get_backend", "use_backend", "available_backends", "known_backends",
    "Backend", "KernelBackend", "BackendUnavailableError",
    "create_model", "list_models", "load_checkpoint",
]


def __getattr__(name):
    # The models import timm (slow); load them on first use. Registration with timm happens
    # on that first use too, or at `import vig.models`.
    if name in ("create_model", "list_models", "load_checkpoint"):
        from . import models

        return getattr(models, name)
    raise AttributeError(f"module 'vig' has no attribute {name!r}")
