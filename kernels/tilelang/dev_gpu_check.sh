#!/usr/bin/env bash
# TileLang GPU check, session 5 after the mid call (run by the lead from the repo root inside a
# device call that already sourced tools/device-setup.sh; $OUT set). Writes only
# $OUT/tilelang/tilelang.log (tee'd line by line: a timeout still leaves evidence).
#
# Shipped defaults since the mid call (results/2026-12-05-h100/mid/tilelang/tilelang.log):
#   LOWMEM_DEFAULT = "1" (bf16 workspaces and dq / dk / dv: bwd_states:w1, fwd_scan:w1,
#   bwd_out2:t256:w1), FWD_DEFAULT = "v6s" (segmented fused forward at L > 224: fwd_segst ->
#   fwd_scan -> fwd_fused_seg), FUSED_EXP_DEFAULT = "pairs" (bf16 fwd_fused:m3:x2).
# Previous defaults: VIG_TILELANG_LOWMEM=0 VIG_TILELANG_FWD=v6 VIG_TILELANG_FUSED_EXP= (empty).
# Removed: VIG_TILELANG_BWD_PIPE / bwd_states:p2[:w1] (commit 6479fdc).
#
# FINAL=1 (<= 105 s, no timing):
#   1. parity side by side (<= 64 s): the shipped defaults (no switch set) | the previous defaults;
#   2. compute-sanitizer memcheck on --small, shipped defaults (<= 36 s).
# FINAL=0 (MID, <= 166 s): the same parity, then one process (dev_bench.py) timing the shipped
#   defaults (v6s+v6) against the previous ones (v6/w0/x0) at the five shapes.
set -u
export TILELANG_CACHE_DIR=${TILELANG_CACHE_DIR:-$PWD/.tilelang-cache}
unset VIG_TILELANG_FWD VIG_TILELANG_BWD VIG_TILELANG_LOWMEM VIG_TILELANG_STRIDED VIG_TILELANG_BWD_OUT \
      VIG_TILELANG_BWD_OUT_THREADS VIG_TILELANG_GRAD_EMPTY VIG_TILELANG_FUSED_DIAG VIG_TILELANG_BWD_C \
      VIG_TILELANG_FUSED_THREADS VIG_TILELANG_FUSED_EXP
D=${OUT:-/tmp}/tilelang
mkdir -p "$D" /tmp/tl-def /tmp/tl-oth
FINAL=${FINAL:-0}
if [ "$FINAL" = 1 ]; then BUDGET=103; else BUDGET=166; fi
left() { echo $(( BUDGET - SECONDS )); }
lim() { local l; l=$(left); echo $(( l < $1 ? (l > 1 ? l : 1) : $1 )); }
tag() { sed -u "s/^/[$1] /"; }
OTHER="VIG_TILELANG_LOWMEM=0 VIG_TILELANG_FWD=v6 VIG_TILELANG_FUSED_EXP="
{
echo "== tilelang FINAL=$FINAL $(date -u +%H:%M:%S) $(git log -1 --format=%h 2>/dev/null) defaults: $(grep -h '^LOWMEM_DEFAULT\|^FWD_DEFAULT\|^BWD_DEFAULT\|^FUSED_EXP_DEFAULT' kernels/tilelang/__init__.py | tr '\n' ' ')"
echo "== 1 parity side by side: shipped defaults | previous: $OTHER ($SECONDS s)"
T=$(lim 64)
( OUT=/tmp/tl-def timeout $T python tools/check_backend.py tilelang --parity 2>&1 | tag defaults ) &
( env $OTHER OUT=/tmp/tl-oth timeout $T python tools/check_backend.py tilelang --parity 2>&1 | tag previous ) &
wait
if [ "$FINAL" = 1 ]; then
  echo "== 2 memcheck --small, shipped defaults ($SECONDS s, $(left) s left)"
  [ "$(left)" -gt 12 ] && OUT=/tmp timeout $(lim 36) compute-sanitizer --tool memcheck python tools/check_backend.py tilelang --small 2>&1 | tail -5
else
  echo "== 2 timing, one process: shipped v6s+v6 | previous v6/w0/x0 ($SECONDS s, $(left) s left)"
  [ "$(left)" -gt 20 ] && timeout $(lim 90) python kernels/tilelang/dev_bench.py --versions v6s+v6,v6/w0/x0 \
      ViG-S@224 ViG-T@1024 ViG-S@1024 ViG-T@224 ViG-B@224
fi
echo "done ($SECONDS s)"
} 2>&1 | tee "$D/tilelang.log"
