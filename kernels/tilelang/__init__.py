"""TileLang backend of the bidirectional GLA: ``vig.set_backend("tilelang")``.

Importing this package needs neither tilelang nor a GPU. The kernels (``.kernels``) are compiled
on first use, once per (kernel, dtype, arch) - B, L, H and head dims up to 32 / 64 are dynamic,
larger head dims run as float32 tiles cut by the shared layer - and cached for the life of the process (and on disk by
TileLang, under ``TILELANG_CACHE_DIR``; a cache filled on a machine without a GPU by
``dev_precompile.py`` is reused on the GPU machine). Never compiles per call. See NOTES.md.

Forward: v5 (chunk-parallel: fwd_st -> fwd_scan -> fwd_out) unless ``VIG_TILELANG_FWD=v4`` (one
block per (b, h), two sweeps). Backward: v5 (chunk-parallel: bwd_st -> fwd_scan -> bwd_out) unless
``VIG_TILELANG_BWD=v4`` (one block per (b, h), two sweeps).
"""
from __future__ import annotations

import os
import threading
import time

import torch

from vig.backend import KernelBackend

__all__ = ["TileLangBackend", "compile_kernel", "compile_log"]

_DTYPES = {torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16"}

_cache: dict[tuple, object] = {}
_lock = threading.Lock()
#: (signature, seconds) of every compilation done in this process, first-call cost included
compile_log: list[tuple[tuple, float]] = []


#: the compiled tile: head dims up to these run in one launch in their own dtype (ViG: K 32, V 64)
KT, VT = 32, 64
#: tokens per chunk (kernels.build_* default)
CHUNK = 32


def _arch(device: torch.device) -> str:
    major, minor = torch.cuda.get_device_capability(device)
    return "sm_90a" if (major, minor) == (9, 0) else f"sm_{major}{minor}"


def build(kind: str, K: int, V: int, dtype: str):
    """The TileLang prim_func of one kernel (no compilation). ``kind``: "fwd_st", "fwd_scan",
    "fwd_out" (v5 forward), "fwd_res" (v4 forward, L <= 256), "fwd_ws" (v4, longer L) or "bwd"; batch size, sequence length, heads and the true head dims (<= K, V) are dynamic."""
    from . import kernels

    if kind in ("fwd_res", "fwd_ws"):
        return kernels.build_fwd(K, V, dtype, kind[4:])
    if kind == "bwd":
        return kernels.build_bwd(K, V, dtype)
    if kind == "fwd_st":
        return kernels.build_fwd_st(K, V, dtype)
    if kind == "fwd_scan":
        return kernels.build_fwd_scan(K, V)
    if kind == "fwd_out":
        return kernels.build_fwd_out(K, V, dtype)
    if kind == "bwd_st":
        return kernels.build_bwd_st(K, V, dtype)
    if kind == "bwd_out":
        return kernels.build_bwd_out(K, V, dtype)
    raise ValueError(kind)


def _version(var: str) -> str:
    v = os.environ.get(var, "v5")
    if v not in ("v4", "v5"):
        raise ValueError(f"{var}={v!r}: expected 'v5' (default) or 'v4'")
    return v


#: forward kernels: "v5" (chunk-parallel, three launches; the default) or "v4" (one block per
#: (b, h), two sweeps); $VIG_TILELANG_FWD picks, read at each call
def fwd_version() -> str:
    return _version("VIG_TILELANG_FWD")


#: backward kernels: "v5" (chunk-parallel; the default since its GPU run of 2026-11-25: parity
#: 120/120, shared suite 17/17) or "v4" (one block per (b, h)); $VIG_TILELANG_BWD picks
def bwd_version() -> str:
    return _version("VIG_TILELANG_BWD")


#: the v5 kernels and the v4 backward take the batch from a grid dimension (y or z: at most
#: 65535; the scan's is 2 B): larger batches run in pieces of this many
MAX_GRID_B = 32767


def _batch_pieces(B: int):
    return [slice(b0, min(B, b0 + MAX_GRID_B)) for b0 in range(0, B, MAX_GRID_B)]


def _bwd_v5(q, k, v, g_fwd, g_bwd, do, dq, dk, dv, dgf, dgb, scale_half, dtype: str, arch: str):
    """Chunk-parallel backward into the float32 gradients (head dims <= KT, VT): the forward's
    states (recomputed), the adjoint states, then one kernel over the chunks."""
    B, L, H, _ = q.shape
    if B > MAX_GRID_B:
        for sl in _batch_pieces(B):
            _bwd_v5(*(t[sl] for t in (q, k, v, g_fwd, g_bwd, do, dq, dk, dv, dgf, dgb)),
                    scale_half, dtype, arch)
        return
    nc = -(-L // CHUNK)
    f32 = dict(device=q.device, dtype=torch.float32)
    ws = torch.empty(B, H, nc, 2 * KT, VT, **f32)
    dw = torch.empty(B, H, nc, 2 * KT, **f32)
    ws2 = torch.empty(B, H, nc, 2 * KT, VT, **f32)
    dw2 = torch.empty(B, H, nc, 2 * KT, **f32)
    scan = compile_kernel("fwd_scan", KT, VT, "float32", arch)
    compile_kernel("fwd_st", KT, VT, dtype, arch)(k, v, g_fwd, g_bwd, ws, dw)
    scan(ws, dw)
    compile_kernel("bwd_st", KT, VT, dtype, arch)(q, do, g_fwd, g_bwd, ws2, dw2, scale_half)
    scan(ws2, dw2)
    compile_kernel("bwd_out", KT, VT, dtype, arch)(q, k, v, g_fwd, g_bwd, do, ws, ws2,
                                                   dq, dk, dv, dgf, dgb, scale_half)


def _fwd_v5(q, k, v, g_fwd, g_bwd, o, scale_half, dtype: str, arch: str):
    """Chunk-parallel forward into ``o`` (head dims <= KT, VT). Workspace: float32
    [B, H, ceil(L / CHUNK), 2 KT, VT] states and [B, H, NC, 2 KT] decays."""
    B, L, H, _ = q.shape
    if B > MAX_GRID_B:
        for sl in _batch_pieces(B):
            _fwd_v5(q[sl], k[sl], v[sl], g_fwd[sl], g_bwd[sl], o[sl], scale_half, dtype, arch)
        return
    nc = -(-L // CHUNK)
    f32 = dict(device=q.device, dtype=torch.float32)
    ws = torch.empty(B, H, nc, 2 * KT, VT, **f32)
    dw = torch.empty(B, H, nc, 2 * KT, **f32)
    compile_kernel("fwd_st", KT, VT, dtype, arch)(k, v, g_fwd, g_bwd, ws, dw)
    compile_kernel("fwd_scan", KT, VT, "float32", arch)(ws, dw)
    compile_kernel("fwd_out", KT, VT, dtype, arch)(q, k, v, g_fwd, g_bwd, ws, o, scale_half)


def compile_kernel(kind: str, K: int, V: int, dtype: str, arch: str):
    """Compiled kernel for a signature, from the in-process cache or compiled now (timed)."""
    key = (kind, K, V, dtype, arch)
    kern = _cache.get(key)
    if kern is not None:
        return kern
    with _lock:
        kern = _cache.get(key)
        if kern is None:
            import tilelang
            from tvm.target import Target

            t = time.perf_counter()
            kern = tilelang.compile(
                build(kind, K, V, dtype),
                target=Target({"kind": "cuda", "arch": arch}),
                execution_backend="tvm_ffi",
            )
            compile_log.append((key, time.perf_counter() - t))
            _cache[key] = kern
    return kern


class TileLangBackend(KernelBackend):
    name = "tilelang"
    device_types = ("cuda",)
    install_hint = "pip install 'vig[tilelang]' (tilelang==0.1.15) and run on a CUDA GPU"
    requires_contiguous = True

    def not_supported_reasons(self) -> list[str]:
        reasons = []
        try:
            import tilelang  # noqa: F401
        except Exception as exc:  # ImportError, or a broken native library
            reasons.append(f"tilelang is not importable ({type(exc).__name__}: {exc})")
        if not torch.cuda.is_available():
            reasons.append("no CUDA device")
        return reasons

    @staticmethod
    def _arch_of(q):
        return _arch(q.device)

    # One tile, K = 32 and V = 64 channels (KT, VT), whatever the head dims: wider heads are cut
    # into float32 tiles by the shared layer (max_tile, vig/ops.py). Reason: the one-tile kernels
    # at K = V = 128 would need more than the 227 KiB of shared memory.
    max_tile = (KT, VT)

    def forward(self, q, k, v, g_fwd, g_bwd, scale: float):
        launch = _fwd_v5 if fwd_version() == "v5" else _fwd_v4
        B, L, H, _ = q.shape
        o = torch.empty(B, L, H, v.shape[-1], device=q.device, dtype=v.dtype)
        launch(q, k, v, g_fwd, g_bwd, o, float(scale) * 0.5, _DTYPES[q.dtype], self._arch_of(q))
        return o, ()

    def backward(self, q, k, v, g_fwd, g_bwd, scale: float, do, saved):
        v5 = bwd_version() == "v5"
        launch = _bwd_v5 if v5 else _bwd_v4
        B, L, H, K = q.shape
        f32 = dict(device=q.device, dtype=torch.float32)
        new = torch.zeros if v5 else torch.empty  # gradients in float32; the shared layer casts
        dq, dk, dgf, dgb = (new(B, L, H, K, **f32) for _ in range(4))
        dv = new(B, L, H, v.shape[-1], **f32)
        launch(q, k, v, g_fwd, g_bwd, do, dq, dk, dv, dgf, dgb, float(scale) * 0.5,
               _DTYPES[q.dtype], self._arch_of(q))
        return dq, dk, dv, dgf, dgb


def _fwd_v4(q, k, v, g_fwd, g_bwd, o, scale_half, dtype: str, arch: str):
    """The v4 forward (one block per (b, h), two sweeps) into ``o`` (head dims <= KT, VT); the
    "ws" variant (L > 256) keeps its partial output in a float32 [B, L, H, V] workspace."""
    from .kernels import fwd_variant

    B, L, H, _ = q.shape
    variant = fwd_variant(L)
    w = torch.empty(B, L if variant == "ws" else 1, H, o.shape[-1], device=q.device,
                    dtype=torch.float32)
    compile_kernel("fwd_" + variant, KT, VT, dtype, arch)(q, k, v, g_fwd, g_bwd, w, o, scale_half)


def _bwd_v4(q, k, v, g_fwd, g_bwd, do, dq, dk, dv, dgf, dgb, scale_half, dtype: str, arch: str):
    """The v4 backward (one block per (b, h)) into the float32 gradients (head dims <= KT, VT)."""
    _v4_bwd(compile_kernel("bwd", KT, VT, dtype, arch), q, k, v, g_fwd, g_bwd, do,
            dq, dk, dv, dgf, dgb, scale_half)


def _v4_bwd(kern, q, k, v, g_fwd, g_bwd, do, dq, dk, dv, dgf, dgb, scale_half):
    """The v4 backward kernel, in batch pieces, with its float32 boundary-state workspace
    [B, ceil(L / CHUNK), H, 2, KT, VT] (the gate gradients' crossing terms)."""
    B, L, H, _ = q.shape
    for sl in _batch_pieces(B):
        ws = torch.empty(sl.stop - sl.start, -(-L // CHUNK), H, 2, KT, VT, device=q.device,
                         dtype=torch.float32)
        kern(*(t[sl] for t in (q, k, v, g_fwd, g_bwd, do, dq, dk, dv, dgf, dgb)), ws, scale_half)
