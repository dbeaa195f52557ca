#!/usr/bin/env bash
# TileLang GPU check, session 9 (run by the lead from the repo root inside a device call that
# already sourced tools/device-setup.sh; $OUT set). Writes only $OUT/tilelang/tilelang.log (tee'd
# line by line: a timeout still leaves evidence). Kernels load from the carried .tilelang-cache
# with session 9's five entries merged in (from .scratch/tlcache-s9, bf16: fwd_segst:s2:g128,
# fwd_fused_seg:s2:m3:x4:g128, fwd_segst:s2:m3:g128 (removed since), bwd_segst:g128, bwd_states_seg:g128) and round 2's one
# (from .scratch/tlcache-s9b: bwd_states:s2:w1); a missing entry compiles on the GPU (~5-20 s each, first call).
#
# Removed in session 9's prune (no gain / slower on the GPU, results/2026-12-06d-h100/; git history at fdf897e):
#   VIG_TILELANG_SEGST=m3 (fwd_segst:s2:m3[:g128]) and VIG_TILELANG_FWD_WALK=2 (fwd_walk2:s2:m2:x5, dev_walk2.py);
#   their parity / timing lines are gone, ALL9 is SEG_L=128 + BWD_SEG=128.
# New in session 9 (on trial, defaults unchanged; both only at L > 224, i.e. the 1024 px shapes;
# at L <= 224 the same kernels run as without):
#   VIG_TILELANG_SEG_L=128 -> the FWD_VIEWS=2 segment forward on 128-token segments (fwd_segst:s2:g128 +
#     fwd_fused_seg:s2:m3:x4:g128: the same code, 4 chunks per block instead of 7): ViG-T@1024 768 blocks
#     instead of 456 (fwd_fused_seg holds 396 at 3 per SM: two rounds of 7 chunks -> two of 4).
#   VIG_TILELANG_BWD_SEG=128 -> the backward's states at L > 224 on 128-token segments, on the int64 views:
#     bwd_segst:g128 (segment totals) -> one fwd_scan over both workspaces -> bwd_states_seg:g128 (the bf16
#     states entering each chunk) -> bwd_out2:t256:x4:s2:w1, instead of five contiguous copies + fwd_st ->
#     fwd_scan:w1 -> bwd_st -> fwd_scan:w1 -> bwd_out2:t256:x4:w1.
#   None is bit-identical to the shipped path (summation order): parity decides.
# Session 9, round 2 (on trial, default unchanged; L <= 224 only, the 224 px shapes):
#   VIG_TILELANG_BWD_VIEWS=2 -> BWD_VIEWS=1, and with the w1 states (BWD_STATES="", the default since session 9's
#     first call) too: bwd_states:s2:w1 (bwd_states:w1 with bwd_states:m3:s2:w1's int64-view loads) +
#     bwd_out2:t256:x4:s2:w1 (shipped kind) instead of five contiguous copies (77 / 154 / 308 MB read + written
#     at ViG-T / S / B@224) + bwd_states:w1 + bwd_out2:t256:x4:w1. Same arithmetic, only the loads differ:
#     bit-identical gradients expected (dev_same --bwd2). Its cache entry (one, bf16) is in .scratch/tlcache-s9b.
#   R2 rides in the G128 parity run (G128R2): G128 changes the forward at L > 224 only, R2 the backward at
#     L <= 224 only, so no case runs both new paths (a failing case's L says which); no extra 120-case process.
# ALL9 = the two together (SEG_L=128 + BWD_SEG=128).
# Previous defaults (FINAL): the session-9 switches the lead has flipped since, set back (SEG_L=224,
#   BWD_SEG=); if none was flipped, session 8's start values (FUSED_EXP=ref BWD_OUT=ref FWD_VIEWS=0
#   BWD_STATES=), as in session 8's script.
#
# FINAL=0 (MID, <= 170 s; MID_PHASE=parity | timing | both (default), MID_BOX overrides the box):
#   parity phase (<= MID_PAR_S, default 110 s), six processes side by side: the contract's 120 cases
#     (check_backend --parity; L = 300 and 4096 run the segments) of ALL9 | of G128 | ALL9 at L = 225, 257,
#     383, 449, 1000, 2049 (dev_parity, 90 cases) | compute-sanitizer memcheck of dev_prof_seg.py --san with
#     ALL9 (one fwd+bwd at L = 225 and 449: check_backend --small's L = 65 never reaches the segments) |
#     racecheck of dev_prof_seg.py --san-seg (the four new kernels + fwd_scan once each at L = 449, nothing
#     else: racecheck of the whole fwd+bwd would not fit the box) | dev_same.py --seg with ALL9 (the forward's max |o - o_shipped| at L = 225, 449,
#     1000, ViG-T@1024: "DIFF" lines expected, another summation order; a sanity check of the size)
#     | dev_same.py --bwd2 (BWD_VIEWS=2 vs BWD_VIEWS=0 with the w1 states: 9 cases, bit-identical expected)
#     | compute-sanitizer memcheck of dev_same.py --bwd2 --small (both paths at L = 65, 196).
#     G128 runs as G128R2 (G128 + BWD_VIEWS=2, see above).
#   timing phase (one process each, <= 70 s): dev_bench v6s+v6 | /g128 | /g128/z128 at
#     ViG-T@1024 and ViG-S@1024 (the 224 px shapes run the same kernels with or without: skipped there), and
#     in the same process v6s+v6 | /r2 (BWD_VIEWS=2) | /q3 (BWD_STATES=m3 with BWD_VIEWS=1: session 8's views
#     path, for reference) at ViG-T/S/B@224 (skipped at 1024 px); eager and graphed fwd and fwd+bwd
#     (box 44 -> 50 s for the 9 more rows, ~1.3 s each); then dev_prof_seg.py: per-kernel times of the segment forward (224, 128),
#     of the shipped backward at L = 4096 (copies, fwd_st, fwd_scan:w1, bwd_st, bwd_out2) and of
#     BWD_SEG's states (bwd_segst, fwd_scan, bwd_states_seg) with their distance to the v5 states.
# FINAL=1 (<= 106 s, no timing):
#   1. parity side by side (<= 64 s): the shipped defaults | the previous defaults (if the lead flipped
#      BWD_VIEWS_DEFAULT to "2": BWD_VIEWS=1 among them);
#   2. compute-sanitizer memcheck (<= 36 s, side by side), shipped defaults: --small (L = 65) |
#      dev_prof_seg.py --san (fwd+bwd at L = 225, 449: the segment paths).
# RACE=1 (session 9 round 4, issue #5; FINAL-like, <= 120 s, RACE_BOX overrides; no timing): the racecheck
#   hazards of fwd_fused_seg / bwd_out2 (results/2026-12-06d-h100/last/rc/) come from a named barrier
#   (bar.sync 3, 128) that TileLang puts in warps 4-7 only (_cumsums_par's gb half): an artifact of racecheck's
#   barrier accounting (NOTES.md). VIG_TILELANG_RACEFIX=1 compiles the ":r1" twins (a block-wide __syncthreads
#   instead; same arithmetic). Cache entries (6, bf16) in .scratch/tlcache-s9d, merged into
#   $TILELANG_CACHE_DIR here when present. Side by side: parity of the shipped defaults + RACEFIX=1 (120) |
#   racecheck --print-limit 200 of dev_prof_seg.py --san with RACEFIX=1 (whole report: $OUT/tilelang/rc-san.log) |
#   racecheck of dev_rc_repro.py 1, 0, 2 (a 40-line race-free CUDA kernel: TileLang's unbalanced named barrier |
#   none | balanced ones), then of dev_prof_seg.py --san-seg with RACEFIX=1 (whole reports: rc-seg.log) |
#   dev_racefix_same.py (RACEFIX=1 vs shipped, o + 5 gradients, 8 cases: bit-identical expected).
set -u
export TILELANG_CACHE_DIR=${TILELANG_CACHE_DIR:-$PWD/.tilelang-cache}
unset VIG_TILELANG_FWD VIG_TILELANG_BWD VIG_TILELANG_LOWMEM VIG_TILELANG_STRIDED VIG_TILELANG_BWD_OUT \
      VIG_TILELANG_BWD_OUT_THREADS VIG_TILELANG_GRAD_EMPTY VIG_TILELANG_FUSED_DIAG VIG_TILELANG_BWD_C \
      VIG_TILELANG_FUSED_THREADS VIG_TILELANG_FUSED_EXP VIG_TILELANG_FWD_VIEWS VIG_TILELANG_BWD_STATES \
      VIG_TILELANG_BWD_VIEWS VIG_TILELANG_SEG_L VIG_TILELANG_SEGST VIG_TILELANG_BWD_SEG VIG_TILELANG_FWD_WALK \
      VIG_TILELANG_RACEFIX
D=${OUT:-/tmp}/tilelang
mkdir -p "$D" /tmp/tl-def /tmp/tl-oth /tmp/tl-a9 /tmp/tl-g /tmp/tl-r2
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
cur() { sed -n "s/^$1 = \"\(.*\)\"$/\1/p" kernels/tilelang/__init__.py; }
OTHER=""
[ "$(cur FUSED_EXP_DEFAULT)" != ref ] && OTHER="$OTHER VIG_TILELANG_FUSED_EXP=ref"
[ "$(cur BWD_OUT_DEFAULT)" != ref ] && OTHER="$OTHER VIG_TILELANG_BWD_OUT=ref"
[ "$(cur FWD_VIEWS_DEFAULT)" != 0 ] && OTHER="$OTHER VIG_TILELANG_FWD_VIEWS=0"
[ -n "$(cur BWD_STATES_DEFAULT)" ] && OTHER="$OTHER VIG_TILELANG_BWD_STATES="
[ -z "$OTHER" ] && OTHER="VIG_TILELANG_FUSED_EXP=pairs VIG_TILELANG_BWD_OUT=v2"
OTHER9=""  # session 9's switches, if the lead has flipped them: the previous defaults are their start values
[ "$(cur SEG_L_DEFAULT)" != 224 ] && OTHER9="$OTHER9 VIG_TILELANG_SEG_L=224"
[ -n "$(cur BWD_SEG_DEFAULT)" ] && OTHER9="$OTHER9 VIG_TILELANG_BWD_SEG="
[ "$(cur BWD_VIEWS_DEFAULT)" = 2 ] && OTHER9="$OTHER9 VIG_TILELANG_BWD_VIEWS=1"  # round 2's switch
[ -n "$OTHER9" ] && OTHER="$OTHER9"
ALL9="VIG_TILELANG_SEG_L=128 VIG_TILELANG_BWD_SEG=128"
G128="VIG_TILELANG_SEG_L=128"
R2="VIG_TILELANG_BWD_VIEWS=2"
{
echo "== tilelang FINAL=$FINAL RACE=$RACE MID_PHASE=${MID_PHASE:-both} $(date -u +%H:%M:%S) $(git log -1 --format=%h 2>/dev/null) defaults: $(grep -h '^LOWMEM_DEFAULT\|^FWD_DEFAULT\|^BWD_DEFAULT\|^FUSED_EXP_DEFAULT\|^BWD_OUT_DEFAULT\|^FWD_VIEWS_DEFAULT\|^BWD_STATES_DEFAULT\|^BWD_VIEWS_DEFAULT\|^SEG_L_DEFAULT\|^BWD_SEG_DEFAULT' kernels/tilelang/__init__.py | tr '\n' ' ')"
echo "cache: $(ls "$TILELANG_CACHE_DIR"/0.1.15/linux-x86_64/kernels 2>/dev/null | wc -l) entries"
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
  echo "== 1 parity side by side: shipped defaults | previous:$OTHER ($SECONDS s)"
  T=$(lim 64)
  ( OUT=/tmp/tl-def timeout $T python tools/check_backend.py tilelang --parity 2>&1 | tee /tmp/tl-def/log | tag defaults ) &
  ( env $OTHER OUT=/tmp/tl-oth timeout $T python tools/check_backend.py tilelang --parity 2>&1 | tee /tmp/tl-oth/log | tag previous ) &
  wait
  summ /tmp/tl-def/log "tilelang shipped defaults"
  summ /tmp/tl-oth/log "tilelang previous defaults ($OTHER)"
  echo "== 2 memcheck side by side, shipped defaults: --small | dev_prof_seg --san ($SECONDS s, $(left) s left)"
  if [ "$(left)" -gt 12 ]; then
    T=$(lim 36)
    ( OUT=/tmp timeout $T compute-sanitizer --tool memcheck python tools/check_backend.py tilelang --small 2>&1 | tail -5 | tag "memcheck --small" ) &
    ( timeout $T compute-sanitizer --tool memcheck python kernels/tilelang/dev_prof_seg.py --san 2>&1 | tail -5 | tag "memcheck dev_prof_seg --san" ) &
    wait
  fi
else
  if [ "${MID_PHASE:-both}" != timing ]; then
  echo "== 1 side by side: parity ALL9=($ALL9) | G128R2=($G128 $R2) (120 each) | ALL9 at edge lengths | memcheck dev_prof_seg --san ALL9 | racecheck --san-seg | dev_same --seg ALL9 (closeness) | dev_same --bwd2 (R2 bit-identity) | memcheck dev_same --bwd2 --small ($SECONDS s)"
  T=$(lim ${MID_PAR_S:-110})
  ( env $ALL9 OUT=/tmp/tl-a9 timeout $T python tools/check_backend.py tilelang --parity 2>&1 \
      | tee /tmp/tl-a9/log | grep --line-buffered -v ' ok ' | tag all9 ) &
  ( env $G128 $R2 OUT=/tmp/tl-g timeout $T python tools/check_backend.py tilelang --parity 2>&1 \
      | tee /tmp/tl-g/log | grep --line-buffered -v ' ok ' | tag g128r2 ) &
  ( env $ALL9 timeout $T python kernels/tilelang/dev_parity.py 225,257,383,449,1000,2049 2>&1 \
      | tee /tmp/tl-a9/edge.log | grep --line-buffered -v '^ok ' | tag all9-edge ) &
  ( env $ALL9 timeout $T compute-sanitizer --tool memcheck \
      python kernels/tilelang/dev_prof_seg.py --san 2>&1 | tail -5 | tag "memcheck ALL9 dev_prof_seg --san" ) &
  ( timeout $T compute-sanitizer --tool racecheck \
      python kernels/tilelang/dev_prof_seg.py --san-seg 2>&1 | tail -5 | tag "racecheck dev_prof_seg --san-seg" ) &
  ( env $ALL9 timeout $T python kernels/tilelang/dev_same.py --seg 2>&1 | tee /tmp/tl-a9/same.log | tag "all9 vs shipped (fwd)" ) &
  ( timeout $T python kernels/tilelang/dev_same.py --bwd2 2>&1 | tee /tmp/tl-r2/same.log | tag "r2 vs copies (bwd)" ) &
  ( timeout $T compute-sanitizer --tool memcheck python kernels/tilelang/dev_same.py --bwd2 --small 2>&1 | tail -5 \
      | tag "memcheck dev_same --bwd2 --small" ) &
  wait
  for E in a9 g; do
    echo "-- worst err/bound of the bf16 cases, $E: $(grep bfloat16 /tmp/tl-$E/log | awk '{print $2}' | sort -g | tail -1)"
  done
  summ /tmp/tl-a9/log "tilelang ALL9: SEG_L=128 BWD_SEG=128 (fwd_segst:s2:g128, fwd_fused_seg:s2:m3:x4:g128, bwd_segst:g128, bwd_states_seg:g128)"
  summ /tmp/tl-g/log "tilelang G128R2: SEG_L=128 (fwd_segst:s2:g128, fwd_fused_seg:s2:m3:x4:g128; L > 224) + BWD_VIEWS=2 (bwd_states:s2:w1 + bwd_out2:t256:x4:s2:w1; L <= 224)"
  echo "bit-identity R2 (BWD_VIEWS=2) vs BWD_VIEWS=0, w1 states: $(grep '^same: ' /tmp/tl-r2/same.log | tail -1) (dev_same --bwd2; none: timeout or crash)"
  summ /tmp/tl-a9/edge.log "tilelang ALL9 edge lengths 225,257,383,449,1000,2049"
  fi
  if [ "${MID_PHASE:-both}" != parity ]; then
  [ "${MID_PHASE:-both}" = timing ] && [ -z "${MID_BOX:-}" ] && BUDGET=$(( SECONDS + 70 ))
  echo "== 2 timing, one process each: dev_bench v6s+v6 | /g128 (SEG_L=128) | /g128/z128 (+BWD_SEG=128) at 1024 px, v6s+v6 | /r2 (BWD_VIEWS=2) | /q3 (BWD_STATES=m3, views) at 224 px; dev_prof_seg ($SECONDS s, $(left) s left)"
  [ "$(left)" -gt 20 ] && timeout $(lim 54) python kernels/tilelang/dev_bench.py --versions v6s+v6,v6s+v6/r2,v6s+v6/q3,v6s+v6/g128,v6s+v6/g128/z128 \
      ViG-T@1024 ViG-S@1024 ViG-T@224 ViG-S@224 ViG-B@224 | grep --line-buffered -v ' skipped: ' 
  [ "$(left)" -gt 10 ] && timeout $(lim 26) python kernels/tilelang/dev_prof_seg.py ViG-T@1024 ViG-S@1024
  fi
fi
echo "done ($SECONDS s)"
} 2>&1 | tee -a "$D/tilelang.log"
