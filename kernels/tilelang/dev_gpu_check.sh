#!/usr/bin/env bash
# TileLang GPU check, session 7 (run by the lead from the repo root inside a device call that
# already sourced tools/device-setup.sh; $OUT set). Writes only $OUT/tilelang/tilelang.log (tee'd
# line by line: a timeout still leaves evidence). Kernels load from the carried .tilelang-cache
# (41 entries; session 7 added fwd_fused:m3:x5, fwd_fused:s2:m3:x5, bwd_states:s1:w1 and
# bwd_out2:t256:x3:s1:w1, bf16).
#
# New in session 7 (on trial, defaults unchanged):
#   VIG_TILELANG_FUSED_EXP=ref3 -> bf16 fwd_fused:m3:x5 (L <= 224): ref2's kernel (x4) with q, k and
#     the gates read by vector loads (8-byte bf16, 16-byte fp32: 4 instead of 16 scalar loads per
#     thread and chunk, one bound check) and no compensation tiles (x4's are zero): -8 % sweep-2
#     instructions, 72 registers (x4: 80), 66.3 KB shared (74.8); fwd_fused_seg stays :m3:x4.
#   VIG_TILELANG_FWD_VIEWS=1 -> requires_contiguous False; the bf16 v6 forward at L <= 224 reads
#     q, k, v and the gates as the views they are (int64 views, kind fwd_fused:s2:m3:x5): the shared
#     layer's five contiguous copies leave the forward (the backward then copies for itself).
#   Both compute exactly what ref2 computes: dev_same.py checks bit-identical outputs.
#   FWD_VIEWS=1 with VIG_TILELANG_STRIDED=1 (session 4's switch): the backward reads the views too
#     (bwd_states:s1:w1, bwd_out2:t256:x3:s1:w1, now cached): no copies anywhere in fwd+bwd at 224 px.
# Shipped defaults (session 7): FUSED_EXP_DEFAULT "ref2", BWD_OUT_DEFAULT "ref", FWD_VIEWS_DEFAULT "0".
# Previous defaults (FINAL): FUSED_EXP=ref2 if FUSED_EXP_DEFAULT is "ref3", FWD_VIEWS=0 if
#   FWD_VIEWS_DEFAULT is "1" (flipped after this mid call); if neither was flipped, session 6's:
#   FUSED_EXP=pairs BWD_OUT=v2.
#
# FINAL=0 (MID, <= 170 s):
#   1. side by side (<= 78 s, MID_PAR_S): parity of FUSED_EXP=ref3, of FWD_VIEWS=1 and of
#      FWD_VIEWS=1 STRIDED=1 (the contract's 120 cases each, check_backend) | FWD_VIEWS=1 at L = 17, 31, 33, 224, 225, 449
#      (dev_parity) | dev_same.py (x5 and s2:x5 vs x4, bit-identical outputs, 9 input sets) |
#      memcheck --small of FWD_VIEWS=1 and of FUSED_EXP=ref3; "parity: N/M label" lines;
#   2. one process (dev_bench.py, <= 85 s): shipped v6s+v6 | /x5 (ref3) | /v1 (FWD_VIEWS=1) |
#      /v1/s1 (and STRIDED=1), eager
#      and graphed fwd and fwd+bwd, peak memory, the five contract shapes (/x5, /v1 are skipped at
#      L = 4096: same kernels as the base there).
# FINAL=1 (<= 108 s, no timing):
#   1. parity side by side (<= 64 s): the shipped defaults | the previous defaults;
#   2. compute-sanitizer memcheck on --small (L = 65), shipped defaults (<= 36 s).
set -u
export TILELANG_CACHE_DIR=${TILELANG_CACHE_DIR:-$PWD/.tilelang-cache}
unset VIG_TILELANG_FWD VIG_TILELANG_BWD VIG_TILELANG_LOWMEM VIG_TILELANG_STRIDED VIG_TILELANG_BWD_OUT \
      VIG_TILELANG_BWD_OUT_THREADS VIG_TILELANG_GRAD_EMPTY VIG_TILELANG_FUSED_DIAG VIG_TILELANG_BWD_C \
      VIG_TILELANG_FUSED_THREADS VIG_TILELANG_FUSED_EXP VIG_TILELANG_FWD_VIEWS
D=${OUT:-/tmp}/tilelang
mkdir -p "$D" /tmp/tl-def /tmp/tl-oth /tmp/tl-x5 /tmp/tl-v1 /tmp/tl-v1s1 /tmp/tl-mc /tmp/tl-mc5
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
grep -q '^FUSED_EXP_DEFAULT = "ref3"' kernels/tilelang/__init__.py && OTHER="VIG_TILELANG_FUSED_EXP=ref2"
grep -q '^FWD_VIEWS_DEFAULT = "1"' kernels/tilelang/__init__.py && OTHER="$OTHER VIG_TILELANG_FWD_VIEWS=0"
[ -z "$OTHER" ] && OTHER="VIG_TILELANG_FUSED_EXP=pairs VIG_TILELANG_BWD_OUT=v2"
{
echo "== tilelang FINAL=$FINAL $(date -u +%H:%M:%S) $(git log -1 --format=%h 2>/dev/null) defaults: $(grep -h '^LOWMEM_DEFAULT\|^FWD_DEFAULT\|^BWD_DEFAULT\|^FUSED_EXP_DEFAULT\|^BWD_OUT_DEFAULT\|^FWD_VIEWS_DEFAULT' kernels/tilelang/__init__.py | tr '\n' ' ')"
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
  echo "== 1 side by side: parity FUSED_EXP=ref3 | FWD_VIEWS=1 | FWD_VIEWS=1 STRIDED=1 (120 each) | FWD_VIEWS=1 at L=17,31,33,224,225,449 | dev_same | memcheck x3 ($SECONDS s)"
  T=$(lim ${MID_PAR_S:-78})
  ( VIG_TILELANG_FUSED_EXP=ref3 OUT=/tmp/tl-x5 timeout $T python tools/check_backend.py tilelang --parity 2>&1 \
      | tee /tmp/tl-x5/log | tag x5 ) &
  ( VIG_TILELANG_FWD_VIEWS=1 OUT=/tmp/tl-v1 timeout $T python tools/check_backend.py tilelang --parity 2>&1 \
      | tee /tmp/tl-v1/log | tag v1 ) &
  ( VIG_TILELANG_FWD_VIEWS=1 VIG_TILELANG_STRIDED=1 OUT=/tmp/tl-v1s1 timeout $T python tools/check_backend.py tilelang --parity 2>&1 \
      | tee /tmp/tl-v1s1/log | tag v1s1 ) &
  ( VIG_TILELANG_FWD_VIEWS=1 timeout $T python kernels/tilelang/dev_parity.py 17,31,33,224,225,449 2>&1 \
      | tee /tmp/tl-v1/edge.log | grep --line-buffered -v '^ok ' | tag v1-edge ) &
  ( timeout $T python kernels/tilelang/dev_same.py 2>&1 | tee /tmp/tl-v1/same.log | tag same ) &
  ( VIG_TILELANG_FWD_VIEWS=1 OUT=/tmp/tl-mc timeout $T compute-sanitizer --tool memcheck \
      python tools/check_backend.py tilelang --small 2>&1 | tail -5 | tag "memcheck FWD_VIEWS=1" ) &
  ( VIG_TILELANG_FUSED_EXP=ref3 OUT=/tmp/tl-mc5 timeout $T compute-sanitizer --tool memcheck \
      python tools/check_backend.py tilelang --small 2>&1 | tail -5 | tag "memcheck FUSED_EXP=ref3" ) &
  # ref2 (x4, parity-proven in session 7's mid call) was never memchecked: the default is "ref" until it is
  ( mkdir -p /tmp/tl-mc4; VIG_TILELANG_FUSED_EXP=ref2 OUT=/tmp/tl-mc4 timeout $T compute-sanitizer --tool memcheck \
      python tools/check_backend.py tilelang --small 2>&1 | tail -5 | tag "memcheck FUSED_EXP=ref2" ) &
  wait
  for E in x5 v1 v1s1; do
    echo "-- worst err/bound of the bf16 cases, $E: $(grep bfloat16 /tmp/tl-$E/log | awk '{print $2}' | sort -g | tail -1)"
  done
  summ /tmp/tl-x5/log "tilelang FUSED_EXP=ref3 (fwd_fused:m3:x5)"
  summ /tmp/tl-v1/log "tilelang FWD_VIEWS=1 (fwd_fused:s2:m3:x5)"
  summ /tmp/tl-v1s1/log "tilelang FWD_VIEWS=1 STRIDED=1 (s2 forward, bwd_states:s1:w1 + bwd_out2:t256:x3:s1:w1)"
  summ /tmp/tl-v1/edge.log "tilelang FWD_VIEWS=1 edge lengths 17,31,33,224,225,449"
  echo "bit-identity vs ref2: $(grep '^same: ' /tmp/tl-v1/same.log || echo 'no summary (timeout or crash)')"
  fi
  if [ "${MID_PHASE:-both}" != parity ]; then
  echo "== 2 timing, one process: shipped v6s+v6 | /x5 (FUSED_EXP=ref3) | /v1 (FWD_VIEWS=1) | /v1/s1 (and STRIDED=1) ($SECONDS s, $(left) s left)"
  [ "$(left)" -gt 20 ] && timeout $(lim 85) python kernels/tilelang/dev_bench.py --versions v6s+v6,v6s+v6/x5,v6s+v6/v1,v6s+v6/v1/s1 \
      ViG-S@224 ViG-T@224 ViG-B@224 ViG-T@1024 ViG-S@1024
  fi
fi
echo "done ($SECONDS s)"
} 2>&1 | tee -a "$D/tilelang.log"
