#!/usr/bin/env bash
# Session 8, last call (~100 s; the device time left after the final call): FINAL checks of the two
# backends whose defaults the final call flipped (TileLang BWD_OUT=ref2 + BWD_STATES=m3 + BWD_VIEWS=1
# + FWD_VIEWS=2; CuPy FWD=v30), side by side: parity of the shipped and of the previous defaults over
# the contract's 120 cases, compute-sanitizer memcheck (CuPy also racecheck) of the shipped defaults.
source tools/device-setup.sh || exit 1
export TILELANG_CACHE_DIR=$PWD/.tilelang-cache
( FINAL=1 MID_BOX=${BOX:-92} timeout $(( ${BOX:-92} + 3 )) bash kernels/tilelang/dev_gpu_check.sh >/dev/null 2>&1 ) &
( FINAL=1 CUPY_CHECK_FINAL=1 MID_BOX=${BOX:-92} timeout $(( ${BOX:-92} + 3 )) bash kernels/cupy/dev_gpu_check.sh >/dev/null 2>&1 ) &
wait
rm -f "$OUT"/cupy/cupy-check.json
grep -hE "parity:|parity cases|ERROR SUMMARY|RACECHECK SUMMARY|seg128" "$OUT"/*/*.log | tail -30
