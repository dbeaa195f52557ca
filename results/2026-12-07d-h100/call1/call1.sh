#!/usr/bin/env bash
# Session 20 call 1: where TileLang's host time goes (probe), the TileLang GPU tests with the direct-entry
# Kernel, then the benchmark suite (our backends; fla left out: no kernel changed since session 19 call 4).
mkdir -p /tmp/tlc && tar -C /tmp/tlc -xJf .scratch/tlcache20.tar.xz
export TILELANG_CACHE_DIR=/tmp/tlc VIG_COMMIT=$1
source tools/device-setup.sh || exit 1
nproc; lscpu | grep -i "model name" | head -1
timeout 150 python3 .scratch/s20/launch_cost.py --cprofile 2>&1 | grep -v "TileLang:" > $OUT/probe.log
echo "probe rc $? ($SECONDS s)"; head -60 $OUT/probe.log
HYPOTHESIS_PROFILE=gpu timeout 150 python3 -m pytest -q -x tests/test_backends.py -k tilelang -p no:cacheprovider --junitxml=$OUT/tilelang-gpu.xml > $OUT/tilelang-gpu.log 2>&1
echo "tilelang tests rc $? ($SECONDS s)"; tail -3 $OUT/tilelang-gpu.log
left=$(( ${DL:-480} - SECONDS )); if (( left < 150 )); then echo "bench skipped ($left s left)"; echo "done ($SECONDS s)"; exit 0; fi
OUT=$OUT/bench VIG_SKIP_FLA=${VIG_SKIP_FLA:-1} VIG_DEADLINE=$(( ${DL:-480} - SECONDS )) bash tools/gpu-run.sh bench >/dev/null 2>&1
echo "bench rc $? ($SECONDS s)"
tail -40 $OUT/bench/gpu-run.log
echo "done ($SECONDS s)"
