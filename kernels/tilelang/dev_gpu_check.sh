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
#   VIG_TILELANG_BWD_PIPE=1 (phase 2) bwd_states prefetches each chunk's q, k, v, dO, gate tiles
#                          one chunk ahead by cp.async (kinds bwd_states:p2, bwd_states:p2:w1).
#   VIG_TILELANG_FUSED_EXP=fast (phase 2) the bf16 fwd_fused with __expf (fwd_fused:m3:x1);
#                          =pairs: and its diagonal sub-blocks pair by pair, no divergent
#                          gate branch (fwd_fused:m3:x2).
#
# FINAL=0 (MID, <= 170 s):
#   1. parity side by side (four processes, <= 80 s): LOWMEM=1 (all 120 cases) | FWD=v6s |
#      BWD_PIPE=1 BWD=v6s FUSED_EXP=pairs (bwd_states:p2 at every length, fwd_fused:m3:x2) |
#      BWD_PIPE=1 LOWMEM=1 BWD=v6s FUSED_EXP=fast (p2:w1, fwd_fused:m3:x1); the last two through
#      dev_parity.py at the same 8 lengths: a failing case names its outputs, o = the forward
#      (x2 / x1), dq..dgb = the backward (p2 / p2:w1);
#   2. one process, same inputs (dev_bench.py): v6 (the shipped defaults) vs v6/p1 (BWD_PIPE=1)
#      vs v6/x1 (FUSED_EXP=fast) vs v6/x2 (=pairs) vs v6/w1 (LOWMEM=1) vs v6/w1/p1 vs v6s+v6/w1
#      (segmented forward at 1024 px) at the five shapes: fwd eager (graphed), fwd+bwd eager (graphed), peak
#      extra MiB of fwd+bwd (/p and /x are skipped at 1024 px, where their kernels do not run).
# FINAL=1 (<= 110 s, no timing):
#   1. parity side by side: the shipped defaults (no switch set) | the previous defaults
#      (LOWMEM=0, FWD=BWD=v6, BWD_PIPE=0) if the lead flipped LOWMEM_DEFAULT, FWD_DEFAULT or
#      BWD_PIPE_DEFAULT / FUSED_EXP_DEFAULT, else the candidates LOWMEM=1 BWD_PIPE=1
#      FUSED_EXP=pairs (bwd_states:p2:w1, fwd_fused:m3:x2);
#   2. compute-sanitizer memcheck on --small: the shipped defaults, then (time left) the other.
set -u
export TILELANG_CACHE_DIR=${TILELANG_CACHE_DIR:-$PWD/.tilelang-cache}
unset VIG_TILELANG_FWD VIG_TILELANG_BWD VIG_TILELANG_LOWMEM VIG_TILELANG_STRIDED VIG_TILELANG_BWD_OUT \
      VIG_TILELANG_BWD_OUT_THREADS VIG_TILELANG_GRAD_EMPTY VIG_TILELANG_FUSED_DIAG VIG_TILELANG_BWD_C \
      VIG_TILELANG_FUSED_THREADS VIG_TILELANG_BWD_PIPE VIG_TILELANG_FUSED_EXP
D=${OUT:-/tmp}/tilelang
mkdir -p "$D" /tmp/tl-lm /tmp/tl-v6s /tmp/tl-def /tmp/tl-oth /tmp/tl-p2 /tmp/tl-p2w
FINAL=${FINAL:-0}
if [ "$FINAL" = 1 ]; then BUDGET=106; else BUDGET=166; fi
left() { echo $(( BUDGET - SECONDS )); }
lim() { local l; l=$(left); echo $(( l < $1 ? (l > 1 ? l : 1) : $1 )); }
tag() { sed -u "s/^/[$1] /"; }
# FINAL's second run: the previous defaults (session 4: LOWMEM 0, v6 / v6, no prefetch) if the lead
# flipped a default after the mid call, else the candidates LOWMEM=1 BWD_PIPE=1
if grep -q '^LOWMEM_DEFAULT = "1"\|^FWD_DEFAULT = "v6s"\|^BWD_PIPE_DEFAULT = "1"\|^FUSED_EXP_DEFAULT = "[a-z]' kernels/tilelang/__init__.py; then
  OTHER="VIG_TILELANG_LOWMEM=0 VIG_TILELANG_FWD=v6 VIG_TILELANG_BWD=v6 VIG_TILELANG_BWD_PIPE=0 VIG_TILELANG_FUSED_EXP="
else OTHER="VIG_TILELANG_LOWMEM=1 VIG_TILELANG_BWD_PIPE=1 VIG_TILELANG_FUSED_EXP=pairs"; fi
{
echo "== tilelang FINAL=$FINAL $(date -u +%H:%M:%S) $(git log -1 --format=%h 2>/dev/null) defaults: $(grep -h '^LOWMEM_DEFAULT\|^FWD_DEFAULT\|^BWD_DEFAULT\|^BWD_PIPE_DEFAULT\|^FUSED_EXP_DEFAULT' kernels/tilelang/__init__.py | tr '\n' ' ')"
if [ "$FINAL" != 1 ]; then
  echo "== 1 parity side by side: LOWMEM=1 | FWD=v6s | BWD_PIPE=1 BWD=v6s FUSED_EXP=pairs | BWD_PIPE=1 LOWMEM=1 BWD=v6s FUSED_EXP=fast ($SECONDS s)"
  T=$(lim 80)
  ( VIG_TILELANG_LOWMEM=1 OUT=/tmp/tl-lm timeout $T python tools/check_backend.py tilelang --parity 2>&1 | tag lowmem ) &
  ( VIG_TILELANG_FWD=v6s OUT=/tmp/tl-v6s timeout $T python tools/check_backend.py tilelang --parity 2>&1 | tag v6s ) &
  ( VIG_TILELANG_BWD_PIPE=1 VIG_TILELANG_BWD=v6s VIG_TILELANG_FUSED_EXP=pairs OUT=/tmp/tl-p2 \
      timeout $T python kernels/tilelang/dev_parity.py 1,7,63,64,65,196,300,4096 2>&1 | tag p2x2 ) &
  ( VIG_TILELANG_BWD_PIPE=1 VIG_TILELANG_LOWMEM=1 VIG_TILELANG_BWD=v6s VIG_TILELANG_FUSED_EXP=fast OUT=/tmp/tl-p2w \
      timeout $T python kernels/tilelang/dev_parity.py 1,7,63,64,65,196,300,4096 2>&1 | tag p2w1x1 ) &
  wait
  echo "== 2 timing, one process: v6 | v6/p1 | v6/x1 | v6/x2 | v6/w1 | v6/w1/p1 | v6s+v6/w1 ($SECONDS s, $(left) s left)"
  [ "$(left)" -gt 20 ] && timeout $(lim 86) python kernels/tilelang/dev_bench.py --versions v6,v6/p1,v6/x1,v6/x2,v6/w1,v6/w1/p1,v6s+v6/w1 \
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
