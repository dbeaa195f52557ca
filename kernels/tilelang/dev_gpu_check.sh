#!/usr/bin/env bash
# TileLang GPU check, session 8 (run by the lead from the repo root inside a device call that
# already sourced tools/device-setup.sh; $OUT set). Writes only $OUT/tilelang/tilelang.log (tee'd
# line by line: a timeout still leaves evidence). Kernels load from the carried .tilelang-cache
# with session 8's six entries merged in (from .scratch/tlcache-s8: bwd_out2:t256:x4:w1,
# bwd_states:m3:w1, fwd_segst:s2, fwd_fused_seg:s2:m3:x4, bwd_states:m3:s2:w1,
# bwd_out2:t256:x4:s2:w1; bf16); a missing entry compiles on the GPU (~15-30 s each, first call).
#
# Round 2 (on trial, default unchanged): VIG_TILELANG_FWD_VIEWS=2 -> the v6s forward at L > 224
#   (bf16, head dims 32 / 64, FUSED_EXP ref2 / ref3) reads q, k, v and the gates as int64 views:
#   fwd_segst:s2 + fwd_fused_seg:s2:m3:x4 (fwd_fused:s2's loads; everything after the loads as the
#   shipped fwd_segst + fwd_fused_seg:m3:x4, so bit-identical outputs), no five contiguous copies
#   (ViG-T@1024: 100.7 MB moved per forward, S@1024 201.3 MB). L <= 224: as FWD_VIEWS=1.
# Round 2 (on trial, default "0"): VIG_TILELANG_BWD_VIEWS=1 (with BWD_OUT=ref2 BWD_STATES=m3) -> the
#   bf16 LOWMEM backward at L <= 224 reads q, k, v, the gates and dO as int64 views:
#   bwd_states:m3:s2:w1 + bwd_out2:t256:x4:s2:w1 (round 1's kinds with fwd_fused:s2's loads: the same
#   values), no contiguous copies of the saved views (77 / 154 / 308 MB moved per backward at T / S / B@224).
#
# New in session 8 (on trial, defaults unchanged; both the bf16 LOWMEM backward at head dims 32 / 64):
#   VIG_TILELANG_BWD_OUT=ref2 -> bwd_out2:t256:x4:w1: "ref" (x3) at three blocks per SM instead of
#     two (__launch_bounds__(256, 3): 80 registers, 71.0 KB shared instead of 89.8): parallel
#     plain-fp32 gate cumsums, no decay / compensation tiles (the lane pass derives exp(g) from the
#     cumsums), the boundary terms E from the shared state tiles (no second WS / WS2 read), the lane
#     pass's dk part after dq's gradient, into dq's tiles. Every L (also 1024 px: the v5 backward).
#   VIG_TILELANG_BWD_STATES=m3 -> bwd_states:m3:w1 (L <= 224): three blocks per SM (77 registers,
#     48 KB shared; shipped: 126 / 64 KB, two): the tensor cores accumulate each chunk's
#     contribution straight into the decayed state fragments, __expf, parallel plain-fp32 cumsums.
# Shipped defaults at the start of session 8: FUSED_EXP "ref", BWD_OUT "ref", FWD_VIEWS "0",
#   BWD_STATES "". Previous defaults (FINAL): every one of those four the lead has flipped since,
#   set back to its session-8 start value; if none was flipped, session 6's: FUSED_EXP=pairs BWD_OUT=v2.
#
# FINAL=0 (MID, <= 170 s; MID_PHASE=parity | timing | both (default), MID_BOX overrides the box):
#   parity phase (<= MID_PAR_S, default 110 s), eight processes side by side: the contract's 120
#     cases (check_backend --parity; L = 300 and 4096 run the segments) of NEW = BWD_OUT=ref2
#     BWD_STATES=m3 | of ALL = NEW + FWD_VIEWS=2 + BWD_VIEWS=1 | NEW at L = 17, 31, 33, 224, 225, 449 |
#     ALL at L = 225, 449, 1000, 17, 31, 33, 224 (dev_parity) | memcheck --small of NEW | of ALL (the
#     backward on views at L = 65) | dev_same.py --seg then --bwd (FWD_VIEWS=2 vs 1 at L > 224, BWD_VIEWS=1
#     vs unset with NEW at L <= 224: bit-identical outputs / gradients on views, contiguous, misaligned,
#     strong gates) | memcheck of dev_same.py --seg --small (L = 225, 449: --small's L = 65 never reaches
#     the segments, and no knob forces them: their length is compiled in); "parity: N/M label" and
#     "same: N/M" lines. (Round 1's separate ref2 / m3 parities and its racecheck are dropped to keep
#     the box: NEW covers both kinds.)
#   timing phase (one process each, <= 75 s): dev_bench v6s+v6 | /b4/q3 (NEW) | /b4/q3/r1 (+ BWD_VIEWS=1)
#     | /v2, five shapes, eager and graphed fwd and fwd+bwd (/v2 skipped at L <= 224: = /v1,
#     the default; /r1 skipped at L > 224: the v6 backward only);
#     then dev_prof_bwd.py: per-kernel times of the four backward kernels at ViG-S/T/B@224 with
#     the bench's gates and with 16x stronger (model) gates, and the variants' relative differences.
# FINAL=1 (<= 106 s, no timing):
#   1. parity side by side (<= 64 s): the shipped defaults | the previous defaults;
#   2. compute-sanitizer memcheck on --small (L = 65), shipped defaults (<= 36 s).
set -u
export TILELANG_CACHE_DIR=${TILELANG_CACHE_DIR:-$PWD/.tilelang-cache}
unset VIG_TILELANG_FWD VIG_TILELANG_BWD VIG_TILELANG_LOWMEM VIG_TILELANG_STRIDED VIG_TILELANG_BWD_OUT \
      VIG_TILELANG_BWD_OUT_THREADS VIG_TILELANG_GRAD_EMPTY VIG_TILELANG_FUSED_DIAG VIG_TILELANG_BWD_C \
      VIG_TILELANG_FUSED_THREADS VIG_TILELANG_FUSED_EXP VIG_TILELANG_FWD_VIEWS VIG_TILELANG_BWD_STATES \
      VIG_TILELANG_BWD_VIEWS
D=${OUT:-/tmp}/tilelang
mkdir -p "$D" /tmp/tl-def /tmp/tl-oth /tmp/tl-bq /tmp/tl-all /tmp/tl-mc /tmp/tl-mc2 /tmp/tl-mc3
FINAL=${FINAL:-0}
if [ "$FINAL" = 1 ]; then BUDGET=106; else BUDGET=168; fi; BUDGET=${MID_BOX:-$BUDGET}
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
NEW="VIG_TILELANG_BWD_OUT=ref2 VIG_TILELANG_BWD_STATES=m3"
ALL="$NEW VIG_TILELANG_FWD_VIEWS=2 VIG_TILELANG_BWD_VIEWS=1"
{
echo "== tilelang FINAL=$FINAL MID_PHASE=${MID_PHASE:-both} $(date -u +%H:%M:%S) $(git log -1 --format=%h 2>/dev/null) defaults: $(grep -h '^LOWMEM_DEFAULT\|^FWD_DEFAULT\|^BWD_DEFAULT\|^FUSED_EXP_DEFAULT\|^BWD_OUT_DEFAULT\|^FWD_VIEWS_DEFAULT\|^BWD_STATES_DEFAULT' kernels/tilelang/__init__.py | tr '\n' ' ')"
echo "cache: $(ls "$TILELANG_CACHE_DIR"/0.1.15/linux-x86_64/kernels 2>/dev/null | wc -l) entries"
if [ "$FINAL" = 1 ]; then
  echo "== 1 parity side by side: shipped defaults | previous:$OTHER ($SECONDS s)"
  T=$(lim 64)
  ( OUT=/tmp/tl-def timeout $T python tools/check_backend.py tilelang --parity 2>&1 | tee /tmp/tl-def/log | tag defaults ) &
  ( env $OTHER OUT=/tmp/tl-oth timeout $T python tools/check_backend.py tilelang --parity 2>&1 | tee /tmp/tl-oth/log | tag previous ) &
  wait
  summ /tmp/tl-def/log "tilelang shipped defaults"
  summ /tmp/tl-oth/log "tilelang previous defaults ($OTHER)"
  echo "== 2 memcheck --small, shipped defaults ($SECONDS s, $(left) s left)"
  [ "$(left)" -gt 12 ] && OUT=/tmp timeout $(lim 36) compute-sanitizer --tool memcheck python tools/check_backend.py tilelang --small 2>&1 | tail -5
else
  if [ "${MID_PHASE:-both}" != timing ]; then
  echo "== 1 side by side: parity NEW=($NEW) | ALL=(NEW + FWD_VIEWS=2 BWD_VIEWS=1) (120 each) | both at edge lengths (ALL +1000) | memcheck --small NEW, ALL | dev_same --seg, --bwd | memcheck dev_same --seg --small ($SECONDS s)"
  T=$(lim ${MID_PAR_S:-110}); PEND=$(( SECONDS + T ))
  ( env $NEW OUT=/tmp/tl-bq timeout $T python tools/check_backend.py tilelang --parity 2>&1 \
      | tee /tmp/tl-bq/log | grep --line-buffered -v ' ok ' | tag b4q3 ) &
  ( env $ALL OUT=/tmp/tl-all timeout $T python tools/check_backend.py tilelang --parity 2>&1 \
      | tee /tmp/tl-all/log | grep --line-buffered -v ' ok ' | tag all ) &
  ( env $NEW timeout $T python kernels/tilelang/dev_parity.py 17,31,33,224,225,449 2>&1 \
      | tee /tmp/tl-bq/edge.log | grep --line-buffered -v '^ok ' | tag b4q3-edge ) &
  ( env $ALL timeout $T python kernels/tilelang/dev_parity.py 225,449,1000,17,31,33,224 2>&1 \
      | tee /tmp/tl-all/edge.log | grep --line-buffered -v '^ok ' | tag all-edge ) &
  ( env $NEW OUT=/tmp/tl-mc timeout $T compute-sanitizer --tool memcheck \
      python tools/check_backend.py tilelang --small 2>&1 | tail -5 | tag "memcheck NEW" ) &
  ( env $ALL OUT=/tmp/tl-mc3 timeout $T compute-sanitizer --tool memcheck \
      python tools/check_backend.py tilelang --small 2>&1 | tail -5 | tag "memcheck ALL" ) &
  ( timeout $T python kernels/tilelang/dev_same.py --seg 2>&1 | tee /tmp/tl-all/same.log | tag same-seg
    timeout $(( PEND - SECONDS > 1 ? PEND - SECONDS : 1 )) python kernels/tilelang/dev_same.py --bwd 2>&1 | tee /tmp/tl-all/same-bwd.log | tag same-bwd ) &
  ( OUT=/tmp/tl-mc2 timeout $T compute-sanitizer --tool memcheck \
      python kernels/tilelang/dev_same.py --seg --small 2>&1 | tail -5 | tag "memcheck dev_same --seg --small" ) &
  wait
  for E in bq all; do
    echo "-- worst err/bound of the bf16 cases, $E: $(grep bfloat16 /tmp/tl-$E/log | awk '{print $2}' | sort -g | tail -1)"
  done
  summ /tmp/tl-bq/log "tilelang NEW: BWD_OUT=ref2 BWD_STATES=m3 (bwd_out2:t256:x4:w1, bwd_states:m3:w1)"
  summ /tmp/tl-all/log "tilelang ALL: NEW + FWD_VIEWS=2 BWD_VIEWS=1 (+ fwd_segst:s2, fwd_fused_seg:s2:m3:x4, bwd_states:m3:s2:w1, bwd_out2:t256:x4:s2:w1)"
  summ /tmp/tl-all/edge.log "tilelang ALL edge lengths 225,449,1000,17,31,33,224"
  echo "$(grep -h '^same: ' /tmp/tl-all/same.log || echo 'same: ?/? (no summary: timeout or crash)') FWD_VIEWS=2 vs 1 at L > 224 (dev_same --seg)"
  echo "$(grep -h '^same: ' /tmp/tl-all/same-bwd.log || echo 'same: ?/? (no summary: timeout or crash)') BWD_VIEWS=1 vs unset, with NEW, L <= 224 (dev_same --bwd)"
  summ /tmp/tl-bq/edge.log "tilelang NEW edge lengths 17,31,33,224,225,449"
  fi
  if [ "${MID_PHASE:-both}" != parity ]; then
  [ "${MID_PHASE:-both}" = timing ] && [ -z "${MID_BOX:-}" ] && BUDGET=$(( SECONDS + 75 ))
  echo "== 2 timing, one process each: dev_bench v6s+v6 | /b4/q3 (BWD_OUT=ref2 BWD_STATES=m3) | /b4/q3/r1 (+BWD_VIEWS=1, 224 px) | /v2 (FWD_VIEWS=2, 1024 px); dev_prof_bwd ($SECONDS s, $(left) s left)"
  [ "$(left)" -gt 20 ] && timeout $(lim 52) python kernels/tilelang/dev_bench.py --versions v6s+v6,v6s+v6/b4/q3,v6s+v6/b4/q3/r1,v6s+v6/v2 \
      ViG-S@224 ViG-T@224 ViG-B@224 ViG-T@1024 ViG-S@1024
  [ "$(left)" -gt 12 ] && timeout $(lim 30) python kernels/tilelang/dev_prof_bwd.py ViG-S@224 ViG-T@224 ViG-B@224
  fi
fi
echo "done ($SECONDS s)"
} 2>&1 | tee -a "$D/tilelang.log"
