#!/usr/bin/env bash
# Session 8, final call, from the project root on the device (VIG_COMMIT exported by the caller), ~480 s.
# Steps by worth; a call cut short still returns what is under $OUT (mid logs are copied there after
# each phase; gpu-run.sh merges */*.log into checks.log when $OUT holds > 8 files).
#  1. side by side (parity and sanitizers time nothing): the MID parity phase of every backend's
#     session-8 variants (TileLang BWD_OUT=ref2 + BWD_STATES=m3, FWD_VIEWS=2, BWD_VIEWS=1; CuPy
#     FWD=v30 / v30l; Triton SPLIT_BWD) and the GPU backend tests on the shipped defaults
#     (tests/test_backends.py: parity, chunk edges, the extreme long cases, ViG models vs reference);
#  2. each backend's MID timing, alone on the GPU, one after another;
#  3. the benchmark suite on the shipped defaults (fla's peer left out: ~6 min of autotuning).
source tools/device-setup.sh || exit 1
export TILELANG_CACHE_DIR=$PWD/.tilelang-cache
mkdir -p /tmp/mid "$OUT/mid"
( OUT=/tmp/mid FINAL=0 MID_PHASE=parity MID_BOX=118 MID_PAR_S=110 timeout 122 bash kernels/tilelang/dev_gpu_check.sh >/dev/null 2>&1 ) &
( OUT=/tmp/mid FINAL=0 MID_PHASE=parity MID_BOX=118 MID_PAR_S=108 timeout 122 bash kernels/cupy/dev_gpu_check.sh >/dev/null 2>&1 ) &
( OUT=/tmp/mid FINAL=0 MID_PHASE=parity MID_BOX=120 MID_PAR_S=115 timeout 122 bash kernels/triton/dev_gpu_check.sh >/dev/null 2>&1 ) &
VIG_TESTS=tests/test_backends.py VIG_DEADLINE=${TESTS_S:-130} bash tools/gpu-run.sh tests
wait
rm -f /tmp/mid/cupy/cupy-check.json; cp -r /tmp/mid/* "$OUT/mid/"
grep -hE "parity:|parity cases|ERROR SUMMARY|RACECHECK SUMMARY|same:" "$OUT"/mid/*/*.log | tail -40
for b in tilelang cupy triton; do
  OUT=/tmp/mid FINAL=0 MID_PHASE=timing MID_BOX=70 timeout 74 bash kernels/$b/dev_gpu_check.sh >/dev/null 2>&1
  echo "$b timing rc $?"; rm -f /tmp/mid/cupy/cupy-check.json; cp -r /tmp/mid/* "$OUT/mid/"
done
grep -hE "BITEXACT|graphed|ViG-" "$OUT"/mid/*/*.log | tail -80
VIG_SKIP_FLA=1 VIG_DEADLINE=${BENCH_S:-108} bash tools/gpu-run.sh bench
cat "$OUT/results.md" 2>/dev/null | head -20
find "$OUT" -type f | sort
