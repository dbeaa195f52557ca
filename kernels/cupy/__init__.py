"""The ``"cupy"`` backend: the bidirectional GLA as hand-written CUDA C++ (``*.cu`` beside this
file), compiled at run time by NVRTC through ``cupy.RawModule`` and launched on PyTorch's
tensors (raw pointers, no copies) and PyTorch's current stream.

Importing this module never needs a GPU or CuPy: both are looked up lazily, and
:meth:`CuPyBackend.not_supported_reasons` says what is missing. Argument checks and autograd
wiring live in :mod:`vig.ops`; this module only launches kernels. Design: NOTES.md.
"""
from __future__ import annotations

import operator
import os
import threading
from threading import get_ident as _get_ident

import torch

from vig.backend import KernelBackend, Knobs, sm_count as _sm_count

__all__ = ["CuPyBackend", "kernel_source", "SOURCES", "tc_plan", "fwd_kind",
           "fwd_variant", "FWD_KINDS", "fwd_defines", "scan_func",
           "bwd_kind", "bwd_variant", "BWD_KINDS", "reload_env", "plan_forward",
           "plan_backward", "DGFIX_KINDS", "dgfix_launch", "dgfix_smem",
           "FWD0_KINDS", "fwd0_defines"]

_HERE = os.path.dirname(os.path.abspath(__file__))
SOURCES = ("bigla_fwd.cu", "bigla_bwd.cu", "bigla_tc.cu")
_DTYPE_CODE = {torch.float32: 0, torch.float16: 1, torch.bfloat16: 2}
TILE = 16  # tokens staged per warp and tile (TT)
MAX_HEAD_DIM = 128
_SMEM_DEFAULT = 48 * 1024


def kernel_source(name: str) -> str:
    """The CUDA source ``name`` with its ``#include "bigla.cuh"`` inlined (for NVRTC)."""
    with open(os.path.join(_HERE, name)) as f:
        src = f.read()
    with open(os.path.join(_HERE, "bigla.cuh")) as f:
        header = f.read()
    return src.replace('#include "bigla.cuh"', header)


def _kp(K: int) -> int:
    """State rows per lane: K padded up to 8 * KP."""
    kp = 1
    while 8 * kp < K:
        kp *= 2
    return kp  # a power of two (the lane reductions halve it)


def _vp(kp: int, V: int, BH: int, wide: int) -> int:
    """State columns per lane. ``wide`` caps the registers (KP * VP state values per lane and
    state); smaller VP gives more warps (V split over blocks) when B*H alone cannot fill the GPU."""
    vp = 1
    while vp < wide and 4 * vp < V:
        vp *= 2  # a power of two (the lane reductions halve it)
    # Aim for >= ~1000 warps (132 SMs x 4 schedulers x 2) before taking columns per lane
    # (more slices re-stage q, k and the gates per slice: 4000 warps measured slower).
    while vp > 2 and BH * 2 * (-(-V // (4 * vp))) < 1000:
        vp //= 2
    return vp


# ---- v2: the chunked tensor-core forward (bigla_tc.cu), fp16 / bf16 inputs ----------------------
# VIG_CUPY_FWD: one of FWD_KINDS, FWD_DEFAULT ("v39w" since session 15) when unset; the history of the defaults below;
# fp32 inputs always take the recurrence (exact FMA path, no TF32). Every switch: NOTES.md, "The switches".
# "v26" since 2026-11-25 session 4 (mid call, H100: parity 120/120, graphed forward 28-32 % faster
# than v2.3 at 224 px, bit-identical outputs); "chunked" gives v2.3's tiles.
# "v30" since the 2026-12-06 session 8 final call (H100, results/2026-12-06c-h100/final/): parity 116/120
# (0 FAIL; the 4 not run, cut by the time box, were float32 cases, which take the recurrence, not v30),
# memcheck and racecheck clean, seg128 20/20, outputs bit-identical to v26 at every timed shape; graphed
# fwd ViG-T@224 0.050 -> 0.046, S@224 0.084 -> 0.077, B@224 0.159 -> 0.143, T@1024 0.106 -> 0.095,
# S@1024 0.184 -> 0.164 ms (v26 -> v30; +M at 1024 px); v30l (the loads alone) was 1-4 % slower than v30.
# "v37" since session 11's first call (H100, results/2026-12-06f-h100/call1/): parity 120/120, memcheck and
# racecheck clean (--small, segments forced), outputs and gradients bit-identical to v30 at every timed shape;
# graphed fwd v30 -> v37 ViG-T@224 0.0458 -> 0.0478 (slower), S@224 0.0766 -> 0.0721, B@224 0.1424 -> 0.1346,
# T@1024 0.0961 -> 0.0934, S@1024 0.1649 -> 0.1585 ms (one process, alternating, each twice).
# (Session 13's "v38", v37 with two 16-token sub-chunks per lockstep step, was the default at 2369e7f for one device
# call: parity 120/120, sanitizers clean, outputs bit-identical to v37, but 11-13 % slower at 224 px and S@1024;
# removed, see _FWD_REMOVED and results/2026-12-06h-h100/.)
# "v39w" since session 14 (H100, results/2026-12-06i-h100/): v37, whose output pass takes v39's module (3 blocks per
# SM) where its grid fits one wave of 3 blocks per SM but not of 2 (fwd1_defines). That call ran v39 as the
# default: FINAL parity 120/120 (previous, v37 + v31: 120/120), memcheck 0, racecheck 0, seg128 20/20, L = 1 .. 256
# 50/50, GPU tests 17 passed, outputs BITEXACT to v37 at every timed shape; graphed fwd v37 -> v39 ViG-T@224
# 0.0477 -> 0.0450 (384 blocks: 1.45 waves of 264 -> 0.97 of 396), T@1024 0.0937 -> 0.0930 (384 blocks), but
# S@224 0.0722 -> 0.0808, B@224 0.1346 -> 0.1504, S@1024 0.1581 -> 0.1652 (ncu S@224: 66.3 -> 75.6 us, warps
# active 24 -> 35 %, issue active 50 % both: more warps, no more issue). v39w runs only kernels that call proved.
FWD_DEFAULT = "v39w"
TC_CHUNK = 16
TC_VB = 64          # value columns per block
# tokens per segment (its fp32 output buffer lives in shared memory): <= 256, a multiple of 16;
# VIG_CUPY_MAX_SEG lowers it (tests: force the segmented kernels at small L, e.g. under sanitizers)
# (read once, at import, like VIG_CUPY_BWD_SEG: reload_env() does not re-read them; a new process does)


def _seg_knob(name: str, default: int, top: int) -> int:
    """$name read now (import only), a multiple of 16 in [16, top] (vig.backend.Knobs.multiple)."""
    return Knobs(name).multiple(name, str(default), 16, 16, top)


TC_MAX_SEG = _seg_knob("VIG_CUPY_MAX_SEG", 256, 256)
TC_BLOCKS = 528     # aim: about 4 blocks per SM of an H100 (132 SMs)
# the backward's own segment cap (VIG_CUPY_BWD_SEG, default TC_MAX_SEG; an experiment knob: shorter
# segments give more blocks per (b, h) at the price of the state passes and scans)
TC_BWD_SEG = _seg_knob("VIG_CUPY_BWD_SEG", TC_MAX_SEG, TC_MAX_SEG)


FWD_KINDS = ("chunked", "v26", "v30", "v30l", "v37", "v39", "v39w", "recurrent")
_FTR_KINDS = ("v37", "v39", "v39w")  # v37's code (FL32, FDEC, FTR); v39 / v39w differ in the output pass alone
# removed forward variants -> (session, what the GPU said, commit where they last are)
_FWD_REMOVED = {"v38": ("session 13", "graphed fwd 11-13 % slower than v37 at ViG-T / S / B@224 and ViG-S@1024",
                        "2369e7f")}
# Session 8 ("v30" the default since the final call; "v30l" opt-in): "v30l" = v26 whose chunk loads run on loop-carried 64-bit
# pointers advanced by 32-bit token products, full chunks without predicates (-DFL32=1: the
# prefetch's address arithmetic 115 -> 36 SASS instructions per warp and chunk step, sm_90a bf16
# K = 32); "v30" = v30l + direction-local chunk-step barriers, one block barrier at step nch / 2
# (-DFDEC=1). Same values, same arithmetic (outputs and states bit-identical to v26 in the
# emulator); the 32-bit products need _in32 of q, k, v and both gates, else v26 runs. NOTES.md,
# "Session 8".
# Session 10 round 3 ("v37", the default since session 11's first call): v30 + -DFTR=1: the Qi / Qf / Kf / Ki tiles channel-major,
# each thread's TPG positions of its channel converted in pairs (cvt.rn.bf16x2 / f16x2) and stored
# in one packed store per tile instead of TPG 16-bit stores, the mma fragments of Qf / Kf / Qi / Ki
# read by ldmatrix (x4) instead of 32-bit loads; the same values (bit-identical to v30 in the
# emulator). Same 16-byte / _in32 conditions as v30 (else v26's code). NOTES.md, "Session 10 round 3".
# Session 13 ("v38", removed): v37 whose output pass took TWO 16-token sub-chunks per lockstep step
# (-DFS2=1), halving the direction barriers per token; proven on the H100 and slower (the chunk step is
# bound by its dependent tile / mma chain, not by its barriers). NOTES.md, "Session 13".
# Session 13 ("v39", opt-in; GPU-proven in session 14, faster only at 384-block grids, hence v39w): v37 whose output pass (mode 1) runs 3 blocks per SM instead of 2 (-DFC3=1 and
# MINB=3: 80 registers, 24 bytes spilled; the compact FwdSmem tiles, 12,688 B per direction at K = 32, and the
# fp32 output rows at VB floats, XOR-swizzled, instead of VB + 4: 73.8 KB at L = 196 instead of 86 KB); the
# same arithmetic in the same order (bit-identical to v37 in the emulator). K <= 32 only (else v37's module);
# the state passes are v37's. NOTES.md, "Session 13, round 2".
# Session 14 ("v39w", the default): v37, with v39's output pass where the pass's grid (B H x segments x value
# blocks) is more than 2 and at most 3 blocks per SM of the device (wave_rule): one wave instead of two there.


def fwd_variant() -> str:
    """The VIG_CUPY_FWD setting (one of FWD_KINDS): "chunked" (v2.3 tiles), "v26" (the chunked
    forward with natural-layout V / Ki tiles read by ldmatrix.trans) or "recurrent" (v1)."""
    kind = _ENV["fwd"]
    if kind in _FWD_REMOVED:
        when, why, commit = _FWD_REMOVED[kind]
        raise ValueError(f"VIG_CUPY_FWD={kind!r}: the variant was removed after {when} (proven on the GPU, "
                         f"{why}; in git history at {commit}); expected one of {FWD_KINDS}")
    if kind not in FWD_KINDS:
        raise ValueError(f"VIG_CUPY_FWD={kind!r}: expected one of {FWD_KINDS}")
    return kind


def fwd_kind(dtype) -> str:
    """Which forward runs for inputs of ``dtype``: "chunked" (v2.3 or v2.6) or "recurrent"."""
    if dtype == torch.float32:
        return "recurrent"
    kind = fwd_variant()
    return "recurrent" if kind == "recurrent" else "chunked"


# VIG_CUPY_SCAN: "serial" (v2.3's bigla_tc_scan, one memory round trip per segment) or "batched"
# (bigla_tc_scan2: the segments' loads issued ahead of the FMA chain, batches of 8, double-buffered;
# bit-identical results).
SCAN_DEFAULT = "batched"  # session 4 mid call: 7.5 instead of ~125 us per launch at ViG-T@1024


def scan_func() -> str:
    kind = _KNOBS.choice("VIG_CUPY_SCAN", SCAN_DEFAULT, ("serial", "batched"))
    return "bigla_tc_scan2" if kind == "batched" else "bigla_tc_scan"


def tc_kt(K: int) -> int:
    """16-channel tiles of the chunked kernel (K <= 16 * KT; a power of two)."""
    kt = 1
    while 16 * kt < K:
        kt *= 2
    return kt


def _tc_defines(dtype, kt: int, vec: int) -> tuple:
    """Compile-time specialization of bigla_tc.cu (the v2.3 chunk prologue; v2.2's, kept
    selectable until v2.3 passed on the GPU, is in git history at 8ecb438); FWL=1: the v2.6
    forward tiles (VIG_CUPY_FWD=v26)."""
    d = (("DTYPE", _DTYPE_CODE[dtype]), ("KT", kt), ("VEC", vec))
    return d + (("FWL", 1),) if _fwl() else d


def _fwl() -> bool:
    return _ENV["fwd"] in ("v26", "v30", "v30l") + _FTR_KINDS


def fwd_defines(defines: tuple, q, k, v, g_fwd, g_bwd) -> tuple:
    """The defines of the chunked forward's launches (bigla_tc_fwd, both modes, and the backward's
    own state pass) under VIG_CUPY_FWD: v30l adds FL32, v30 FL32 and FDEC, v37 and v39 FL32, FDEC and FTR
    (v39 / v39w add FC3 and MINB=3 to the output pass alone: fwd1_defines);
    all only with 16-byte rows (VEC=1) and every input view's offsets below 2^31 (_in32), else v26's."""
    kind = _ENV["fwd"]
    if kind not in ("v30", "v30l") + _FTR_KINDS or ("VEC", 1) not in defines or not _in32(q, k, v, g_fwd, g_bwd):
        return defines
    if kind in _FTR_KINDS:  # session 10 round 3: v30 + the channel-major tiles (v39 / v39w: + fwd1_defines)
        return defines + (("FL32", 1), ("FDEC", 1), ("FTR", 1))
    return defines + ((("FL32", 1), ("FDEC", 1)) if kind == "v30" else (("FL32", 1),))


def tc_vec(q, k, v, *more) -> int:
    """1 when every q, k, v (and ``more``) row starts on 16 bytes and K, V are multiples of 8
    (16-byte loads)."""
    K, V = q.shape[-1], v.shape[-1]
    if K % 8 or V % 8:
        return 0
    for t in (q, k, v) + more:
        if t.data_ptr() % 16 or any(st % 8 for st in t.stride()[:-1]):
            return 0
    return 1


def wave_rule(blocks: int, sms: int) -> bool:
    """v39w's rule: the output pass's ``blocks`` fill one wave at 3 blocks per SM but not at 2 (ViG-T@224
    and ViG-T@1024 on an H100: 384 blocks, 132 SMs)."""
    return 2 * sms < blocks <= 3 * sms


def sm_count(dev: int) -> int:
    """The device's SM count (vig.backend.sm_count; a module attribute so that dev_mock can set it)."""
    return _sm_count(dev)


def fwd1_defines(fdefines: tuple, kt: int, blocks: int = 0, sms: int = 0) -> tuple:
    """The output pass's (mode 1) defines: v39 adds FC3 and MINB=3 to v37's where v37's code runs
    (FTR) and K <= 32; v39w the same where also wave_rule(blocks, sms) holds; every other case, and every
    mode-0 launch, keeps fwd_defines' set."""
    kind = _ENV["fwd"]
    if (kind == "v39" or (kind == "v39w" and wave_rule(blocks, sms))) and ("FTR", 1) in fdefines and kt <= 2:
        return fdefines + (("FC3", 1), ("MINB", 3))
    return fdefines


def tc_fwd_smem(kt: int, defines: tuple, seglen: int) -> int:
    """Dynamic shared memory of the output pass (mode 1): two directions' tiles (FwdSmem with FC3,
    v39; else DirSmem) and the fp32 output rows (VB floats a row with FC3, VB + 4 without)."""
    if ("FC3", 1) not in defines:
        return 2 * tc_dir_smem(kt) + seglen * (TC_VB + 4) * 4
    kpd = 16 * kt
    floats = TC_CHUNK * kpd + (128 // kpd) * kpd + TC_CHUNK * TC_CHUNK + kpd + 4
    elems = 2 * TC_CHUNK * (kpd + 8) + 4 * kpd * TC_CHUNK + TC_CHUNK * (TC_VB + 8)
    return 2 * (4 * floats + 2 * elems) + seglen * TC_VB * 4


def tc_dir_smem(kt: int, fwl: bool | None = None) -> int:
    """sizeof(DirSmem) in bigla_tc.cu (the kernel traps if this is out of date); ``fwl``: the v2.6
    layout (default: the VIG_CUPY_FWD setting)."""
    fwl = _fwl() if fwl is None else fwl
    kpd, qs, ts = 16 * kt, 16 * kt + 8, 24
    floats = 3 * TC_CHUNK * kpd + TC_CHUNK * TC_CHUNK + 2 * kpd + 4
    if fwl:  # Ki [CH][QS] and V [CH][VB + 8] in token-major layout
        elems = 6 * TC_CHUNK * qs + TC_CHUNK * (TC_VB + 8)
    else:
        elems = 5 * TC_CHUNK * qs + kpd * ts + TC_VB * ts
    return 4 * floats + 2 * elems


def tc_plan(B: int, H: int, L: int, V: int, max_seg: int | None = None):
    """(value blocks, segment length, segments): one segment per (b, h) when that fills the GPU,
    else segments of >= 64 tokens (a multiple of 16) until about TC_BLOCKS blocks exist; segments
    of at most ``max_seg`` (default TC_MAX_SEG) tokens."""
    max_seg = TC_MAX_SEG if max_seg is None else max_seg
    nvb = -(-V // TC_VB)
    units = B * H * nvb
    seglen = L if L <= max_seg else max_seg
    if (_ENV["seg128"] and L > max_seg > 128
            and units * (-(-L // max_seg)) < TC_BLOCKS):
        # VIG_CUPY_SEG128 (default "1" since session 5's mid call: H100 parity 20/20 + 120/120,
        # graphed f+b ViG-T@1024 0.492 -> 0.451 ms; "0" = the rule off): long sequences that give
        # fewer than TC_BLOCKS blocks at max_seg take 128-token segments (of the contract's shapes
        # only ViG-T@1024: 384 -> 768 blocks)
        seglen = 128
    if units * (-(-L // seglen)) < TC_BLOCKS // 2 and L > 64:
        want = -(-TC_BLOCKS // units)
        seglen = min(seglen, max(64, TC_CHUNK * -(-L // (TC_CHUNK * want))))
    nseg = -(-L // seglen)
    return nvb, seglen, nseg


# VIG_CUPY_SAVE_STATES (default "1" since session 4; parity 120/120 in session 3's proof call and
# session 4's mid call; graphed f+b -8 / -9 % at ViG-T / S@1024; "0" recomputes): a segmented
# forward keeps its segment states (after the scan: the state entering each segment) and gate sums
# for the backward, which then skips its own forward state pass and scan (2 of its 6 launches at
# 1024 px; +12.6 MB held between forward and backward at ViG-S@1024).
def save_states() -> bool:
    return _ENV["save"]


# The chunked backward (bigla_tc_bwd): fp16 / bf16, K <= 32, V <= 64, 16-byte aligned rows;
# everything else takes the recurrent backward (bigla_bwd.cu). One segment per (b, h) for
# L <= TC_MAX_SEG, segments beyond (VIG_CUPY_BWD_LONG=0 sends L > TC_MAX_SEG to the recurrent
# backward, the previous default).
# "v26p" since 2026-11-25 session 4 (mid call, H100: parity 120/120 (v26 and v26p), memcheck and
# racecheck clean, graphed f+b 23-40 % faster than v2.5 with the v2.6 forward and scan, bit-identical
# gradients; v26p 1-7 % faster than v26); "v25" was the default of session 3.
# "v29q" since the 2026-12-06 session 7 mid call (H100, results/2026-12-06b-h100/mid/): parity 120/120 (v29 and v29q),
# memcheck and racecheck clean, gradients bit-identical to v26p, graphed f+b ViG-T@224 0.2485 -> 0.2376,
# S@224 0.4357 -> 0.4189, T@1024 0.4588 -> 0.4453, S@1024 0.8499 -> 0.8221 ms.
# "v29r" since the 2026-12-06 session 8 call (H100, results/2026-12-06c-h100/): parity 120/120 (with vec2),
# memcheck and racecheck clean, seg128 20/20, gradients bit-identical to v29q; ncu ViG-S@224 bigla_tc_bwd
# 151.1 -> 116.6 M warp instructions; graphed f+b ViG-T@1024 0.4159 -> 0.4060, S@1024 0.7669 -> 0.7583 ms
# (the call did not time the 224 px shapes v29q against v29r). Back to "v29q" at the end of session 8:
# across calls (the benchmark suite of call 1 with v29q, of the final call with v29r, same H100 kind)
# ViG-T@224 graphed f+b went 0.235 -> 0.248 ms (S@224 0.413 -> 0.409, B@224 0.811 -> 0.802): not shown
# faster at every shape. v29r stays selectable (VIG_CUPY_BWD=v29r); one same-call timing decides.
# Session 9, call 1 (H100, results/2026-12-06d-h100/call1/, one process, alternating): v29q against v29r
# graphed f+b T@224 0.234 vs 0.246 (v29r slower), S@224 0.411 vs 0.408, B@224 0.808 vs 0.800, T@1024
# 0.436 vs 0.426, S@1024 0.795 vs 0.787. "v31" since session 9's mid call (results/2026-12-06d-h100/mid/):
# v29r with the pass-2 dg row stores off the (A)-(B) section (-DBW4=10; v31q, BW4 11, on v29q where
# 32-bit offsets do not reach); parity 120/120, gradients bit-identical to v29r at every timed shape;
# graphed f+b v29q -> v31 T@224 0.232 -> 0.213, S@224 0.411 -> 0.377, B@224 0.808 -> 0.740, T@1024
# 0.400 -> 0.377, S@1024 0.743 -> 0.701 ms (v32, which adds the four-warp dq epilogue, is slower than v31;
# v32 - v34q were removed after session 9, see below). "v36" since session 11's first call (H100,
# results/2026-12-06f-h100/call1/): parity 120/120, memcheck / racecheck clean, seg128 20/20, gradients
# bit-identical to v31 + the cast at every timed shape; graphed f+b v31 -> v36 T@224 0.2137 -> 0.2048,
# S@224 0.3790 -> 0.3624, B@224 0.7391 -> 0.7141, T@1024 0.3763 -> 0.3629, S@1024 0.7019 -> 0.6819 ms.
BWD_DEFAULT = "v36"


def _bwd_long() -> bool:
    return _ENV["long"]


# VIG_CUPY_BWD: "v29q" (the default since session 7; below), "v29r" (opt-in, session 7), "v26p" (v26 with pass 2's Qi / Qf fragments packed from 16-bit loads
# instead of ldmatrix), "v26" (v2.5 + token-major Ki / Kf / Qi tiles read by ldmatrix.trans and
# padded fp32 tiles: no bank-conflicted transposed stores), "v25" (v2.4 + ldmatrix.trans instead of
# transposed shared-memory copies; session 3's default), "v24" (balanced warps, parallel cumsums),
# "chunked" (v2.3) or "recurrent" (v1). All GPU-proven (parity 120/120 on an H100).
# (Session 5 tried "v27" (pass 2 reuses pass 1's dP / P^T tiles) and "v28" (v27 + the dk epilogue
# over four warps): correct but slower graphed at every shape; removed, see NOTES.md, commits 5167f70
# and cf18f0b.)
# "v29" (session 6; proven and timed in session 7, -DBW4=7): v26p with direction-local chunk-step barriers (one block
# barrier per pass, where the gradient rows' first and second visitors meet); gradients
# bit-identical to v26p (emulator and H100). "v29q" (-DBW4=8): v29 whose pass 2 loads
# the q dq' terms (yq) at the top of each chunk step instead of just before the direction barrier.
# "v29r" (session 7, -DBW4=9; opt-in: the default for part of session 8, see BWD_DEFAULT): v29q whose chunk loads address in 32-bit
# element offsets (the 64-bit stride products and their constant reloads) and whose dq / dv / dk
# epilogues of a full chunk store without per-element bounds (SASS sm_90a bf16 K = 32: ~390 fewer
# instructions per warp and chunk step of ~1890); taken only where every input view's element
# offsets (16 tokens past either end included) stay below 2^31 (_in32), else v29q runs. Gradients
# bit-identical to v29q.
# "v31" (session 9, -DBW4=10; the default since its mid call, see BWD_DEFAULT): v29r whose pass-2 dg flush leaves the
# (A) - (B) stretch: one helper warp per direction only carries the suffix sums into shared memory
# there (it stored the 16 dg rows itself while the other three warps waited at (B)), and the
# threads outside the channel warps store the rows at the top of the next chunk step. "v31q"
# (-DBW4=11): the same on v29q (v31 falls back to it where v29r's _in32 rule fails).
# (Session 9 also tried "v32" / "v32q" (-DBW4=12 / 13: pass 1's dq epilogue on all four warps of a
# direction), "v33" / "v33q" (14 / 15: v32 + pass 2's next-chunk rows through cp.async into landing
# tiles) and "v34" / "v34q" (16 / 17: v31 + those cp.async rows): v32 / v32q timed on the H100
# (bit-identical, 3-5 % slower), v34 / v34q proven (parity 120/120) and not faster, v33 = v32 + CPA
# (results/2026-12-06d-h100/); removed, last in commit fdf897e. Selecting one
# raises a ValueError, see _BWD_REMOVED.)
# "v36" / "v36q" (session 10 round 2, the default since session 11's first call: -DBW4=10 / 11 plus -DO16=1): v31 / v31q with their
# chunk steps unchanged (first visitor stores fp32, second red.adds into the fp32 workspace), plus,
# after a block barrier at the kernel's end, every dq / dk / dv row the block wrote read back from
# L2 and stored rounded once in the inputs' dtype (16-byte stores): no fp32 -> bf16 / fp16 cast
# kernel after the backward; gradients = v31's fp32 values rounded once (what v31 + the cast
# returns, bit for bit); v36 falls back to v36q where v29r's _in32 rule fails.
# (Session 10 round 1's "v35" / "v35q": the second visitor wrote the 16-bit rows itself through
# cp.async landing tiles; proven on the H100 (parity 120/120, sanitizers clean) but bigla_tc_bwd
# lost 44 us at ViG-S@224 to save a 39 us cast (graphed f+b T@224 +12 %,
# results/2026-12-06e-h100/callB/); removed, last in commit 0dc6b40. Selecting one raises a
# ValueError, see _BWD_REMOVED.)
BWD_KINDS = ("chunked", "v24", "v25", "v26", "v26p", "v29", "v29q", "v29r", "v31", "v31q",
             "v36", "v36q", "recurrent")
_BW4 = {"v24": 1, "v25": 2, "v26": 3, "v26p": 4, "v29": 7, "v29q": 8, "v29r": 9,
        "v31": 10, "v31q": 11, "v36": 10, "v36q": 11}  # the -DBW4 level of each chunked-backward variant
_O16 = ("v36", "v36q")  # the variants compiled with -DO16=1 (16-bit dq / dk / dv from the kernel)
# removed variants -> (session, commit where they last are)
_BWD_REMOVED = {**{k: ("session 9", "fdf897e") for k in ("v32", "v32q", "v33", "v33q", "v34", "v34q")},
                "v35": ("session 10 round 1", "0dc6b40"), "v35q": ("session 10 round 1", "0dc6b40")}


def _in32(*ts) -> bool:
    """Every element offset of these [B, L, H, *] views, 16 tokens beyond either end of L
    included, fits a signed 32-bit int (the condition of v29r's 32-bit load offsets)."""
    for t in ts:
        span = sum((n - 1) * abs(st) for n, st in zip(t.shape, t.stride()))
        if span + 16 * abs(t.stride(1)) >= 2**31:
            return False
    return True


def bwd_variant() -> str:
    """The VIG_CUPY_BWD setting (one of BWD_KINDS)."""
    kind = _ENV["bwd"]
    if kind in _BWD_REMOVED:
        when, commit = _BWD_REMOVED[kind]
        raise ValueError(f"VIG_CUPY_BWD={kind!r}: the variant was removed after {when} (proven on "
                         f"the GPU, not faster than v31; in git history at {commit}); expected one of "
                         f"{BWD_KINDS}")
    if kind not in BWD_KINDS:
        raise ValueError(f"VIG_CUPY_BWD={kind!r}: expected one of {BWD_KINDS}")
    return kind


# The run-time switches VIG_CUPY_* (all but _MAX_SEG / _BWD_SEG, which are read at import only), read once
# (vig.backend.Knobs) and parsed here (NOTES.md, "The switches"); reload_env() re-reads them (dev_bench and the
# tests switch kernels through the environment).
_KNOBS = Knobs("VIG_CUPY_")
_ENV = {}
# VIG_CUPY_LAUNCH is gone (session 6, round 3): the plan launcher (plan_forward / plan_backward,
# the default since session 5's mid call: H100 parity 120/120, bit-exact against the per-call
# "legacy" launcher, eager fwd+bwd ViG-T@224 0.697 -> 0.476 ms) is the only launcher of bigla_tc.cu;
# the legacy tc_forward / tc_backward are in git history (commit 6656e8b). "plan" is accepted as a
# no-op; any other value raises (a script asking for the legacy launcher must not get the plan one
# silently).
_PLANS = {}
# VIG_CUPY_DGFIX (session 6; "vec2" the default since session 8, "vec" in session 7): the segmented backward's gate-gradient
# fix-up. "scalar" (the previous default): bigla_tc_dg_fix, one thread per element, every thread re-sums the other segments' totals
# (ncu, ViG-T@1024: 48.7 us, 37.4 M warp instructions, instruction-bound); "vec": bigla_tc_dg_fix4,
# 16-byte accesses, the totals summed once per thread for 4 rows (same additions in the same order:
# bit-identical dg, emulator-checked: dev_emu.py dgfix); "vec" needs K % 4 == 0 and H * K <= 1024,
# else the scalar kernel runs.
# "vec2" (session 7; the default since session 8): bigla_tc_dg_fix4s, dg_fix4 whose segment-total sums
# are made once per block (2 H K / 4 sums into shared memory, one barrier) instead of once per thread
# (rs times per block: ViG-T@1024 rs = 8, ~97 MB of L2 reads for 25 MB of dg); same grid, block,
# rows, additions and order: bit-identical dg (dev_emu.py dgfix). Same fallback as "vec".
DGFIX_KINDS = ("scalar", "vec", "vec2")
# "vec" since the 2026-12-06 session 7 mid call (H100, results/2026-12-06b-h100/mid/): parity 120/120, sanitizers clean, bit-identical,
# ViG-T@1024 52.9 -> 30.8 us.
# "vec2" since the 2026-12-06 session 8 call (same proof as v29r; bit-identical), ViG-T@1024 31.2 -> 28.1 us,
# S@1024 49.0 -> 43.0 us (graphed, the fix-up alone).
DGFIX_DEFAULT = "vec2"


def dgfix_launch(B: int, L: int, H: int, K: int, seglen: int, nseg: int):
    """(kernel, grid, block, non-pointer arguments) of the dg fix-up (after the pointers dgf, dgb,
    ytot) under the VIG_CUPY_DGFIX setting."""
    import numpy as np

    hk4 = H * K // 4
    if _ENV["dgfix"] in ("vec", "vec2") and K % 4 == 0 and 1 <= hk4 <= 256:
        rs = 1
        while 2 * rs * hk4 <= 256:
            rs *= 2  # rows per step: a power of two (4 rs rows a block divide 128-token segments)
        func = "bigla_tc_dg_fix4" if _ENV["dgfix"] == "vec" else "bigla_tc_dg_fix4s"
        return (func, (-(-seglen // (4 * rs)), nseg, B), (rs * hk4, 1, 1),
                (np.int32(L), np.int32(H), np.int32(K), np.int32(seglen), np.int32(nseg),
                 np.int32(rs)))
    n = B * L * H * K
    return ("bigla_tc_dg_fix", (-(-n // 256), 1, 1), (256, 1, 1),
            (np.int32(B), np.int32(L), np.int32(H), np.int32(K), np.int32(seglen), np.int32(nseg)))


def dgfix_smem(func: str, H: int, K: int) -> int:
    """Dynamic shared memory (bytes) of a dg fix-up launch: bigla_tc_dg_fix4s keeps its block's
    2 H K / 4 segment-total sums (float4) there; the others use none."""
    return 2 * (H * K // 4) * 16 if func == "bigla_tc_dg_fix4s" else 0


# VIG_CUPY_FWD0 (session 6; "m0" the default since session 7): the segmented forward's state pass (bigla_tc_fwd mode 0, in
# the forward and in the backward's own state pass). "generic" (the previous default): the same module as
# mode 1 (115 registers at K = 32: 2 blocks per SM; ncu ViG-T@1024: 44 us, 23 % warps active, 768
# blocks = 2.9 waves); "m0": a module compiled for mode 0 only (-DFWM0=1 -DMINB=3: 80 registers,
# 3 blocks per SM, 768 blocks = 1.9 waves); K <= 32 only (else generic). Same source arithmetic;
# bit-identity of the states depends on ptxas contracting the same mul / add pairs (the bench
# checks it; parity decides).
FWD0_KINDS = ("generic", "m0")
# "m0" since the 2026-12-06 session 7 mid call (H100, results/2026-12-06b-h100/mid/): parity 120/120, bit-identical output, graphed fwd
# ViG-T@1024 0.1128 -> 0.1070, S@1024 0.1956 -> 0.1867 ms.
FWD0_DEFAULT = "m0"


def fwd0_defines(defines: tuple, kt: int) -> tuple:
    """The defines of the forward's mode-0 launches (state pass) under VIG_CUPY_FWD0."""
    if _ENV["fwd0"] == "m0" and kt <= 2:
        return defines + (("FWM0", 1), ("MINB", 3))
    return defines


def _onoff(name: str) -> bool:
    """An on / off switch, on by default (vig.backend.Knobs.on)."""
    return _KNOBS.on(name, "1")


def reload_env() -> None:
    _KNOBS.reload()
    e = _KNOBS
    _ENV.update(fwd=e.get("VIG_CUPY_FWD", FWD_DEFAULT), bwd=e.get("VIG_CUPY_BWD", BWD_DEFAULT),
                long=_onoff("VIG_CUPY_BWD_LONG"),
                save=_onoff("VIG_CUPY_SAVE_STATES"),
                seg128=_onoff("VIG_CUPY_SEG128"),
                dgfix=e.choice("VIG_CUPY_DGFIX", DGFIX_DEFAULT, DGFIX_KINDS),
                fwd0=e.choice("VIG_CUPY_FWD0", FWD0_DEFAULT, FWD0_KINDS))
    if e.get("VIG_CUPY_BWD_MINB") is not None:
        raise ValueError("VIG_CUPY_BWD_MINB: the switch was removed in session 14 (the backward at 3 blocks "
                         "per SM, 80 registers, was bit-identical and 36-52 % slower on the H100, "
                         "results/2026-12-06i-h100/; in git history at 6b39a5c); unset it")
    launch = e.get("VIG_CUPY_LAUNCH")
    if launch not in (None, "plan"):
        raise ValueError(f"VIG_CUPY_LAUNCH={launch!r}: the switch was removed in session 6 (the "
                         "plan launcher is the only one; the legacy launcher is in git history at "
                         "6656e8b); unset it")
    _PLANS.clear()  # plans hold kernels, segment plans and launch arguments of the old switches


reload_env()


def bwd_kind(q, v, do, k=None) -> str:
    """Which backward runs: "chunked" (v2.3, v2.4 or v2.5, see bwd_variant) or "recurrent"
    (``k``: also require k's rows aligned, the condition of the chunked kernel's loads)."""
    kind = bwd_variant()
    if kind in _BW4:
        kind = "chunked"
    B, L, H, K = q.shape
    if (kind == "chunked" and q.dtype != torch.float32 and K <= 32 and v.shape[-1] <= TC_VB
            and (L <= TC_MAX_SEG or _bwd_long())
            and (tc_vec(q, v, do) if k is None else tc_vec(q, k, v, do))):
        return "chunked"
    return "recurrent"


def tc_bwd_smem(kt: int, bw4: int | None = None) -> int:
    """sizeof(BwdSmem) in bigla_tc.cu (the kernel traps if this is out of date); ``bw4``: the
    variant's -DBW4 level (default: the VIG_CUPY_BWD setting's; -DO16=1, v36 / v36q, adds none)."""
    bw4 = _BW4.get(bwd_variant(), 0) if bw4 is None else bw4
    kpd = 16 * kt
    if bw4 >= 3:  # v2.6: no transposed tiles, padded fp32 tiles
        return 824 * kpd + 8528
    return 856 * kpd + 13136


# ---- the plan launcher (session 5; the only launcher since session 6) ----------------------------
# The legacy path (removed in session 6, in git history at 6656e8b) spent most of an eager call's
# host time on the launch machinery, not the kernels: per launch ~40 numpy scalars built (_ptr /
# _strides / np.int32) and converted again by CuPy,
# RawKernel's device lookup, the `with stream:` context and getDevice(); per call tc_vec, the
# segment plan and (backward) four to eight torch.empty. A plan is built once per call signature
# (thread, device, dtype, shapes, strides, 16-byte alignment, scale, saved-state shapes, the
# segment caps); it holds each launch's cupy Function, grid, block, shared memory and one argument
# block (uint64 slots, the constants packed once, the same bytes the legacy path passed), so a call
# allocates, packs its pointers with one struct.pack_into per launch and calls the Function on an
# explicit stream. Same kernels, same arguments as the legacy path: bit-identical results (H100,
# session 5). The emulator (dev_emu.py, dev_mock.py) runs these plans on the CPU.
class _Slot:
    """A pointer argument of a planned launch: index ``i`` of the call's pointer tuple."""
    __slots__ = ("i",)

    def __init__(self, i):
        self.i = i


def _function(kern, dev):
    """The cupy.cuda.function.Function of a RawKernel on device ``dev`` (tests replace this)."""
    import cupy

    with cupy.cuda.Device(dev):
        return kern.kernel


class _Call:
    """One planned launch."""
    __slots__ = ("fn", "grid", "block", "smem", "buf", "cargs", "pack", "get", "name")

    def __init__(self, dev, func, grid, block, args, smem, defines):
        import struct

        import numpy as np
        from cupy.cuda.function import CNumpyArray

        kern = _MODULES.kernel_defs("bigla_tc.cu", func, dev, defines, smem)
        self.fn = _function(kern, dev)
        self.name = func
        self.grid, self.block, self.smem = tuple(grid), tuple(block), smem
        slots = []
        for a in args:  # the pointers come first in every bigla_tc.cu kernel
            if not isinstance(a, _Slot):
                break
            slots.append(a.i)
        n = len(args)
        self.buf = np.zeros(n, np.uint64)
        raw = self.buf.view(np.uint8)
        for j, a in enumerate(args[len(slots):], len(slots)):
            if not isinstance(a, (np.int32, np.int64, np.float32)):
                raise TypeError(f"{func}: argument {j} is {type(a).__name__}")
            b = np.frombuffer(a.tobytes(), np.uint8)  # the scalar's bytes, zero-padded to 8
            raw[8 * j:8 * j + b.size] = b
        self.cargs = [CNumpyArray(self.buf[j:j + 1]) for j in range(n)]
        self.pack = struct.Struct(f"<{len(slots)}Q").pack_into
        self.get = operator.itemgetter(*slots) if len(slots) > 1 else (lambda P: (P[slots[0]],))

    def __call__(self, P, stream):
        self.pack(self.buf, 0, *self.get(P))
        self.fn(self.grid, self.block, self.cargs, self.smem, stream)


def _not_current(dev, cur) -> RuntimeError:
    return RuntimeError(f"cupy backend: the tensors are on cuda:{dev} but cuda:{cur} is the current device; the "
                        "shared layer (vig.ops) makes the tensors' device current before a backend's entry points run "
                        "(KernelBackend's contract), so a caller has bypassed it")


def _run(calls, P, dev):
    """Launch ``calls`` with pointer tuple ``P`` on PyTorch's current stream of ``dev``, the current device (the
    shared layer switches to the tensors' device: no switch of its own here)."""
    if _current_device() != dev:
        raise _not_current(dev, _current_device())
    stream = _MODULES.stream(dev)
    for c in calls:
        c(P, stream)


def _current_device() -> int:
    import cupy

    return cupy.cuda.runtime.getDevice()


def _strided(shape):
    """(shape, contiguous strides) for as_strided."""
    st, n = [], 1
    for d in reversed(shape):
        st.append(n)
        n *= d
    return tuple(shape), tuple(reversed(st)), n


class _FwdPlan:
    __slots__ = ("calls", "o_shape", "nseg", "n_ws", "st", "gs")


def _build_fwd(dev, q, k, v, g_fwd, g_bwd, scale, vec):
    """The launches of the chunked forward: with segments the state pass (bigla_tc_fwd mode 0) and
    the scan, then the output pass (mode 1); pointer slots 0 q, 1 k, 2 v, 3 g_fwd, 4 g_bwd, 5 o,
    6 st, 7 gs."""
    import numpy as np

    B, L, H, K = q.shape
    V = v.shape[-1]
    BH = B * H
    kt = tc_kt(K)
    kpd = 16 * kt
    defines = _tc_defines(q.dtype, kt, vec)
    fdefines = fwd_defines(defines, q, k, v, g_fwd, g_bwd)
    nvb, seglen, nseg = tc_plan(B, H, L, V)
    dsm = 2 * tc_dir_smem(kt)
    Q, Kk, Vv, GF, GB, O, ST, GS = (_Slot(i) for i in range(8))
    if nseg == 1:
        ST = GS = O
    common = (Q, Kk, Vv, GF, GB, O, ST, GS,
              np.int32(B), np.int32(L), np.int32(H), np.int32(K), np.int32(V),
              *_strides(q), *_strides(k), *_strides(v), *_strides(g_fwd), *_strides(g_bwd),
              np.float32(scale / 2), np.int32(seglen))
    grid = (BH, nseg, nvb)
    calls = []
    if nseg > 1:
        calls.append(_Call(dev, "bigla_tc_fwd", grid, (256, 1, 1), common + (np.int32(0),), dsm,
                           fwd0_defines(fdefines, kt)))
        total = BH * 2 * nvb * TC_VB * kpd
        calls.append(_Call(dev, scan_func(), (-(-total // 256), 1, 1), (256, 1, 1),
                           (ST, GS, np.int32(BH), np.int32(nseg), np.int32(nvb * TC_VB),
                            np.int32(0)), 0, defines))
    odefines = fwd1_defines(fdefines, kt, BH * nseg * nvb, sm_count(dev))
    calls.append(_Call(dev, "bigla_tc_fwd", grid, (256, 1, 1), common + (np.int32(1),),
                       tc_fwd_smem(kt, odefines, seglen), odefines))
    p = _FwdPlan()
    p.calls, p.o_shape, p.nseg = tuple(calls), (B, L, H, V), nseg
    p.st = _strided((BH, nseg, 2, nvb * TC_VB, kpd))
    p.gs = _strided((BH, nseg, 2, kpd))
    p.n_ws = p.st[2] + p.gs[2]  # st | gs in one fp32 allocation (both kept for the backward)
    return p


def _plans_full():
    if len(_PLANS) > 512:  # many signatures (or threads): start over rather than grow
        _PLANS.clear()


def plan_forward(q, k, v, g_fwd, g_bwd, scale: float, keep_states: bool = False):
    """The chunked forward through a cached plan: o, or with ``keep_states`` (o, (st, gs)) ((o, ())
    without segments): the state entering each segment and the gate sums, for the backward."""
    pq, pk, pv = q.data_ptr(), k.data_ptr(), v.data_ptr()
    vec = 1 if not (pq | pk | pv) & 15 else 0
    dev = q.get_device()
    key = ("f", _get_ident(), dev, q.dtype, q.shape, v.shape[3], q.stride(), k.stride(),
           v.stride(), g_fwd.stride(), g_bwd.stride(), vec, scale, TC_MAX_SEG)
    p = _PLANS.get(key)
    if p is None:
        _plans_full()
        p = _PLANS[key] = _build_fwd(dev, q, k, v, g_fwd, g_bwd, scale,
                                     vec and tc_vec(q, k, v))
    o = torch.empty(p.o_shape, device=q.device, dtype=v.dtype)
    po = o.data_ptr()
    if p.nseg > 1:
        ws = torch.empty(p.n_ws, device=q.device, dtype=torch.float32)
        st = ws.as_strided(p.st[0], p.st[1], 0)
        gs = ws.as_strided(p.gs[0], p.gs[1], p.st[2])
        pw = ws.data_ptr()
        _run(p.calls, (pq, pk, pv, g_fwd.data_ptr(), g_bwd.data_ptr(), po, pw, pw + 4 * p.st[2]),
             dev)
        return (o, (st, gs)) if keep_states else o
    _run(p.calls, (pq, pk, pv, g_fwd.data_ptr(), g_bwd.data_ptr(), po, po, po), dev)
    return (o, ()) if keep_states else o


class _BwdPlan:
    __slots__ = ("calls", "chunked", "n_ws", "n_flat", "offs", "reuse", "dg", "dq", "dk", "dv", "o16")


def _build_bwd(dev, q, k, v, g_fwd, g_bwd, scale, do, states, chunked):
    """The launches of the chunked backward; pointer slots 0 q, 1 k, 2 v, 3 g_fwd, 4 g_bwd, 5 do,
    6 dq, 7 dk, 8 dv, 9 dgf, 10 dgb, 11 yq, 12 sts, 13 st_r, 14 ytot, 15 gs (v36 / v36q: 16 - 18
    the 16-bit dq, dk, dv the kernel writes, after dv in its arguments). One fp32 workspace holds
    dq | dk | dv (contiguous, cast once at the end; v36: read back by the kernel's end) | yq | st_r | ytot [| sts | gs], each
    part on a 256-byte boundary; dgf | dgb share a second allocation (both returned)."""
    import numpy as np

    p = _BwdPlan()
    p.chunked = chunked
    p.o16 = False
    if not chunked:
        return p
    B, L, H, K = q.shape
    V = v.shape[-1]
    BH = B * H
    kt = tc_kt(K)
    kpd = 16 * kt
    fdefines = _tc_defines(q.dtype, kt, 1)
    bw4 = _BW4.get(bwd_variant(), 0)
    if bw4 in (9, 10) and not _in32(q, k, v, g_fwd, g_bwd, do):
        # v29r's 32-bit load offsets would not hold: v29q (v31: v31q)
        bw4 = {9: 8, 10: 11}[bw4]
    if bw4 >= 3 and max(2 * BH * L * 16 * kt, B * L * H * max(K, V)) >= 2**31:
        bw4 = 2
    defines = fdefines + ((("BW4", bw4),) if bw4 else ())
    # v36 / v36q: dq, dk, dv in q's dtype from the kernel (slots 16 - 18: the same flat layout)
    p.o16 = bwd_variant() in _O16 and bw4 in (10, 11)
    if p.o16:
        defines += (("O16", 1),)
    nk, nv = B * L * H * K, B * L * H * V
    rnd = lambda n: -(-n // 64) * 64  # noqa: E731
    sizes = [2 * nk + nv, 2 * BH * L * kpd]  # flat, yq
    reuse = False
    if L <= TC_BWD_SEG:
        seglen, nseg = L, 1
    else:
        _, seglen, nseg = tc_plan(B, H, L, V, TC_BWD_SEG)
        n_st, n_gs = BH * nseg * 2 * TC_VB * kpd, BH * nseg * 2 * kpd
        sizes += [n_st, n_gs]  # st_r, ytot
        reuse = (len(states) == 2 and tuple(states[0].shape) == (BH, nseg, 2, TC_VB, kpd)
                 and tuple(states[1].shape) == (BH, nseg, 2, kpd)
                 and tc_plan(B, H, L, V) == (1, seglen, nseg))
        if not reuse:
            sizes += [n_st, n_gs]  # sts, gs
    offs = [0]
    for n in sizes[:-1]:
        offs.append(offs[-1] + rnd(n))
    p.n_ws = offs[-1] + sizes[-1]
    p.offs = tuple(4 * o for o in offs)  # bytes
    p.n_flat, p.reuse = 2 * nk + nv, reuse
    p.dq = _strided((B, L, H, K))[:2] + (0,)
    p.dk = _strided((B, L, H, K))[:2] + (nk,)
    p.dv = _strided((B, L, H, V))[:2] + (2 * nk,)
    p.dg = _strided((B, L, H, K))[:2] + (nk,)
    Q, Kk, Vv, GF, GB, DO, DQ, DK, DV, DGF, DGB, YQ, STS, STR, YT, GS = (_Slot(i) for i in range(16))
    O16 = (_Slot(16), _Slot(17), _Slot(18)) if p.o16 else ()
    if nseg == 1:
        STS = STR = YT = YQ
    total = BH * 2 * TC_VB * kpd
    calls = []
    if nseg > 1 and not reuse:
        fargs = (Q, Kk, Vv, GF, GB, DQ, STS, GS,
                 np.int32(B), np.int32(L), np.int32(H), np.int32(K), np.int32(V),
                 *_strides(q), *_strides(k), *_strides(v), *_strides(g_fwd), *_strides(g_bwd),
                 np.float32(scale / 2), np.int32(seglen), np.int32(0))
        calls.append(_Call(dev, "bigla_tc_fwd", (BH, nseg, 1), (256, 1, 1), fargs,
                           2 * tc_dir_smem(kt),
                           fwd0_defines(fwd_defines(fdefines, q, k, v, g_fwd, g_bwd), kt)))
        calls.append(_Call(dev, scan_func(), (-(-total // 256), 1, 1), (256, 1, 1),
                           (STS, GS, np.int32(BH), np.int32(nseg), np.int32(TC_VB), np.int32(0)),
                           0, fdefines))
    common = (Q, Kk, Vv, GF, GB, DO, DQ, DK, DV, *O16, DGF, DGB, YQ, STS, STR, YT,
              np.int32(B), np.int32(L), np.int32(H), np.int32(K), np.int32(V),
              *_strides(q), *_strides(k), *_strides(v), *_strides(g_fwd), *_strides(g_bwd),
              *_strides(do), np.float32(scale / 2), np.int32(seglen))
    smem = 2 * tc_bwd_smem(kt, bw4)
    if nseg > 1:
        calls.append(_Call(dev, "bigla_tc_bwd", (BH, nseg, 1), (256, 1, 1), common + (np.int32(0),),
                           smem, defines))
        calls.append(_Call(dev, scan_func(), (-(-total // 256), 1, 1), (256, 1, 1),
                           (STR, GS, np.int32(BH), np.int32(nseg), np.int32(TC_VB), np.int32(1)),
                           0, fdefines))
    calls.append(_Call(dev, "bigla_tc_bwd", (BH, nseg, 1), (256, 1, 1), common + (np.int32(1),),
                       smem, defines))
    if nseg > 1:
        func, grid, block, consts = dgfix_launch(B, L, H, K, seglen, nseg)
        calls.append(_Call(dev, func, grid, block, (DGF, DGB, YT) + consts,
                           dgfix_smem(func, H, K), defines))
    p.calls = tuple(calls)
    return p


def plan_backward(q, k, v, g_fwd, g_bwd, scale: float, do, states=()):
    """The chunked backward through a cached plan: (dq, dk, dv, dg_fwd, dg_bwd) (dq, dk, dv in q's
    dtype, dg fp32); ``states``: the forward's kept (st, gs) (reused when they match this plan's
    segments), or () to recompute them; None where bwd_kind would pick the recurrent backward."""
    pq, pk, pv, pdo = q.data_ptr(), k.data_ptr(), v.data_ptr(), do.data_ptr()
    dev = q.get_device()
    aligned = not (pq | pk | pv | pdo) & 15
    key = ("b", _get_ident(), dev, q.dtype, q.shape, v.shape[3], q.stride(), k.stride(),
           v.stride(), g_fwd.stride(), g_bwd.stride(), do.stride(), aligned, scale,
           TC_MAX_SEG, TC_BWD_SEG,
           tuple(s.shape for s in states) if len(states) == 2 else len(states))
    p = _PLANS.get(key)
    if p is None:
        _plans_full()
        p = _PLANS[key] = _build_bwd(dev, q, k, v, g_fwd, g_bwd, scale, do, states,
                                     aligned and bwd_kind(q, v, do, k) == "chunked")
    if not p.chunked:
        return None
    ws = torch.empty(p.n_ws, device=q.device, dtype=torch.float32)
    dg = torch.empty(2 * p.dg[2], device=q.device, dtype=torch.float32)
    w, d = ws.data_ptr(), dg.data_ptr()
    o = p.offs
    if p.reuse:
        s0, s1 = states[0].data_ptr(), states[1].data_ptr()
    elif len(o) > 4:
        s0, s1 = w + o[4], w + o[5]
    else:
        s0 = s1 = 0  # one segment: never read
    dqo, dko, dvo = (w, w + 4 * p.dk[2], w + 4 * p.dv[2])
    yq = w + o[1]
    if len(o) > 2:
        st_r, yt = w + o[2], w + o[3]
    else:
        st_r = yt = yq
    P = (pq, pk, pv, g_fwd.data_ptr(), g_bwd.data_ptr(), pdo, dqo, dko, dvo, d,
         d + 4 * p.dg[2], yq, s0 if len(o) > 2 else yq, st_r, yt, s1)
    if p.o16:  # v36: the kernel writes dq | dk | dv in q's dtype (no cast)
        flat = torch.empty(p.n_flat, device=q.device, dtype=q.dtype)
        f = flat.data_ptr()
        es = flat.element_size()
        _run(p.calls, P + (f, f + es * p.dk[2], f + es * p.dv[2]), dev)
    else:
        _run(p.calls, P, dev)
        flat = ws[:p.n_flat].to(q.dtype)
    return (flat.as_strided(*p.dq), flat.as_strided(*p.dk), flat.as_strided(*p.dv),
            dg.as_strided(p.dg[0], p.dg[1], 0), dg.as_strided(*p.dg))


def _fwd_wide(kp: int, dtype) -> int:
    """Most state columns per lane in the forward (about 64 state registers, 128 with the fp32
    compensation terms)."""
    return max(1, (32 if dtype == torch.float32 else 64) // kp)


def _bwd_wide(kp: int) -> int:
    """Most state columns per lane in the backward (its shared-memory history holds KP * VP values
    per lane and token)."""
    return max(1, 8 // kp)


class _Modules:
    """Compiled modules, one per specialization and device; built once, never per call."""

    def __init__(self):
        self._lock = threading.Lock()
        self._cache = {}
        self._limit = {}
        self._streams = {}

    def kernel(self, source: str, func: str, device: int, dtype_code: int, kp: int, vp: int,
               smem: int):
        return self.kernel_defs(source, func, device,
                                (("DTYPE", dtype_code), ("KP", kp), ("VP", vp), ("TT", TILE)), smem)

    def kernel_defs(self, source: str, func: str, device: int, defines: tuple, smem: int):
        """The kernel ``func`` of ``source`` compiled with ``-D`` ``defines`` ((name, value), ...),
        allowed at least ``smem`` bytes of dynamic shared memory."""
        key = (source, func, device, defines)
        kern = self._cache.get(key)
        if kern is None or self._limit[key] < smem:
            with self._lock:
                kern = self._cache.get(key)
                if kern is None or self._limit[key] < smem:
                    import cupy

                    mkey = (source, device, defines)
                    opts = ("--std=c++17",) + tuple(f"-D{n}={v}" for n, v in defines)
                    with cupy.cuda.Device(device):
                        mod = self._cache.get(mkey)
                        if mod is None:
                            # CuPy compiles for this device's own arch (-arch=sm_XX, cubin).
                            mod = cupy.RawModule(code=kernel_source(source), options=opts)
                            self._cache[mkey] = mod
                        kern = mod.get_function(func)
                        if smem > _SMEM_DEFAULT:
                            kern.max_dynamic_shared_size_bytes = smem  # only ever raised
                    self._limit[key] = max(smem, _SMEM_DEFAULT)
                    self._cache[key] = kern
        return kern

    def stream(self, device: int):
        import cupy

        ptr = (_raw_stream(device) if _raw_stream is not None
               else torch.cuda.current_stream(device).cuda_stream)
        key = (device, ptr)
        s = self._streams.get(key)
        if s is None:
            s = cupy.cuda.ExternalStream(ptr, device)
            self._streams[key] = s
        return s


_MODULES = _Modules()
# PyTorch's current stream of a device as a raw pointer, without building a Stream object (host
# time per launch); the public path when this private hook is missing.
_raw_stream = getattr(torch._C, "_cuda_getCurrentRawStream", None)


def _ptr(t):
    import numpy as np

    return np.uint64(t.data_ptr())


def _strides(t):
    import numpy as np

    sb, sl, sh, _ = t.stride()
    return (np.int64(sb), np.int64(sl), np.int64(sh))


def _launch(kern, device, grid, block, args, smem):
    import cupy

    if cupy.cuda.runtime.getDevice() != device:  # the current device is the tensors' (as _run)
        raise _not_current(device, cupy.cuda.runtime.getDevice())
    stream = _MODULES.stream(device)
    with stream:
        kern(grid, block, args, shared_mem=smem)


def _device_index(device: torch.device) -> int:
    return device.index if device.index is not None else torch.cuda.current_device()


class CuPyBackend(KernelBackend):
    """Bidirectional GLA in raw CUDA C++ (NVRTC via CuPy); fp32 / fp16 / bf16, K, V <= 128."""

    name = "cupy"
    device_types = ("cuda",)
    install_hint = "pip install 'vig[cupy]' (cupy-cuda13x) on a machine with an NVIDIA GPU and driver"
    dtypes = (torch.float32, torch.float16, torch.bfloat16)
    max_head_dim = MAX_HEAD_DIM
    requires_contiguous = False

    def not_supported_reasons(self) -> list[str]:
        reasons = []
        try:
            import cupy  # noqa: F401
        except Exception as exc:  # ImportError, or a broken install
            reasons.append(f"cupy is not importable ({type(exc).__name__}: {exc})")
        if not torch.cuda.is_available():
            reasons.append("no CUDA device / driver is available to PyTorch")
        elif not reasons:
            try:
                import cupy

                n = cupy.cuda.runtime.getDeviceCount()
                if n < 1:
                    reasons.append("CuPy sees no CUDA device")
            except Exception as exc:
                reasons.append(f"CuPy cannot use the CUDA driver ({type(exc).__name__}: {exc})")
        return reasons

    # ------------------------------------------------------------------ forward
    def forward(self, q, k, v, g_fwd, g_bwd, scale: float, needs_grad: bool = True):
        if fwd_kind(q.dtype) == "chunked":
            if _ENV["save"]:
                return plan_forward(q, k, v, g_fwd, g_bwd, scale, True)
            return plan_forward(q, k, v, g_fwd, g_bwd, scale), ()
        return self._forward_recurrent(q, k, v, g_fwd, g_bwd, scale)

    def _forward_recurrent(self, q, k, v, g_fwd, g_bwd, scale: float):
        import numpy as np

        B, L, H, K = q.shape
        V = v.shape[-1]
        BH = B * H
        dev = _device_index(q.device)
        code = _DTYPE_CODE[q.dtype]
        kp = _kp(K)
        vp = _vp(kp, V, BH, _fwd_wide(kp, q.dtype))
        vw = 4 * vp
        ns = -(-V // vw)
        smem = 2 * TILE * (3 * 8 * kp + vw) * 4
        kern = _MODULES.kernel("bigla_fwd.cu", "bigla_fwd", dev, code, kp, vp, smem)
        ws = torch.empty((2, BH, L, V), device=q.device, dtype=torch.float32)
        o = torch.empty((B, L, H, V), device=q.device, dtype=v.dtype)
        args = (_ptr(q), _ptr(k), _ptr(v), _ptr(g_fwd), _ptr(g_bwd), _ptr(ws), _ptr(o),
                np.int32(B), np.int32(L), np.int32(H), np.int32(K), np.int32(V),
                *_strides(q), *_strides(k), *_strides(v), *_strides(g_fwd), *_strides(g_bwd),
                np.float32(scale / 2))
        _launch(kern, dev, (BH, ns, 1), (64, 1, 1), args, smem)
        return o, ()

    # ----------------------------------------------------------------- backward
    def backward(self, q, k, v, g_fwd, g_bwd, scale: float, do, saved):
        r = plan_backward(q, k, v, g_fwd, g_bwd, scale, do, tuple(saved))
        if r is not None:
            return r
        return self._backward_recurrent(q, k, v, g_fwd, g_bwd, scale, do, saved)

    def _backward_recurrent(self, q, k, v, g_fwd, g_bwd, scale: float, do, saved):
        import numpy as np

        B, L, H, K = q.shape
        V = v.shape[-1]
        BH = B * H
        dev = _device_index(q.device)
        code = _DTYPE_CODE[q.dtype]
        kp = _kp(K)
        vp = _vp(kp, V, BH, _bwd_wide(kp))
        vw = 4 * vp
        ns = -(-V // vw)
        ntiles = -(-L // TILE)
        nst = kp * vp
        smem = 2 * TILE * (3 * 8 * kp + 2 * vw + nst * 32) * 4
        kern = _MODULES.kernel("bigla_bwd.cu", "bigla_bwd", dev, code, kp, vp, smem)
        fin = _MODULES.kernel("bigla_bwd.cu", "bigla_bwd_finalize", dev, code, kp, vp, 0)
        f32 = dict(device=q.device, dtype=torch.float32)
        DQ = torch.empty((2, ns, BH, L, K), **f32)
        DK = torch.empty((2, ns, BH, L, K), **f32)
        DG = torch.empty((2, ns, BH, L, K), **f32)
        DV = torch.empty((2, BH, L, V), **f32)
        CK = torch.empty((2, ns, BH, ntiles, nst, 32), **f32)  # the last tile's slot is unused
        args = (_ptr(q), _ptr(k), _ptr(v), _ptr(g_fwd), _ptr(g_bwd), _ptr(do),
                _ptr(DQ), _ptr(DK), _ptr(DG), _ptr(DV), _ptr(CK),
                np.int32(B), np.int32(L), np.int32(H), np.int32(K), np.int32(V),
                *_strides(q), *_strides(k), *_strides(v), *_strides(g_fwd), *_strides(g_bwd),
                *_strides(do), np.float32(scale / 2))
        _launch(kern, dev, (BH, ns, 1), (64, 1, 1), args, smem)
        dq = torch.empty((B, L, H, K), device=q.device, dtype=q.dtype)
        dk = torch.empty((B, L, H, K), device=q.device, dtype=q.dtype)
        dv = torch.empty((B, L, H, V), device=q.device, dtype=q.dtype)
        dgf = torch.empty((B, L, H, K), **f32)
        dgb = torch.empty((B, L, H, K), **f32)
        args = (_ptr(DQ), _ptr(DK), _ptr(DG), _ptr(DV),
                _ptr(dq), _ptr(dk), _ptr(dv), _ptr(dgf), _ptr(dgb),
                np.int32(B), np.int32(L), np.int32(H), np.int32(K), np.int32(V), np.int32(ns))
        total = BH * L * (K + V)
        _launch(fin, dev, (max(1, min(-(-total // 256), 132 * 16)), 1, 1), (256, 1, 1), args, 0)
        return dq, dk, dv, dgf, dgb
