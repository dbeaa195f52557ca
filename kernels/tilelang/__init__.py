"""TileLang backend of the bidirectional GLA: ``vig.set_backend("tilelang")``.

Importing this package needs neither tilelang nor a GPU; the kernels (``.kernels``) are built
on first use, per shape signature, and cached for the life of the process. See NOTES.md.
"""
from __future__ import annotations

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


def tile_dim(d: int) -> int:
    """The compiled tile width for a head dim: 32, 64, 128 or 256 (inputs are zero-padded in
    the kernel, so one compilation serves every head dim of a bucket)."""
    t = 32
    while t < d:
        t *= 2
    return t


def _arch(device: torch.device) -> str:
    major, minor = torch.cuda.get_device_capability(device)
    return "sm_90a" if (major, minor) == (9, 0) else f"sm_{major}{minor}"


def build(kind: str, K: int, V: int, dtype: str):
    """The TileLang prim_func of one kernel (no compilation). ``kind``: "fwd_res" (L <= 256),
    "fwd_ws" (longer L) or "bwd"; batch size, sequence length, heads and the true head dims (<= K, V) are dynamic."""
    from . import kernels

    if kind in ("fwd_res", "fwd_ws"):
        return kernels.build_fwd(K, V, dtype, kind[4:])
    if kind == "bwd":
        return kernels.build_bwd(K, V, dtype)
    raise ValueError(kind)


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
    def _sig(q, v):
        B, L, H, K = q.shape
        return B, L, H, K, v.shape[-1], _DTYPES[q.dtype], _arch(q.device)

    @staticmethod
    def _tiles(K, V):
        return tile_dim(K), tile_dim(V)

    def forward(self, q, k, v, g_fwd, g_bwd, scale: float):
        from .kernels import fwd_variant

        B, L, H, K, V, dt, arch = self._sig(q, v)
        variant = fwd_variant(L)
        kern = compile_kernel("fwd_" + variant, *self._tiles(K, V), dt, arch)
        o = torch.empty(B, L, H, V, device=q.device, dtype=v.dtype)
        w = torch.empty(B, L if variant == "ws" else 1, H, V, device=q.device, dtype=torch.float32)
        kern(q, k, v, g_fwd, g_bwd, w, o, float(scale) * 0.5)
        return o, ()

    def backward(self, q, k, v, g_fwd, g_bwd, scale: float, do, saved):
        B, L, H, K, V, dt, arch = self._sig(q, v)
        kern = compile_kernel("bwd", *self._tiles(K, V), dt, arch)
        f32 = dict(device=q.device, dtype=torch.float32)
        dq = torch.empty(B, L, H, K, **f32)
        dk = torch.empty(B, L, H, K, **f32)
        dv = torch.empty(B, L, H, V, **f32)
        dgf = torch.empty(B, L, H, K, **f32)
        dgb = torch.empty(B, L, H, K, **f32)
        kern(q, k, v, g_fwd, g_bwd, do, dq, dk, dv, dgf, dgb, float(scale) * 0.5)
        return dq, dk, dv, dgf, dgb
