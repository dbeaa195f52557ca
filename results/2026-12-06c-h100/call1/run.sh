#!/usr/bin/env bash
# Session 7 final call, from the project root on the device (VIG_COMMIT exported by the caller), ~500 s:
#  1. our backends' benchmarks on a quiet GPU (the flipped defaults; fla's peer left out: no time);
#  2. the GPU test suite (shipped defaults), with the MID parity of TileLang's and CuPy's new trial
#     variants beside it (TileLang FUSED_EXP=ref3, FWD_VIEWS=1; CuPy BWD=v29r, DGFIX=vec2; parity
#     and sanitizers time nothing);
#  3. the MID timing of those variants, one backend at a time, alone on the GPU.
# The FINAL checks are left out: the mid call ran the same kernels' parity and sanitizers.
# TESTS_S: the suite's box (default 270 s); NO_TIMING=1 stops after step 2 (a short call).
# Steps are ordered by worth: a call cut short (run's timeout_s) still returns what is under $OUT.
source tools/device-setup.sh || exit 1
export TILELANG_CACHE_DIR=$PWD/.tilelang-cache
VIG_SKIP_FLA=1 VIG_DEADLINE=110 bash tools/gpu-run.sh bench
# at most 8 files come back: bench.log into gpu-run.log
cat "$OUT/bench.log" >> "$OUT/gpu-run.log"; rm -f "$OUT/bench.log"
# the MID logs stay out of $OUT while gpu-run.sh runs (it merges logs when $OUT holds > 8 files)
( OUT=/tmp/mid FINAL=0 MID_PHASE=parity MID_BOX=110 MID_PAR_S=100 timeout 115 bash kernels/tilelang/dev_gpu_check.sh >/dev/null 2>&1 ) &
( OUT=/tmp/mid FINAL=0 MID_PHASE=parity MID_BOX=115 MID_PAR_S=105 timeout 120 bash kernels/cupy/dev_gpu_check.sh >/dev/null 2>&1 ) &
VIG_DEADLINE=${TESTS_S:-270} bash tools/gpu-run.sh tests
wait
rm -f /tmp/mid/cupy/cupy-check.json; mkdir -p "$OUT/mid"; cp -r /tmp/mid/tilelang /tmp/mid/cupy "$OUT/mid/"
grep -hE "parity:|parity cases|ERROR SUMMARY|RACECHECK SUMMARY" "$OUT"/mid/*/*.log | tail -30
[ "${NO_TIMING:-0}" = 1 ] && { find "$OUT" -type f | sort; exit 0; }
OUT=$OUT/mid FINAL=0 MID_PHASE=timing MID_BOX=72 timeout 76 bash kernels/tilelang/dev_gpu_check.sh >/dev/null 2>&1
echo "tilelang timing rc $?"
OUT=$OUT/mid FINAL=0 MID_PHASE=timing MID_BOX=72 timeout 76 bash kernels/cupy/dev_gpu_check.sh >/dev/null 2>&1
echo "cupy timing rc $?"; rm -f "$OUT/mid/cupy/cupy-check.json"
grep -hE "BITEXACT|CHECK|ViG-|dgfix" "$OUT"/mid/*/*.log | tail -60
find "$OUT" -type f | sort
