#!/usr/bin/env bash
# Session 16 call 2 (~450 s), after a FWD_TILE flip: the TileLang FINAL (parity shipped + previous FWD_TILE=1, memcheck,
# racechecks with RACEFIX=1) beside the whole GPU test suite, then the benchmark suite with fla's peer.
source tools/device-setup.sh || exit 1
( OUT=$OUT/final FINAL=1 timeout 118 bash kernels/tilelang/dev_gpu_check.sh >/dev/null 2>&1 ) &
P1=$!
sleep 3
OUT=$OUT/tests VIG_DEADLINE=200 bash tools/gpu-run.sh tests >/dev/null 2>&1
echo "tests rc $? ($SECONDS s)"
wait $P1
echo "final done ($SECONDS s)"
OUT=$OUT/bench VIG_DEADLINE=$(( ${DL:-560} - SECONDS )) bash tools/gpu-run.sh bench >/dev/null 2>&1
echo "bench rc $? ($SECONDS s)"
cat $OUT/tests/gpu-run.log
grep -v "^\[defaults\]\|^\[previous\]" $OUT/final/tilelang/tilelang.log | cut -c1-220
cat $OUT/bench/gpu-run.log
echo "done ($SECONDS s)"
