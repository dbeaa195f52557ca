"""TileLang backend of the bidirectional GLA: ``vig.set_backend("tilelang")``.

Importing this package needs neither tilelang nor a GPU. The kernels (``.kernels``) are compiled
on first use, once per (kernel, dtype, arch) - B, L, H and head dims up to 32 / 64 are dynamic,
larger head dims run as float32 tiles cut by the shared layer - and cached for the life of the process (and on disk by
TileLang, under ``TILELANG_CACHE_DIR``; a cache filled on a machine without a GPU by
``dev_precompile.py`` is reused on the GPU machine). Never compiles per call. See NOTES.md.

Forward: v6s (the default since session 5's mid call): v6 (fwd_fused: one block per (b, h), one
launch; bf16: fwd_fused:s2:m3:x5 by default, see FUSED_EXP and FWD_VIEWS below) for L <= 224 with
head dims 32 / 64, the segmented fused forward (fwd_segst -> fwd_scan -> fwd_fused_seg) for
L > 224, v5 (chunk-parallel: fwd_st -> fwd_scan -> fwd_out) for other head dims;
``VIG_TILELANG_FWD=v6`` runs v5 at L > 224 (the previous default), ``v5`` v5 everywhere, ``v4``
the old one-block-per-(b, h) kernel. Backward: v6 (bwd_states -> bwd_out) for L <= 224 with head
dims 32 / 64, v5 (fwd_st -> fwd_scan -> bwd_st -> fwd_scan -> bwd_out) otherwise, bwd_out being
bwd_out2 (256 threads; its diagonal sub-blocks on the tensor cores; by default ":x4",
$VIG_TILELANG_BWD_OUT=ref2, see below) for bf16 with head dims 32 / 64 (=v2: the lane pass, session
5's; =v1: bwd_out);
``VIG_TILELANG_BWD=v5`` / ``v6s`` / ``v4`` likewise. ``VIG_TILELANG_LOWMEM`` (default "1" since
session 5's mid call): that bf16 backward keeps its per-chunk states in bf16 and writes dq / dk /
dv in bf16 (``_bwd_lowmem``: peak extra of fwd+bwd 0.59x -> 0.40x fla's; "0": float32, the
previous default). ``VIG_TILELANG_FUSED_EXP`` (default "ref3" since session 8): the
bf16 fwd_fused with __expf, its diagonal sub-blocks on the tensor cores through a per-channel
midpoint of the chunk's cumsum, the cumsums by all threads, vector loads and no compensation tiles
(fwd_fused:m3:x5; fwd_fused_seg:m3:x4 beyond 224 tokens); "ref2": x4 (fwd_fused:m3:x4); "ref"
(session 7's default): x3; "pairs" (session 5's default): the diagonal sub-blocks pair by pair
(fwd_fused:m3:x2); "fast": __expf only (fwd_fused:m3:x1); "": expf and the per-element loop.
``VIG_TILELANG_FWD_VIEWS`` (default "2" since session 8): the bf16 forward reads q, k, v and the
gates as int64 views, no contiguous copies: "1" at L <= 224 (fwd_fused:s2:m3:x5), "2" also beyond
(fwd_segst:s2 + fwd_fused_seg:s2:m3:x4, the same values as on copies); "0": copies.
``VIG_TILELANG_BWD_OUT`` (default "ref2" since session 8): bwd_out2:t256:x4[:w1], the tensor-core
diagonal blocks at three blocks per SM; "ref": x3 (session 7's default), "v2", "v1".
``VIG_TILELANG_BWD_STATES`` (default "" since session 9, "m3" in session 8): "": bwd_states:w1; "m3":
bwd_states:m3:w1 (the LOWMEM backward at L <= 224), three blocks per SM. ``VIG_TILELANG_BWD_VIEWS``
(default "2" since session 9; "1" in session 8): "1": with BWD_OUT=ref2 and BWD_STATES=m3, that backward reads
the views too (bwd_states:m3:s2:w1 + bwd_out2:t256:x4:s2:w1; no contiguous copies); "2": "1", and with the
w1 states too (bwd_states:s2:w1 + bwd_out2:t256:x4:s2:w1); "0": copies.
Session 9, L > 224 only: ``VIG_TILELANG_BWD_SEG`` (default "128" since session 9's mid call; "": the v5 states on
copies): the backward's states on 128-token segments (bwd_segst:g128 -> fwd_scan -> bwd_states_seg:g128 on
the views, no copies); ``VIG_TILELANG_SEG_L`` (the segment forward's segment length, default "128" since
session 10: fwd_fused_seg:s2:m3:x4:g128); see its comment. Removed in session 9 (no gain on the GPU;
in git history at fdf897e): ``VIG_TILELANG_SEGST=m3`` and ``VIG_TILELANG_FWD_WALK=2`` (they raise ValueError).
Session 10 (defaults since its call B): ``VIG_TILELANG_SEG_SAVE=1`` (the segment forward saves its scanned segment states and the
BWD_SEG backward reads them: bwd_segr instead of bwd_segst, one fwd_scan over half the data; with SEG_L equal to
BWD_SEG's length), ``VIG_TILELANG_SCAN_VEC=1`` and ``VIG_TILELANG_SEGW=1`` (the FWD_VIEWS=2 segment
forward's per-segment totals from one walker that loads each chunk once: fwd_segw instead of fwd_segst:s2); see
their comments. Session 11: ``VIG_TILELANG_FWD_TILE=1`` (the 224-px forward's operand tiles from fewer exps; "4"
since session 17). Session 19: ``VIG_TILELANG_SAVE224=2`` (default): at L <= 224, when autograd needs a gradient, the
forward also writes the bf16 states entering each chunk and the backward computes only the adjoint side (bwd_adj
instead of bwd_states); see its comment.
Measurements and proofs: NOTES.md and results/2026-12-06c-h100/ .. 2026-12-07c-h100/. The variables are read once per process (``reload_env()`` re-reads them).
"""
from __future__ import annotations

import threading
import time

import torch

from vig.backend import KernelBackend, Knobs
from vig.ops import _layout

__all__ = ["TileLangBackend", "compile_kernel", "compile_log"]

_DTYPES = {torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16"}

_cache: dict[tuple, object] = {}  # (kind as compiled, K, V, dtype, arch[, ftz]) -> Kernel
_lookup: dict[tuple, object] = {}  # (kind as asked, K, V, dtype, arch) -> Kernel, under the current switches
_lock = threading.Lock()
#: (signature, seconds) of every compilation done in this process, first-call cost included
compile_log: list[tuple[tuple, float]] = []


#: the compiled tile: head dims up to these run in one launch in their own dtype (ViG: K 32, V 64)
KT, VT = 32, 64
#: tokens per chunk (kernels.build_* default)
CHUNK = 32


_ARCH: dict = {}


def _arch(device: torch.device) -> str:
    a = _ARCH.get(device.index)
    if a is None:
        major, minor = torch.cuda.get_device_capability(device)
        a = _ARCH[device.index] = "sm_90a" if (major, minor) == (9, 0) else f"sm_{major}{minor}"
    return a


# kernel kinds built by kernels.build_<kind>(K, V, dtype, ...) ("fwd_scan" takes no dtype)
_KINDS = ("fwd_st", "fwd_scan", "fwd_out", "bwd_st", "bwd_out", "bwd_out2", "fwd_fused",
          "bwd_states", "fwd_segst", "fwd_fused_seg", "bwd", "bwd_segst", "bwd_states_seg",
          "bwd_segr", "fwd_segw", "bwd_adj")
# ":<letter><int>" options of a kind (development variants, e.g. "fwd_fused:t128" threads,
# "bwd_out:c16:t64" chunk, "bwd_out:d0" no diagonal sub-blocks: wrong results, for timing them)
_OPTS = {"t": "threads", "c": "C", "d": "diag", "l": "lanes", "m": "minb", "s": "strided",
         "w": "lowmem", "x": "fastexp", "g": "LMAX", "v": "vec", "e": "share", "p": "prefetch", "b": "trim", "a": "save"}


def build(kind: str, K: int, V: int, dtype: str):
    """The TileLang prim_func of one kernel (no compilation). ``kind``: one of ``_KINDS``, or
    "fwd_res" / "fwd_ws" (v4 forward), with optional ":<letter><int>" options (``_OPTS``); batch
    size, sequence length, heads and the true head dims (<= K, V) are dynamic."""
    from . import kernels

    kind, *opts = kind.split(":")
    rf = "r1" in opts  # ":r1" (RACEFIX, session 9 round 4): kernels.RACEFIX while the prim_func is built
    kw = {_OPTS[o[0]]: int(o[1:]) for o in opts if o != "r1"}
    if kind in ("fwd_res", "fwd_ws"):
        return kernels.build_fwd(K, V, dtype, kind[4:], **kw)
    if kind not in _KINDS:
        raise ValueError(kind)
    fn = getattr(kernels, f"build_{kind}")
    kernels.RACEFIX = rf
    try:
        return fn(K, V, **kw) if kind == "fwd_scan" else fn(K, V, dtype, **kw)
    finally:
        kernels.RACEFIX = False


_VERSIONS = ("v4", "v5", "v6", "v6s")
_KNOBS = Knobs("VIG_TILELANG_")  # read once; dev scripts that change them call reload_env()
_knob = _KNOBS.get


def _on(name: str, default: str) -> bool:
    """$VIG_TILELANG_<name> as an on / off switch (vig.backend.Knobs.on)."""
    return _KNOBS.on("VIG_TILELANG_" + name, default)


def _choice(name: str, default: str, allowed) -> str:
    """$VIG_TILELANG_<name>, one of ``allowed`` (vig.backend.Knobs.choice)."""
    return _KNOBS.choice("VIG_TILELANG_" + name, default, allowed)


def _c16() -> bool:
    """$VIG_TILELANG_BWD_C: "16" the bf16 v6 backward's 16-token dev variant; "" (unset) the shipped one."""
    return _choice("BWD_C", "", ("", "16")) == "16"


_memo = _KNOBS.memo  # routing decisions cached until reload_env() (vig.backend.Knobs.memo; NOTES.md, session 21)


def reload_env() -> None:
    """Re-read the VIG_TILELANG_* values (dev_bench switches versions in-process), and forget the routing
    decisions and kernel lookups made with the old ones."""
    _KNOBS.reload()
    _lookup.clear()


#: the versions used when $VIG_TILELANG_FWD / $VIG_TILELANG_BWD are unset. Forward "v6s" since
#: session 5's mid call (H100, results/2026-12-05-h100/mid/tilelang: parity 120/120; graphed fwd
#: ViG-T@1024 0.490 -> 0.359 ms, S@1024 0.921 -> 0.674; the previous default "v6")
FWD_DEFAULT = "v6s"
BWD_DEFAULT = "v6"


def _version(var: str, default: str) -> str:
    return _KNOBS.choice(var, default, _VERSIONS)


#: forward kernels, $VIG_TILELANG_FWD: "v6" (the default since the GPU run of 2026-11-25 16:35:
#: parity 120/120, faster at every 224 px shape: fwd_fused, one block per (b, h), one launch, for
#: L <= V6_MAX_L = 224 with head dims K = KT, V = VT; v5 otherwise: the default until session 5),
#: "v6s" (v6, and for L > 224 the segmented fused forward: the default since session 5's mid
#: call), "v5" (chunk-parallel, three launches) or "v4" (one block per (b, h), two sweeps)
@_memo
def fwd_version() -> str:
    return _version("VIG_TILELANG_FWD", FWD_DEFAULT)


#: backward kernels, $VIG_TILELANG_BWD: "v6" (the default since the same run: bwd_states + v5's
#: bwd_out for L <= V6_MAX_L with head dims K = KT, V = VT; v5 otherwise), "v6s" (bwd_states at
#: every L: parity-proven, not yet timed at 1024 px), "v5" (fwd_st + fwd_scan + bwd_st + fwd_scan
#: + bwd_out: the previous default) or "v4" (one block per (b, h))
@_memo
def bwd_version() -> str:
    return _version("VIG_TILELANG_BWD", BWD_DEFAULT)


#: the v5 kernels and the v4 backward take the batch from a grid dimension (y or z: at most
#: 65535; the scan's is 2 B): larger batches run in pieces of this many
MAX_GRID_B = 32767


def _batch_pieces(B: int):
    return [slice(b0, min(B, b0 + MAX_GRID_B)) for b0 in range(0, B, MAX_GRID_B)]


#: $VIG_TILELANG_SCAN_VEC (session 10; default SCAN_VEC_DEFAULT "1" since its call B; "" / "0": off): "1": every in-place fwd_scan (the
#: segment states of the forward at L > 224 and of the BWD_SEG / SEG_SAVE backward, v5's chunk states) runs
#: "fwd_scan:v1" (kernels.build_fwd_scan(vec=1)): the same recurrence (one FFMA per element and chunk, the same
#: order: bit-identical states), the chunk loop outside the element loop so that each chunk's states leave as one
#: 16-byte store per thread instead of four 4-byte stores 16 bytes apart (sm_90a SASS: 64 STG.E -> 14 STG.E.128 + 8
#: STG.E; 1,096 -> 664 instructions). Why: fwd_scan's measured time grows with its bytes at ~1 TB/s (session 9:
#: T@1024 forward 0.024 ms for 25 MB, backward 0.048 for 50 MB), as if every 32-byte sector were written four
#: times. "fwd_scan:w1" (v5's LOWMEM scan into bf16) is unchanged.
#: Session 10 (H100, results/2026-12-06e-h100/callB/tilelang.log): the default; SEG_L=128 + SEG_SAVE + SCAN_VEC + SEGW
#: together parity 120/120 and 90/90 at L = 225 .. 2049, memcheck clean; graphed f+b T@1024 0.643 (SEG_L=128) ->
#: 0.522 (+ SEG_SAVE + SEGW), S@1024 1.239 -> 1.004; fwd T@1024 0.169 -> 0.135 (SEGW), S@1024 0.322 -> 0.256.
SCAN_VEC_DEFAULT = "1"


@_memo
def _scan_kind() -> str:
    return "fwd_scan:v1" if _on("SCAN_VEC", SCAN_VEC_DEFAULT) else "fwd_scan"


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
    scan = compile_kernel(_scan_kind(), KT, VT, "float32", arch)
    compile_kernel("fwd_st", KT, VT, dtype, arch)(k, v, g_fwd, g_bwd, ws, dw)
    scan(ws, dw)
    compile_kernel("bwd_st", KT, VT, dtype, arch)(q, do, g_fwd, g_bwd, ws2, dw2, scale_half)
    scan(ws2, dw2)
    static_dims = q.shape[-1] == KT and v.shape[-1] == VT
    compile_kernel(_bwd_out_kind(dtype, static_dims), KT, VT, dtype, arch)(
        q, k, v, g_fwd, g_bwd, do, ws, ws2, dq, dk, dv, dgf, dgb, scale_half)


#: the v6 backward's bwd_states walks the whole sequence in one block per (b, h) (any L works;
#: at 1024 px that is only B*H blocks, not timed yet): "v6" uses it up to this length, v5
#: beyond; "v6s" at every length
V6_BWD_MAX_L = 224


def _bwd_v6(q, k, v, g_fwd, g_bwd, do, dq, dk, dv, dgf, dgb, scale_half, dtype: str, arch: str,
            seg: bool = False):
    """v5's bwd_out after one bwd_states launch (one block per (b, h), both ends at once)
    instead of fwd_st + fwd_scan + bwd_st + fwd_scan; L <= V6_BWD_MAX_L and head dims exactly
    KT, VT, else v5."""
    B, L, H, KD = q.shape
    if (L > V6_BWD_MAX_L and not seg) or KD != KT or v.shape[-1] != VT:
        return _bwd_v5(q, k, v, g_fwd, g_bwd, do, dq, dk, dv, dgf, dgb, scale_half, dtype, arch)
    if B > MAX_GRID_B:
        for sl in _batch_pieces(B):
            _bwd_v6(*(t[sl] for t in (q, k, v, g_fwd, g_bwd, do, dq, dk, dv, dgf, dgb)),
                    scale_half, dtype, arch, seg)
        return
    c16 = dtype == "bfloat16" and _c16()  # dev variant
    nc = -(-L // (16 if c16 else CHUNK))
    ws, ws2 = torch.empty(2, B, H, nc, 2 * KT, VT, device=q.device, dtype=torch.float32).unbind(0)
    s1 = ":s1" if _bwd_views(dtype, L, KD, v.shape[-1]) else ""  # reads views (VIG_TILELANG_STRIDED)
    compile_kernel("bwd_states" + (":c16" if c16 else s1), KT, VT, dtype, arch)(
        q, k, v, g_fwd, g_bwd, do, ws, ws2, scale_half)
    compile_kernel(("bwd_out:c16:t64" if c16 else _bwd_out_kind(dtype, True) + s1), KT, VT, dtype, arch)(
        q, k, v, g_fwd, g_bwd, do, ws, ws2, dq, dk, dv, dgf, dgb, scale_half)


#: defaults of the switches (a switch set in the environment wins). Session 4 mid call (H100,
#: .device/2/tilelang): bwd_out2 parity 90/90 at L = 1..300 (128 threads), fwd+bwd ViG-S@224
#: 1.994 -> 1.066 ms with bwd_out2 on 256 threads, ViG-T@1024 1.882 -> 1.262; hence
#: $VIG_TILELANG_BWD_OUT "v2" (bf16 with head dims KT / VT: bwd_out2; "v1": bwd_out, the
#: previous default) on BWD_OUT2_THREADS = 256 ($VIG_TILELANG_BWD_OUT_THREADS=128: the
#: 128-thread build) and $VIG_TILELANG_GRAD_EMPTY "1" (no zero fill of the gradients: -0.044 ms;
#: "0" restores it). Measured slower, kept opt-in: $VIG_TILELANG_FUSED_DIAG ("m3" / "m2": the
#: lane pass in fwd_fused: forward 0.349 -> 0.463 ms) and $VIG_TILELANG_STRIDED ("1": views
#: into the v6 kernels: fwd+bwd +0.14 ms).
#: "ref" since the 2026-12-06 session 7 mid call (H100, results/2026-12-06b-h100/mid/): bwd_out2:t256:x3:w1, parity 120/120
#: and 90/90 at L = 17..449, memcheck clean; graphed f+b (with the shipped forward) ViG-S@224
#: 0.956 -> 0.888, B@224 1.849 -> 1.713, T@1024 0.989 -> 0.950, S@1024 1.937 -> 1.875 ms.
#: Since the 2026-12-06 session 8 final call (H100, results/2026-12-06c-h100/final/) the defaults are
#: BWD_OUT "ref2", BWD_STATES "m3", BWD_VIEWS "1" and FWD_VIEWS "2", all four proven together: parity
#: 120/120 and 105/105 at L = 17, 31, 33, 224, 225, 449, 1000; memcheck clean (--small, and the segment
#: path through dev_same --seg --small); the view kernels bit-identical to their copy-reading twins
#: (dev_same: 7/7 at L > 224, 9/9 in the backward). Graphed f+b (dev_bench, one process) ViG-S@224
#: 0.802 -> 0.620, T@224 0.433 -> 0.327, B@224 1.547 -> 1.188 ms (ref2 + m3 + BWD_VIEWS); at 1024 px
#: ref2 + m3 0.880 -> 0.771 (T), 1.732 -> 1.498 (S), and FWD_VIEWS=2 forward 0.237 -> 0.194 (T),
#: 0.425 -> 0.330 (S). Per kernel (dev_prof_bwd, S@224): bwd_out2 x3 0.457 -> x4 0.260 ms, but
#: bwd_states m3 0.174 vs w1 0.144 (m3 is slower alone; BWD_VIEWS needs it, and ref2 without m3 was
#: not parity-run as a pair: next session).
BWD_OUT_DEFAULT = "ref2"
BWD_OUT2_THREADS = 256
FUSED_DIAG_DEFAULT = ""
GRAD_EMPTY_DEFAULT = "1"
STRIDED_DEFAULT = "0"
#: $VIG_TILELANG_LOWMEM ("1": _bwd_lowmem, the default since session 5's mid call: parity
#: 120/120, peak extra of fwd+bwd 185 / 370 / 740 / 230 / 460 -> 125 / 249 / 499 / 157 / 314 MiB at
#: ViG-T/S/B@224, T/S@1024, time equal or better (graphed f+b T@1024 1.204 -> 1.114 ms); "0": the
#: float32 workspaces and gradients of before, the previous default).
LOWMEM_DEFAULT = "1"


@_memo
def _lowmem(dtype: str, B: int, L: int, KD: int, VD: int) -> bool:
    """Whether the backward runs _bwd_lowmem: $VIG_TILELANG_LOWMEM=1 (default LOWMEM_DEFAULT),
    bf16, head dims exactly KT / VT, bwd_out2 selected (not the 16-token dev variant), and one
    batch piece."""
    return (_on("LOWMEM", LOWMEM_DEFAULT) and dtype == "bfloat16"
            and KD == KT and VD == VT and B <= MAX_GRID_B and not _c16()
            and _bwd_out_kind(dtype, True).startswith("bwd_out2"))


def _bwd_lowmem(q, k, v, g_fwd, g_bwd, do, scale_half, arch: str, ver: str, s1: str, saved=()):
    """The v5 / v6 backward (bf16, head dims KT / VT, bwd_out2) at about 0.4x fla's peak memory
    instead of 0.59x: the states entering each chunk are kept in bf16 (what bwd_out2's T.gemm
    operands were cast to anyway) and dq / dk / dv are written in bf16 by bwd_out2 (no float32
    buffers, no casts by the shared layer); the gradients are allocated only after the states
    (v5: the float32 scan workspaces are freed first). Returns (dq, dk, dv, dg_fwd, dg_bwd).
    Peak extra of fwd+bwd (bytes on paper, NOTES.md "Peak memory"): ViG-T@224 185 -> 125 MiB,
    ViG-S@1024 459 -> 314 MiB."""
    B, L, H, K = q.shape
    V = v.shape[-1]
    dev = q.device
    nc = -(-L // CHUNK)
    bf = dict(device=dev, dtype=torch.bfloat16)
    if s1 == ":s2":  # BWD_VIEWS=1 / 2 (_bwd_views2): int64 views, bwd_states[:m3]:s2:w1 + bwd_out2:t256:x4:s2:w1
        q, k, v, g_fwd, g_bwd, do = _packed_all(q, k, v, g_fwd, g_bwd, do)
    ws = _saved224(saved, B, L, H) if s1 == ":s2" and L <= V6_BWD_MAX_L and ver in ("v6", "v6s") else None
    if ws is not None:  # SAVE224: the forward's S side; the adjoint side alone here
        ws2 = torch.empty(B, H, nc, 2 * KT, VT, **bf)
        compile_kernel(SAVE224_KINDS[_save224_mode()][1], KT, VT, "bfloat16", arch)(q, g_fwd, g_bwd, do, ws2, scale_half)
    elif ver in ("v6", "v6s") and (L <= V6_BWD_MAX_L or ver == "v6s"):
        ws, ws2 = torch.empty(2, B, H, nc, 2 * KT, VT, **bf).unbind(0)
        st = _bwd_states_opt() + ":s2" if s1 == ":s2" else (s1 or _bwd_states_opt())  # ":m3:s2" / ":s2" (BWD_VIEWS=2)
        compile_kernel("bwd_states" + st + ":w1", KT, VT, "bfloat16", arch)(
            q, k, v, g_fwd, g_bwd, do, ws, ws2, scale_half)
    elif s1 == ":s2":  # VIG_TILELANG_BWD_SEG (v6, L > V6_BWD_MAX_L, on views): bwd_states on segments
        ws, ws2 = _bwd_states_seg(q, k, v, g_fwd, g_bwd, do, scale_half, nc, arch, saved)
    else:
        ws = _states_bf16("fwd_st", (k, v, g_fwd, g_bwd), (), nc, arch)
        ws2 = _states_bf16("bwd_st", (q, do, g_fwd, g_bwd), (scale_half,), nc, arch)
    # dq / dk and the two gate gradients as the halves of one allocation each (unbind: one call for two views)
    dq, dk = torch.empty(2, B, L, H, K, **bf).unbind(0)
    dv = torch.empty(B, L, H, V, **bf)
    dgf, dgb = torch.empty(2, B, L, H, K, device=dev, dtype=torch.float32).unbind(0)
    compile_kernel(_bwd_out_kind("bfloat16", True) + s1 + ":w1", KT, VT, "bfloat16", arch)(
        q, k, v, g_fwd, g_bwd, do, ws, ws2, dq, dk, dv, dgf, dgb, scale_half)
    return dq, dk, dv, dgf, dgb


#: $VIG_TILELANG_BWD_STATES (session 8; default BWD_STATES_DEFAULT, "m3" since the final call; "": w1): "m3": the bf16
#: (LOWMEM) bwd_states at three blocks per SM ("bwd_states:m3:w1": 77 registers, 48 KiB of shared
#: memory; the chunk contributions accumulated by the tensor cores into the decayed states, __expf,
#: parallel plain-fp32 gate cumsums); not with STRIDED=1 (bwd_states:s1:w1 as before).
#: "m3" from session 8's final call; "" (w1) again since session 9's first call (H100, results/2026-12-06d-h100/call1/:
#: ref2 with the w1 states, parity 120/120; graphed f+b against ref2 + m3 + BWD_VIEWS, one process, two reps:
#: ViG-T@224 0.325 / 0.329 -> 0.335 / 0.339, S@224 0.622 -> 0.606, B@224 1.192 -> 1.153 ms; at 1024 px
#: the same kernels). The w1 states copy the saved views (BWD_VIEWS needs m3) and are still faster
#: except at ViG-T@224; VIG_TILELANG_BWD_STATES=m3 restores the previous default (with BWD_VIEWS).
BWD_STATES_DEFAULT = ""


@_memo
def _bwd_states_opt() -> str:
    v = _choice("BWD_STATES", BWD_STATES_DEFAULT, ("", "m3"))
    return ":" + v if v else ""


def _states_bf16(st_kind: str, ins, extra, nc: int, arch: str):
    """v5's chunk contributions (fwd_st / bwd_st, float32) scanned by fwd_scan:w1 into a bf16
    [B, H, NC, 2 KT, VT] workspace; the float32 one is freed on return."""
    B, _, H, _ = ins[0].shape
    f32 = dict(device=ins[0].device, dtype=torch.float32)
    ws = torch.empty(B, H, nc, 2 * KT, VT, **f32)
    dw = torch.empty(B, H, nc, 2 * KT, **f32)
    compile_kernel(st_kind, KT, VT, "bfloat16", arch)(*ins, ws, dw, *extra)
    wsb = torch.empty(B, H, nc, 2 * KT, VT, device=ws.device, dtype=torch.bfloat16)
    compile_kernel("fwd_scan:w1", KT, VT, "float32", arch)(ws, dw, wsb)
    return wsb


@_memo
def _strided() -> bool:
    return _on("STRIDED", STRIDED_DEFAULT)


@_memo
def _bwd_views(dtype: str, L: int, KD: int, VD: int) -> bool:
    """Whether the v6 backward reads its inputs as views ($VIG_TILELANG_STRIDED=1, bf16,
    L <= V6_BWD_MAX_L, head dims KT / VT, bwd_out2 selected: bwd_states:s1 + bwd_out2:s1)."""
    return (_strided() and dtype == "bfloat16" and L <= V6_BWD_MAX_L and KD == KT and VD == VT
            and not _c16() and _bwd_out_kind(dtype, True).startswith("bwd_out2"))


def _contig(*ts):
    """Each tensor as the contiguous-path kernels need it: contiguous and 16-byte aligned (the shared layer's rule,
    vig.ops._layout). They load and store up to 16 bytes at a time from each tensor's base (uint2 / float4 on Q, K,
    V, the gates, dO and O in the fp16 / fp32 kinds): TVM assumes an aligned buffer base and the generated host
    code does not check it."""
    return tuple(_layout(t, True) for t in ts)


#: $VIG_TILELANG_BWD_VIEWS (session 8 round 2; default BWD_VIEWS_DEFAULT, "1" since the final call): "1": the bf16
#: LOWMEM v6 backward at L <= V6_BWD_MAX_L with head dims KT / VT, when it runs session 8's kinds
#: ($VIG_TILELANG_BWD_OUT=ref2 and $VIG_TILELANG_BWD_STATES=m3) and STRIDED is off, reads q, k, v, the
#: gates and dO as int64 views (_packed): bwd_states:m3:s2:w1 + bwd_out2:t256:x4:s2:w1, the same
#: kernels with fwd_fused:s2's loads; no contiguous copies of the saved views (ViG-S@224: 77 MB read +
#: 77 MB written per backward). Other configurations copy as before.
#: "1" since session 8 (see BWD_OUT_DEFAULT); it applies with BWD_STATES=m3 only, which is not the
#: default since session 9 (see BWD_STATES_DEFAULT).
#: "2" (session 9 round 2; the default since session 9): "1", and with the w1 states (BWD_STATES="", the default since session 9) too:
#: bwd_states:s2:w1 (build_bwd_states(strided=2, lowmem=1): bwd_states:w1 with bwd_states:m3:s2:w1's loads, the
#: same values in the same shared tiles, so the same arithmetic and bit-identical states) + bwd_out2:t256:x4:s2:w1;
#: no contiguous copies at 224 px with the shipped states either. A new value rather than "1" because "1" is the
#: default: with "1" the shipped path (w1 states on copies) stays as it is until the GPU proves "2".
#: "2" since session 9's mid call (H100, results/2026-12-06d-h100/mid/): parity 120/120, bit-identical to the
#: copy path (dev_same --bwd2 9/9), memcheck 0 errors; graphed f+b (dev_bench, one process) ViG-T@224 0.337
#: -> 0.319, S@224 0.607 -> 0.568, B@224 1.157 -> 1.101 ms; peak extra 125 / 250 / 499 -> 88 / 176 / 352 MiB.
BWD_VIEWS_DEFAULT = "2"


@_memo
def _bwd_views_mode() -> str:
    return _choice("BWD_VIEWS", BWD_VIEWS_DEFAULT, ("", "0", "1", "2"))


@_memo
def _bwd_views2(dtype: str, L: int, KD: int, VD: int, seg: bool = False) -> bool:
    """``seg`` (VIG_TILELANG_BWD_SEG with the v6 backward at L > V6_BWD_MAX_L): the segment kinds read the
    views whatever BWD_VIEWS / BWD_STATES say (they exist on int64 views only). BWD_VIEWS "1": with
    BWD_STATES=m3 only; "2": with either states kind (m3 or w1)."""
    mode = _bwd_views_mode()
    return ((seg or (L <= V6_BWD_MAX_L and (mode == "2" or (mode == "1" and _bwd_states_opt() == ":m3"))))
            and dtype == "bfloat16" and KD == KT and VD == VT and not _strided()
            and not _c16() and _on("LOWMEM", LOWMEM_DEFAULT)
            and _bwd_out_kind(dtype, True) == "bwd_out2:t256:x4")


#: $VIG_TILELANG_BWD_SEG (session 9; default BWD_SEG_DEFAULT "128" since its mid call; "": off): a segment length in tokens (a
#: multiple of CHUNK from 32 to 224, e.g. "128"). The bf16 LOWMEM v6 backward at L > V6_BWD_MAX_L (1024 px)
#: with BWD_OUT=ref2 (shipped; BWD_VIEWS / BWD_STATES do not matter, STRIDED must be off) computes the
#: states entering each chunk with bwd_states:m3's step on segments instead of v5's fwd_st -> fwd_scan:w1 ->
#: bwd_st -> fwd_scan:w1 on five contiguous copies: bwd_segst[:g<n>] (each segment's four state totals and
#: decays, float32) -> one fwd_scan over both workspaces (the states entering each segment) ->
#: bwd_states_seg[:g<n>] (from those, the bf16 states entering each chunk) -> bwd_out2:t256:x4:s2:w1, every
#: kernel on the int64 views (kernels._bwd_states_seg; the forward's fwd_segst -> fwd_scan -> fwd_fused_seg
#: pattern). Other configurations (BWD_OUT other than ref2, STRIDED=1, BWD=v6s / v5): as before.
#: "128" since session 9's mid call (H100, results/2026-12-06d-h100/mid/): with SEG_L=128 and SEGST=m3 (ALL9)
#: parity 120/120 and 90/90 at L = 225 .. 2049, memcheck 0 errors; graphed f+b (dev_bench, one process, with
#: the 128-token forward) ViG-T@1024 0.694 -> 0.639, S@1024 1.394 -> 1.239 ms; the states alone (dev_prof_seg)
#: T@1024 0.404 -> 0.305, S@1024 0.784 -> 0.582 ms (copies + v5 chain -> bwd_segst + fwd_scan +
#: bwd_states_seg); peak extra 157 / 314 -> 108 / 216 MiB.
BWD_SEG_DEFAULT = "128"


@_memo
def _bwd_seg_len() -> int:
    return _KNOBS.multiple("VIG_TILELANG_BWD_SEG", BWD_SEG_DEFAULT, CHUNK, CHUNK, V6_MAX_L, empty=0)


#: $VIG_TILELANG_SEG_SAVE (session 10; default SEG_SAVE_DEFAULT "1" since its call B; "" / "0": off): "1": the segment forward (v6s,
#: FWD_VIEWS=2, bf16, L > V6_MAX_L) returns its segment states (fwd_segst -> fwd_scan's float32 WS [B, H, NSEG, 2 KT,
#: VT]: the S_f / S_b entering each segment, which fwd_fused_seg only reads) as ``saved``, and the BWD_SEG backward
#: uses them instead of recomputing that side: SEGR_KIND (kernels.build_bwd_segr: the adjoint totals only, q / dO /
#: one gate per chunk, two tensor-core products instead of four) -> fwd_scan over WSS2 alone (B instead of 2B) ->
#: bwd_states_seg (unchanged, the saved WS as its WSS). Only where the backward would run BWD_SEG with the same
#: segment length as the forward's SEG_L (_seg_save_len: e.g. SEG_L=128 with the shipped BWD_SEG=128), one batch
#: piece; saved = (WS, a CPU tag of the segment length) so that the backward never reads states of another
#: segmentation (checked with the shape: _seg_saved). Cost: the forward's WS (12.6 MB at ViG-T@1024, 25 MB at
#: S@1024) lives until the backward (the backward no longer allocates its own S-side workspace of that size).
#: A new knob rather than a BWD_SEG value: it changes what the forward returns, and BWD_SEG is a segment length.
#: Session 10 (H100, results/2026-12-06e-h100/callB/tilelang.log): the default; SEG_L=128 + SEG_SAVE + SCAN_VEC + SEGW
#: together parity 120/120 and 90/90 at L = 225 .. 2049, memcheck clean; graphed f+b T@1024 0.643 (SEG_L=128) ->
#: 0.522 (+ SEG_SAVE + SEGW), S@1024 1.239 -> 1.004; fwd T@1024 0.169 -> 0.135 (SEGW), S@1024 0.322 -> 0.256.
SEG_SAVE_DEFAULT = "1"
#: the adjoint-side kernel of SEG_SAVE ("bwd_segr:m6": 40 registers, 6 blocks of 256 threads per SM: ViG-T@1024's
#: 768 segment blocks in one round; ":g<n>" is added for the segment length)
SEGR_KIND = "bwd_segr:m6"
_SEG_TAGS: dict = {}


@_memo
def _seg_save() -> bool:
    return _on("SEG_SAVE", SEG_SAVE_DEFAULT)


@_memo
def _seg_save_len(B: int, L: int, KD: int, VD: int) -> int:
    """The segment length whose forward states the backward will read (VIG_TILELANG_SEG_SAVE=1), or 0: the v6
    backward at L > V6_BWD_MAX_L with BWD_SEG on the views (_bwd_views2 with seg, LOWMEM), the same length as the
    forward's SEG_L, one batch piece."""
    if not _seg_save() or L <= V6_MAX_L or L <= V6_BWD_MAX_L or B > MAX_GRID_B or bwd_version() != "v6":
        return 0
    sl = _bwd_seg_len()
    if not sl or sl != _seg_len() or not (_bwd_views2("bfloat16", L, KD, VD, True)
                                          and _lowmem("bfloat16", B, L, KD, VD)):
        return 0
    return sl


def _seg_tag(sl: int):
    t = _SEG_TAGS.get(sl)
    if t is None:
        t = _SEG_TAGS[sl] = torch.tensor(sl, dtype=torch.int64)  # CPU, made once per length
    return t


def _seg_saved(saved, B: int, L: int, H: int, sl: int):
    """The forward's saved segment states if they fit this backward (SEG_SAVE on, tag == sl, shape), else None."""
    if not saved or len(saved) != 2 or not _seg_save():
        return None
    ws, tag = saved
    if (tag.device.type != "cpu" or int(tag) != sl or ws.dtype != torch.float32
            or tuple(ws.shape) != (B, H, -(-L // sl), 2 * KT, VT) or not ws.is_contiguous()):
        return None
    return ws


#: $VIG_TILELANG_SAVE224 (session 19, issue #5; default SAVE224_DEFAULT, "2" since call 6; "" / "0": off): "1": where the backward
#: will run the 224-px views path (bf16, L <= V6_BWD_MAX_L, head dims KT / VT, BWD v6, LOWMEM, _bwd_views2, one batch
#: piece) and autograd needs a gradient, the forward runs its kind + ":a1" (kernels.build_fwd_fused(save=1)): it also
#: writes the bf16 states entering each chunk, WS = [S_f; S_b] [B, H, NC, 2K, V] (the S side that bwd_states:s2:w1
#: recomputes from k, v and the gates), and returns it as ``saved``; the backward then runs SAVE224_KINDS["1"][1]
#: (kernels.build_bwd_adj: q, dO and one gate per walker, two products instead of four, 40 registers at 6 blocks per
#: SM instead of 124 at 2) for WS2 alone, and bwd_out2 as before. Cost: WS (bf16, 42 MiB at ViG-S@224) lives from
#: the forward to the backward (a ViG model keeps one per block until its backward); the backward no longer
#: allocates its own. The inference forward (no gradient needed) is unchanged.
#: "1" the default from session 19's first call to its call 6 (H100, results/2026-12-07c-h100/call1/: parity 120/120, 210/210 at L = 1 .. 224,
#: memcheck 0 errors; dev_bench graphed f+b, one process, base | SAVE224 twice: ViG-T@224 0.297 -> 0.262 / 0.262,
#: S@224 0.533 -> 0.482 / 0.482, B@224 1.022 -> 0.914 / 0.923 ms; fwd (no gradient) unchanged, peak extra unchanged;
#: per kernel at S@224 bwd_adj 0.083 ms, the training forward 0.110 against 0.090 for the inference one).
#: "2" (session 19 round 2): the same values, both kernels storing the states through shared tiles as 16-byte stores
#: (one per thread and chunk) instead of four 4-byte fragment stores with their 64-bit index arithmetic: the
#: forward's kind + ":a2" (S_b from sb_s after sweep 1, S_f from sf_s after the gemm that reads it; no barrier added)
#: and "bwd_adj:m6:v1" (two bf16 staging tiles, copied after the cumsums' barrier). The DEFAULT since session 19's
#: call 6 (H100, results/2026-12-07c-h100/call6/): parity 120/120, 210/210 at L = 1 .. 224, memcheck 0, racecheck
#: (RACEFIX=1) 0 hazards, bit-identical to "1" (dev_save_same 7/7); graphed f+b (one process, "1" | "2" twice) T@224
#: 0.263 | 0.258, S@224 0.480 / 0.481 | 0.471 / 0.471, B@224 0.915 | 0.905 / 0.895 ms; per kernel at S@224 the
#: training forward 0.110 -> 0.101, bwd_adj 0.083 -> 0.080 ms.
SAVE224_DEFAULT = "2"
#: SAVE224 value -> (the forward kind's suffix, the backward's adjoint-states kind)
SAVE224_KINDS = {"1": (":a1", "bwd_adj:m6"), "2": (":a2", "bwd_adj:m6:v1")}


@_memo
def _save224_mode() -> str:
    """$VIG_TILELANG_SAVE224: "" (off; "0" too), "1" or "2"; anything else raises naming the variable."""
    v = _choice("SAVE224", SAVE224_DEFAULT, ("", "0", *sorted(SAVE224_KINDS)))
    return "" if v in ("", "0") else v


@_memo
def _save224(B: int, L: int, KD: int, VD: int) -> str:
    """The SAVE224 mode a forward of this shape saves the states with for the 224-px backward, or "" (see above)."""
    mode = _save224_mode()
    ok = (mode and L <= V6_BWD_MAX_L and B <= MAX_GRID_B
          and bwd_version() in ("v6", "v6s") and _bwd_views2("bfloat16", L, KD, VD)
          and _lowmem("bfloat16", B, L, KD, VD))
    return mode if ok else ""


def _saved224(saved, B: int, L: int, H: int):
    """The forward's saved chunk states (SAVE224) if they fit this backward (shape, dtype), else None."""
    if not saved or len(saved) != 1 or not _save224_mode():
        return None
    ws = saved[0]
    if ws.dtype != torch.bfloat16 or tuple(ws.shape) != (B, H, -(-L // CHUNK), 2 * KT, VT) or not ws.is_contiguous():
        return None
    return ws


def _bwd_states_seg(q, k, v, g_fwd, g_bwd, do, scale_half, nc: int, arch: str, saved=()):
    """VIG_TILELANG_BWD_SEG: the bf16 [B, H, NC, 2 KT, VT] states WS, WS2 that bwd_out2:w1 reads, from the
    int64 views: bwd_segst -> fwd_scan (WSS and WSS2 as one [2B, ...] workspace, one launch) ->
    bwd_states_seg. Float32 workspaces [2, B, H, NSEG, 2 KT, VT] + [2, B, H, NSEG, 2 KT], freed on return.
    With the forward's saved segment states (VIG_TILELANG_SEG_SAVE=1, ``saved`` = what forward returned):
    bwd_segr (the adjoint side only) -> fwd_scan over WSS2 alone -> bwd_states_seg reading the saved WS as
    WSS; float32 workspaces [B, H, NSEG, 2 KT, VT] + [B, H, NSEG, 2 KT]."""
    B, L, H, _ = q.shape
    sl = _bwd_seg_len()
    g = f":g{sl}" if sl != V6_MAX_L else ""
    nseg = -(-L // sl)
    f32 = dict(device=q.device, dtype=torch.float32)
    fws = _seg_saved(saved, B, L, H, sl)
    if fws is not None:  # SEG_SAVE: the S side is the forward's
        wss2 = torch.empty(B, H, nseg, 2 * KT, VT, **f32)
        dws2 = torch.empty(B, H, nseg, 2 * KT, **f32)
        compile_kernel(SEGR_KIND + g, KT, VT, "bfloat16", arch)(q, g_fwd, g_bwd, do, wss2, dws2, scale_half)
        compile_kernel(_scan_kind(), KT, VT, "float32", arch)(wss2, dws2)
        ws, ws2 = torch.empty(2, B, H, nc, 2 * KT, VT, device=q.device, dtype=torch.bfloat16).unbind(0)
        compile_kernel("bwd_states_seg" + g, KT, VT, "bfloat16", arch)(
            q, k, v, g_fwd, g_bwd, do, fws, wss2, ws, ws2, scale_half)
        return ws, ws2
    wss = torch.empty(2, B, H, nseg, 2 * KT, VT, **f32)
    dws = torch.empty(2, B, H, nseg, 2 * KT, **f32)
    compile_kernel("bwd_segst" + g, KT, VT, "bfloat16", arch)(
        q, k, v, g_fwd, g_bwd, do, wss[0], wss[1], dws[0], dws[1], scale_half)
    scan = compile_kernel(_scan_kind(), KT, VT, "float32", arch)
    if 2 * B <= MAX_GRID_B:  # fwd_scan's grid takes 2 x its batch
        scan(wss.view(2 * B, H, nseg, 2 * KT, VT), dws.view(2 * B, H, nseg, 2 * KT))
    else:
        scan(wss[0], dws[0])
        scan(wss[1], dws[1])
    ws, ws2 = torch.empty(2, B, H, nc, 2 * KT, VT, device=q.device, dtype=torch.bfloat16).unbind(0)
    compile_kernel("bwd_states_seg" + g, KT, VT, "bfloat16", arch)(
        q, k, v, g_fwd, g_bwd, do, wss[0], wss[1], ws, ws2, scale_half)
    return ws, ws2


@_memo
def _bwd_out_kind(dtype: str, static_dims: bool) -> str:
    """The backward's per-chunk kernel: "bwd_out", or "bwd_out2" (bf16 with head dims exactly
    KT, VT; $VIG_TILELANG_BWD_OUT=v2, default BWD_OUT_DEFAULT): the diagonal sub-blocks as
    running decay products in a lane-per-key-channel pass (kernels.build_bwd_out2); either with
    the $VIG_TILELANG_BWD_OUT_THREADS variant (bwd_out2's default: BWD_OUT2_THREADS).
    $VIG_TILELANG_BWD_OUT=ref (session 6; the default since session 7): bwd_out2 ":x3", the diagonal sub-blocks on the
    tensor cores through a per-channel midpoint of the chunk's cumsum (the lane pass only for
    channels whose cumsum spreads > kernels.REF_THR over the chunk, and only in chunks that have one).
    $VIG_TILELANG_BWD_OUT=ref2 (session 8; the default since its final call): bwd_out2 ":t256:x4", "ref" at three blocks
    per SM (80 registers, 71 KB of shared memory: parallel cumsums, no decay / compensation tiles,
    the boundary terms from the shared state tiles, the lane pass's dk part reusing dq's tiles);
    always 256 threads."""
    v = _choice("BWD_OUT", BWD_OUT_DEFAULT, ("v1", "v2", "ref", "ref2"))
    if v == "ref2" and dtype == "bfloat16" and static_dims:
        return "bwd_out2:t256:x4"
    if v in ("v2", "ref") and dtype == "bfloat16" and static_dims:
        t = _threads("BWD_OUT") or BWD_OUT2_THREADS
        return "bwd_out2" + (f":t{t}" if t != 128 else "") + (":x3" if v == "ref" else "")
    return "bwd_out" + _thr("BWD_OUT", dtype)


@_memo
def _fused_diag(dtype: str) -> str:
    """$VIG_TILELANG_FUSED_DIAG=m3 / m2 (bf16; default FUSED_DIAG_DEFAULT): fwd_fused with the
    diagonal sub-blocks of A built as bwd_out2 builds them ("fwd_fused:l1"), compiled for at
    least 3 (80 registers, some spills) / 2 blocks per SM; "": the per-element loop."""
    d = _choice("FUSED_DIAG", FUSED_DIAG_DEFAULT, ("", "m2", "m3"))
    return f":l1:{d}" if d and dtype == "bfloat16" else ""


#: $VIG_TILELANG_FUSED_EXP: "fast": the bf16 fwd_fused with every exp as __expf
#: ("fwd_fused:m3:x1": ~1e-6 relative, 2 instructions instead of expf's ~10; built for 3 blocks
#: per SM: 70 registers, no stack; unbounded it took 86, i.e. 2 blocks per SM); "pairs" (the
#: default from session 5's mid call to session 7's: parity 120/120; graphed fwd ViG-T@224 0.184 -> 0.158 ms,
#: S@224 0.341 -> 0.286, B@224 0.641 -> 0.543): that, and the diagonal sub-blocks of A computed
#: pair by pair with no divergent gate branch ("fwd_fused:m3:x2", 71 registers, built on x1's
#: __expf); "": expf and the per-element loop (the previous default). "ref" (session 6, on
#: trial): "pairs", and the diagonal sub-blocks on the tensor cores through a per-channel midpoint
#: reference of the chunk's cumsum ("fwd_fused:m3:x3"; channels whose cumsum spreads more than
#: kernels.REF_THR = 32 over the chunk keep the exact pair loop); "ref2": "ref", and the gate cumsums
#: by all 256 threads in plain fp32 ("fwd_fused:m3:x4"; the serial compensated scans of 64 / 32
#: threads before). Both also apply to fwd_fused_seg (L > 224 under the v6s forward).
#: "ref" since the 2026-12-06 session 7 mid call (H100, results/2026-12-06b-h100/mid/): parity
#: 120/120 and 90/90 at L = 17..449, memcheck of ref with BWD_OUT=ref (the shipped pair) clean;
#: graphed fwd ViG-T@224 0.158 -> 0.122, S@224 0.289 -> 0.222, B@224 0.548 -> 0.419, T@1024
#: 0.365 -> 0.246, S@1024 0.683 -> 0.436 ms; with BWD_OUT=ref, graphed f+b 0.514 -> 0.442,
#: 0.956 -> 0.821, 1.849 -> 1.584, 0.989 -> 0.830, 1.937 -> 1.624 ms. "ref2" was 2-5 % faster in the
#: forward (0.117 / 0.212 / 0.401 / 0.237 / 0.426) with parity 120/120 and 90/90, but the call's
#: memcheck covered ref only: ref2 waits for its own (next session's MID / FINAL).
#: "ref3" since the 2026-12-06 session 8 call (H100, results/2026-12-06c-h100/): parity 120/120, memcheck
#: clean (ref3 and ref2, whose fwd_fused_seg kernel ref3 uses at L > 224); graphed fwd (dev_bench, one
#: process) ViG-T@224 0.123 -> 0.115, S@224 0.222 -> 0.206, B@224 0.417 -> 0.386 ms.
FUSED_EXP_DEFAULT = "ref3"
#: "ref3" (session 7; the default since session 8): "ref2" with vector loads of q, k and the gates and no compensation
#: tiles ("fwd_fused:m3:x5"; fwd_fused_seg stays :m3:x4).

#: $VIG_TILELANG_FWD_VIEWS (session 7; default FWD_VIEWS_DEFAULT, "1" since session 8; "0": contiguous copies): "1": the backend's
#: requires_contiguous is False and the bf16 v6 forward at L <= V6_MAX_L with head dims KT / VT
#: reads q, k, v and the gates as the views they are (ViG: slices of one projection: no five
#: contiguous copies before the kernel): "fwd_fused:s2:m3:x5", x5 with each input passed as an
#: int64 view (_packed); every other path, and the backward, makes its own contiguous copies.
#: "1" since the 2026-12-06 session 8 call (H100, results/2026-12-06c-h100/): parity 120/120 (also with
#: STRIDED=1) and 90/90 at L = 17, 31, 33, 224, 225, 449, memcheck clean, outputs bit-identical to
#: ref3 on views, contiguous and misaligned inputs; graphed fwd (dev_bench) ViG-T@224 0.123 -> 0.067,
#: S@224 0.222 -> 0.121, B@224 0.417 -> 0.229 ms; f+b 0.442 -> 0.434, 0.814 -> 0.801, 1.575 -> 1.552.
#: "2" since session 8 (see BWD_OUT_DEFAULT).
FWD_VIEWS_DEFAULT = "2"


@_memo
def _fwd_views() -> bool:
    return _choice("FWD_VIEWS", FWD_VIEWS_DEFAULT, ("", "0", "1", "2")) in ("1", "2")


#: $VIG_TILELANG_FWD_TILE (session 10 round 5), the 224-px forward's kind (fwd_fused:s2:m3:x5 + a suffix) where the
#: views forward runs at L <= V6_MAX_L (bf16):
#:   "1" ":e1" (``share``): in chunks with no slow channel (kernels.REF_THR; block-uniform) the seven operand tiles
#:       from four exps per element, the other three through per-channel factors; a chunk with a slow channel runs
#:       x5's tile unchanged (default in sessions 11-16: H100, results/2026-12-06f-h100/call1/).
#:   "2" ":e1:p1" (``prefetch``): each chunk's global loads issued one chunk ahead into registers (default for one
#:       commit of session 17: results/2026-12-07-h100/call1/, parity 120/120, bit-identical to "1").
#:   "3" ":e1:b1" (``trim``): the midpoints per thread, one __syncthreads_or for "any slow channel", and with none
#:       A from the two midpoint gemms alone (the pair loop and its barriers skipped).
#:   "4" ":e1:p1:b1", both: the DEFAULT since session 17 (H100, results/2026-12-07-h100/call2/ and call3/: parity
#:       120/120 + 105/105 at L = 1 .. 224, bit-identical to "1" in 12 / 12 dev_same cases, memcheck 0 errors,
#:       racecheck of the :r1 twin 0 hazards, the whole GPU suite 144 passed; graphed fwd T / S / B@224 0.058 /
#:       0.105 / 0.197 ms ("2") -> 0.053 / 0.095 / 0.178, 0.063 / 0.113 / 0.213 with "1").
#:   "" / "0": fwd_fused:s2:m3:x5 as shipped before session 11. Anything else raises.
FWD_TILE_DEFAULT = "4"
_FWD_TILE_KINDS = {"": "", "0": "", "1": ":e1", "2": ":e1:p1", "3": ":e1:b1", "4": ":e1:p1:b1"}


@_memo
def _fwd_tile() -> str:
    return _FWD_TILE_KINDS[_choice("FWD_TILE", FWD_TILE_DEFAULT, tuple(sorted(_FWD_TILE_KINDS)))]


#: $VIG_TILELANG_FWD_WALK was removed in session 9: "2" ran the views forward at L <= V6_MAX_L as
#: fwd_walk2:s2:m2:x5 (the two directions walking the chunks together, two blocks per SM); parity 120/120 but
#: slower than fwd_fused:s2:m3:x5 on the H100 (results/2026-12-06d-h100/). kernels.build_fwd_walk2,
#: dev_emu_walk2.py and dev_walk2.py are in git history at fdf897e. "" / "0" (the shipped forward) are still
#: accepted; any other value raises (a script asking for the removed kernel must not get another one).
@_memo
def _check_fwd_walk() -> None:
    w = _knob("VIG_TILELANG_FWD_WALK", "")
    if w not in ("", "0"):
        raise ValueError(f"VIG_TILELANG_FWD_WALK={w!r}: the switch was removed in session 9 (fwd_walk2 was "
                         "slower on the GPU; in git history at fdf897e); unset it")


#: $VIG_TILELANG_FWD_VIEWS=2 (session 8, round 2; the default since the final call): "1", and the v6s forward at L > V6_MAX_L
#: (bf16, head dims KT / VT, $VIG_TILELANG_FUSED_EXP ref2 / ref3: fwd_fused_seg:m3:x4) reads the
#: views too: fwd_segst:s2 + fwd_fused_seg:s2:m3:x4 on int64 views (_packed), the same values as
#: fwd_segst + fwd_fused_seg:m3:x4 on contiguous copies (only the loads differ), and no five
#: contiguous copies before them (ViG-T@1024: 50 MB read + 50 MB written per forward).
@_memo
def _seg_views(dtype: str) -> bool:
    return (_choice("FWD_VIEWS", FWD_VIEWS_DEFAULT, ("", "0", "1", "2")) == "2" and dtype == "bfloat16"
            and _fused_exp_mode() in ("ref2", "ref3"))


def _packed(t):
    """``t`` (bf16: 4 elements per int64, fp32: 2) as an int64 view for fwd_fused:s2: unit channel stride,
    the other strides and the offset whole int64 elements, 8-byte aligned; a contiguous copy
    first when ``t`` is not such a view."""
    # Tensor.view(int64) itself checks everything but the address (PyTorch's rule for a wider dtype: unit last
    # stride, last size, storage offset and every other stride multiples of the ratio) and raises otherwise; one
    # call instead of those checks in Python (host time per view ~2.4 -> ~1.3 us here; eleven views per f+b)
    # The copy is the shared layer's contiguous hand-over (vig.ops._layout: contiguous and 16-byte aligned), not
    # .contiguous(): a tensor that is contiguous at an odd offset or address (a flat slice of a larger buffer) is its
    # own .contiguous(), which session 8's rule then viewed anyway (an error from view, or a misaligned int64 view).
    # (_layout also copies a tensor that PyTorch calls contiguous with another stride on a size-1 dim, which
    # view(int64) refuses: session 22, test_packed_views found B = L = H = 1 at stride 3.)
    try:
        p = t.view(torch.int64)
    except RuntimeError:
        return _layout(t, True).view(torch.int64)
    return p if p.data_ptr() % 8 == 0 else _layout(t, True).view(torch.int64)


def _packed_all(*ts):
    """_packed of each tensor (q, k, v: bf16; the gates: float32, as vig.ops hands them over; dO)."""
    return tuple(_packed(t) for t in ts)


def _fused_exp_mode() -> str:
    """$VIG_TILELANG_FUSED_EXP, checked wherever it is read (the segment forward's choice of views too)."""
    return _choice("FUSED_EXP", FUSED_EXP_DEFAULT, ("", "fast", "pairs", "ref", "ref2", "ref3"))


@_memo
def _fused_exp(dtype: str, diag: str = "") -> str:
    """The fwd_fused options of $VIG_TILELANG_FUSED_EXP (``diag``: _fused_diag's, which already
    sets the minimum blocks per SM)."""
    e = _fused_exp_mode()
    if not e or dtype != "bfloat16" or (diag and e in ("pairs", "ref", "ref2", "ref3")):  # they replace the per-element loop only
        return ""
    return ("" if diag else ":m3") + {"fast": ":x1", "pairs": ":x2", "ref": ":x3", "ref2": ":x4", "ref3": ":x5"}[e]


@_memo
def _thr(which: str, dtype: str) -> str:
    """Dev switch for the v6 launchers: $VIG_TILELANG_FUSED_THREADS / $VIG_TILELANG_BWD_OUT_THREADS
    pick a thread-count variant of the bf16 fwd_fused / bwd_out (unset: the builders' defaults);
    $VIG_TILELANG_BWD_C=16 runs the bf16 v6 backward on 16-token chunks (bwd_out on 64 threads:
    8 x 8 diagonal blocks, half the per-element work per token)."""
    t = _threads(which) if dtype == "bfloat16" else 0
    return f":t{t}" if t else ""


def _threads(which: str) -> int:
    """$VIG_TILELANG_<which>_THREADS: a block size, a multiple of 32 from 64 to 1024; 0 when unset."""
    return _KNOBS.multiple(f"VIG_TILELANG_{which}_THREADS", "", 32, 64, 1024, empty=0)


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
    compile_kernel(_scan_kind(), KT, VT, "float32", arch)(ws, dw)
    compile_kernel("fwd_out", KT, VT, dtype, arch)(q, k, v, g_fwd, g_bwd, ws, o, scale_half)


#: fwd_fused's longest sequence (= kernels.V6_MAX_L, its shared-memory size; a test checks)
V6_MAX_L = 224


def _fwd_v6(q, k, v, g_fwd, g_bwd, o, scale_half, dtype: str, arch: str, seg: bool = False, needs_grad: bool = True):
    """One block per (b, h), one launch, no workspace (L <= V6_MAX_L = 224; longer: v5, or with
    ``seg`` ("v6s") segments, _fwd_v6_seg); head dims other than KT, VT run v5. With SAVE224 and
    ``needs_grad`` the 224-px views forward also returns the states entering each chunk (_save224)."""
    B, L, H, KD = q.shape
    if KD != KT or v.shape[-1] != VT or (L > V6_MAX_L and not seg):
        return _fwd_v5(q, k, v, g_fwd, g_bwd, o, scale_half, dtype, arch)
    if L > V6_MAX_L:
        if B <= MAX_GRID_B:  # one piece: the tensors themselves (no slicing per call)
            return _fwd_v6_seg(q, k, v, g_fwd, g_bwd, o, scale_half, dtype, arch)
        for sl in _batch_pieces(B):
            _fwd_v6_seg(q[sl], k[sl], v[sl], g_fwd[sl], g_bwd[sl], o[sl], scale_half, dtype, arch)
        return ()  # several pieces: nothing saved (SEG_SAVE and SAVE224 need one)
    if _fwd_views() and dtype == "bfloat16":  # views as int64 (fwd_fused:s2:m3:x5)
        _check_fwd_walk()
        ins = _packed_all(q, k, v, g_fwd, g_bwd)
        mode = _save224(B, L, KD, v.shape[-1]) if needs_grad else ""
        if mode:  # SAVE224: the S side of the backward's states
            ws = torch.empty(B, H, -(-L // CHUNK), 2 * KT, VT, device=q.device, dtype=torch.bfloat16)
            compile_kernel("fwd_fused:s2:m3:x5" + _fwd_tile() + SAVE224_KINDS[mode][0], KT, VT, dtype, arch)(
                *ins, o, ws, scale_half)
            return (ws,)
        kern = compile_kernel("fwd_fused:s2:m3:x5" + _fwd_tile(), KT, VT, dtype, arch)
        if B <= MAX_GRID_B:
            kern(*ins, o, scale_half)
            return
        for sl in _batch_pieces(B):
            kern(*(t[sl] for t in ins), o[sl], scale_half)
        return
    diag = _fused_diag(dtype)
    kern = compile_kernel("fwd_fused" + _thr("FUSED", dtype) + diag
                          + (":s1" if _strided() and dtype == "bfloat16" else "") + _fused_exp(dtype, diag),
                          KT, VT, dtype, arch)
    for sl in _batch_pieces(B):
        kern(q[sl], k[sl], v[sl], g_fwd[sl], g_bwd[sl], o[sl], scale_half)


#: $VIG_TILELANG_SEG_L (session 9; default SEG_L_DEFAULT, "128" since session 10's call B): the segment length of the v6s forward
#: at L > V6_MAX_L where it runs on views (FWD_VIEWS=2: bf16, head dims KT / VT, FUSED_EXP ref2 / ref3;
#: other paths keep 224), a multiple of CHUNK from 32 to 224; other than 224 the two segment kernels get
#: ":g<n>" ("fwd_segst:s2:g128", "fwd_fused_seg:s2:m3:x4:g128"). Why: one block per (segment, head,
#: batch) walks its chunks serially; at ViG-T@1024 224-token segments are 19 x 24 = 456 blocks for
#: 396 slots of fwd_fused_seg (3 per SM) and 264 of fwd_segst (2 per SM): two rounds of 7-chunk
#: blocks, the second nearly empty; 128-token segments are 768 blocks of 4 chunks (NOTES.md, session 9).
#: Session 10 (H100, results/2026-12-06e-h100/callB/tilelang.log): the default; SEG_L=128 + SEG_SAVE + SCAN_VEC + SEGW
#: together parity 120/120 and 90/90 at L = 225 .. 2049, memcheck clean; graphed f+b T@1024 0.643 (SEG_L=128) ->
#: 0.522 (+ SEG_SAVE + SEGW), S@1024 1.239 -> 1.004; fwd T@1024 0.169 -> 0.135 (SEGW), S@1024 0.322 -> 0.256.
SEG_L_DEFAULT = "128"


@_memo
def _seg_len() -> int:
    return _KNOBS.multiple("VIG_TILELANG_SEG_L", SEG_L_DEFAULT, CHUNK, CHUNK, V6_MAX_L, empty=int(SEG_L_DEFAULT))


#: $VIG_TILELANG_SEGST was removed in session 9: "m3" ran the FWD_VIEWS=2 fwd_segst at three blocks per SM
#: (fwd_segst:s2:m3[:g<n>], bwd_states:m3's recipe); parity 120/120 but no gain on the H100
#: (results/2026-12-06d-h100/); kernels.build_fwd_segst's ``minb`` is in git history at fdf897e. Unset: the
#: shipped fwd_segst; any value raises.
@_memo
def _check_segst() -> None:
    v = _knob("VIG_TILELANG_SEGST", "")
    if v:
        raise ValueError(f"VIG_TILELANG_SEGST={v!r}: the switch was removed in session 9 (fwd_segst:m3 gave no "
                         "gain on the GPU; in git history at fdf897e); unset it")


#: $VIG_TILELANG_SEGW (session 10 round 2; default SEGW_DEFAULT "1" since session 10's call B; "" / "0": off): "1": the FWD_VIEWS=2 segment
#: forward (bf16, L > V6_MAX_L, any SEG_L) computes each segment's totals with SEGW_KIND (kernels.build_fwd_segw)
#: instead of fwd_segst:s2: the same WS / DW (what fwd_scan, fwd_fused_seg and SEG_SAVE's backward read), one
#: walker going left to right that loads each chunk once (fwd_segst's two walkers each read the whole segment:
#: twice the loads and cumsum passes), S_b summed in that order with the decay product of the chunks already
#: walked folded into its x tile, both products accumulated into the states (no u fragments). Why: fwd_segst:s2:g128
#: is 96 registers, 2 blocks of 256 per SM (264 slots): ViG-T@1024's 768 segment blocks run in 3 rounds of 4
#: two-chunk steps; fwd_segw:m6 is 40 registers, 6 per SM (792 slots): one round of 4 one-chunk steps (S@1024:
#: 1536 blocks, 2 rounds instead of 6). Session 9's SEGST=m3 (fwd_segst at 3 per SM) gave nothing; this halves
#: the loads per block as well. A new knob: SEGST was removed and raises on any value.
#: Session 10 (H100, results/2026-12-06e-h100/callB/tilelang.log): the default; SEG_L=128 + SEG_SAVE + SCAN_VEC + SEGW
#: together parity 120/120 and 90/90 at L = 225 .. 2049, memcheck clean; graphed f+b T@1024 0.643 (SEG_L=128) ->
#: 0.522 (+ SEG_SAVE + SEGW), S@1024 1.239 -> 1.004; fwd T@1024 0.169 -> 0.135 (SEGW), S@1024 0.322 -> 0.256.
SEGW_DEFAULT = "1"
#: the kernel of SEGW=1 (":g<n>" added for the segment length): __launch_bounds__(256, 6), 40 registers (one
#: 4-byte spill, one local load per chunk step); "fwd_segw:m4" (56 registers, no spill, 4 per SM) is cached too
SEGW_KIND = "fwd_segw:m6"


@_memo
def _segst_kind(g: str) -> str:
    return (SEGW_KIND if _on("SEGW", SEGW_DEFAULT) else "fwd_segst:s2") + g


def _fwd_v6_seg(q, k, v, g_fwd, g_bwd, o, scale_half, dtype: str, arch: str):
    """L > V6_MAX_L: segments of $VIG_TILELANG_SEG_L tokens (default 128) on the views path (FWD_VIEWS=2, bf16),
    of V6_MAX_L tokens otherwise. fwd_segst / fwd_segw (each segment's contribution and decay) -> fwd_scan over
    the segments -> fwd_fused_seg (fwd_fused from the entering states). Workspace float32 [B, H, NSEG, 2 KT, VT] +
    [B, H, NSEG, 2 KT]. $VIG_TILELANG_FUSED_EXP=ref / ref2 / ref3 (bf16): fwd_fused_seg:m3:x3 / :m3:x4 / :m3:x4
    (fwd_fused's chunk body; other values: fwd_fused_seg as is)."""
    B, L, H, _ = q.shape
    views = _seg_views(dtype)
    sl = _seg_len() if views else V6_MAX_L  # SEG_L: the FWD_VIEWS=2 kernels only
    g = f":g{sl}" if sl != V6_MAX_L else ""
    nseg = -(-L // sl)
    f32 = dict(device=q.device, dtype=torch.float32)
    ws = torch.empty(B, H, nseg, 2 * KT, VT, **f32)
    dw = torch.empty(B, H, nseg, 2 * KT, **f32)
    if views:  # views as int64 (FWD_VIEWS=2): fwd_segst:s2 + fwd_fused_seg:s2:m3:x4
        q, k, v, g_fwd, g_bwd = _packed_all(q, k, v, g_fwd, g_bwd)
        _check_segst()
        compile_kernel(_segst_kind(g), KT, VT, dtype, arch)(k, v, g_fwd, g_bwd, ws, dw)
        compile_kernel(_scan_kind(), KT, VT, "float32", arch)(ws, dw)
        compile_kernel("fwd_fused_seg:s2:m3:x4" + g, KT, VT, dtype, arch)(q, k, v, g_fwd, g_bwd, ws, o, scale_half)
        if dtype == "bfloat16" and _seg_save_len(B, L, KT, VT) == sl:  # SEG_SAVE: the backward reads ws
            return ws, _seg_tag(sl)
        return ()
    compile_kernel("fwd_segst", KT, VT, dtype, arch)(k, v, g_fwd, g_bwd, ws, dw)
    compile_kernel(_scan_kind(), KT, VT, "float32", arch)(ws, dw)
    e = _fused_exp_mode() if dtype == "bfloat16" else ""
    seg = {"ref": ":m3:x3", "ref2": ":m3:x4", "ref3": ":m3:x4"}.get(e, "")
    compile_kernel("fwd_fused_seg" + seg, KT, VT, dtype, arch)(q, k, v, g_fwd, g_bwd, ws, o, scale_half)
    return ()


_FWD = {}  # filled below: version -> launcher


#: $VIG_TILELANG_RACEFIX (session 9 round 4, issue #5, opt-in; default RACEFIX_DEFAULT ""): "1": every
#: fwd_fused_seg / fwd_fused / bwd_out2 kind with ":x4" / ":x5" (the parallel gate cumsums, kernels._cumsums_par)
#: compiles as its ":r1" twin: the gb half of the cumsums written as its own "if tx >= 128" so TileLang's sync
#: planner puts a block-wide __syncthreads between its reads and in-place writes instead of a named barrier
#: (bar.sync 3, 128) run by warps 4-7 only. The unbalanced named barrier is what compute-sanitizer racecheck
#: reports as hazards (29 in the shipped fwd+bwd at L = 225 / 449, 8 in --san-seg): an artifact of racecheck's
#: barrier accounting, not a race (NOTES.md, session 9 round 4). Same arithmetic, same indices: bit-identical
#: outputs expected. "" / "0": the shipped kinds.
RACEFIX_DEFAULT = ""
_RACEFIX_BASES = ("fwd_fused_seg:", "fwd_fused:", "bwd_out2:")


#: kinds whose every build has the parallel cumsums (no ":x" option): session 19's SAVE224 walker (bwd_adj), whose
#: racecheck of the shipped build showed the same named-barrier records (results/2026-12-07c-h100/call2/)
_RACEFIX_ALWAYS = ("bwd_adj:",)


@_memo
def _racefix(kind: str) -> str:
    if (_on("RACEFIX", RACEFIX_DEFAULT) and "r1" not in kind.split(":")
            and ((kind.startswith(_RACEFIX_BASES) and (":x4" in kind or ":x5" in kind))
                 or kind.startswith(_RACEFIX_ALWAYS))):
        return kind + ":r1"
    return kind


#: $VIG_TILELANG_FTZ (session 11; default FTZ_DEFAULT "1" since its MID call, H100, results/2026-12-06f-h100/call5/:
#: parity 120/120 + 135/135 at L = 1 .. 2049, memcheck 0; graphed f+b T / S / B@224 0.316 -> 0.311, 0.563 -> 0.550,
#: 1.090 -> 1.058, T / S@1024 0.492 -> 0.479, 0.953 -> 0.933 ms; fwd 0.064 -> 0.062, 0.116 -> 0.115, 0.219 ->
#: 0.215, 0.120 -> 0.118, 0.233 -> 0.228; "2" was no better: fwd 1024 px slower): how the device code of every kernel of
#: 16-bit data (dtype bfloat16 / float16; the float32 scans and every float32-data kernel are never touched) is
#: compiled. "1": nvcc -ftz=true (TileLang's tl.device_compile_flags): float32 denormals flush to zero, so each
#: __expf is MUFU.EX2 after one FMUL instead of a range guard (FSETP + two predicated FMUL) around it; division and
#: square root stay IEEE. sm_90a static SASS: fwd_fused:s2:m3:x5:e1 2,072 -> 1,880 instructions (FSETP 64 -> 6, FMUL
#: 269 -> 153), bwd_out2:t256:x4:s2:w1 11,112 -> 10,608 (FSETP 150 -> 2), bwd_states:s2:w1 unchanged; registers
#: unchanged (77 / 80 / 124). "2": --use_fast_math (tl.enable_fast_math: -ftz=true plus approximate division /
#: square root; fwd 1,816, bwd_states 2,296). Values below 2^-126 are what changes: the op's exps are of
#: log-space differences bounded by the chunk references (products of e^(-x) that small are zero in bf16 anyway).
#: A compile option, not a kernel kind: the in-process cache key and TileLang's disk cache key (its pass_configs)
#: both carry it. "" / "0": off; anything else raises.
FTZ_DEFAULT = "1"


@_memo
def _ftz(dtype: str) -> str:
    v = _choice("FTZ", FTZ_DEFAULT, ("", "0", "1", "2"))
    return "" if v in ("", "0") or dtype not in ("bfloat16", "float16") else v


def _pass_configs(ftz: str):
    """TileLang pass_configs for a $VIG_TILELANG_FTZ level (None when off: the shipped compile, same cache keys)."""
    if not ftz:
        return None
    from tilelang.transform.pass_config import PassConfigKey

    if ftz == "1":
        return {PassConfigKey.TL_DEVICE_COMPILE_FLAGS: ["-ftz=true"]}
    return {PassConfigKey.TL_ENABLE_FAST_MATH: True}


def compile_kernel(kind: str, K: int, V: int, dtype: str, arch: str):
    """Compiled kernel for a signature, from the in-process cache or compiled now (timed)."""
    asked = (kind, K, V, dtype, arch)
    kern = _lookup.get(asked)  # the launchers' path: one dict lookup (RACEFIX / FTZ resolved when it was filled)
    if kern is not None:
        return kern
    kind = _racefix(kind)
    ftz = _ftz(dtype)
    key = (kind, K, V, dtype, arch) + ((f"ftz{ftz}",) if ftz else ())
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
                pass_configs=_pass_configs(ftz),
            )
            compile_log.append((key, time.perf_counter() - t))
            kern = _cache[key] = Kernel(kern)
    _lookup[asked] = kern
    return kern


class Kernel:
    """A compiled kernel as the launchers call it: ``kernel(*tensors, scale)`` calls the module's entry
    function (TVM-FFI: the generated host code checks every argument and launches on PyTorch's current
    stream) directly, which is what ``JITKernel.__call__`` ends up calling for a kernel without
    TileLang-allocated outputs (``out_idx=None``, every kind here), minus the adapter's per-call Python (its
    output-allocation loop over the parameters, the executable lookup): host time on every launch. Every
    other attribute is the JITKernel's (``get_kernel_source``, ``adapter``, ...)."""

    __slots__ = ("jit", "entry")

    def __init__(self, jit):
        adapter = jit.adapter
        if type(adapter).__name__ != "TVMFFIKernelAdapter" or adapter.result_idx:
            raise RuntimeError(f"vig tilelang: expected a tvm_ffi kernel without outputs allocated by TileLang, "
                               f"got {type(adapter).__name__} with result_idx={adapter.result_idx!r}")
        exe = adapter._get_executable()  # a runtime.Executable (fresh compile) or the loaded Module (disk cache)
        self.jit = jit
        self.entry = (exe.jit() if hasattr(exe, "jit") else exe).main

    def __call__(self, *args):
        return self.entry(*args)

    def __getattr__(self, name):
        if name in Kernel.__slots__:  # not set (yet): no recursion through self.jit
            raise AttributeError(name)
        return getattr(self.jit, name)


class TileLangBackend(KernelBackend):
    name = "tilelang"
    device_types = ("cuda",)
    install_hint = "pip install 'vig[tilelang]' (tilelang==0.1.15) and run on a CUDA GPU"
    @property
    def requires_contiguous(self) -> bool:
        """False with the defaults: $VIG_TILELANG_FWD_VIEWS ("2" since session 8) or
        $VIG_TILELANG_STRIDED=1 let the bf16 v6 kernels read q, k, v, the gates (and, with
        $VIG_TILELANG_BWD_VIEWS=1, dO) as the views they are (ViG: slices of one projection), and
        every other path makes its own contiguous copies (_contig). True (the shared layer hands
        every kernel contiguous copies) with FWD_VIEWS=0 and STRIDED unset."""
        return not (_strided() or _fwd_views())

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

    def forward(self, q, k, v, g_fwd, g_bwd, scale: float, needs_grad: bool = True):
        ver = fwd_version()
        B, L, H, _ = q.shape
        if not self.requires_contiguous and not (ver in ("v6", "v6s") and q.dtype == torch.bfloat16
                                                 and (L <= V6_MAX_L or (ver == "v6s" and _seg_views("bfloat16")))
                                                 and q.shape[-1] == KT and v.shape[-1] == VT):
            q, k, v, g_fwd, g_bwd = _contig(q, k, v, g_fwd, g_bwd)
        o = torch.empty(B, L, H, v.shape[-1], device=q.device, dtype=v.dtype)
        args = (q, k, v, g_fwd, g_bwd, o, float(scale) * 0.5, _DTYPES[q.dtype], self._arch_of(q))
        saved = ()
        if ver in ("v6", "v6s"):
            saved = _fwd_v6(*args, seg=ver == "v6s", needs_grad=needs_grad) or ()  # SEG_SAVE / SAVE224
        else:
            _FWD[ver](*args)
        return o, saved

    def backward(self, q, k, v, g_fwd, g_bwd, scale: float, do, saved):
        ver = bwd_version()
        B, L, H, K = q.shape
        seg = ver == "v6" and L > V6_BWD_MAX_L and _bwd_seg_len() > 0  # BWD_SEG (session 9)
        views2 = (ver in ("v6", "v6s") and _bwd_views2(_DTYPES[q.dtype], L, K, v.shape[-1], seg)
                  and _lowmem(_DTYPES[q.dtype], B, L, K, v.shape[-1]))  # BWD_VIEWS=1
        if not self.requires_contiguous and not views2 and not (
                ver in ("v6", "v6s") and _bwd_views(_DTYPES[q.dtype], L, K, v.shape[-1])):
            q, k, v, g_fwd, g_bwd, do = _contig(q, k, v, g_fwd, g_bwd, do)
        V = v.shape[-1]
        if ver != "v4" and _lowmem(_DTYPES[q.dtype], B, L, K, V):
            s1 = ":s2" if views2 else ":s1" if ver in ("v6", "v6s") and _bwd_views("bfloat16", L, K, V) else ""
            return _bwd_lowmem(q, k, v, g_fwd, g_bwd, do, float(scale) * 0.5, self._arch_of(q), ver, s1,
                               saved)
        f32 = dict(device=q.device, dtype=torch.float32)
        # gradients in float32 (the shared layer casts), one allocation (and one fill) for all five;
        # $VIG_TILELANG_GRAD_EMPTY=1 (on trial, default GRAD_EMPTY_DEFAULT): no fill (bwd_out /
        # bwd_out2 write every element of every gradient for t < L, j < the head dim)
        n = B * L * H * K
        empty = ver == "v4" or _on("GRAD_EMPTY", GRAD_EMPTY_DEFAULT)
        buf = (torch.empty if empty else torch.zeros)(4 * n + B * L * H * V, **f32)
        dq, dk, dgf, dgb = (buf[i * n:(i + 1) * n].view(B, L, H, K) for i in range(4))
        dv = buf[4 * n:].view(B, L, H, V)
        args = (q, k, v, g_fwd, g_bwd, do, dq, dk, dv, dgf, dgb, float(scale) * 0.5,
                _DTYPES[q.dtype], self._arch_of(q))
        if ver in ("v6", "v6s"):
            _bwd_v6(*args, seg=ver == "v6s")
        else:
            (_bwd_v5 if ver == "v5" else _bwd_v4)(*args)
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


_FWD.update(v4=_fwd_v4, v5=_fwd_v5)
