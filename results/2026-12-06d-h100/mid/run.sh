#!/usr/bin/env bash
# Session 9, mid call (~500 s), from the root of a `git archive` snapshot of the commit under test
# (VIG_COMMIT exported by the caller). Every backend's MID script (kernels/<b>/dev_gpu_check.sh, FINAL=0):
#  1. MID_PHASE=parity (parity and sanitizers time nothing): TileLang's eleven processes alone, then
#     CuPy's and Triton's side by side (twenty-one processes at once got cut in session 8);
#  2. MID_PHASE=timing of each backend alone on the GPU, one after another.
# Logs are written under /tmp/mid and packed into $OUT/mid.tgz after each phase, so a cut call still
# returns what ran (the device returns at most 8 files).
source tools/device-setup.sh || exit 1
export TILELANG_CACHE_DIR=$PWD/.tilelang-cache
mkdir -p /tmp/mid
keep() { rm -f /tmp/mid/*/*.json; tar -C /tmp -czf "$OUT/mid.tgz" mid; }
( OUT=/tmp/mid FINAL=0 MID_PHASE=parity MID_BOX=128 MID_PAR_S=120 timeout 132 bash kernels/tilelang/dev_gpu_check.sh >/dev/null 2>&1 ) &
wait
keep
( OUT=/tmp/mid FINAL=0 MID_PHASE=parity MID_BOX=128 MID_PAR_S=118 timeout 132 bash kernels/cupy/dev_gpu_check.sh >/dev/null 2>&1 ) &
( OUT=/tmp/mid FINAL=0 MID_PHASE=parity MID_BOX=128 MID_PAR_S=120 timeout 132 bash kernels/triton/dev_gpu_check.sh >/dev/null 2>&1 ) &
wait
keep
grep -hE "parity:|parity cases|ERROR SUMMARY|RACECHECK SUMMARY|same|BITEXACT|FAIL" /tmp/mid/*/*.log | tail -60
for b in cupy tilelang triton; do
  OUT=/tmp/mid FINAL=0 MID_PHASE=timing MID_BOX=${TIMING_S:-70} timeout $(( ${TIMING_S:-70} + 4 )) bash kernels/$b/dev_gpu_check.sh >/dev/null 2>&1
  echo "$b timing rc $?"; keep
done
grep -hE "BITEXACT|graphed|ViG-" /tmp/mid/*/*.log | tail -120
find "$OUT" -type f | sort
