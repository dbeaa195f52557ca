"""What a backend of the bidirectional GLA op is.

A backend is an object with a name, an availability check and, for kernel backends, one
forward and one backward entry point. Everything else (argument checks, the autograd.Function
that joins forward and backward, layout and dtype handling) lives once, in :mod:`vig.ops`.

Kernel backends subclass :class:`KernelBackend`. What the shared layer guarantees to their
entry points, and what it expects back, is written on the methods below; a backend must not
re-check arguments or re-wire autograd.
"""
from __future__ import annotations

import functools
import os
from typing import Sequence

import torch

__all__ = ["Backend", "KernelBackend", "BackendUnavailableError", "Knobs", "sm_count"]


@functools.lru_cache(maxsize=None)
def sm_count(index: int) -> int:
    """The SM count of CUDA device ``index`` (cached): the wave rules of the kernel backends' launch plans
    (Triton's split backward, CuPy's v39w forward) read it."""
    return torch.cuda.get_device_properties(index).multi_processor_count


class Knobs:
    """A backend's run-time switches: the environment variables whose names start with one of
    ``prefixes``, read once (at construction) and served from memory, since a call reads them on
    every launch and an ``os.environ`` lookup costs microseconds of host time each (measured ~6 us
    on the GPU host). :meth:`reload` re-reads them, for scripts and tests that switch kernels
    through the environment inside one process.

    :meth:`memo` caches a backend's routing decisions (which kernel, which launch options) that depend
    only on their hashable arguments, these values and module constants; :meth:`reload` forgets them."""

    def __init__(self, *prefixes: str):
        self._prefixes = prefixes
        self._values: dict[str, str] = {}
        self._memos: list = []
        self.reload()

    def reload(self) -> None:
        """Re-read the values from ``os.environ`` and forget every decision :meth:`memo` cached."""
        self._values = {k: v for k, v in os.environ.items() if k.startswith(self._prefixes)}
        for memo in self._memos:
            memo.cache_clear()

    def get(self, name: str, default=None):
        return self._values.get(name, default)

    def choice(self, name: str, default: str, allowed, empty: str | None = None) -> str:
        """The value of ``name`` (``default`` when unset), one of ``allowed``; the empty value gives ``empty`` where
        one is given (a switch whose empty value means its default); anything else raises a ValueError naming the
        variable (a switch never takes an unknown value as some other one)."""
        v = self._values.get(name, default)
        if v == "" and empty is not None:
            return empty
        if v not in allowed:
            raise ValueError(f"{name}={v!r}: expected one of {', '.join(map(repr, allowed))}"
                             + (" (or empty)" if empty is not None else ""))
        return v

    def multiple(self, name: str, default: str, step: int, lo: int, hi: int, empty: int | None = None) -> int:
        """A count switch: the value of ``name`` (``default`` when unset), a multiple of ``step`` in [lo, hi]; the
        empty value gives ``empty`` (where it means "off" or "the builder's default"; None: refused); anything else
        raises a ValueError naming the variable."""
        v = self._values.get(name, default)
        if v == "" and empty is not None:
            return empty
        if not (v.isdigit() and int(v) % step == 0 and lo <= int(v) <= hi):
            raise ValueError(f"{name}={v!r}: expected a multiple of {step} in [{lo}, {hi}]"
                             + (" (or empty)" if empty is not None else ""))
        return int(v)

    def on(self, name: str, default: str) -> bool:
        """An on / off switch: "1" on; "0" or "" off; anything else raises (:meth:`choice`)."""
        return self.choice(name, default, ("1", "0", "")) == "1"

    def memo(self, fn):
        """``fn`` cached per argument tuple until :meth:`reload` (a decorator). For routing decisions that a
        call asks many times, each a Python function reading knobs, on every forward and backward (host time:
        kernels/tilelang/NOTES.md session 21, kernels/triton/NOTES.md session 22). A call that raises (a bad
        switch value) is not cached: it raises again on the next call. Bounded: the shape-dependent decisions
        are keyed by shapes too."""
        memo = functools.lru_cache(maxsize=4096)(fn)
        self._memos.append(memo)
        return memo


class BackendUnavailableError(RuntimeError):
    """A known backend cannot run here (package missing, no GPU, tensors on the wrong device).

    The message says which backend, why, and what to do.
    """

    def __init__(self, backend: str, reasons: Sequence[str], fix: str = ""):
        self.backend = backend
        self.reasons = list(reasons)
        self.fix = fix
        msg = f"vig backend {backend!r} cannot run here: " + "; ".join(self.reasons)
        if fix:
            msg += f". {fix}"
        super().__init__(msg)


class Backend:
    """Base of every backend.

    ``name``: registry name. ``device_types``: the torch device types whose tensors it takes.
    ``install_hint``: what to do when the backend is unavailable (shown in errors). ``dtypes``,
    ``max_head_dim``: what tensors it takes (:meth:`takes`).
    """

    name: str = "?"
    device_types: tuple[str, ...] = ("cuda",)
    install_hint: str = ""
    #: the dtypes of q, k, v it takes (the shared layer raises TypeError for others; "auto" skips it)
    dtypes: tuple[torch.dtype, ...] = (torch.float32, torch.float16, torch.bfloat16)
    #: the widest head (max(K, V)) it takes, or None (any; the shared layer raises
    #: BackendUnavailableError beyond it; "auto" skips it)
    max_head_dim: int | None = None

    def not_supported_reasons(self) -> list[str]:
        """Why this backend cannot run in this process at all ([] when it can)."""
        return []

    def input_reasons(self, device: torch.device) -> list[str]:
        """Why this backend cannot run on tensors of ``device`` ([] when it can)."""
        if device.type not in self.device_types:
            return [
                f"it runs on {' or '.join(self.device_types)} tensors, these are on {device.type}"
            ]
        return []

    def takes(self, dtype: torch.dtype, head_dim: int) -> bool:
        """Whether it takes q, k, v of ``dtype`` with ``head_dim`` = max(K, V) channels."""
        return dtype in self.dtypes and (self.max_head_dim is None or head_dim <= self.max_head_dim)

    def apply(self, q, k, v, g_fwd, g_bwd, scale: float) -> torch.Tensor:  # pragma: no cover
        """Differentiable op on validated inputs. Kernel backends inherit the shared one."""
        raise NotImplementedError


class KernelBackend(Backend):
    """A backend made of a forward and a backward kernel entry point.

    The shared layer (:mod:`vig.ops`) calls them through one ``torch.autograd.Function``.

    Guarantees to both entry points:

    * ``q``, ``k``: ``[B, L, H, K]``; ``v`` (and ``do``): ``[B, L, H, V]``; one dtype among
      float32, float16, bfloat16 for q, k, v, do; all on one device of ``device_types``.
    * ``g_fwd``, ``g_bwd``: ``[B, L, H, K]``, float32, log-space gates <= 0 (-inf allowed).
    * ``L >= 1``, ``B >= 1``, ``H >= 1``, ``K >= 1``, ``V >= 1``; ``K, V <= max_head_dim`` when the
      backend sets it, and ``K <= max_tile[0]``, ``V <= max_tile[1]`` when it sets ``max_tile``
      (see there).
    * Every tensor has ``stride(-1) == 1`` (or ``size(-1) == 1``); the other strides are arbitrary (the gates are
      usually the two halves of one projection, q, k, v slices of another) unless the
      backend sets ``requires_contiguous = True``, in which case every tensor is contiguous (row-major
      strides, size-1 dims included) and its data starts 16-byte aligned (``vig.ops.ALIGN``). A backend that takes views on some
      paths and needs contiguous tensors on others gets the latter from ``vig.ops._layout``.
    * ``scale`` is a Python float.
    * The current CUDA device is the tensors' (the shared layer switches to it when it is not),
      and PyTorch's current stream of that device is where to launch.

    Numerics: accumulate in float32. With float32 inputs use full float32 products (no TF32):
    parity is judged against the float64 reference at twice the error of plain PyTorch in the
    same dtype, which TF32 does not meet.
    """

    requires_contiguous: bool = False

    #: ``(K, V)``: the most key / value channels the kernels take at once, or None (any). Wider
    #: heads are cut into tiles by the shared layer (:mod:`vig.ops`): the op is a sum over key
    #: channels, each with its own gates, and separable over value channels, so each tile pair
    #: runs through the entry points on float32 views or copies of its channels and the partial outputs
    #: and gradients are summed in float32. A tiled backend saves nothing (``saved == ()``).
    max_tile: tuple[int, int] | None = None

    def forward(self, q, k, v, g_fwd, g_bwd, scale: float, needs_grad: bool = True):
        """Return ``(o, saved)``: ``o`` a new ``[B, L, H, V]`` tensor in v's dtype, ``saved``
        a tuple of tensors the backward needs beyond the inputs (may be empty). ``needs_grad``:
        whether autograd needs a gradient of any input (a backward may follow); when False a
        backend may skip computing or keeping what only its backward reads."""
        raise NotImplementedError

    def backward(self, q, k, v, g_fwd, g_bwd, scale: float, do, saved):
        """Return ``(dq, dk, dv, dg_fwd, dg_bwd)`` with the inputs' shapes. ``dq, dk, dv`` in
        any floating dtype (the caller casts to the inputs' dtype), ``dg_*`` float32."""
        raise NotImplementedError

    def apply(self, q, k, v, g_fwd, g_bwd, scale: float) -> torch.Tensor:
        from vig.ops import _KernelFunction  # the one autograd wiring, shared by all backends

        needs_grad = torch.is_grad_enabled() and any(t.requires_grad for t in (q, k, v, g_fwd, g_bwd))
        return _KernelFunction.apply(self, scale, q, k, v, g_fwd, g_bwd, needs_grad)
