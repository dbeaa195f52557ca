#!/usr/bin/env bash
# Session 19 call 2: after the SAVE224 flip: the TileLang FINAL (parity shipped + previous SAVE224=0, memcheck,
# racechecks with RACEFIX=1 incl. the new kernels), then the whole GPU test suite alone.
mkdir -p /tmp/tlc && tar -C /tmp/tlc -xJf .scratch/tlcache19.tar.xz
export TILELANG_CACHE_DIR=/tmp/tlc VIG_COMMIT=$1
source tools/device-setup.sh || exit 1
echo "cache entries: $(ls /tmp/tlc/0.1.15/linux-x86_64/kernels | wc -l); commit $1"
OUT=$OUT/final FINAL=1 timeout 118 bash kernels/tilelang/dev_gpu_check.sh > /dev/null 2>&1
echo "final done ($SECONDS s)"
grep -v "^\[defaults\]\|^\[previous\]" $OUT/final/tilelang/tilelang.log | cut -c1-240
OUT=$OUT/tests VIG_DEADLINE=240 bash tools/gpu-run.sh tests >/dev/null 2>&1
echo "tests rc $? ($SECONDS s)"
cat $OUT/tests/gpu-run.log | tail -15
echo "done ($SECONDS s)"
