#!/usr/bin/env bash
# Session 7's short call (the device time left after failed starts: ~280 s), from the project root on
# the device, VIG_COMMIT exported: the backend test file on the GPU (parity with the oracle, chunk
# edges, the extreme cases at L = 4096 / 16384, ViG models against the reference backend) for every
# backend's shipped defaults, with the MID parity of TileLang's and CuPy's new trial variants beside it.
source tools/device-setup.sh || exit 1
export TILELANG_CACHE_DIR=$PWD/.tilelang-cache
( OUT=/tmp/mid FINAL=0 MID_PHASE=parity MID_BOX=110 MID_PAR_S=100 timeout 115 bash kernels/tilelang/dev_gpu_check.sh >/dev/null 2>&1 ) &
( OUT=/tmp/mid FINAL=0 MID_PHASE=parity MID_BOX=115 MID_PAR_S=105 timeout 120 bash kernels/cupy/dev_gpu_check.sh >/dev/null 2>&1 ) &
VIG_TESTS=tests/test_backends.py VIG_DEADLINE=${TESTS_S:-175} bash tools/gpu-run.sh tests
wait
rm -f /tmp/mid/cupy/cupy-check.json; mkdir -p "$OUT/mid"; cp -r /tmp/mid/tilelang /tmp/mid/cupy "$OUT/mid/"
grep -hE "parity:|parity cases|ERROR SUMMARY|RACECHECK SUMMARY" "$OUT"/mid/*/*.log | tail -30
find "$OUT" -type f | sort
