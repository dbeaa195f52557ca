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

from .models import create_model, list_models, load_checkpoint  # registers the models with timm

__version__ = "0.1.0"

__all__ = [
    "bidirectional_gla",
    "set_backend", "get_backend", "use_backend", "available_backends", "known_backends",
    "Backend", "KernelBackend", "BackendUnavailableError",
    "create_model", "list_models", "load_checkpoint",
]

