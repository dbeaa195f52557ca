"""The one registry of bidirectional-GLA backends, and the choice of the active one.

* ``set_backend(name)``: the process-wide default; until it is set (or after ``set_backend(None)``),
  ``$VIG_BACKEND``, read at each call (a bad value raises there), else ``"auto"``.
* ``with use_backend(name): ...``: an override for the current thread / asyncio task only
  (a ``contextvars.ContextVar``), so two threads can use two backends.
* ``get_backend()``: the name in force here (may be ``"auto"``).
* ``available_backends()``: every registered backend -> ``None`` if usable in this process,
  else the reason.
* ``"auto"``: the fastest usable backend for the tensors' device, dtype and head size
  (``AUTO_ORDER``), the reference on the CPU and where no kernel backend takes the tensors
  (float64, heads wider than a backend's ``max_head_dim``).

An unknown name raises ``ValueError`` listing the known ones; a known backend that cannot run
here raises :class:`BackendUnavailableError` with the reason and the fix. There is no silent
fallback: only ``"auto"`` chooses.
"""
from __future__ import annotations

import contextlib
import contextvars
import importlib
import os
import threading

import torch

from .backend import Backend, BackendUnavailableError

# name -> "module:attribute" of a Backend class. A backend is listed here only once it works
# (parity proven on its device).
_REGISTRY: dict[str, str] = {
    "reference": "vig_reference.backend:ReferenceBackend",
    "triton": "vig_kernels.triton:TritonBackend",
    "cupy": "vig_kernels.cupy:CuPyBackend",
    "tilelang": "vig_kernels.tilelang:TileLangBackend",
}

# "auto" on CUDA tensors takes the first usable of these (fastest first, by the committed
# benchmark results: results/2026-11-25d-h100/final, CuPy's forward and forward+backward are the
# fastest CUDA-graphed at every shape; eager, where the host dominates, the order varies), then the
# reference.
AUTO_ORDER: tuple[str, ...] = ("cupy", "triton", "tilelang")

ENV_VAR = "VIG_BACKEND"

_lock = threading.Lock()
_objects: dict[str, Backend] = {}
_import_errors: dict[str, str] = {}
_override: contextvars.ContextVar[str | None] = contextvars.ContextVar("vig_backend", default=None)
_default: str | None = None


def known_backends() -> list[str]:
    """Registered backend names, plus ``"auto"``."""
    return [*_REGISTRY, "auto"]


def _check_name(name) -> str:
    if not isinstance(name, str) or (name not in _REGISTRY and name != "auto"):
        raise ValueError(
            f"unknown vig backend {name!r}; known backends: {', '.join(map(repr, known_backends()))}"
        )
    return name


def get_backend_object(name: str) -> Backend | None:
    """The backend object for a registered name (``None`` if its module failed to import;
    :func:`available_backends` then gives the reason). Raises ValueError for unknown names."""
    _check_name(name)
    if name == "auto":
        raise ValueError("'auto' is a policy, not a backend; use resolve_backend(name, device)")
    with _lock:
        if name not in _objects and name not in _import_errors:
            module, _, attr = _REGISTRY[name].partition(":")
            try:
                _objects[name] = getattr(importlib.import_module(module), attr)()
            except Exception as exc:  # an unimportable backend is reported, never fatal
                _import_errors[name] = f"importing {module} failed: {type(exc).__name__}: {exc}"
        return _objects.get(name)


def _reasons(name: str) -> list[str]:
    obj = get_backend_object(name)
    if obj is None:
        return [_import_errors[name]]
    return obj.not_supported_reasons()


def available_backends() -> dict[str, str | None]:
    """Every registered backend -> ``None`` when it can run in this process, else why not."""
    out = {}
    for name in _REGISTRY:
        reasons = _reasons(name)
        out[name] = "; ".join(reasons) if reasons else None
    return out


def _env_default() -> str:
    value = os.environ.get(ENV_VAR, "").strip()
    if not value:
        return "auto"
    try:
        return _check_name(value)
    except ValueError as exc:
        raise ValueError(f"${ENV_VAR}: {exc}") from None


def set_backend(name: str | None) -> None:
    """Set the process-wide default backend (``"auto"``: automatic choice; ``None``: no default of
    its own again, so ``$VIG_BACKEND`` (read at each call), else ``"auto"``, is in force)."""
    global _default
    _default = None if name is None else _check_name(name)


def get_backend() -> str:
    """The backend name in force in this thread/task: the innermost ``use_backend``, else the
    process default, else ``$VIG_BACKEND``, else ``"auto"``."""
    name = _override.get()
    if name is not None:
        return name
    return _default if _default is not None else _env_default()


@contextlib.contextmanager
def use_backend(name: str):
    """Use ``name`` inside the block, in this thread/task only."""
    token = _override.set(_check_name(name))
    try:
        yield
    finally:
        _override.reset(token)


def _unavailable(name: str, reasons: list[str], inputs: bool = False) -> BackendUnavailableError:
    """The error for a backend that cannot run: ``inputs`` when it could run here but not on these
    tensors (then the fix is about the tensors, not about installing anything)."""
    obj = _objects.get(name)
    if inputs:
        fix = ("move the tensors to a device it runs on, or choose another backend (the reference backend "
               "runs on CPU and GPU tensors) with backend=..., vig.set_backend(...) or vig.use_backend(...)")
    else:
        fix = (obj.install_hint if obj is not None else "") or \
            "choose another backend with vig.set_backend(...) or vig.use_backend(...)"
    return BackendUnavailableError(name, reasons, fix)


def resolve_backend(name: str | None, device: torch.device, dtype: torch.dtype | None = None,
                    head_dim: int | None = None) -> Backend:
    """The backend object that runs tensors on ``device`` for the name ``name`` (``None``:
    the one in force). Raises BackendUnavailableError if that backend cannot run them.
    ``"auto"`` takes the first backend of AUTO_ORDER that can run here, on ``device``, in
    ``dtype`` and with heads of ``head_dim`` = max(K, V) channels (both optional), else the
    reference backend."""
    name = _check_name(name) if name is not None else get_backend()
    device = torch.device(device)
    if name == "auto":
        if device.type != "cpu":
            for cand in AUTO_ORDER:
                if cand in _REGISTRY and not _reasons(cand):
                    obj = _objects[cand]
                    if not obj.input_reasons(device) and (dtype is None or obj.takes(dtype, head_dim or 1)):
                        return obj
        name = "reference"
    reasons = _reasons(name)
    obj = _objects.get(name)
    if reasons:
        raise _unavailable(name, reasons)
    reasons = obj.input_reasons(device)
    if reasons:
        raise _unavailable(name, reasons, inputs=True)
    return obj
