"""The Triton backend of the bidirectional GLA (backend name ``"triton"``).

Both scan directions are computed by the same launch from one read per sweep of q, k, v; see
``kernels.py`` for the design and ``NOTES.md`` for measurements. Importing this package never
fails for want of triton or a GPU: :meth:`TritonBackend.not_supported_reasons` says why instead.
"""
from __future__ import annotations

import os

import torch

from vig.backend import KernelBackend

__all__ = ["TritonBackend"]

CHUNK = 16  # tokens per chunk (the intra-chunk block is C x C)
BK, BV = 32, 64  # the kernels' one tile size over key and value channels (larger heads: tiles)
THR = 32.0  # per-channel gate range of a chunk under which the factorised fast path is used
# Registers per thread of the bf16 forward kernel: the compiler alone takes 225 (2 programs of 4
# warps per SM); capped at 128 it spills 40-60 bytes and 4 programs fit (H100: NOTES.md, v2.1,
# v2.2). The backward kernel is left uncapped (255 registers; capping it spilled kB and measured
# slower). 8 warps per program measured slower for both kernels (NOTES.md, v2.2).
FWD_MAXNREG = 128
WARPS = {"FWD": 4, "BWD": 4}  # warps per program of the main kernels

try:  # pragma: no cover - depends on the environment
    import triton  # noqa: F401

    from . import kernels as _k

    _IMPORT_ERROR = None
except Exception as exc:  # triton missing or broken
    _k = None
    _IMPORT_ERROR = f"{type(exc).__name__}: {exc}"


def _interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET", "") == "1"


def _prec(dtype) -> str:
    # fp32 (and fp16) inputs: full fp32 products; bf16: tf32 products (10-bit mantissa, finer
    # than the bf16 data itself).
    return "tf32" if dtype == torch.bfloat16 else "ieee"


def _nreg(which: str, dtype) -> dict:
    """Launch option capping the registers per thread of a v2 kernel: FWD_MAXNREG for the bf16
    forward (tensor-core dots; the fp32/fp16 forward's FMA dots would spill kB at that cap).
    Measurement knobs VIG_TRITON_NREG_FWD / VIG_TRITON_NREG_BWD (0 = the compiler's choice).
    Not passed in the interpreter."""
    if _interpreting():
        return {}
    default = FWD_MAXNREG if (which == "FWD" and dtype == torch.bfloat16) else 0
    n = int(os.environ.get(f"VIG_TRITON_NREG_{which}", str(default)))
    return {"maxnreg": n} if n else {}


def _warps(which: str) -> int:
    """num_warps of the main forward / backward kernel (measurement knobs VIG_TRITON_WARPS_FWD,
    VIG_TRITON_WARPS_BWD)."""
    return int(os.environ.get(f"VIG_TRITON_WARPS_{which}", str(WARPS[which])))


def _segments(BH: int, L: int, unit: int = CHUNK, min_chunks: int = 4, progs: int = 512):
    """(NS, LS): split long sequences into NS segments of LS tokens (a multiple of ``unit``, at
    least ``min_chunks`` units) so that few (batch, head) pairs still give enough programs."""
    if _interpreting() and os.environ.get("VIG_TRITON_SEGMENT", "") == "":
        want = 3  # few programs in the interpreter, but the segmented path still exercised
    else:
        want = int(os.environ.get("VIG_TRITON_SEGMENT", "0")) or -(-progs // BH)
    NS = max(1, min(want, -(-L // (min_chunks * unit))))
    LS = -(-(-(-L // NS)) // unit) * unit
    return -(-L // LS), LS


def _strides(t):
    return t.stride(0), t.stride(1), t.stride(2)


class TritonBackend(KernelBackend):
    name = "triton"
    install_hint = (
        "install triton (it ships with the CUDA build of torch) and run on a CUDA GPU, or set "
        "TRITON_INTERPRET=1 before importing triton to run its kernels on CPU tensors"
    )
    dtypes = (torch.float32, torch.float16, torch.bfloat16)
    max_head_dim = 128  # parity proven up to 128 (as tiles of 32 x 64 channels)

    def __init__(self):
        self.device_types = ("cpu",) if _interpreting() else ("cuda",)

    def not_supported_reasons(self) -> list[str]:
        if _k is None:
            return [f"triton is not importable ({_IMPORT_ERROR})"]
        if _interpreting():
            return []
        if not torch.cuda.is_available():
            return ["no CUDA device is available (and TRITON_INTERPRET=1 is not set)"]
        return []

    # ------------------------------------------------------------------ entry points
    # The kernels are compiled at one tile size, BK = 32 key and BV = 64 value channels, whatever
    # K and V are, so a dtype costs one JIT compile per kernel (the GPU hypothesis suite draws K,
    # V in 16..128). Wider heads are cut into tiles by the shared layer (max_tile, vig/ops.py);
    # every ViG model (K <= 32, V <= 64) is one tile.
    max_tile = (BK, BV)

    def forward(self, q, k, v, g_fwd, g_bwd, scale):
        B, L, H, _ = q.shape
        o = torch.empty((B, L, H, v.shape[-1]), dtype=v.dtype, device=v.device)
        self._fwd(q, k, v, g_fwd, g_bwd, o, scale)
        return o, ()

    def backward(self, q, k, v, g_fwd, g_bwd, scale, do, saved):
        return self._bwd(q, k, v, g_fwd, g_bwd, do, scale)

    # ------------------------------------------------------------------ one tile
    def _fwd(self, q, k, v, g_fwd, g_bwd, o, scale):
        """o (any float dtype, [B, L, H, V] strides) = the op on K <= BK, V <= BV channels."""
        B, L, H, K = q.shape
        V = v.shape[-1]
        BH = B * H
        dev = v.device
        op = torch.empty((BH, L, V), dtype=torch.float32, device=dev)
        NV = 1
        NS, LS = _segments(BH, L)
        prec = _prec(q.dtype)
        if NS > 1:
            hf = torch.empty((BH, NS, K, V), dtype=torch.float32, device=dev)
            hb = torch.empty_like(hf)
            tf = torch.empty((BH, NS, K), dtype=torch.float32, device=dev)
            tb = torch.empty_like(tf)
            _k.bigla_fwd_segstate_kernel[(NV, BH, NS)](
                k, v, g_fwd, g_bwd, hf, hb, tf, tb,
                *_strides(k), *_strides(v), *_strides(g_fwd), *_strides(g_bwd),
                L, H, LS, NS, K, V,
                BK=BK, BV=BV // NV, C=CHUNK, PREC=prec, num_warps=4,
            )
        else:
            hf = hb = tf = tb = op  # unused
        _k.bigla_fwd_kernel[(NV, BH, NS)](
            q, k, v, g_fwd, g_bwd, o, op, hf, hb, tf, tb,
            *_strides(q), *_strides(k), *_strides(v),
            *_strides(g_fwd), *_strides(g_bwd), *_strides(o),
            float(scale), L, H, LS, NS, K, V,
            BK=BK, BV=BV // NV, C=CHUNK, THR=THR, PREC=prec,
            num_warps=_warps("FWD"), **_nreg("FWD", q.dtype),
        )

    def _bwd(self, q, k, v, g_fwd, g_bwd, do, scale):
        """(dq, dk, dv in the inputs' dtype, dgf, dgb in float32), contiguous, K <= BK, V <= BV."""
        B, L, H, K = q.shape
        V = v.shape[-1]
        dev = q.device
        dq = torch.empty((B, L, H, K), dtype=q.dtype, device=dev)
        dk = torch.empty((B, L, H, K), dtype=q.dtype, device=dev)
        dv = torch.empty((B, L, H, V), dtype=q.dtype, device=dev)
        dgf = torch.empty((B, L, H, K), dtype=torch.float32, device=dev)
        dgb = torch.empty((B, L, H, K), dtype=torch.float32, device=dev)
        BH = B * H
        pq = torch.empty((BH, L, K), dtype=torch.float32, device=dev)
        pk = torch.empty((BH, L, K), dtype=torch.float32, device=dev)
        pv = torch.empty((BH, L, V), dtype=torch.float32, device=dev)
        NS, LS = _segments(BH, L)
        prec = _prec(q.dtype)
        strides = (*_strides(q), *_strides(k), *_strides(v),
                   *_strides(g_fwd), *_strides(g_bwd), *_strides(do))
        if NS > 1:
            st = torch.empty((8, BH * NS, K, V), dtype=torch.float32, device=dev)
            tt = torch.empty((4, BH * NS, K), dtype=torch.float32, device=dev)
            hf, hb, qf, qb, sf, db, sb, df = st.unbind(0)
            tf, tb, cf, cb = tt.unbind(0)
            _k.bigla_bwd_segstate_kernel[(BH, NS)](
                q, k, v, g_fwd, g_bwd, do, hf, hb, qf, qb, tf, tb, *strides,
                float(scale), L, H, LS, NS, K, V,
                BK=BK, BV=BV, C=CHUNK, PREC=prec, num_warps=4,
            )
            _k.bigla_bwd_segscan_kernel[(BH,)](
                hf, hb, qf, qb, tf, tb, sf, db, sb, df, cf, cb, NS, K, V,
                BK=BK, BV=BV, num_warps=4,
            )
        else:
            sf = db = sb = df = cf = cb = pq  # unused
        _k.bigla_bwd_kernel[(BH, NS)](
            q, k, v, g_fwd, g_bwd, do,
            dq, dk, dv, dgf, dgb, pq, pk, pv,
            sf, db, sb, df, cf, cb, *strides,
            float(scale), L, H, LS, NS, K, V,
            BK=BK, BV=BV, C=CHUNK, THR=THR, PREC=prec, SEG=int(NS > 1),
            num_warps=_warps("BWD"), **_nreg("BWD", q.dtype),
        )
        return dq, dk, dv, dgf, dgb
