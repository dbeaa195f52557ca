"""The Triton backend of the bidirectional GLA (backend name ``"triton"``).

Both scan directions are computed by the same launch from one read per sweep of q, k, v, except the
backward where the split-by-direction rule takes it (``SPLIT["BWD"] = "auto"``: at the 224-px shapes, each
direction its own launches); see ``kernels.py`` for the design and ``NOTES.md`` for measurements. Importing this package never
fails for want of triton or a GPU: :meth:`TritonBackend.not_supported_reasons` says why instead.
"""
from __future__ import annotations

import os

import torch

from vig.backend import KernelBackend, Knobs, sm_count

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
_WARP_COUNTS = ("1", "2", "4", "8", "16", "32")  # the values VIG_TRITON_WARPS_* may take (Triton's num_warps)

try:  # pragma: no cover - depends on the environment
    import triton  # noqa: F401

    from . import kernels as _k
    from . import launch as _launch

    _IMPORT_ERROR = None
except Exception as exc:  # triton missing or broken
    _k = _launch = None
    _IMPORT_ERROR = f"{type(exc).__name__}: {exc}"


_ENV = Knobs("VIG_TRITON_", "TRITON_INTERPRET")  # read once; dev_bench.py calls reload_knobs()


def reload_knobs() -> None:
    """Re-read TRITON_INTERPRET and the VIG_TRITON_* measurement knobs from os.environ."""
    _ENV.reload()


def _interpreting() -> bool:
    return _ENV.get("TRITON_INTERPRET", "") == "1"


def _prec(dtype) -> str:
    # fp32 (and fp16) inputs: full fp32 products; bf16: tf32 products (10-bit mantissa, finer
    # than the bf16 data itself).
    return "tf32" if dtype == torch.bfloat16 else "ieee"


# bf16 inputs: bf16 dot operands in the main kernels. The backward's since v2.6 (H100, session 4
# mid call, CUDA-graphed fwd+bwd: ViG-S@224 0.868 -> 0.732 ms, ViG-B@224 1.694 -> 1.425, ViG-T@1024
# 0.722 -> 0.638, ViG-T@224 0.529 -> 0.448; NOTES.md v2.6); VIG_TRITON_DOT_BWD=tf32 restores v2.2's.
# The forward's since v2.7 (H100, session 5 mid call: parity 120/120; CUDA-graphed forward ViG-T@224
# 0.096 -> 0.083 ms, S@224 0.184 -> 0.174, B@224 0.335 -> 0.282, T@1024 0.168 -> 0.152, S@1024
# 0.290 -> 0.259; NOTES.md v2.7); VIG_TRITON_DOT_FWD=tf32 restores the previous forward.
DOT_BF16 = {"FWD": True, "BWD": True}


def _dot_prec(which: str, dtype) -> str:
    """PREC of the main forward / backward kernels: _prec's, except that bf16 inputs may round
    the dot operands to bf16 instead of tf32 (VIG_TRITON_DOT_FWD / VIG_TRITON_DOT_BWD = bf16 or
    tf32; NOTES.md v2.4). Segment-state kernels always use _prec."""
    if dtype != torch.bfloat16:
        return _prec(dtype)
    d = "bf16" if DOT_BF16[which] else "tf32"
    val = _ENV.choice(f"VIG_TRITON_DOT_{which}", d, ("bf16", "tf32"), empty=d)
    # the interpreter's tl.dot on bf16 operands returns garbage (triton 3.x); "bf16e" rounds the
    # operands to bf16 and multiplies them in fp32: the same numbers (its fp32 -> bf16
    # conversion truncates where the GPU rounds to nearest: a conservative check)
    return "bf16e" if (val == "bf16" and _interpreting()) else val


def _nreg(which: str, dtype) -> dict:
    """Launch option capping the registers per thread of a v2 kernel: FWD_MAXNREG for the bf16
    forward (tensor-core dots; the fp32/fp16 forward's FMA dots would spill kB at that cap).
    Measurement knobs VIG_TRITON_NREG_FWD / VIG_TRITON_NREG_BWD (0 = the compiler's choice).
    Not passed in the interpreter."""
    if _interpreting():
        return {}
    default = FWD_MAXNREG if (which == "FWD" and dtype == torch.bfloat16) else 0
    n = _ENV.multiple(f"VIG_TRITON_NREG_{which}", str(default), 1, 0, 255, empty=default)
    return {"maxnreg": n} if n else {}


# v2.8 (session 6; on by default since session 7's mid call; NOTES.md v2.8): the main kernels with "derived
# exps" (kernels.bigla_fwd_dx_kernel / bigla_bwd_dx_kernel): on fast-path chunks every decay tile comes from the
# intra block's two factor tiles times a per-channel vector (one cumsum per chunk and direction instead of two or
# three, 4 exp tiles per backward sweep instead of 6). Session 7's mid call (H100, results/2026-12-06b-h100/mid/):
# parity 120/120, memcheck clean; graphed fwd ViG-T@224 0.084 -> 0.064, S@224 0.175 -> 0.127, B@224 0.288 ->
# 0.208, T@1024 0.155 -> 0.131, S@1024 0.262 -> 0.216 ms; graphed f+b 0.439 -> 0.393, 0.713 -> 0.650, 1.364 ->
# 1.243, 0.610 -> 0.568, 1.120 -> 1.054 ms. Since session 9 the only path: v2.2's bigla_fwd_kernel /
# bigla_bwd_kernel (VIG_TRITON_DX_FWD / _BWD = 0) were removed (in git history at 9bf15d5); the switches
# accept 1 or unset, and 0 raises (a script asking for the old kernels must not get the new ones).
def _check_dx_knob(which: str) -> None:
    val = _ENV.get(f"VIG_TRITON_DX_{which}", "")
    if val not in ("", "1"):
        raise ValueError(f"VIG_TRITON_DX_{which}={val!r}: the switch was removed in session 9 (the "
                         "derived-exp kernels are the only ones; v2.2's bigla_fwd_kernel / "
                         "bigla_bwd_kernel are in git history at 9bf15d5); unset it")


def _onoff(name: str, which: str, defaults: dict) -> bool:
    """VIG_TRITON_<name>_<which> = 0 / 1, else defaults[which]."""
    val = _ENV.choice(f"VIG_TRITON_{name}_{which}", "", ("0", "1"), empty="")
    return (val == "1") if val else defaults[which]


# v2.9 (session 6 round 2, opt-in: its GPU parity run is incomplete, 85/120 in session 7; NOTES.md v2.9): the
# derived-exp kernels split in two launches of one source (kernels.bigla_fwd_dx_kernel /
# bigla_bwd_dx_kernel with MODE 1 then 2; v2.8's single launch is MODE 0: one kernel body since
# session 6 round 3): MODE 1 has no exact path in its code (ptxas sm_90a bf16: forward 128 regs,
# 0 B spill, 48 bar.sync vs v2.8's 12 B / 72; backward 255 regs, 28 B spill, 158 bar.sync vs 176 B /
# 202), computes every chunk in the factorised form and flags its program if any chunk failed the
# fast-path test; MODE 2 (v2.8's exact-capable code) then redoes only the flagged programs.
# VIG_TRITON_FO_FWD=1 / VIG_TRITON_FO_BWD=1 select them; 0: v2.8's single launch (MODE 0) as before.
FO = {"FWD": False, "BWD": False}


def _fo(which: str) -> bool:
    return _onoff("FO", which, FO)


# Session 7 (on by default since session 8; NOTES.md "Session 7 (CS, CB32)"): compact scratch in the derived-exp
# backward (kernels.bigla_bwd_dx_kernel, constexpr CS): the reverse sweep leaves the three key-side
# terms (dqf_i, dkf, dqb_x) and pv instead of five partial tiles, the forward sweep rebuilds the
# partials with the same operations (768 -> 640 B of fp32 scratch per token and pass, one store and
# one load fewer per chunk step). VIG_TRITON_CS_BWD=1 selects it (with DX or FO in the backward);
# 0: v2.8's scratch. CS is not passed at all when off, so that kernel is unchanged.
# On since the 2026-12-06 session 8 call (H100, results/2026-12-06c-h100/): parity 120/120 (check_backend)
# and 9/9 with FO, memcheck clean (with DX and with FO + CB32); graphed f+b (dev_bench, one process) ViG-T@224
# 0.388 -> 0.355, S@224 0.647 -> 0.576, B@224 1.236 -> 1.093, T@1024 0.564 -> 0.515, S@1024 1.034 -> 0.948 ms.
CS = {"BWD": True}


def _cs() -> dict:
    return {"CS": 1} if _onoff("CS", "BWD", CS) else {}


# Session 7 (opt-in, measurement: slower at every shape in session 8's call 2; NOTES.md "Session 7 (CS, CB32)"): the derived-exp backward on 32-token
# chunks (VIG_TRITON_CHUNK_BWD=32; default 16 = CHUNK). Meant with 8 warps (VIG_TRITON_WARPS_BWD=8) and
# FO (VIG_TRITON_FO_BWD=1): ptxas (sm_90a, bf16) MODE 1 at C 32 / 8 warps 255 regs, 44 B spill (one
# program of 8 warps per SM: the same 8 warps per SM as C 16's two programs of 4, half the chunk steps);
# MODE 0 / 2 at C 32 spill 812 B (the exact path's 32-key loop). The backward's segments are then
# multiples of 32 tokens; the segment kernels keep 16-token chunks (their results do not depend on C).
CHUNK_BWD = 16


# Session 8 (opt-in: faster at 224 px capped + FO, slower at 1024 px in the final call; NOTES.md "Session 8 (SPLIT)"): the derived-exp backward split by
# direction (kernels.bigla_bwd_dir_dx_kernel, two launches: DIR 0 then DIR 1), one K x V state per sweep and one
# direction's gate tiles per program; the directions meet through the fp32 scratch pq / pk / pv (DIR 0 writes its
# full dq, dk, dv contributions, DIR 1 adds them), each gate gradient is final in its own direction's program.
# VIG_TRITON_SPLIT_BWD=1 selects it (it takes precedence over DX / CS in the backward; with VIG_TRITON_FO_BWD=1
# each direction runs as v2.9's fast-only launch then the redo of the flagged programs); 0 / unset: as before.
# Its register cap (bf16 inputs only): VIG_TRITON_NREG_SPLIT (0 = the compiler's choice; default SPLIT_MAXNREG),
# warps: VIG_TRITON_WARPS_SPLIT (default WARPS["BWD"]), num_stages (bf16 only): VIG_TRITON_STAGES_SPLIT (unset:
# Triton's default). ptxas (sm_90a, bf16, 4 warps): DIR 0 / DIR 1 237 / 254 regs, 0 B spill (the shipped DX
# backward: 255, 172 B); at 168 (3 programs per SM) 116 / 194 B spill; 8 warps at 128 (2 programs of 8 warps
# per SM) 112 / 196 B; with FO, MODE 1: 219 / 248 regs, 0 B; 60 / 76 B at 168; 76 / 112 B at 8 warps, 128.
#
# Session 9: VIG_TRITON_SPLIT_BWD=auto (SPLIT["BWD"] = "auto" as a default) takes the split where it won and DX + CS
# where it lost, with the split's winning launch options (FO_BWD on and a 168-register cap, SPLIT_AUTO; an
# explicit VIG_TRITON_FO_BWD / VIG_TRITON_NREG_SPLIT still wins). Session 8's final call (H100, graphed f+b, ms,
# shipped DX + CS -> SPLIT + FO + cap 168): T@224 0.354 -> 0.283, S@224 0.575 -> 0.559, B@224 1.093 -> 1.034, but
# T@1024 0.522 -> 0.619, S@1024 0.948 -> 1.129. The rule (_split_auto) counts program rounds: the DX backward runs
# 2 programs per SM (255 registers, 4 warps), each split launch 3 (cap 168), and the split is 2 launches, so for
# P = B*H*NS programs on n SMs: DX takes ceil(P / 2n) rounds, the split 2 * ceil(P / 3n) rounds of lighter programs
# (one direction each). Per round, the split's backward took 0.70-0.76x DX's at 224 px and 0.62x at 1024 px
# (backward = f+b - the graphed forward, over the rounds below); the rule takes the split iff
# SPLIT_ROUND * split rounds < DX rounds, SPLIT_ROUND = 0.72. At the five contract shapes (132 SMs):
# T@224 P 384: DX 2 rounds, split 2 (x 0.72 = 1.44) -> split; S@224 768: 3 vs 4 (2.88) -> split; B@224 1536: 6 vs 8
# (5.76) -> split; T@1024 / S@1024: the segmented path sizes NS to ~512 programs (528 = exactly 2 full DX rounds),
# where the split needs 2 x 2 rounds (2.88) -> DX. It is what separates the two groups: the unsegmented 224 px
# launches leave DX a half-empty last round (1.45 / 2.9 / 5.8 rounds), the segmented ones fill DX's rounds exactly.
# Small launches (P <= 2n: one DX round) get DX (the split would need 2 rounds there, and 2-4 launches of host
# time). The rule is the graphed one for eager calls too, although the same call's eager f+b was host-bound with
# the split's 4 backward launches (S@224 0.570 -> 0.767 ms, T@224 0.748 -> 0.871; B@224 1.092 -> 1.053): a rule
# that asked torch.cuda.is_current_stream_capturing() would take DX in the eager warm-up and the split under
# capture, and a Triton kernel's first launch (cuModuleLoadData) is not permitted while a stream is capturing.
# VIG_TRITON_SPLIT_SMS overrides the SM count (tests: force either branch).
# Session 10: "auto" is the default (H100, results/2026-12-06e-h100/callB/triton.log, graphed f+b DX + CS -> auto: T@224
# 0.352 -> 0.283, S@224 0.576 -> 0.558, B@224 1.094 -> 1.034; the same kernels at 1024 px; eager in the same process
# 0.627 -> 0.523, 0.576 -> 0.568, 1.094 -> 1.053); VIG_TRITON_SPLIT_BWD=0 restores DX + CS everywhere.
SPLIT = {"BWD": "auto"}  # False (DX + CS), True (the split), or "auto" (the rule)
SPLIT_MAXNREG = 0
SPLIT_AUTO = {"FO": True, "NREG": 168}  # launch options of the split when "auto" takes it
SPLIT_SLOTS = (2, 3)  # programs per SM: the DX backward (255 regs, 4 warps), the split at cap 168
SPLIT_ROUND = 0.72  # a split round's time over a DX round's (fit; see above)


def _split_mode() -> str:
    """VIG_TRITON_SPLIT_BWD = 0 / 1 / auto, else SPLIT["BWD"] (False / True / "auto")."""
    val = _ENV.choice("VIG_TRITON_SPLIT_BWD", "", ("0", "1", "auto"), empty="")
    if val:
        return val
    d = SPLIT["BWD"]
    return "auto" if d == "auto" else ("1" if d else "0")


def _sms(dev) -> int:
    """The SM count the rule uses: VIG_TRITON_SPLIT_SMS, else the CUDA device's (cached), else 132."""
    n = _ENV.multiple("VIG_TRITON_SPLIT_SMS", "", 1, 1, 1024, empty=0)
    if n:
        return n
    if dev.type != "cuda":
        return 132
    return sm_count(dev.index if dev.index is not None else torch.cuda.current_device())


def _split_rounds(P: int, nsm: int):
    """(DX rounds, split rounds) of P backward programs on nsm SMs (see the rule above)."""
    return -(-P // (SPLIT_SLOTS[0] * nsm)), 2 * -(-P // (SPLIT_SLOTS[1] * nsm))


def _split_auto(P: int, nsm: int) -> bool:
    """The "auto" rule: the split iff SPLIT_ROUND x its rounds < DX's rounds."""
    rd, rs = _split_rounds(P, nsm)
    return SPLIT_ROUND * rs < rd


def _split(P: int = 0, dev=None):
    """(split?, auto?) for a backward of P programs (B*H*NS) on dev: VIG_TRITON_SPLIT_BWD 1 / 0,
    or "auto": _split_auto(P, the SM count)."""
    mode = _split_mode()
    if mode == "auto":
        return _split_auto(P, _sms(dev)), True
    return mode == "1", False


# Session 9: VIG_TRITON_DV_SPLIT=1 (the split's dv part in a sweep run by programs of its own, constexpr DV of
# kernels.bigla_bwd_dir_dx_kernel, grid (B*H, NS, 2)) was removed: parity 18/18 on the GPU but slower at every
# shape (graphed f+b T@224 0.286 -> 0.321, B@224 1.048 -> 1.183 ms; results/2026-12-06d-h100); in git history
# at fdf897e. The switch accepts 0 or unset; 1 raises (a script asking for the variant must not get another).
def _check_dv_knob() -> None:
    val = _ENV.get("VIG_TRITON_DV_SPLIT", "")
    if val not in ("", "0"):
        raise ValueError(f"VIG_TRITON_DV_SPLIT={val!r}: the switch was removed in session 9 (the split's "
                         "separate dv sweep, slower on the GPU; in git history at fdf897e); unset it")


def _split_opts(dtype, auto: bool = False) -> dict:
    """Launch options of the split backward: num_warps, and for bf16 inputs (tensor-core dots) the
    register cap maxnreg (the fp16 / fp32 kernels' FMA dots spill at 255 already: never capped) and
    num_stages; none but num_warps in the interpreter. auto: the cap defaults to SPLIT_AUTO's."""
    w = int(_ENV.choice("VIG_TRITON_WARPS_SPLIT", str(WARPS["BWD"]), _WARP_COUNTS, empty=str(WARPS["BWD"])))
    if _interpreting() or dtype != torch.bfloat16:
        return {"num_warps": w}
    n = _ENV.multiple("VIG_TRITON_NREG_SPLIT", "", 1, 0, 255, empty=SPLIT_AUTO["NREG"] if auto else SPLIT_MAXNREG)
    st = _ENV.multiple("VIG_TRITON_STAGES_SPLIT", "", 1, 1, 8, empty=0)
    return {"num_warps": w, **({"maxnreg": n} if n else {}), **({"num_stages": st} if st else {})}


def _chunk_bwd() -> int:
    c = int(_ENV.choice("VIG_TRITON_CHUNK_BWD", str(CHUNK_BWD), ("16", "32"), empty=str(CHUNK_BWD)))
    return c


def _stages(which: str) -> dict:
    """num_stages launch option of the main forward / backward kernel (measurement knobs
    VIG_TRITON_STAGES_FWD / VIG_TRITON_STAGES_BWD; unset: Triton's default, not passed). ptxas
    (sm_90a, bf16, the shipped backward): default 255 regs / 176 B spill / 20 kB shared,
    num_stages=1 255 / 104 B / 8 kB. Not passed in the interpreter."""
    n = _ENV.multiple(f"VIG_TRITON_STAGES_{which}", "", 1, 1, 8, empty=0)
    return {"num_stages": n} if (n and not _interpreting()) else {}


def _warps(which: str) -> int:
    """num_warps of the main forward / backward kernel (measurement knobs VIG_TRITON_WARPS_FWD,
    VIG_TRITON_WARPS_BWD)."""
    return int(_ENV.choice(f"VIG_TRITON_WARPS_{which}", str(WARPS[which]), _WARP_COUNTS, empty=str(WARPS[which])))


# The by-direction backwards (VIG_TRITON_BWD=dir | par, NOTES.md v2.3 / v2.4) were removed in
# session 4: correct on the GPU, slower than v2.2's bigla_bwd_kernel at ViG-S/B@224 and ViG-T@1024
# (results/2026-11-25d-h100/mid/out/triton/triton.log); last present at commit 9a4b465.
def _check_bwd_knob():
    mode = _ENV.get("VIG_TRITON_BWD", "")
    if mode not in ("", "v22"):
        raise ValueError(f"VIG_TRITON_BWD={mode!r}: the by-direction backwards (dir, par) were "
                         "removed (slower; kernels/triton/NOTES.md); unset it")


BSEG_MODES = ("v22", "v26")
BSEG_DEFAULT = "v26"  # since v2.6 (VIG_TRITON_BSEG=v22 restores v2.2's segment kernels)
BSEG_NVS = 4  # value-column slices of the v2.6 backward segment scan (BV / 4 = 16 columns each)
BSEG_STAGES = 3  # software-pipelining depth of the v2.6 scan and carry loops
BSEG_WARPS = 2  # warps per program of the v2.6 scan (ptxas sm_90a: 1 warp 255 registers / 88 B spill, 2 warps 154 / 0 B)


def _bseg_mode() -> str:
    """Segment machinery of the backward for long sequences (VIG_TRITON_BSEG): "v22" = one
    four-state segment kernel per (b, h, segment) and a serial scan per (b, h); "v26" (the
    default) = two states per program, a scan per (b, h, direction pair, 16 value columns) with
    its loads pipelined, and a carry prefix kernel (NOTES.md v2.6)."""
    mode = _ENV.choice("VIG_TRITON_BSEG", BSEG_DEFAULT, BSEG_MODES, empty=BSEG_DEFAULT)
    return mode


FPIPE = 0  # pipelining depth of the forward's segment-state assembly loops (0: plain, v2.2)


FSCAN = 0  # 1: the forward's entering segment states by bigla_fwd_segscan_kernel (v2.6)


def _fscan() -> bool:
    return _ENV.choice("VIG_TRITON_FSCAN", str(FSCAN), ("0", "1"), empty=str(FSCAN)) == "1"


def _fpipe(NS: int) -> dict:
    """FSC / FST of bigla_fwd_dx_kernel (knobs VIG_TRITON_FSCAN=1: the entering states come from a
    parallel scan launch; else VIG_TRITON_FPIPE=N, e.g. 3: the assembly loops pipelined N deep;
    NOTES.md v2.6): only passed when segments are used, so the unsegmented forward compiles as
    before."""
    if NS <= 1:
        return {}
    if _fscan():
        return {"FSC": 1}
    n = _ENV.multiple("VIG_TRITON_FPIPE", "", 1, 0, 8, empty=FPIPE)
    return {"FST": n} if n > 1 else {}


SEG_MIN_L = 512  # sequences up to this length are never cut into segments (knob VIG_TRITON_SEG_MIN_L)

# Session 10 (NOTES.md "Session 10 (KS)"): VIG_TRITON_KEEP_STATES=1 (the default) keeps the forward's segment-local
# key-side states (Hf, Hb and the gate sums Tf, Tb of bigla_fwd_segstate_kernel, one float32 buffer) as saved
# tensors, and the backward's bigla_bwd_segstate2_kernel then runs only its query-side programs (w = 1: Qf, Qb)
# instead of recomputing the key-side ones (w = 0: the same function of the same k, v and gates). Profile
# (H100, results/2026-12-06e-h100/callA/profile.log): bigla_bwd_segstate2 is 0.082 ms of the 0.519 ms f+b
# kernel sum at ViG-T@1024 and 0.152 of 0.935 at S@1024. Taken where the forward's segments are the backward's
# (same NS and LS), the entering states are not scanned in place (FSCAN off), the backward runs the v2.6 segment
# machinery, and the inputs are 16-bit (the shared layer's head tiles are float32 copies and must save nothing);
# the backward uses them under DX + CS only (a split backward with segments, which auto takes at long L with few
# (b, h), recomputes them: that pairing has no GPU proof yet).
# Default 1 since session 10 (H100, callB: parity 120/120 as it runs and 120/120 with segments nearly everywhere,
# memcheck clean; graphed f+b T@1024 0.520 -> 0.483, S@1024 0.931 -> 0.870); VIG_TRITON_KEEP_STATES=0 recomputes.
KEEP_STATES = 1
# Session 10: VIG_TRITON_STATE_CHUNK (the segment-state kernels on 32- / 64-token chunks) lost on the H100 (graphed
# f+b T@1024 0.520 -> 0.540 with 64, 0.483 -> 0.501 on top of KEEP_STATES; NOTES.md "Session 10 (SC)") and was
# removed (last in commit 0ebdad3); setting it raises.


def _check_state_chunk_knob():
    if _ENV.get("VIG_TRITON_STATE_CHUNK", "") not in ("", "16"):
        raise ValueError(f"VIG_TRITON_STATE_CHUNK={_ENV.get('VIG_TRITON_STATE_CHUNK')!r}: the switch was removed "
                         "in session 10 (slower on the H100); unset it")


def _keep_states() -> bool:
    val = _ENV.choice("VIG_TRITON_KEEP_STATES", "", ("0", "1"), empty="")
    return int(val or KEEP_STATES) != 0


# Session 11 (NOTES.md "Session 11 (on trial): VIG_TRITON_FTZ"; the default since session 11's MID call, H100,
# results/2026-12-06f-h100/call5/: parity 120/120 and 120/120 with the split + segments, memcheck 0; graphed f+b
# T / S / B@224 0.287 -> 0.270, 0.558 -> 0.537, 1.039 -> 0.998, T / S@1024 0.483 -> 0.450, 0.878 -> 0.823 ms; fwd
# 0.064 -> 0.060, 0.127 -> 0.120, 0.210 -> 0.199, 0.131 -> 0.118, 0.215 -> 0.204): every kernel's exp (kernels._exp)
# compiles as ex2.approx.ftz.f32 of x * log2(e) (inline PTX) instead of tl.exp's ex2.approx.f32, whose denormal
# range guard ptxas spells out around MUFU.EX2 on sm_90 (FSETP + 2 predicated FMULs per exp); only float32 results
# below 2^-126 change (flushed to 0). Passed as the constexpr FTZ = 1 to every kernel with an exp.
# VIG_TRITON_FTZ: unset / "" / "1": on (FTZ, the default); "0": off (the previous kernels: tl.exp, the same PTX as
# before the switch existed, compile_check --same); anything else raises. The interpreter (TRITON_INTERPRET=1, CPU)
# has no inline PTX: there the default runs tl.exp (documented, the interpreter's emulation of the same exp) and an
# explicit "1" raises.
FTZ = 1


def _ftz() -> dict:
    """The launch keyword of VIG_TRITON_FTZ: {"FTZ": 1} (on: unset, "" or "1", FTZ's default) or {} ("0";
    and the default under TRITON_INTERPRET=1, which has no inline PTX); read (and checked) on every call.
    Raises ValueError for any other value, and for an explicit "1" under TRITON_INTERPRET=1."""
    val = _ENV.choice("VIG_TRITON_FTZ", "", ("0", "1"), empty="")
    if int(val or FTZ) == 0:
        return {}
    if _interpreting():
        if val == "1":
            raise ValueError("VIG_TRITON_FTZ=1: the ftz exp is inline PTX, which the Triton interpreter "
                             "(TRITON_INTERPRET=1) cannot run; unset VIG_TRITON_FTZ or set it to 0")
        return {}
    return {"FTZ": 1}


def _segments(BH: int, L: int, unit: int = CHUNK, min_chunks: int = 4, progs: int = 512,
              bwd: bool = False):
    """(NS, LS): split long sequences into NS segments of LS tokens (a multiple of ``unit``, at
    least ``min_chunks`` units) so that few (batch, head) pairs still give enough programs.
    Not below SEG_MIN_L tokens: at L = 196 (ViG-T@224, B*H = 384) two segments cost three
    launches and 0.13 ms of segment kernels (H100 profile, 2026-11-25 mid call) on a host-bound
    call, for no fewer chunk steps per SM (NOTES.md v2.4). The backward may have its own
    threshold (knob VIG_TRITON_SEG_MIN_L_BWD, measurement only; NOTES.md v2.6)."""
    min_l = _ENV.multiple("VIG_TRITON_SEG_MIN_L", "", 1, 0, 2 ** 31, empty=SEG_MIN_L)
    if bwd:
        min_l = _ENV.multiple("VIG_TRITON_SEG_MIN_L_BWD", "", 1, 0, 2 ** 31, empty=min_l)
    seg = _ENV.multiple("VIG_TRITON_SEGMENT", "", 1, 0, 2 ** 31, empty=0)  # 0 / empty: chosen here
    if _interpreting() and _ENV.get("VIG_TRITON_SEGMENT", "") == "":
        want = 3  # few programs in the interpreter, but the segmented path still exercised
    elif L <= min_l:
        want = seg or 1
    else:
        want = seg or -(-progs // BH)
    NS = max(1, min(want, -(-L // (min_chunks * unit))))
    LS = -(-(-(-L // NS)) // unit) * unit
    return -(-L // LS), LS


# Session 22: what a call launches (which kernels, their grids' segment counts, their launch options) depends only on
# the dtype, B*H, L, the device and the VIG_TRITON_* values; an eager call used to ask the two dozen small functions
# above on every forward and backward (host time: NOTES.md, session 22). _fwd_route / _bwd_route ask them once per
# such tuple and keep the answer until reload_knobs() (vig.backend.Knobs.memo; a bad switch value raises on every
# call, never cached). The launch keywords they return are shared dicts: never mutated.
@_ENV.memo
def _fwd_route(dtype, BH: int, L: int, interp: bool):
    """The forward's decisions for one (dtype, B*H, L): a dict with NS, LS; keep (KEEP_STATES where the
    backward's v2.6 machinery can take the segment states); fo (v2.9); fscan (v2.6); the launch keywords of the
    segment kernels and of the main kernel, one dict per main launch (MODE 1 then 2 under FO, else MODE 0)."""
    _check_dx_knob("FWD")
    keep = _keep_states()
    ftz = _ftz()
    _check_state_chunk_knob()
    NS, LS = _segments(BH, L)
    fo = _fo("FWD")
    fscan = _fscan()
    keep = keep and NS > 1 and not fscan and dtype != torch.float32 and _bseg_mode() == "v26"
    common = dict(BK=BK, BV=BV, C=CHUNK, THR=THR, PREC=_dot_prec("FWD", dtype), **_fpipe(NS))
    opts = dict(num_warps=_warps("FWD"), **_nreg("FWD", dtype), **_stages("FWD"))
    main = tuple({**common, "MODE": mode, **ftz, **opts} for mode in ((1, 2) if fo else (0,)))
    return dict(NS=NS, LS=LS, keep=keep, fo=fo, fscan=fscan, main=main,
                segstate=dict(BK=BK, BV=BV, C=CHUNK, PREC=_prec(dtype), num_warps=4, **ftz),
                segscan=dict(BK=BK, BVS=BV // BSEG_NVS, STAGES=BSEG_STAGES, num_warps=BSEG_WARPS, **ftz))


@_ENV.memo
def _bwd_route(dtype, BH: int, L: int, dev, interp: bool):
    """The backward's decisions for one (dtype, B*H, L, device): a dict with NS, LS, split, fo, v26, the forward's
    (NS, LS) (kept states are used only where they match), and the launch keywords of each kernel it may launch."""
    _check_bwd_knob()
    ftz = _ftz()
    _check_dx_knob("BWD")
    _check_dv_knob()
    cbw = _chunk_bwd()  # the derived-exp backward's chunk (VIG_TRITON_CHUNK_BWD; 16 = CHUNK)
    NS, LS = _segments(BH, L, unit=cbw, bwd=True)
    split, auto = _split(BH * NS, dev)  # session 8 / 9: the split (1, or "auto" where it wins)
    fo = _fo("BWD")  # v2.9: one int32 flag per program after the scratch (split: per direction)
    if split and auto and _ENV.get("VIG_TRITON_FO_BWD", "") == "":
        fo = SPLIT_AUTO["FO"]  # session 9: the split's winning options (FO, cap 168)
    prec = _prec(dtype)
    v26 = _bseg_mode() == "v26"
    dprec = _dot_prec("BWD", dtype)
    r = dict(NS=NS, LS=LS, split=split, fo=fo, v26=v26, fwd_seg=_segments(BH, L), gradbuf=_gradbuf())
    r["segstate2"] = [dict(BK=BK, BV=BV, C=CHUNK, PREC=prec, num_warps=4, **({"W0": 1} if ks else {}), **ftz)
                      for ks in (False, True)]
    r["segscan2"] = dict(BK=BK, BVS=BV // BSEG_NVS, NVS=BSEG_NVS, STAGES=BSEG_STAGES, num_warps=BSEG_WARPS, **ftz)
    r["segcarry"] = dict(BK=BK, NP=2 * BSEG_NVS, STAGES=BSEG_STAGES, num_warps=1)
    r["segstate"] = dict(BK=BK, BV=BV, C=CHUNK, PREC=prec, num_warps=4, **ftz)
    r["segscan"] = dict(BK=BK, BV=BV, num_warps=4, **ftz)
    modes = (1, 2) if fo else (0,)
    if split:
        opts = _split_opts(dtype, auto)
        r["dir"] = tuple(tuple(dict(BK=BK, BV=BV, C=cbw, THR=THR, PREC=dprec, SEG=int(NS > 1), DIR=d, MODE=m,
                                    **opts, **ftz) for m in modes) for d in (0, 1))
    else:
        r["dx"] = tuple(dict(BK=BK, BV=BV, C=cbw, THR=THR, PREC=dprec, SEG=int(NS > 1), MODE=m, **_cs(),
                             num_warps=_warps("BWD"), **_nreg("BWD", dtype), **_stages("BWD"), **ftz)
                        for m in modes)
    return r


LAUNCH_MODES = ("jit", "direct")
# "direct" (launch.py's cached direct launch) since v2.7: bit-identical, eager fwd+bwd ViG-T@224
# 0.653 -> 0.446 ms on the H100 (session 5 mid call); VIG_TRITON_LAUNCH=jit restores the previous.
LAUNCH_DEFAULT = "direct"


def _launch_mode() -> str:
    """VIG_TRITON_LAUNCH: "jit" (kernel[grid](...) through JITFunction.run every call) or
    "direct" (launch.py: the CompiledKernel's launcher called directly after the first launch
    per specialisation key; GPU only, the interpreter always takes "jit"). NOTES.md v2.7."""
    mode = _ENV.choice("VIG_TRITON_LAUNCH", LAUNCH_DEFAULT, LAUNCH_MODES, empty=LAUNCH_DEFAULT)
    return mode


GRADBUF = 1  # the backward's dq / dk and dgf / dgb pairs one allocation each (v2.7); 0: six allocations


def _gradbuf() -> bool:
    return _ENV.choice("VIG_TRITON_GRADBUF", str(GRADBUF), ("0", "1"), empty=str(GRADBUF)) == "1"


class _Direct:
    """The cached direct launch of fn over grid (launch.py): called as fn[grid] is; ``all(args, kws)`` launches
    once per kw of kws over the same arguments (MODE 1 then 2), the arguments' part of the key computed once."""
    __slots__ = ("fn", "grid")

    def __init__(self, fn, grid):
        self.fn, self.grid = fn, grid

    def __call__(self, *args, **kw):
        return _launch.launch(self.fn, self.grid, args, kw)

    def all(self, args, kws):
        return _launch.launch_all(self.fn, self.grid, args, kws)


def _kern(fn, grid):
    """fn[grid], or its cached direct launch (VIG_TRITON_LAUNCH=direct, not interpreting)."""
    if _launch_mode() == "direct" and not _interpreting():
        return _Direct(fn, grid)
    return fn[grid]


def _kern_all(fn, grid, args, kws):
    """_kern(fn, grid)(*args, **kw) for each kw of kws in turn (MODE 1 then 2, or MODE 0 alone)."""
    launch = _kern(fn, grid)
    if type(launch) is _Direct:
        return launch.all(args, kws)
    for kw in kws:
        launch(*args, **kw)


def _strides(t):
    st = t.stride()
    return st[0], st[1], st[2]


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

    def forward(self, q, k, v, g_fwd, g_bwd, scale, needs_grad=True):
        B, L, H, _ = q.shape
        o = torch.empty((B, L, H, v.shape[-1]), dtype=v.dtype, device=v.device)
        kept = self._fwd(q, k, v, g_fwd, g_bwd, o, scale)
        return o, kept

    def backward(self, q, k, v, g_fwd, g_bwd, scale, do, saved):
        return self._bwd(q, k, v, g_fwd, g_bwd, do, scale, *saved)

    # ------------------------------------------------------------------ one tile
    def _fwd(self, q, k, v, g_fwd, g_bwd, o, scale):
        """o (any float dtype, [B, L, H, V] strides) = the op on K <= BK, V <= BV channels; returns
        the tensors kept for the backward: (the segment-state buffer,) under KEEP_STATES, else ()."""
        B, L, H, K = q.shape
        V = v.shape[-1]
        BH = B * H
        dev = v.device
        NV = 1
        r = _fwd_route(q.dtype, BH, L, _interpreting())
        NS, LS, fo = r["NS"], r["LS"], r["fo"]
        if fo:  # v2.9: one int32 flag per program after op, one allocation (256-byte aligned part)
            nop = -(-BH * L * V // 64) * 64
            obuf = torch.empty((nop + NV * BH * NS,), dtype=torch.float32, device=dev)
            op = obuf[:BH * L * V].view(BH, L, V)
            fl = obuf[nop:].view(torch.int32)
        else:
            op = torch.empty((BH, L, V), dtype=torch.float32, device=dev)
            fl = None
        if NS > 1:  # one allocation for the four segment buffers (host time), 256-byte aligned parts
            n1, n2 = -(-BH * NS * K * V // 64) * 64, -(-BH * NS * K // 64) * 64
            sbuf = torch.empty((2 * (n1 + n2),), dtype=torch.float32, device=dev)
            kept = (sbuf,) if r["keep"] else ()
            hf, hb, tf, tb = sbuf[:n1], sbuf[n1:2 * n1], sbuf[2 * n1:2 * n1 + n2], sbuf[2 * n1 + n2:]
            _kern(_k.bigla_fwd_segstate_kernel, (NV, BH, NS))(
                k, v, g_fwd, g_bwd, hf, hb, tf, tb,
                *_strides(k), *_strides(v), *_strides(g_fwd), *_strides(g_bwd),
                L, H, LS, NS, K, V, **r["segstate"],
            )
            if r["fscan"]:  # v2.6: entering states by a parallel scan, in place
                _kern(_k.bigla_fwd_segscan_kernel, (BH, 2, BSEG_NVS))(hf, hb, tf, tb, NS, K, V, **r["segscan"])
        else:
            hf = hb = tf = tb = op  # unused
            kept = ()
        # v2.9: fast-only pass (flags), then the exact-capable pass on flagged programs; v2.8
        # (MODE 0, the default): one exact-capable pass, fl_p None (a constexpr: the compiled code
        # is v2.8's own, byte for byte)
        args = (q, k, v, g_fwd, g_bwd, o, op, hf, hb, tf, tb, fl,
                *_strides(q), *_strides(k), *_strides(v),
                *_strides(g_fwd), *_strides(g_bwd), *_strides(o),
                float(scale), L, H, LS, NS, K, V)
        _kern_all(_k.bigla_fwd_dx_kernel, (NV, BH, NS), args, r["main"])
        return kept

    def _bwd(self, q, k, v, g_fwd, g_bwd, do, scale, kept=None):
        """(dq, dk, dv in the inputs' dtype, dgf, dgb in float32), contiguous, K <= BK, V <= BV;
        ``kept``: the forward's segment-state buffer (KEEP_STATES), used where its segments are
        the backward's."""
        B, L, H, K = q.shape
        V = v.shape[-1]
        dev = q.device
        BH = B * H
        r = _bwd_route(q.dtype, BH, L, dev, _interpreting())
        if r["gradbuf"] and (B * L * H * K) % 64 == 0:
            # v2.7 (VIG_TRITON_GRADBUF=1): dq / dk and dgf / dgb each one allocation (host time);
            # only where the second half starts 128-byte aligned, so the kernels' pointer
            # specialisation is that of separate buffers
            dq, dk = torch.empty((2, B, L, H, K), dtype=q.dtype, device=dev).unbind(0)
            dgf, dgb = torch.empty((2, B, L, H, K), dtype=torch.float32, device=dev).unbind(0)
        else:
            dq = torch.empty((B, L, H, K), dtype=q.dtype, device=dev)
            dk = torch.empty((B, L, H, K), dtype=q.dtype, device=dev)
            dgf = torch.empty((B, L, H, K), dtype=torch.float32, device=dev)
            dgb = torch.empty((B, L, H, K), dtype=torch.float32, device=dev)
        dv = torch.empty((B, L, H, V), dtype=q.dtype, device=dev)
        NS, LS, split, fo = r["NS"], r["LS"], r["split"], r["fo"]
        # fp32 scratch pq [BH, L, K], pk [BH, L, K], pv [BH, L, V], one allocation (host time);
        # the kernels index it from the base pointers, each part starts on a 256-byte boundary
        # (the same pointer-alignment specialisation as separate buffers)
        nK, nV = -(-BH * L * K // 64) * 64, -(-BH * L * V // 64) * 64
        nD = -(-BH * L * 2 // 64) * 64 if split else 0  # the split backward's diagonal row factors
        scr = torch.empty((2 * nK + nV + nD + ((2 if split else 1) * BH * NS if fo else 0),),
                          dtype=torch.float32, device=dev)
        pq, pk, pv = scr, scr[nK:], scr[2 * nK:]
        strides = (*_strides(q), *_strides(k), *_strides(v),
                   *_strides(g_fwd), *_strides(g_bwd), *_strides(do))
        if NS > 1:
            v26 = r["v26"]
            n1, n2 = -(-BH * NS * K * V // 64) * 64, -(-BH * NS * K // 64) * 64
            # KEEP_STATES (session 10): the forward's Hf, Hb, Tf, Tb where its segments are these
            # (not under the split backward: KEEP_STATES was proven on the GPU with DX + CS, which auto takes at
            # the 1024-px shapes; the split with segments (auto at long L and few (b, h)) recomputes the states)
            ks = (kept is not None and v26 and not split and kept.numel() == 2 * (n1 + n2)
                  and r["fwd_seg"] == (NS, LS))
            st = torch.empty((6 if ks else 8, BH * NS, K, V), dtype=torch.float32, device=dev)
            # gate sums, carries (v2.6: + the scan's carry parts, 2 * NVS x 2 rows), one allocation
            tt = torch.empty(((2 if ks else 4) + (4 * BSEG_NVS if v26 else 0), BH * NS, K),
                             dtype=torch.float32, device=dev)
            if ks:
                qf, qb, sf, db, sb, df = st.unbind(0)
                cf, cb = tt[:2].unbind(0)
                hf, hb = (kept[i * n1:i * n1 + BH * NS * K * V].view(BH * NS, K, V) for i in (0, 1))
                tf, tb = (kept[2 * n1 + i * n2:2 * n1 + i * n2 + BH * NS * K].view(BH * NS, K)
                          for i in (0, 1))
            else:
                hf, hb, qf, qb, sf, db, sb, df = st.unbind(0)
                tf, tb, cf, cb = tt[:4].unbind(0)
            if v26:  # NOTES.md v2.6: split segment states, parallel scan, carry prefix
                # KEEP_STATES: only the query-side programs (w = 1; W0 shifts program_id(2))
                _kern(_k.bigla_bwd_segstate2_kernel, (BH, NS, 1 if ks else 2))(
                    q, k, v, g_fwd, g_bwd, do, hf, hb, qf, qb, tf, tb, *strides,
                    float(scale), L, H, LS, NS, K, V, **r["segstate2"][ks],
                )
                pt = tt[2 if ks else 4:]
                _kern(_k.bigla_bwd_segscan2_kernel, (BH, 2, BSEG_NVS))(
                    hf, hb, qf, qb, tf, tb, sf, db, sb, df, pt, NS, BH, K, V, **r["segscan2"],
                )
                _kern(_k.bigla_bwd_segcarry_kernel, (BH, 2))(pt, cf, cb, NS, BH, K, **r["segcarry"])
            else:
                _kern(_k.bigla_bwd_segstate_kernel, (BH, NS))(
                    q, k, v, g_fwd, g_bwd, do, hf, hb, qf, qb, tf, tb, *strides,
                    float(scale), L, H, LS, NS, K, V, **r["segstate"],
                )
                _kern(_k.bigla_bwd_segscan_kernel, (BH,))(
                    hf, hb, qf, qb, tf, tb, sf, db, sb, df, cf, cb, NS, K, V, **r["segscan"],
                )
        else:
            sf = db = sb = df = cf = cb = pq  # unused
        if split:  # session 8: DIR 0 (forward direction) then DIR 1, meeting through pq / pk / pv;
            # with FO (VIG_TRITON_FO_BWD=1) each direction as MODE 1 (fast only, flags) then MODE 2
            # (the flagged programs redone), one int32 flag per (direction, program)
            sq, sk, sv, sd = _strides(q), _strides(k), _strides(v), _strides(do)
            fl = scr[2 * nK + nV + nD:].view(torch.int32) if fo else None
            for d, g, dg, st, ds, cc in ((0, g_fwd, dgf, sf, df, cf), (1, g_bwd, dgb, sb, db, cb)):
                args = (q, k, v, g, do, dq, dk, dv, dg, pq, pk, pv, scr[2 * nK + nV:], st, ds, cc,
                        fl[d * BH * NS:] if fo else None,
                        *sq, *sk, *sv, *_strides(g), *sd,
                        float(scale), L, H, LS, NS, K, V)
                _kern_all(_k.bigla_bwd_dir_dx_kernel, (BH, NS), args, r["dir"][d])
            return dq, dk, dv, dgf, dgb
        # v2.9: fast-only pass (flags), then the exact-capable pass on flagged programs; v2.8
        # (MODE 0, the default): one exact-capable pass, fl_p None (as the forward)
        fl = scr[2 * nK + nV:].view(torch.int32) if fo else None
        args = (q, k, v, g_fwd, g_bwd, do, dq, dk, dv, dgf, dgb, pq, pk, pv,
                sf, db, sb, df, cf, cb, fl, *strides, float(scale), L, H, LS, NS, K, V)
        _kern_all(_k.bigla_bwd_dx_kernel, (BH, NS), args, r["dx"])
        return dq, dk, dv, dgf, dgb
