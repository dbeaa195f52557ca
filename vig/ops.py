"""The public op: argument checks, dispatch, and the one autograd wiring of kernel backends."""
from __future__ import annotations

import numbers

import torch

from .backend import BackendUnavailableError
from .registry import resolve_backend

__all__ = ["bidirectional_gla"]

_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)
_NAMES = ("q", "k", "v", "g_fwd", "g_bwd")


def _validate(q, k, v, g_fwd, g_bwd, scale):
    """Return if the arguments meet the contract, else raise the error that names the problem.
    The conjunction below is exactly _explain's rules, tested in one expression (the valid case
    is every call's, and this runs on the host each time); _explain walks them one by one."""
    if all(isinstance(t, torch.Tensor) for t in (q, k, v, g_fwd, g_bwd)):
        s = q.shape
        dev = q.device
        if (len(s) == 4 and k.shape == s and g_fwd.shape == s and g_bwd.shape == s
                and v.dim() == 4 and v.shape[:3] == s[:3]
                and q.dtype in _DTYPES and k.dtype is q.dtype and v.dtype is q.dtype
                and g_fwd.dtype in (torch.float32, q.dtype) and g_bwd.dtype in (torch.float32, q.dtype)
                and k.device == dev and v.device == dev and g_fwd.device == dev and g_bwd.device == dev
                and (scale is None or (isinstance(scale, numbers.Real) and not isinstance(scale, bool)))):
            return
    _explain(q, k, v, g_fwd, g_bwd, scale)


def _explain(q, k, v, g_fwd, g_bwd, scale):
    """Raise the error that names what is wrong (the slow path of _validate)."""
    tensors = dict(zip(_NAMES, (q, k, v, g_fwd, g_bwd)))
    for name, t in tensors.items():
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"bidirectional_gla: {name} must be a torch.Tensor, got {type(t).__name__}")
        if t.dim() != 4:
            raise ValueError(
                f"bidirectional_gla: {name} must be 4-D [B, L, H, {'V' if name == 'v' else 'K'}], "
                f"got shape {tuple(t.shape)}"
            )
    if k.shape != q.shape:
        raise ValueError(f"bidirectional_gla: k must have q's shape {tuple(q.shape)} [B, L, H, K], got {tuple(k.shape)}")
    if v.shape[:3] != q.shape[:3]:
        raise ValueError(
            f"bidirectional_gla: v must be [B, L, H, V] with q's B, L, H {tuple(q.shape[:3])}, got {tuple(v.shape)}"
        )
    for name in ("g_fwd", "g_bwd"):
        if tensors[name].shape != q.shape:
            raise ValueError(
                f"bidirectional_gla: {name} must have q's shape {tuple(q.shape)} [B, L, H, K], "
                f"got {tuple(tensors[name].shape)}"
            )
    if q.dtype not in _DTYPES:
        raise TypeError(f"bidirectional_gla: q must be float32, float16 or bfloat16 (float64 too on the reference "
                        f"backend), got {q.dtype}")
    for name in ("k", "v"):
        if tensors[name].dtype != q.dtype:
            raise TypeError(
                f"bidirectional_gla: q, k and v must share one dtype; q is {q.dtype}, {name} is {tensors[name].dtype}"
            )
    for name in ("g_fwd", "g_bwd"):
        if tensors[name].dtype not in (torch.float32, q.dtype):
            raise TypeError(
                f"bidirectional_gla: {name} must be float32 or q's dtype ({q.dtype}), got {tensors[name].dtype}"
            )
    devices = {name: t.device for name, t in tensors.items()}
    if len(set(devices.values())) > 1:
        listing = ", ".join(f"{n} on {d}" for n, d in devices.items())
        raise ValueError(f"bidirectional_gla: all tensors must be on one device; got {listing}")
    if scale is not None and (not isinstance(scale, numbers.Real) or isinstance(scale, bool)):
        raise TypeError(f"bidirectional_gla: scale must be a real number or None, got {type(scale).__name__}")


def _check_gates(g_fwd, g_bwd):
    if g_fwd.numel() == 0:
        return
    if g_fwd.is_cuda and torch.cuda.is_current_stream_capturing():
        return  # no host sync inside a CUDA graph capture
    worst = torch.maximum(g_fwd.detach().amax(), g_bwd.detach().amax())
    if bool(worst > 0):
        top = g_fwd.detach().amax()
        bad, top = ("g_fwd", top) if bool(top > 0) else ("g_bwd", g_bwd.detach().amax())
        raise ValueError(
            f"bidirectional_gla: gates are log-space decays and must be <= 0; {bad} has an entry "
            f"{float(top):.4g} > 0 (use e.g. F.logsigmoid(x) to map logits to valid gates)"
        )


def bidirectional_gla(q, k, v, g_fwd, g_bwd, scale=None, *, backend=None, check_gates=True):
    """Bidirectional gated linear attention (see the op contract, ../shared/design/bidirectional-gla.md beside the project root).

    o_t = s/2 * [ sum_{j<=t} (q_t * exp(Gf_t - Gf_j)) . k_j v_j
                + sum_{j>=t} (q_t * exp(Gb_t - Gb_j)) . k_j v_j ]

    Args:
        q, k: [B, L, H, K]; v: [B, L, H, V]; float32, float16 or bfloat16, one dtype (float64
            too on the reference backend).
        g_fwd, g_bwd: [B, L, H, K] log-space decay gates <= 0 (-inf allowed), float32 or q's dtype.
        scale: defaults to K ** -0.5.
        B, L, H, K or V may be 0: the result is then ``v * 0`` (empty, or, when K = 0, zeros for finite v).
        backend: a registered backend name or "auto" for this call; ``None`` uses the one in
            force (:func:`vig.get_backend`).
        check_gates: raise ValueError on a positive gate (one device-to-host sync per call; skipped
            during CUDA-graph capture). Pass False when the gates are valid by construction.

    Returns o: [B, L, H, V] in v's dtype; differentiable with respect to all five tensors.
    Inputs may be non-contiguous views.
    """
    _validate(q, k, v, g_fwd, g_bwd, scale)
    K, V = q.shape[-1], v.shape[-1]
    be = resolve_backend(backend, q.device, q.dtype, max(K, V))
    if not be.takes(q.dtype, max(K, V)):
        if q.dtype not in be.dtypes:
            raise TypeError(
                f"bidirectional_gla: backend {be.name!r} takes {', '.join(map(str, be.dtypes))}, got {q.dtype}"
                + (" (the reference backend takes float64: backend='reference')" if q.dtype == torch.float64 else "")
            )
        raise BackendUnavailableError(
            be.name, [f"head dims K={K}, V={V} exceed its limit of {be.max_head_dim}"],
            "use the tilelang or reference backend for larger heads",
        )
    if check_gates:
        _check_gates(g_fwd, g_bwd)
    if 0 in q.shape or V == 0:
        # Nothing to mix (an empty output, or with K = 0 no channel pairs q with k: o = 0): a result
        # of v's shape that still belongs to the autograd graph of v.
        return v * 0
    if scale is None:
        scale = K ** -0.5
    return be.apply(q, k, v, g_fwd, g_bwd, float(scale))


def _as(t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """t in dtype; t itself when it already is (no dispatcher round trip: this layer runs on
    every call, and at the contract's small shapes the host's time per call is measurable)."""
    return t if t.dtype is dtype else t.to(dtype)


#: the base alignment (bytes) of a tensor handed over contiguous: kernels load 8 or 16 bytes at a time from it
ALIGN = 16


def _row_major(t: torch.Tensor) -> bool:
    """Whether t's strides are the row-major ones of its shape, size-1 dims included (``is_contiguous`` ignores
    the stride of a size-1 dim, e.g. after a permute; ``view(dtype)`` and compiled kernels' stride checks do not)."""
    want = 1
    for size, stride in zip(reversed(t.shape), reversed(t.stride())):
        if stride != want:
            return False
        want *= size
    return True


def _layout(t: torch.Tensor, contiguous: bool) -> torch.Tensor:
    """What kernel entry points are promised: stride(-1) == 1, or fully contiguous (row-major strides, size-1 dims
    included) with the data starting on an ALIGN-byte boundary. (``.contiguous()`` returns a contiguous tensor at
    an odd offset, e.g. a flat slice of a larger buffer, as it is: vectorized loads from its base fault; such a
    tensor is copied, as is one whose size-1 dims carry other strides.)"""
    if contiguous:
        if t.is_contiguous() and t.data_ptr() % ALIGN == 0 and (1 not in t.shape or _row_major(t)):
            return t
        return t.clone(memory_format=torch.contiguous_format)
    if t.stride(-1) != 1 and t.size(-1) != 1:
        return t.contiguous()
    return t


def _tiles(n: int, width: int) -> list:
    return [slice(i, min(i + width, n)) for i in range(0, n, width)]


def _tiled(backend, q, v):
    """(key tiles, value tiles) when the head is wider than the backend's kernels, else None."""
    if backend.max_tile is None:
        return None
    tk, tv = backend.max_tile
    if q.shape[-1] <= tk and v.shape[-1] <= tv:
        return None
    return _tiles(q.shape[-1], tk), _tiles(v.shape[-1], tv)


def _tile_inputs(backend, ks, vs, q, k, v, g_fwd, g_bwd, *do):
    """Float32 views (inputs already float32) or copies of one tile's channels: key channels of q, k and the gates, value
    channels of v (and do)."""
    c = backend.requires_contiguous
    pairs = [(q, ks), (k, ks), (v, vs), (g_fwd, ks), (g_bwd, ks)] + [(d, vs) for d in do]
    return [_layout(t[..., sl].float(), c) for t, sl in pairs]


class _KernelFunction(torch.autograd.Function):
    """Joins a KernelBackend's forward and backward entry points; shared by every backend."""

    @staticmethod
    def forward(ctx, backend, scale, q, k, v, g_fwd, g_bwd, needs_grad=None):
        if q.is_cuda and q.device.index != torch.cuda.current_device():
            with torch.cuda.device(q.device):  # the kernels launch on the current device's stream
                return _KernelFunction._forward(ctx, backend, scale, q, k, v, g_fwd, g_bwd, needs_grad)
        return _KernelFunction._forward(ctx, backend, scale, q, k, v, g_fwd, g_bwd, needs_grad)

    @staticmethod
    def _forward(ctx, backend, scale, q, k, v, g_fwd, g_bwd, needs_grad):
        # needs_grad: whether a backward may follow (KernelBackend.apply: grad mode on and some input
        # requires a gradient; inside forward grad mode is off and needs_input_grad ignores no_grad)
        if needs_grad is None:
            needs_grad = any(ctx.needs_input_grad[2:7])
        c = backend.requires_contiguous
        gate_dtypes = (g_fwd.dtype, g_bwd.dtype)
        q, k, v = (_layout(t, c) for t in (q, k, v))
        g_fwd, g_bwd = (_layout(_as(g, torch.float32), c) for g in (g_fwd, g_bwd))
        tiles = _tiled(backend, q, v)
        if tiles is None:
            o, saved = backend.forward(q, k, v, g_fwd, g_bwd, scale, needs_grad=needs_grad)
        else:  # o = sum over key tiles of each value tile's partial output
            o = torch.zeros(v.shape, dtype=torch.float32, device=v.device)
            for ks in tiles[0]:
                for vs in tiles[1]:
                    p, saved = backend.forward(*_tile_inputs(backend, ks, vs, q, k, v, g_fwd, g_bwd),
                                               scale, needs_grad=False)  # the tiled backward saves nothing
                    assert saved == (), "a tiled backend saves nothing"
                    o[..., vs] += p
            o = o.to(v.dtype)
        ctx.backend, ctx.scale, ctx.gate_dtypes = backend, scale, gate_dtypes
        ctx.save_for_backward(q, k, v, g_fwd, g_bwd, *saved)
        return o

    @staticmethod
    def backward(ctx, do):
        if do.is_cuda and do.device.index != torch.cuda.current_device():
            # as the forward (the autograd engine already runs a CUDA backward on its worker thread of the tensors'
            # device, with that device current: this is for calls from outside the engine)
            with torch.cuda.device(do.device):
                return _KernelFunction._backward(ctx, do)
        return _KernelFunction._backward(ctx, do)

    @staticmethod
    def _backward(ctx, do):
        q, k, v, g_fwd, g_bwd, *saved = ctx.saved_tensors
        be = ctx.backend
        do = _layout(_as(do, v.dtype), be.requires_contiguous)
        tiles = _tiled(be, q, v)
        if tiles is None:
            dq, dk, dv, dgf, dgb = be.backward(q, k, v, g_fwd, g_bwd, ctx.scale, do, tuple(saved))
        else:  # dq, dk, gate gradients of a key tile: sum over value tiles; dv: over key tiles
            f32 = dict(dtype=torch.float32, device=q.device)
            dq, dk, dgf, dgb = (torch.zeros(q.shape, **f32) for _ in range(4))
            dv = torch.zeros(v.shape, **f32)
            for ks in tiles[0]:
                for vs in tiles[1]:
                    *ins, dos = _tile_inputs(be, ks, vs, q, k, v, g_fwd, g_bwd, do)
                    parts = be.backward(*ins, ctx.scale, dos, ())
                    for acc, sl, part in zip((dq, dk, dv, dgf, dgb), (ks, ks, vs, ks, ks), parts):
                        acc[..., sl] += part
        gf_dt, gb_dt = ctx.gate_dtypes
        return (None, None, _as(dq, q.dtype), _as(dk, k.dtype), _as(dv, v.dtype),
                _as(dgf, gf_dt), _as(dgb, gb_dt), None)
