#!/usr/bin/env bash
# TileLang GPU check, session 5 (run by the lead from the repo root inside a device call that
# already sourced tools/device-setup.sh; $OUT set). Writes only $OUT/tilelang/tilelang.log
# (tee'd line by line: a timeout still leaves evidence).
#
# New in session 5 (switches, defaults unchanged):
#   VIG_TILELANG_LOWMEM=1  the bf16 backward (head dims 32 / 64, bwd_out2) keeps the per-chunk
#                          states in bf16 and writes dq / dk / dv in bf16 (kinds bwd_states:w1,
#                          fwd_scan:w1, bwd_out2:t256:w1): peak extra of fwd+bwd on paper
#                          185 / 370 / 740 / 230 / 459 -> 125 / 249 / 499 / 157 / 314 MiB.
#   VIG_TILELANG_FWD=v6s   (old switch, never timed) the segmented fused forward at L > 224.
#
# FINAL=0 (MID, <= 170 s):
#   1. parity side by side (two processes, <= 85 s): LOWMEM=1 (all 120 cases) | FWD=v6s;
#   2. one process, same inputs (dev_bench.py): v6 (the shipped defaults) vs v6/w1 (LOWMEM=1)
#      vs v6s+v6/w1 (segmented forward at 1024 px) at the five shapes: fwd eager (graphed),
#      fwd+bwd eager (graphed), peak extra MiB of fwd+bwd.
# FINAL=1 (<= 110 s, no timing):
#   1. parity side by side: the shipped defaults (no switch set) | the previous defaults
#      (LOWMEM=0, FWD=BWD=v6) if the lead flipped LOWMEM_DEFAULT or FWD_DEFAULT, else LOWMEM=1;
#   2. compute-sanitizer memcheck on --small: the shipped defaults, then (time left) the other.
set -u
export TILELANG_CACHE_DIR=${TILELANG_CACHE_DIR:-$PWD/.tilelang-cache}
unset VIG_TILELANG_FWD VIG_TILELANG_BWD VIG_TILELANG_LOWMEM VIG_TILELANG_STRIDED VIG_TILELANG_BWD_OUT \
      VIG_TILELANG_BWD_OUT_THREADS VIG_TILELANG_GRAD_EMPTY VIG_TILELANG_FUSED_DIAG VIG_TILELANG_BWD_C \
      VIG_TILELANG_FUSED_THREADS
D=${OUT:-/tmp}/tilelang
mkdir -p "$D" /tmp/tl-lm /tmp/tl-v6s /tmp/tl-def /tmp/tl-oth
FINAL=${FINAL:-0}
if [ "$FINAL" = 1 ]; then BUDGET=106; else BUDGET=166; fi
left() { echo $(( BUDGET - SECONDS )); }
lim() { local l; l=$(left); echo $(( l < $1 ? (l > 1 ? l : 1) : $1 )); }
tag() { sed -u "s/^/[$1] /"; }
# FINAL's second run: the previous defaults (session 4: LOWMEM 0, v6 / v6) if the lead flipped a
# default after the mid call, else the candidate LOWMEM=1
if grep -q '^LOWMEM_DEFAULT = "1"\|^FWD_DEFAULT = "v6s"' kernels/tilelang/__init__.py; then
  OTHER="VIG_TILELANG_LOWMEM=0 VIG_TILELANG_FWD=v6 VIG_TILELANG_BWD=v6"; else OTHER="VIG_TILELANG_LOWMEM=1"; fi
{
echo "== tilelang FINAL=$FINAL $(date -u +%H:%M:%S) $(git log -1 --format=%h 2>/dev/null) defaults: $(grep -h '^LOWMEM_DEFAULT\|^FWD_DEFAULT\|^BWD_DEFAULT' kernels/tilelang/__init__.py | tr '\n' ' ')"
if [ "$FINAL" != 1 ]; then
  echo "== 1 parity side by side: VIG_TILELANG_LOWMEM=1 | VIG_TILELANG_FWD=v6s ($SECONDS s)"
  T=$(lim 85)
  ( VIG_TILELANG_LOWMEM=1 OUT=/tmp/tl-lm timeout $T python tools/check_backend.py tilelang --parity 2>&1 | tag lowmem ) &
  ( VIG_TILELANG_FWD=v6s OUT=/tmp/tl-v6s timeout $T python tools/check_backend.py tilelang --parity 2>&1 | tag v6s ) &
  wait
  echo "== 2 timing, one process: v6 | v6/w1 | v6s+v6/w1 ($SECONDS s, $(left) s left)"
  [ "$(left)" -gt 20 ] && timeout $(lim 80) python kernels/tilelang/dev_bench.py --versions v6,v6/w1,v6s+v6/w1 \
      ViG-S@224 ViG-T@1024 ViG-S@1024 ViG-T@224 ViG-B@224
else
  echo "== 1 parity side by side: shipped defaults | $OTHER ($SECONDS s)"
  T=$(lim 68)
  ( OUT=/tmp/tl-def timeout $T python tools/check_backend.py tilelang --parity 2>&1 | tag defaults ) &
  ( env $OTHER OUT=/tmp/tl-oth timeout $T python tools/check_backend.py tilelang --parity 2>&1 | tag other ) &
  wait
  echo "== 2 memcheck --small, shipped defaults ($SECONDS s, $(left) s left)"
  [ "$(left)" -gt 12 ] && OUT=/tmp timeout $(lim 30) compute-sanitizer --tool memcheck python tools/check_backend.py tilelang --small 2>&1 | tail -5
  echo "== 3 memcheck --small, $OTHER ($SECONDS s, $(left) s left)"
  [ "$(left)" -gt 12 ] && env $OTHER OUT=/tmp timeout $(lim 30) compute-sanitizer --tool memcheck python tools/check_backend.py tilelang --small 2>&1 | tail -5
fi
echo "done ($SECONDS s)"
} 2>&1 | tee "$D/tilelang.log"
