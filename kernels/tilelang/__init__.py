"""TileLang backend of the bidirectional GLA: ``vig.set_backend("tilelang")``.

Importing this package needs neither tilelang nor a GPU. The kernels (``.kernels``) are compiled
on first use, once per (kernel, dtype, arch) - B, L, H and head dims up to 32 / 64 are dynamic,
larger head dims run as slices - and cached for the life of the process (and on disk by
TileLang, under ``TILELANG_CACHE_DIR``; a cache filled on a machine without a GPU by
``dev_precompile.py`` is reused on the GPU machine). Never compiles per call. See NOTES.md.
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


#: the compiled tile: head dims up to these run in one launch in their own dtype (ViG: K 32, V 64)
KT, VT = 32, 64
#: tokens per chunk (kernels.build_* default)
CHUNK = 32


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
    def _arch_of(q):
        return _arch(q.device)

    def forward(self, q, k, v, g_fwd, g_bwd, scale: float):
        from .kernels import fwd_variant

        B, L, H, K = q.shape
        V = v.shape[-1]
        arch = self._arch_of(q)
        variant = fwd_variant(L)
        f32 = dict(device=q.device, dtype=torch.float32)
        Lw = L if variant == "ws" else 1  # float32 workspace of the "ws" variant
        if K <= KT and V <= VT:  # one launch, inputs' own dtype (every ViG shape)
            kern = compile_kernel("fwd_" + variant, KT, VT, _DTYPES[q.dtype], arch)
            o = torch.empty(B, L, H, V, device=q.device, dtype=v.dtype)
            w = torch.empty(B, Lw, H, V, **f32)
            kern(q, k, v, g_fwd, g_bwd, w, o, float(scale) * 0.5)
            return o, ()
        # Larger head dims: the op is a sum over key channels of per-channel terms and each value
        # channel is independent, so it runs as K/32 x V/64 slices of the float32 kernel, summed
        # in float32 (exact decomposition; float32 keeps the partial sums' rounding invisible).
        kern = compile_kernel("fwd_" + variant, KT, VT, "float32", arch)
        o = torch.zeros(B, L, H, V, **f32)
        for k0 in range(0, K, KT):
            qs, ks, gfs, gbs = (_slice(t, k0, KT) for t in (q, k, g_fwd, g_bwd))
            for v0 in range(0, V, VT):
                vs = _slice(v, v0, VT)
                vd = vs.shape[-1]
                p = torch.empty(B, L, H, vd, **f32)
                w = torch.empty(B, Lw, H, vd, **f32)
                kern(qs, ks, vs, gfs, gbs, w, p, float(scale) * 0.5)
                o[..., v0:v0 + vd] += p
        return o.to(v.dtype), ()

    def backward(self, q, k, v, g_fwd, g_bwd, scale: float, do, saved):
        B, L, H, K = q.shape
        V = v.shape[-1]
        arch = self._arch_of(q)
        f32 = dict(device=q.device, dtype=torch.float32)
        # boundary states of every chunk (the gate gradients' crossing terms), float32
        ws = torch.empty(B, -(-L // CHUNK), H, 2, KT, VT, **f32)
        if K <= KT and V <= VT:
            kern = compile_kernel("bwd", KT, VT, _DTYPES[q.dtype], arch)
            dq, dk, dgf, dgb = (torch.empty(B, L, H, K, **f32) for _ in range(4))
            dv = torch.empty(B, L, H, V, **f32)
            kern(q, k, v, g_fwd, g_bwd, do, dq, dk, dv, dgf, dgb, ws, float(scale) * 0.5)
            return dq, dk, dv, dgf, dgb
        # Slices as in forward: dq, dk and the gate gradients of a key slice sum over value
        # slices; dv of a value slice sums over key slices.
        kern = compile_kernel("bwd", KT, VT, "float32", arch)
        dq, dk, dgf, dgb = (torch.zeros(B, L, H, K, **f32) for _ in range(4))
        dv = torch.zeros(B, L, H, V, **f32)
        for k0 in range(0, K, KT):
            qs, ks, gfs, gbs = (_slice(t, k0, KT) for t in (q, k, g_fwd, g_bwd))
            kd = qs.shape[-1]
            for v0 in range(0, V, VT):
                vs, dos = _slice(v, v0, VT), _slice(do, v0, VT)
                parts = [torch.empty(B, L, H, kd, **f32) for _ in range(4)]
                pv = torch.empty(B, L, H, vs.shape[-1], **f32)
                kern(qs, ks, vs, gfs, gbs, dos, parts[0], parts[1], pv, parts[2], parts[3], ws,
                     float(scale) * 0.5)
                for acc, p in zip((dq, dk, dgf, dgb), parts):
                    acc[..., k0:k0 + kd] += p
                dv[..., v0:v0 + vs.shape[-1]] += pv
        return dq, dk, dv, dgf, dgb


def _slice(t, start, width):
    """Channels [start, start + width) of the last dim, float32, contiguous."""
    return t[..., start:start + width].float().contiguous()
