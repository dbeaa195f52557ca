#!/usr/bin/env bash
# TileLang GPU check, session 6 (run by the lead from the repo root inside a device call that
# already sourced tools/device-setup.sh; $OUT set). Writes only $OUT/tilelang/tilelang.log (tee'd
# line by line: a timeout still leaves evidence). Kernels load from the carried .tilelang-cache
# (37 entries; session 6 added fwd_fused[_seg]:m3:x3 and fwd_fused[_seg]:m3:x4, bf16; round 2
# bwd_out2:t256:x3:w1 and bwd_out2:t256:x3).
#
# New in session 6 (on trial): VIG_TILELANG_FUSED_EXP=ref -> bf16 fwd_fused:m3:x3 (L <= 224) and
#   fwd_fused_seg:m3:x3 (L > 224 under the v6s forward): the diagonal 16 x 16 sub-blocks of the
#   intra-chunk matrix on the tensor cores through a per-channel midpoint of the chunk's cumsum
#   (x2's exact pair loop only for channels whose cumsum spreads > REF_THR = 32 over the chunk);
#   VIG_TILELANG_FUSED_EXP=ref2 -> the :x4 kinds: x3 and the gate cumsums by all 256 threads
#   (plain fp32 sums, part totals by shuffles) instead of 64 / 32 threads' serial TwoSum scans.
# Round 2 (on trial): VIG_TILELANG_BWD_OUT=ref -> bwd_out2:t256:x3:w1 (bf16, every L; :x3 without
#   LOWMEM): the same midpoint trick in the backward's bwd_out2: A, dq, dk of the diagonal
#   sub-blocks on the tensor cores (masked halves of s dA against all-token operands); the lane
#   pass only for channels whose chunk cumsum spreads > 32, and only in chunks that have one.
# Shipped defaults (session 5): LOWMEM_DEFAULT "1", FWD_DEFAULT "v6s", FUSED_EXP_DEFAULT "pairs".
# Previous defaults: VIG_TILELANG_FUSED_EXP=pairs if FUSED_EXP_DEFAULT is "ref" or "ref2", and
#   VIG_TILELANG_BWD_OUT=v2 if BWD_OUT_DEFAULT is "ref" (flipped after this mid call); if neither
#   was flipped, session 5's: LOWMEM=0 FWD=v6 FUSED_EXP= (empty).
#
# FINAL=0 (MID, <= 168 s):
#   1. parity, six processes side by side (<= 78 s, MID_PAR_S), plus memcheck --small of
#      FUSED_EXP=ref BWD_OUT=ref beside them: FUSED_EXP=ref, FUSED_EXP=ref2, BWD_OUT=ref:
#      the contract's 120 cases each (check_backend) | each at extra lengths (dev_parity.py: 17,
#      31, 33, 224, 225, 449: partial chunks, the v6 / v6s edge, 1-token segments; all dtypes x
#      regimes); one grep-able "parity: N/M <label>" line each;
#   2. one process (dev_bench.py, <= 88 s): shipped v6s+v6 | /x3 (FUSED_EXP=ref) | /x4 (ref2) |
#      /b3 (BWD_OUT=ref) | /x3/b3 (both), eager and graphed fwd and fwd+bwd, peak memory, the five
#      contract shapes.
# FINAL=1 (<= 108 s, no timing):
#   1. parity side by side (<= 64 s): the shipped defaults | the previous defaults;
#   2. compute-sanitizer memcheck on --small (L = 65), shipped defaults (<= 36 s).
set -u
export TILELANG_CACHE_DIR=${TILELANG_CACHE_DIR:-$PWD/.tilelang-cache}
unset VIG_TILELANG_FWD VIG_TILELANG_BWD VIG_TILELANG_LOWMEM VIG_TILELANG_STRIDED VIG_TILELANG_BWD_OUT \
      VIG_TILELANG_BWD_OUT_THREADS VIG_TILELANG_GRAD_EMPTY VIG_TILELANG_FUSED_DIAG VIG_TILELANG_BWD_C \
      VIG_TILELANG_FUSED_THREADS VIG_TILELANG_FUSED_EXP
D=${OUT:-/tmp}/tilelang
mkdir -p "$D" /tmp/tl-def /tmp/tl-oth /tmp/tl-ref /tmp/tl-ref2 /tmp/tl-bref /tmp/tl-mc
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
OTHER=""
grep -q '^FUSED_EXP_DEFAULT = "ref2\?"' kernels/tilelang/__init__.py && OTHER="VIG_TILELANG_FUSED_EXP=pairs"
grep -q '^BWD_OUT_DEFAULT = "ref"' kernels/tilelang/__init__.py && OTHER="$OTHER VIG_TILELANG_BWD_OUT=v2"
[ -z "$OTHER" ] && OTHER="VIG_TILELANG_LOWMEM=0 VIG_TILELANG_FWD=v6 VIG_TILELANG_FUSED_EXP="
{
echo "== tilelang FINAL=$FINAL $(date -u +%H:%M:%S) $(git log -1 --format=%h 2>/dev/null) defaults: $(grep -h '^LOWMEM_DEFAULT\|^FWD_DEFAULT\|^BWD_DEFAULT\|^FUSED_EXP_DEFAULT\|^BWD_OUT_DEFAULT' kernels/tilelang/__init__.py | tr '\n' ' ')"
if [ "$FINAL" = 1 ]; then
  echo "== 1 parity side by side: shipped defaults | previous: $OTHER ($SECONDS s)"
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
  echo "== 1 parity side by side: FUSED_EXP=ref | ref2 | BWD_OUT=ref (120 each) | each at L=17,31,33,224,225,449 ($SECONDS s)"
  T=$(lim ${MID_PAR_S:-78})
  for E in ref ref2 bref; do
    if [ $E = bref ]; then SW="VIG_TILELANG_BWD_OUT=ref"; else SW="VIG_TILELANG_FUSED_EXP=$E"; fi
    ( env $SW OUT=/tmp/tl-$E timeout $T python tools/check_backend.py tilelang --parity 2>&1 \
        | tee /tmp/tl-$E/log | tag $E ) &
    ( env $SW timeout $T python kernels/tilelang/dev_parity.py 17,31,33,224,225,449 2>&1 \
        | tee /tmp/tl-$E/edge.log | grep --line-buffered -v '^ok ' | tag $E-edge ) &
  done
  ( VIG_TILELANG_FUSED_EXP=ref VIG_TILELANG_BWD_OUT=ref OUT=/tmp/tl-mc timeout $T compute-sanitizer --tool memcheck \
      python tools/check_backend.py tilelang --small 2>&1 | tail -5 | tag "memcheck FUSED_EXP=ref BWD_OUT=ref" ) &
  wait
  for E in ref ref2 bref; do
    echo "-- worst err/bound of the bf16 cases, $E: $(grep bfloat16 /tmp/tl-$E/log | awk '{print $2}' | sort -g | tail -1)"
  done
  summ /tmp/tl-ref/log "tilelang FUSED_EXP=ref (fwd_fused:m3:x3, fwd_fused_seg:m3:x3)"
  summ /tmp/tl-ref2/log "tilelang FUSED_EXP=ref2 (fwd_fused:m3:x4, fwd_fused_seg:m3:x4)"
  summ /tmp/tl-bref/log "tilelang BWD_OUT=ref (bwd_out2:t256:x3:w1)"
  summ /tmp/tl-ref/edge.log "tilelang FUSED_EXP=ref edge lengths 17,31,33,224,225,449"
  summ /tmp/tl-ref2/edge.log "tilelang FUSED_EXP=ref2 edge lengths 17,31,33,224,225,449"
  summ /tmp/tl-bref/edge.log "tilelang BWD_OUT=ref edge lengths 17,31,33,224,225,449"
  fi
  if [ "${MID_PHASE:-both}" != parity ]; then
  echo "== 2 timing, one process: shipped v6s+v6 | /x3 (FUSED_EXP=ref) | /x4 (ref2) | /b3 (BWD_OUT=ref) | /x3/b3 ($SECONDS s, $(left) s left)"
  [ "$(left)" -gt 20 ] && timeout $(lim 88) python kernels/tilelang/dev_bench.py --versions v6s+v6,v6s+v6/b3,v6s+v6/x3,v6s+v6/x3/b3,v6s+v6/x4 \
      ViG-S@224 ViG-T@1024 ViG-S@1024 ViG-T@224 ViG-B@224
  fi
fi
echo "done ($SECONDS s)"
} 2>&1 | tee -a "$D/tilelang.log"
