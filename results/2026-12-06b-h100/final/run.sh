#!/usr/bin/env bash
# Session 7 final call, from the project root on the device (VIG_COMMIT exported by the caller), ~520 s:
#  1. our backends' benchmarks on a quiet GPU (the flipped defaults; fla's peer left out: no time);
#  2. the GPU test suite (shipped defaults), with TileLang's MID parity of its new trial variants
#     (FUSED_EXP=ref3, FWD_VIEWS=1) beside it (parity times nothing);
#  3. TileLang's MID timing of those variants, alone on the GPU.
# The FINAL checks are left out: the mid call ran the same kernels' parity and sanitizers.
source tools/device-setup.sh || exit 1
export TILELANG_CACHE_DIR=$PWD/.tilelang-cache
VIG_SKIP_FLA=1 VIG_DEADLINE=110 bash tools/gpu-run.sh bench
( FINAL=0 MID_PHASE=parity MID_BOX=105 MID_PAR_S=100 timeout 110 bash kernels/tilelang/dev_gpu_check.sh >/dev/null 2>&1 ) &
VIG_DEADLINE=320 bash tools/gpu-run.sh tests
wait
FINAL=0 MID_PHASE=timing MID_BOX=90 timeout 95 bash kernels/tilelang/dev_gpu_check.sh >/dev/null 2>&1
echo "tilelang timing rc $?"; grep -E "parity:|ERROR SUMMARY|ViG-" "$OUT/tilelang/tilelang.log" | tail -40
