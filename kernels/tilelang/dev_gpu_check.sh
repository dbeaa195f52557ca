#!/usr/bin/env bash
# TileLang GPU check, session 10 (run by the lead from the repo root inside a device call that
# already sourced tools/device-setup.sh; $OUT set). Writes only $OUT/tilelang/tilelang.log (tee'd
# line by line: a timeout still leaves evidence), and in FINAL=1 also $OUT/tilelang/rc-segw.log (a whole racecheck report).
# Since the flips after call B, SEG_L "128", SEG_SAVE "1", SCAN_VEC "1" and SEGW "1" are the DEFAULTS (the "on trial"
# notes below are the MID mode's history; the MID rows set their switches explicitly). Kernels load from the carried .tilelang-cache; session 10's
# four entries (bwd_segr:m6:g128 = SEG_SAVE's kind, bwd_segr:g128 (m3) and bwd_segr:m4:g128 for the blocks-per-SM
# comparison in dev_prof_seg, all bf16; fwd_scan:v1 = SCAN_VEC's, float32) are in .scratch/tlcache-s10 and merged
# here when that folder came along (cp -n); a missing entry compiles on the GPU (~5-10 s each, first call).
#
# New in session 10 (on trial, default unchanged; only at L > 224 with the segment forward on views, i.e. the
# 1024 px shapes):
#   VIG_TILELANG_SEG_SAVE=1 -> the segment forward (fwd_segst:s2:g128 -> fwd_scan -> fwd_fused_seg:s2:m3:x4:g128)
#     returns its scanned segment states WS (float32 [B, H, NSEG, 64, 64]: S_f / S_b entering each segment) as
#     saved tensors, and the BWD_SEG=128 backward reads them instead of recomputing that side:
#     bwd_segr:m6:g128 (q, dO, one gate per chunk; two tensor-core products per step instead of bwd_segst's four;
#     40 registers, 6 blocks per SM) -> fwd_scan over WSS2 alone (B instead of 2B) -> bwd_states_seg:g128
#     (unchanged, WS as WSS) -> bwd_out2:t256:x4:s2:w1. Needs SEG_L == BWD_SEG (128 both). Not bit-identical to
#     BWD_SEG=128 alone (the S side comes from fwd_segst's arithmetic): parity decides; dev_same --save measures
#     the distance.
#   VIG_TILELANG_SCAN_VEC=1 -> every in-place fwd_scan (the forward's segment scan, the backward's) as fwd_scan:v1:
#     the same FFMA per element and chunk in the same order, one 16-byte store per thread and chunk instead of four
#     4-byte ones (fwd_scan's time grew with its bytes at ~1 TB/s in session 9). Bit-identical expected
#     (dev_same --scan through the backend, and fwd_scan:v1 vs fwd_scan on the same input in dev_prof_seg).
# Session 10 round 2 (on trial, default unchanged; same scope: the FWD_VIEWS=2 segment forward at L > 224):
#   VIG_TILELANG_SEGW=1 -> each segment's totals (WS / DW before fwd_scan) from fwd_segw:m6[:g<n>] instead of
#     fwd_segst:s2[:g<n>]: one walker, each chunk's k, v, gf, gb loaded once (fwd_segst's two walkers each read the
#     whole segment), one cumsum pass, S_b summed left to right with the decay of the chunks already walked folded
#     into its x tile; 40 registers, 6 blocks of 256 per SM (fwd_segst:s2:g128: 96 registers, 2 per SM): ViG-T@1024's
#     768 segment blocks in one round of 4 one-chunk steps instead of 3 rounds of 4 two-chunk steps. Not
#     bit-identical (another summation order, another bf16 rounding of x): parity decides. Its cache entries
#     (fwd_segw:m6:g128, fwd_segw:m4:g128, fwd_segw:m6) are in .scratch/tlcache-s10b (merged like tlcache-s10).
#   W = SEGW=1 + SEG_L=128; S10W = S10 + SEGW=1 (the forward's WS is what SEG_SAVE's backward reads).
# S10 = SEG_SAVE=1 + SCAN_VEC=1 + SEG_L=128 + BWD_SEG=128 (set explicitly: whether or not the lead has flipped
#   SEG_L). SCAN_VEC changes no value (bit-identity checked beside), so S10's parity stands for SEG_SAVE alone too.
# Previous defaults (FINAL): session 10's flips set back (SEG_L=224 if SEG_L_DEFAULT changed, SEG_SAVE=0 if
#   SEG_SAVE_DEFAULT is "1", SEGW=0 if SEGW_DEFAULT is "1"); if none: session 9's switches set back (BWD_SEG=, BWD_VIEWS=1), as before.
#
# Session 10 round 5 (the default since session 11's call 1; only where fwd_fused:s2:m3:x5 runs: bf16, the views forward, L <= 224):
#   VIG_TILELANG_FWD_TILE=1 -> fwd_fused:s2:m3:x5:e1: in chunks with no slow channel the seven operand tiles from four
#     __expf per element instead of seven (q e^{Gf}, q e^{Gb}, k e^{Gf_{C-1} - Gf} through three per-channel factors
#     computed beside the midpoints); static SASS of the tile 363 -> 243 instructions per warp and chunk, 77
#     registers, 0 spills, 3 blocks per SM kept. Not bit-identical (another fp32 rounding before three bf16 stores):
#     parity decides. Cache entry in .scratch/tlcache-s10e (merged when present).
# THE MID MODE BELOW IS SESSION 16'S: VIG_TILELANG_FWD_TILE=2 / 3 / 4 (fwd_fused:s2:m3:x5:e1 with :p1 / :b1 / :p1:b1):
#   parity of each (120) | FWD_TILE=4 at L = 1,17,33,65,100,196,224 (dev_parity) | dev_same --tile2 (bit-identity
#   with FWD_TILE=1) | memcheck of FWD_TILE=4 --small, then of dev_same --tile2 --small (all four kinds) | racecheck
#   with RACEFIX=1 of dev_same --tile2 --small (whole report, rc-tile2.log); timing: ONE dev_bench process, v6s+v6 |
#   /t2 | /t3 | /t4 | v6s+v6 (the base again) at ViG-S/B/T@224 (/t is skipped at 1024 px: same kernels).
#   (Session 11's MID, FTZ=1 / 2, is in git history at d3dbdff.)
#   (Round 5's MID, FWD_TILE=1 vs 0 with dev_same --tile and its sanitizers, is in git history at 5e607d6.)
# (Rounds 1-4's description of MID follows; their commands are in git history at 6a3e515.)
# FINAL=0 (MID, <= 170 s; MID_PHASE=parity | timing | both (default), MID_BOX overrides the box):
#   parity phase (<= MID_PAR_S, default 110 s), six processes side by side: check_backend --parity of S10 (the
#     contract's 120 cases; L = 300 and 4096 run the segments) | S10 at L = 225, 257, 383, 449, 1000, 2049
#     (dev_parity, 90 cases) | compute-sanitizer memcheck of dev_prof_seg.py --san with S10 (fwd+bwd through the
#     backend at L = 225, 449) | racecheck of dev_prof_seg.py --san-segr (fwd_segst:s2:g128, fwd_scan,
#     bwd_segr:m6:g128, fwd_scan, bwd_states_seg:g128 once each at L = 449) | dev_same.py --save (SEG_SAVE=1's
#     five gradients vs SEG_SAVE=0's: DIFF lines expected, "close" = worst max|diff| / max|grad| <= 2e-2) |
#     dev_same.py --scan (SCAN_VEC=1 vs 0 with SEG_SAVE=1: o and five gradients, "same: 7/7" expected).
#     Round 2, four more beside them: check_backend --parity of W (120) | of S10W (120) | S10W then W at the
#     edge lengths (dev_parity, 90 + 90) | memcheck then racecheck of dev_prof_seg.py --san-segw (fwd_segw:m6:g128
#     at L = 449, fwd_segw:m6 at L = 300, each beside fwd_segst:s2 on the same inputs: rel diff of WS, DW, o).
#   timing phase (<= 70 s): dev_bench /g128 | /g128/y1 (W) | /g128/p1 (SEG_SAVE) | /g128/p1/y1 (SEG_SAVE + W) |
#     /g128/p1/u1 (S10) | /g128/u1 (SCAN_VEC alone) | v6s+v6 | /g128/p0 (the /g128 base again, after) at ViG-T@1024
#     and ViG-S@1024 in one process
#     (eager and graphed fwd and fwd+bwd, peak extra memory); then DEV_PROF_SEG=128 dev_prof_seg.py: per kernel,
#     the 128-token forward, BWD_SEG=128's states (bwd_segst | fwd_scan over both | bwd_states_seg) and
#     SEG_SAVE's (bwd_segr m6, also m3 / m4 | fwd_scan over B | bwd_states_seg), fwd_scan and fwd_scan:v1 alone
#     in place at B and 2B, and whether they agree bit for bit; round 2: its "seg 128 SEGW" line (fwd_segw:m6:g128,
#     :m4, beside fwd_segst:s2:g128; rel diff of WS, DW, o).
# FINAL=1 (<= 106 s, no timing; writes tilelang.log and rc-segw.log):
#   1. parity side by side (<= 64 s): the shipped defaults | the previous defaults (session 10's four flips set
#      back: SEG_L=224 SEG_SAVE=0 SCAN_VEC=0 SEGW=0, derived from the *_DEFAULT lines below);
#   2. compute-sanitizer memcheck (<= 36 s, side by side), shipped defaults: --small (L = 65) |
#      dev_prof_seg.py --san (fwd+bwd through the backend at L = 225, 449: with the session 10 defaults
#      fwd_segw:m6:g128, fwd_scan:v1, fwd_fused_seg:s2:m3:x4:g128, bwd_segr:m6:g128, bwd_states_seg:g128,
#      bwd_out2:t256:x4:s2:w1; checked by a CPU dry run, .scratch/s10d/mockcuda.py);
#   beside both (session 10 round 4, from the start, <= BUDGET - 8 s): racecheck of dev_prof_seg.py --san-segw with
#      VIG_TILELANG_RACEFIX=1 (fwd_segw:m6[:g128], fwd_segst:s2[:g128], fwd_scan:v1 and the :r1 twin of
#      fwd_fused_seg, which has no racecheck artifact): the WHOLE report in $OUT/tilelang/rc-segw.log, summarized
#      as "<count> hazards in <kernel>" per kernel (rcsum; call B's 26 were the shipped fwd_fused_seg's artifact).
# RACE=1 (session 9 round 4, issue #5; unchanged; FINAL-like, <= 120 s, RACE_BOX overrides; no timing): the racecheck
#   hazards of fwd_fused_seg / bwd_out2 come from a named barrier TileLang puts in warps 4-7 only (NOTES.md);
#   VIG_TILELANG_RACEFIX=1 compiles the ":r1" twins. Cache entries in .scratch/tlcache-s9d (merged when present).
#   Side by side: parity of the shipped defaults + RACEFIX=1 | racecheck of dev_prof_seg.py --san with RACEFIX=1 |
#   racecheck of dev_rc_repro.py 1, 0, 2, then dev_prof_seg.py --san-seg with RACEFIX=1 | dev_racefix_same.py.
set -u
export TILELANG_CACHE_DIR=${TILELANG_CACHE_DIR:-$PWD/.tilelang-cache}
unset VIG_TILELANG_SCAN_VEC VIG_TILELANG_FWD VIG_TILELANG_BWD VIG_TILELANG_LOWMEM VIG_TILELANG_STRIDED VIG_TILELANG_BWD_OUT \
      VIG_TILELANG_BWD_OUT_THREADS VIG_TILELANG_GRAD_EMPTY VIG_TILELANG_FUSED_DIAG VIG_TILELANG_BWD_C \
      VIG_TILELANG_FUSED_THREADS VIG_TILELANG_FUSED_EXP VIG_TILELANG_FWD_VIEWS VIG_TILELANG_BWD_STATES \
      VIG_TILELANG_BWD_VIEWS VIG_TILELANG_SEG_L VIG_TILELANG_SEGST VIG_TILELANG_BWD_SEG VIG_TILELANG_FWD_WALK \
      VIG_TILELANG_RACEFIX VIG_TILELANG_SEG_SAVE VIG_TILELANG_SEGW VIG_TILELANG_FWD_TILE VIG_TILELANG_SAVE224
D=${OUT:-/tmp}/tilelang
mkdir -p "$D" /tmp/tl-def /tmp/tl-oth /tmp/tl-ss
FINAL=${FINAL:-0}
RACE=${RACE:-0}
if [ "$FINAL" = 1 ]; then BUDGET=106; else BUDGET=168; fi; BUDGET=${MID_BOX:-$BUDGET}
[ "$RACE" = 1 ] && BUDGET=${RACE_BOX:-120}
left() { echo $(( BUDGET - SECONDS )); }
lim() { local l; l=$(left); echo $(( l < $1 ? (l > 1 ? l : 1) : $1 )); }
tag() { sed -u "s/^/[$1] /"; }
# "parity: N/M label" from check_backend's or dev_parity's summary line (none: timeout / crash)
summ() {
  local f=$1 lab=$2 p n
  p=$(grep -oE '([0-9]+) parity cases pass, ([0-9]+) fail|: ([0-9]+) pass, ([0-9]+) fail' "$f" | tail -1 | grep -oE '[0-9]+' | tr '\n' ' ')
  if [ -n "$p" ]; then set -- $p; echo "parity: $1/$(( $1 + $2 )) $lab"
  else n=$(grep -c '^ok ' "$f"); echo "parity: $n/? $lab (no summary: timeout or crash; $(grep -c '^FAIL' "$f") FAIL lines)"; fi
}
# "<count> hazards in <kernel> (<sum of [N hazards]> access pairs)" per kernel, from a WHOLE racecheck report: a record is
# a "Race reported" line and its "and ..." lines (the SUMMARY's "hazards displayed" counts records); its kernel is the
# first bigla_*_kernel the record names (a header at a tl:: device function, e.g. ldmatrix or InclusiveScanLine, is
# attributed through its "and" lines), else the function its header names.
rcsum() {
  awk '
    function flush() { if (hdr) { k = (kern != "" ? kern : fn); n[k]++; a[k] += acc } hdr = 0; kern = ""; acc = 0 }
    function take(line) { if (kern == "" && match(line, /bigla_[a-z0-9_]*_kernel/)) kern = substr(line, RSTART, RLENGTH)
                          if (match(line, /\[[0-9]+ hazards?\]/)) acc += substr(line, RSTART + 1, RLENGTH - 1) + 0 }
    /Race reported between/ { flush(); hdr = 1; fn = $0; sub(/^.* access at /, "", fn); sub(/\+0x.*$/, "", fn); take($0); next }
    hdr && /^=========     and / { take($0); next }
    { flush() }
    END { flush(); for (k in n) printf "%d hazards in %s (%d access pairs)\n", n[k], k, a[k] }' "$1" | sort -rn
}
cur() { sed -n "s/^$1 = \"\(.*\)\"$/\1/p" kernels/tilelang/__init__.py; }
OTHER=""
[ "$(cur FUSED_EXP_DEFAULT)" != ref ] && OTHER="$OTHER VIG_TILELANG_FUSED_EXP=ref"
[ "$(cur BWD_OUT_DEFAULT)" != ref ] && OTHER="$OTHER VIG_TILELANG_BWD_OUT=ref"
[ "$(cur FWD_VIEWS_DEFAULT)" != 0 ] && OTHER="$OTHER VIG_TILELANG_FWD_VIEWS=0"
[ -n "$(cur BWD_STATES_DEFAULT)" ] && OTHER="$OTHER VIG_TILELANG_BWD_STATES="
[ -z "$OTHER" ] && OTHER="VIG_TILELANG_FUSED_EXP=pairs VIG_TILELANG_BWD_OUT=v2"
OTHER9=""  # session 9's switches, if flipped: their start values
[ -n "$(cur BWD_SEG_DEFAULT)" ] && OTHER9="$OTHER9 VIG_TILELANG_BWD_SEG="
[ "$(cur BWD_VIEWS_DEFAULT)" = 2 ] && OTHER9="$OTHER9 VIG_TILELANG_BWD_VIEWS=1"
[ -n "$OTHER9" ] && OTHER="$OTHER9"
OTHER10=""  # session 10's flips (SEG_L at its start, SEG_SAVE if proven): the previous defaults are session 9's
[ "$(cur SEG_L_DEFAULT)" != 224 ] && OTHER10="$OTHER10 VIG_TILELANG_SEG_L=224"
[ "$(cur SEG_SAVE_DEFAULT)" = 1 ] && OTHER10="$OTHER10 VIG_TILELANG_SEG_SAVE=0"
[ "$(cur SCAN_VEC_DEFAULT)" = 1 ] && OTHER10="$OTHER10 VIG_TILELANG_SCAN_VEC=0"
[ "$(cur SEGW_DEFAULT)" = 1 ] && OTHER10="$OTHER10 VIG_TILELANG_SEGW=0"
[ -n "$OTHER10" ] && OTHER="$OTHER10"
[ "$(cur FWD_TILE_DEFAULT)" = 1 ] && OTHER="VIG_TILELANG_FWD_TILE=0"  # round 5's switch, if flipped: the previous forward
[ "$(cur FTZ_DEFAULT)" = 1 ] && OTHER="VIG_TILELANG_FTZ=0"  # session 11's compile option, if flipped: the previous build
case "$(cur FWD_TILE_DEFAULT)" in 0|1) TILE2="";; *) OTHER="VIG_TILELANG_FWD_TILE=1"; TILE2=2;; esac  # session 16's, if flipped
[ -n "$(cur SAVE224_DEFAULT)" ] && [ "$(cur SAVE224_DEFAULT)" != 0 ] && OTHER="VIG_TILELANG_SAVE224=0"  # session 19's, if flipped: the backward recomputing both sides
SS="VIG_TILELANG_SEG_SAVE=1 VIG_TILELANG_SCAN_VEC=1 VIG_TILELANG_SEG_L=128 VIG_TILELANG_BWD_SEG=128"  # S10
W="VIG_TILELANG_SEGW=1 VIG_TILELANG_SEG_L=128"  # round 2, alone
SSW="$SS VIG_TILELANG_SEGW=1"  # S10W
mkdir -p /tmp/tl-w /tmp/tl-ssw
{
echo "== tilelang FINAL=$FINAL RACE=$RACE MID_PHASE=${MID_PHASE:-both} $(date -u +%H:%M:%S) $(git log -1 --format=%h 2>/dev/null) defaults: $(grep -h '^LOWMEM_DEFAULT\|^FWD_DEFAULT\|^BWD_DEFAULT\|^FUSED_EXP_DEFAULT\|^BWD_OUT_DEFAULT\|^FWD_VIEWS_DEFAULT\|^BWD_STATES_DEFAULT\|^BWD_VIEWS_DEFAULT\|^SEG_L_DEFAULT\|^BWD_SEG_DEFAULT\|^SEG_SAVE_DEFAULT\|^SEGR_KIND\|^SCAN_VEC_DEFAULT\|^SEGW_DEFAULT\|^SEGW_KIND' kernels/tilelang/__init__.py | tr '\n' ' ')"
echo "cache: $(ls "$TILELANG_CACHE_DIR"/0.1.15/linux-x86_64/kernels 2>/dev/null | wc -l) entries"
if [ -d .scratch/tlcache-s10/0.1.15 ]; then
  mkdir -p "$TILELANG_CACHE_DIR/0.1.15/linux-x86_64/kernels"
  cp -rn .scratch/tlcache-s10/0.1.15/linux-x86_64/kernels/* "$TILELANG_CACHE_DIR/0.1.15/linux-x86_64/kernels/"
  echo "merged .scratch/tlcache-s10: $(ls "$TILELANG_CACHE_DIR"/0.1.15/linux-x86_64/kernels | wc -l) entries"
fi
miss=0; for h in ac88e1de ea5022c3 7a017804 9c36c87b; do  # bwd_segr:m6:g128, bwd_segr:g128, bwd_segr:m4:g128, fwd_scan:v1
  ls -d "$TILELANG_CACHE_DIR"/0.1.15/linux-x86_64/kernels/$h* >/dev/null 2>&1 || miss=$(( miss + 1 )); done
echo "session 10 cache entries missing: $miss of 4 (missing ones compile on first use, ~5-10 s each)"
if [ -d .scratch/tlcache-s10b/0.1.15 ]; then
  mkdir -p "$TILELANG_CACHE_DIR/0.1.15/linux-x86_64/kernels"
  cp -rn .scratch/tlcache-s10b/0.1.15/linux-x86_64/kernels/* "$TILELANG_CACHE_DIR/0.1.15/linux-x86_64/kernels/"
  echo "merged .scratch/tlcache-s10b: $(ls "$TILELANG_CACHE_DIR"/0.1.15/linux-x86_64/kernels | wc -l) entries"
fi
miss=0; for h in 7cf5fc19 7020606b 411209ed; do  # fwd_segw:m6:g128, fwd_segw:m4:g128, fwd_segw:m6
  ls -d "$TILELANG_CACHE_DIR"/0.1.15/linux-x86_64/kernels/$h* >/dev/null 2>&1 || miss=$(( miss + 1 )); done
echo "session 10 round 2 cache entries missing: $miss of 3 (missing ones compile on first use, ~7 s each)"
if [ "$FINAL" = 1 ] && [ "$RACE" != 1 ] && [ -d .scratch/tlcache-s9d/0.1.15 ]; then  # the :r1 twins (racecheck below)
  mkdir -p "$TILELANG_CACHE_DIR/0.1.15/linux-x86_64/kernels"
  cp -rn .scratch/tlcache-s9d/0.1.15/linux-x86_64/kernels/* "$TILELANG_CACHE_DIR/0.1.15/linux-x86_64/kernels/"
  echo "merged .scratch/tlcache-s9d (:r1 twins): $(ls "$TILELANG_CACHE_DIR"/0.1.15/linux-x86_64/kernels | wc -l) entries"
fi
if [ "$RACE" = 1 ]; then
  RF="VIG_TILELANG_RACEFIX=1"
  mkdir -p /tmp/tl-rf
  if [ -d .scratch/tlcache-s9d/0.1.15 ]; then
    mkdir -p "$TILELANG_CACHE_DIR/0.1.15/linux-x86_64/kernels"
    cp -rn .scratch/tlcache-s9d/0.1.15/linux-x86_64/kernels/* "$TILELANG_CACHE_DIR/0.1.15/linux-x86_64/kernels/"
    echo "merged .scratch/tlcache-s9d: $(ls "$TILELANG_CACHE_DIR"/0.1.15/linux-x86_64/kernels | wc -l) entries"
  fi
  # the seven :r1 entries of .scratch/tlcache-s9d (hash prefixes); all present: no warm-up process (~15 s)
  miss=0; for h in 4e71c2a1 540e7f4c 59e85720 5dc0a83a af8e3b04 be4c2ef0 f7307ebd; do
    ls -d "$TILELANG_CACHE_DIR"/0.1.15/linux-x86_64/kernels/$h* >/dev/null 2>&1 || miss=$(( miss + 1 )); done
  echo "== 0 :r1 cache entries missing: $miss of 7 (any: warm-up compiles them, ~10 s each) ($SECONDS s)"
  [ "$miss" -gt 0 ] && timeout $(lim 60) python -c "
import time
from vig_kernels.tilelang import compile_kernel
for k in ('fwd_fused:s2:m3:x5:r1', 'fwd_fused_seg:s2:m3:x4:r1', 'fwd_fused_seg:s2:m3:x4:g128:r1', 'bwd_out2:t256:x4:s2:w1:r1',
          'fwd_fused:m3:x5:r1', 'fwd_fused_seg:m3:x4:r1', 'bwd_out2:t256:x4:w1:r1'):
    t = time.perf_counter(); compile_kernel(k, 32, 64, 'bfloat16', 'sm_90a'); print(f'{k}: {time.perf_counter() - t:.1f} s', flush=True)
" 2>&1 | grep -v Warning | tag warm
  echo "== 1 side by side: parity defaults+RACEFIX=1 (120) | racecheck --san RACEFIX=1 | racecheck --san-seg RACEFIX=1, then dev_rc_repro 0 1 2 | dev_racefix_same ($SECONDS s, $(left) s left)"
  T=$(lim $(( $(left) - 6 )))
  ( env $RF OUT=/tmp/tl-rf timeout $T python tools/check_backend.py tilelang --parity 2>&1 \
      | tee /tmp/tl-rf/log | grep --line-buffered -v ' ok ' | tag rf-parity ) &
  ( env $RF timeout $T compute-sanitizer --tool racecheck --print-limit 200 \
      python kernels/tilelang/dev_prof_seg.py --san > "$D/rc-san.log" 2>&1; echo "rc $?" >> "$D/rc-san.log"
    tail -3 "$D/rc-san.log" | tag "racecheck RACEFIX=1 dev_prof_seg --san" ) &
  T0=$SECONDS
  rest() { local r=$(( T0 + T - SECONDS )); echo $(( r > 1 ? r : 1 )); }
  ( : > "$D/rc-seg.log"
    for K in 1 0 2; do
      echo "===== dev_rc_repro.py $K" >> "$D/rc-seg.log"
      timeout $(rest) compute-sanitizer --tool racecheck --print-limit 200 python kernels/tilelang/dev_rc_repro.py $K \
        > /tmp/tl-rf/rep$K.log 2>&1; echo "rc $?" >> /tmp/tl-rf/rep$K.log
      cat /tmp/tl-rf/rep$K.log >> "$D/rc-seg.log"
      echo "repro rc$K: $(grep -h 'output == reference' /tmp/tl-rf/rep$K.log) | $(grep -h 'RACECHECK SUMMARY' /tmp/tl-rf/rep$K.log)" | tag racecheck-repro
    done
    echo "===== dev_prof_seg.py --san-seg, RACEFIX=1" >> "$D/rc-seg.log"
    env $RF timeout $(rest) compute-sanitizer --tool racecheck --print-limit 200 \
      python kernels/tilelang/dev_prof_seg.py --san-seg > /tmp/tl-rf/seg.log 2>&1; echo "rc $?" >> /tmp/tl-rf/seg.log
    cat /tmp/tl-rf/seg.log >> "$D/rc-seg.log"
    tail -3 /tmp/tl-rf/seg.log | tag "racecheck RACEFIX=1 dev_prof_seg --san-seg" ) &
  ( timeout $T python kernels/tilelang/dev_racefix_same.py 2>&1 | tee /tmp/tl-rf/same.log | tag "racefix vs shipped" ) &
  wait
  summ /tmp/tl-rf/log "tilelang shipped defaults + RACEFIX=1 (:r1 kinds)"
  echo "racecheck RACEFIX=1 --san: $(grep -h 'RACECHECK SUMMARY' "$D/rc-san.log" | tail -1) (none: timeout) | kernels named: $(grep -oh 'at [a-z0-9_]*_kernel' "$D/rc-san.log" | sort | uniq -c | tr '\n' ' ')"
  echo "racecheck RACEFIX=1 --san-seg: $(grep -h 'RACECHECK SUMMARY' /tmp/tl-rf/seg.log 2>/dev/null | tail -1) (none: timeout)"
  echo "bit-identity RACEFIX=1 vs shipped: $(grep '^same: ' /tmp/tl-rf/same.log | tail -1) (none: timeout or crash)"
elif [ "$FINAL" = 1 ]; then
  RCW="$D/rc-segw.log"
  echo "== 0 beside everything below: racecheck of dev_prof_seg --san-segw, VIG_TILELANG_RACEFIX=1, whole report -> $RCW ($SECONDS s)"
  ( VIG_TILELANG_RACEFIX=1 timeout $(lim $(( BUDGET - 8 ))) compute-sanitizer --tool racecheck --print-limit 10000 \
      python kernels/tilelang/dev_prof_seg.py --san-segw > "$RCW" 2>&1; echo "rc $?" >> "$RCW" ) &
  RCPID=$!
  # session 11: FWD_TILE's forward (fwd_fused:s2:m3:x5:e1, default since session 11's first call) under racecheck with
  # RACEFIX=1 (its :r1 twin, the named-barrier artifact removed): dev_same --tile --small, whole report -> $RCT
  RCT="$D/rc-tile.log"
  ( VIG_TILELANG_RACEFIX=1 timeout $(lim $(( BUDGET - 8 ))) compute-sanitizer --tool racecheck --print-limit 10000 \
      python kernels/tilelang/dev_same.py --tile$TILE2 --small > "$RCT" 2>&1; echo "rc $?" >> "$RCT" ) &
  RCTPID=$!
  # session 19: SAVE224's kernels (fwd_fused:...:a1 as its :r1 twin, bwd_adj:m6, bwd_out2's :r1 twin) under racecheck:
  # check_backend --small (one fwd+bwd per dtype at L = 65), whole report -> $RCA
  RCA="$D/rc-save224.log"
  ( VIG_TILELANG_RACEFIX=1 OUT=/tmp timeout $(lim $(( BUDGET - 8 ))) compute-sanitizer --tool racecheck --print-limit 10000 \
      python tools/check_backend.py tilelang --small > "$RCA" 2>&1; echo "rc $?" >> "$RCA" ) &
  RCAPID=$!
  echo "== 1 parity side by side: shipped defaults | previous:$OTHER ($SECONDS s)"
  T=$(lim 64)
  ( OUT=/tmp/tl-def timeout $T python tools/check_backend.py tilelang --parity 2>&1 | tee /tmp/tl-def/log | tag defaults ) &
  P1=$!
  ( env $OTHER OUT=/tmp/tl-oth timeout $T python tools/check_backend.py tilelang --parity 2>&1 | tee /tmp/tl-oth/log | tag previous ) &
  P2=$!
  wait $P1 $P2
  summ /tmp/tl-def/log "tilelang shipped defaults"
  summ /tmp/tl-oth/log "tilelang previous defaults ($OTHER)"
  echo "== 2 memcheck side by side, shipped defaults: --small | dev_prof_seg --san ($SECONDS s, $(left) s left)"
  if [ "$(left)" -gt 12 ]; then
    T=$(lim 36)
    ( OUT=/tmp timeout $T compute-sanitizer --tool memcheck python tools/check_backend.py tilelang --small 2>&1 | tail -5 | tag "memcheck --small" ) &
    M1=$!
    ( timeout $T compute-sanitizer --tool memcheck python kernels/tilelang/dev_prof_seg.py --san 2>&1 | tail -5 | tag "memcheck dev_prof_seg --san" ) &
    M2=$!
    wait $M1 $M2
  fi
  wait $RCPID
  echo "== racecheck RACEFIX=1 --san-segw ($SECONDS s): $(grep -h 'RACECHECK SUMMARY' "$RCW" | tail -1 | grep . || echo 'no SUMMARY line: timeout or crash'); $(tail -1 "$RCW")"
  grep -h '^san-segw' "$RCW" | sed 's/^/racecheck run: /'
  rcsum "$RCW" | sed 's/^/racecheck --san-segw RACEFIX=1: /'
  [ -z "$(rcsum "$RCW")" ] && echo "racecheck --san-segw RACEFIX=1: 0 hazard records in the report ($(wc -l < "$RCW") lines)"
  wait $RCTPID
  echo "== racecheck RACEFIX=1 dev_same --tile --small ($SECONDS s): $(grep -h 'RACECHECK SUMMARY' "$RCT" | tail -1 | grep . || echo 'no SUMMARY line: timeout or crash'); $(tail -1 "$RCT")"
  grep -h '^tile: \|^same: ' "$RCT" | sed 's/^/racecheck run: /'
  rcsum "$RCT" | sed 's/^/racecheck --tile RACEFIX=1: /'
  [ -z "$(rcsum "$RCT")" ] && echo "racecheck --tile RACEFIX=1: 0 hazard records in the report ($(wc -l < "$RCT") lines)"
  wait $RCAPID
  echo "== racecheck RACEFIX=1 check_backend --small ($SECONDS s): $(grep -h 'RACECHECK SUMMARY' "$RCA" | tail -1 | grep . || echo 'no SUMMARY line: timeout or crash'); $(tail -1 "$RCA")"
  rcsum "$RCA" | sed 's/^/racecheck --small RACEFIX=1: /'
  [ -z "$(rcsum "$RCA")" ] && echo "racecheck --small RACEFIX=1: 0 hazard records in the report ($(wc -l < "$RCA") lines)"
else
  # Session 16 (on trial): VIG_TILELANG_FWD_TILE=2 / 3 / 4 (fwd_fused:s2:m3:x5:e1 + :p1 loads one chunk ahead / :b1 fewer
  # barriers / :p1:b1 both; bit-identical to "1" by construction). Session 11's MID (FTZ) is in git history at d3dbdff.
  LENS=1,17,33,65,100,196,224
  mkdir -p /tmp/tl-t2 /tmp/tl-t3 /tmp/tl-t4
  if [ "${MID_PHASE:-both}" != timing ]; then
  echo "== 1 side by side: parity FWD_TILE=2 | 3 | 4 (120 each) | FWD_TILE=4 at L = $LENS (dev_parity) | dev_same --tile2 (2, 3, 4 vs 1: bit-identical expected) | memcheck FWD_TILE=4 --small, then of dev_same --tile2 --small | racecheck RACEFIX=1 of dev_same --tile2 --small, whole report ($SECONDS s)"
  T=$(lim ${MID_PAR_S:-110})
  T0=$SECONDS
  rest() { local r=$(( T0 + T - SECONDS )); echo $(( r > 1 ? r : 1 )); }
  for t in 2 3 4; do
    ( env VIG_TILELANG_FWD_TILE=$t OUT=/tmp/tl-t$t timeout $T python tools/check_backend.py tilelang --parity 2>&1 \
        | tee /tmp/tl-t$t/log | grep --line-buffered -v ' ok ' | tag t$t ) &
  done
  ( env VIG_TILELANG_FWD_TILE=4 timeout $T python kernels/tilelang/dev_parity.py $LENS 2>&1 \
      | tee /tmp/tl-t4/len.log | grep --line-buffered -v '^ok ' | tag t4-len ) &
  ( timeout $T python kernels/tilelang/dev_same.py --tile2 2>&1 | tee /tmp/tl-t4/same.log | tag same ) &
  ( env VIG_TILELANG_FWD_TILE=4 OUT=/tmp timeout $T compute-sanitizer --tool memcheck python tools/check_backend.py tilelang --small 2>&1 \
      | tee /tmp/tl-t4/mc.log | tail -3 | tag "memcheck t4 --small"
    timeout $(rest) compute-sanitizer --tool memcheck python kernels/tilelang/dev_same.py --tile2 --small 2>&1 \
      | tee /tmp/tl-t4/mcs.log | tail -3 | tag "memcheck dev_same --tile2 --small" ) &
  RCT2="$D/rc-tile2.log"
  ( VIG_TILELANG_RACEFIX=1 timeout $T compute-sanitizer --tool racecheck --print-limit 10000 \
      python kernels/tilelang/dev_same.py --tile2 --small > "$RCT2" 2>&1; echo "rc $?" >> "$RCT2" ) &
  wait
  for t in 2 3 4; do
    echo "-- worst err/bound of the bf16 cases, FWD_TILE=$t: $(grep bfloat16 /tmp/tl-t$t/log | awk '{print $2}' | sort -g | tail -1)"
    summ /tmp/tl-t$t/log "tilelang FWD_TILE=$t"
  done
  summ /tmp/tl-t4/len.log "tilelang FWD_TILE=4 at L = $LENS"
  echo "bit-identity --tile2: $(grep '^same: ' /tmp/tl-t4/same.log | tail -1) (none: timeout or crash); DIFF lines: $(grep -c '^DIFF' /tmp/tl-t4/same.log)"
  echo "memcheck FWD_TILE=4: --small $(grep -h 'ERROR SUMMARY' /tmp/tl-t4/mc.log | tail -1) | dev_same --tile2 --small $(grep -h 'ERROR SUMMARY' /tmp/tl-t4/mcs.log | tail -1) (none: timeout or crash)"
  echo "racecheck RACEFIX=1 dev_same --tile2 --small: $(grep -h 'RACECHECK SUMMARY' "$RCT2" | tail -1 | grep . || echo 'no SUMMARY line: timeout or crash'); $(tail -1 "$RCT2"); $(grep -h '^same: ' "$RCT2")"
  rcsum "$RCT2" | sed 's/^/racecheck --tile2 RACEFIX=1: /'
  [ -z "$(rcsum "$RCT2")" ] && echo "racecheck --tile2 RACEFIX=1: 0 hazard records in the report ($(wc -l < "$RCT2") lines)"
  fi
  if [ "${MID_PHASE:-both}" != parity ]; then
  [ "${MID_PHASE:-both}" = timing ] && [ -z "${MID_BOX:-}" ] && BUDGET=$(( SECONDS + 110 ))
  echo "== 2 timing, one process: dev_bench v6s+v6 (shipped, FWD_TILE=1) | /t2 | /t3 | /t4 | v6s+v6 (the base again, after) at ViG-S/B/T@224 ($SECONDS s, $(left) s left)"
  [ "$(left)" -gt 20 ] && timeout $(( $(left) - 3 )) python kernels/tilelang/dev_bench.py --versions v6s+v6,v6s+v6/t2,v6s+v6/t3,v6s+v6/t4,v6s+v6 \
      ViG-S@224 ViG-B@224 ViG-T@224 | grep --line-buffered -v ' skipped: '
  fi
fi
echo "done ($SECONDS s)"
} 2>&1 | tee -a "$D/tilelang.log"
