#!/usr/bin/env bash
# Session 7 final call, from the project root on the device (VIG_COMMIT exported by the caller), ~500 s:
#  1. our backends' benchmarks on a quiet GPU (the flipped defaults; fla's peer left out: no time);
#  2. the GPU test suite (shipped defaults), with the MID parity of TileLang's and CuPy's new trial
#     variants beside it (TileLang FUSED_EXP=ref3, FWD_VIEWS=1; CuPy BWD=v29r, DGFIX=vec2; parity
#     and sanitizers time nothing);
#  3. the MID timing of those variants, one backend at a time, alone on the GPU.
# The FINAL checks are left out: the mid call ran the same kernels' parity and sanitizers.
source tools/device-setup.sh || exit 1
export TILELANG_CACHE_DIR=$PWD/.tilelang-cache
VIG_SKIP_FLA=1 VIG_DEADLINE=110 bash tools/gpu-run.sh bench
( OUT=/tmp/mid FINAL=0 MID_PHASE=parity MID_BOX=110 MID_PAR_S=100 timeout 115 bash kernels/tilelang/dev_gpu_check.sh >/dev/null 2>&1 ) &
( OUT=/tmp/mid FINAL=0 MID_PHASE=parity MID_BOX=115 MID_PAR_S=105 timeout 120 bash kernels/cupy/dev_gpu_check.sh >/dev/null 2>&1 ) &
VIG_DEADLINE=270 bash tools/gpu-run.sh tests
wait
OUT=/tmp/mid FINAL=0 MID_PHASE=timing MID_BOX=72 timeout 76 bash kernels/tilelang/dev_gpu_check.sh >/dev/null 2>&1
echo "tilelang timing rc $?"
OUT=/tmp/mid FINAL=0 MID_PHASE=timing MID_BOX=72 timeout 76 bash kernels/cupy/dev_gpu_check.sh >/dev/null 2>&1
echo "cupy timing rc $?"
# the MID logs were kept out of $OUT while gpu-run.sh ran (it merges logs when $OUT holds > 8 files)
mkdir -p "$OUT/mid"; cp /tmp/mid/tilelang/tilelang.log "$OUT/mid/" ; cp /tmp/mid/cupy/cupy-gpu.log "$OUT/mid/"
grep -hE "parity:|parity cases|ERROR SUMMARY|RACECHECK SUMMARY|BITEXACT|CHECK|ViG-|dgfix" "$OUT"/mid/*.log | tail -80
# at most 8 files come back: bench.log goes into gpu-run.log, results.json (report.py's, from bench.json) stays here
if (( $(find "$OUT" -type f | wc -l) > 8 )); then cat "$OUT/bench.log" >> "$OUT/gpu-run.log"; rm -f "$OUT/bench.log"; fi
if (( $(find "$OUT" -type f | wc -l) > 8 )); then rm -f "$OUT/results.json"; fi
find "$OUT" -type f | sort
