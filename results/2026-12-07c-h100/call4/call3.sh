#!/usr/bin/env bash
# Session 19 call 3: the benchmark suite with fla's peer on the committed defaults (SAVE224 on).
mkdir -p /tmp/tlc && tar -C /tmp/tlc -xJf .scratch/tlcache19.tar.xz
export TILELANG_CACHE_DIR=/tmp/tlc VIG_COMMIT=$1
source tools/device-setup.sh || exit 1
OUT=$OUT/bench VIG_DEADLINE=$(( ${DL:-560} - SECONDS )) bash tools/gpu-run.sh bench >/dev/null 2>&1
echo "bench rc $? ($SECONDS s)"
cat $OUT/bench/gpu-run.log | tail -60
echo "done ($SECONDS s)"
