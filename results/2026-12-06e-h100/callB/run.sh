#!/usr/bin/env bash
# Session 10, call B (mid, ~540 s), from the root of a `git archive` snapshot of the commit under test
# (VIG_COMMIT exported by the caller). Every backend's MID script (kernels/<b>/dev_gpu_check.sh, FINAL=0):
#  1. MID_PHASE=parity: TileLang's processes alone, then CuPy's and Triton's side by side;
#  2. MID_PHASE=timing of each backend alone on the GPU, one after another (Triton 110 s: two dev_bench runs).
# Logs under /tmp/mid, packed into $OUT/mid.tgz after each phase (a cut call still returns what ran).
source tools/device-setup.sh || exit 1
mkdir -p /tmp/mid
keep() { rm -f /tmp/mid/*/*.json; tar -C /tmp -czf "$OUT/mid.tgz" mid; }
( OUT=/tmp/mid FINAL=0 MID_PHASE=parity MID_BOX=118 MID_PAR_S=112 timeout 122 bash kernels/tilelang/dev_gpu_check.sh >/dev/null 2>&1 ) &
wait
keep
( OUT=/tmp/mid FINAL=0 MID_PHASE=parity MID_BOX=118 MID_PAR_S=110 timeout 122 bash kernels/cupy/dev_gpu_check.sh >/dev/null 2>&1 ) &
( OUT=/tmp/mid FINAL=0 MID_PHASE=parity MID_BOX=118 MID_PAR_S=112 timeout 122 bash kernels/triton/dev_gpu_check.sh >/dev/null 2>&1 ) &
wait
keep
grep -hE "parity:|parity cases|ERROR SUMMARY|RACECHECK SUMMARY|same|BITEXACT|FAIL|passed|failed" /tmp/mid/*/*.log | tail -60
for b in cupy tilelang triton; do
  T=70; [ $b = triton ] && T=105
  OUT=/tmp/mid FINAL=0 MID_PHASE=timing MID_BOX=$T timeout $(( T + 4 )) bash kernels/$b/dev_gpu_check.sh >/dev/null 2>&1
  echo "$b timing rc $? ($SECONDS s)"; keep
done
grep -hE "BITEXACT|graphed|ViG-" /tmp/mid/*/*.log | tail -150
find "$OUT" -type f | sort
