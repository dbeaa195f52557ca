#!/usr/bin/env bash
# Session 21 call 1: the TileLang host-path change (memoized routing, _packed through Tensor.view, gradient
# buffers by unbind, no batch-piece slicing for one piece): old vs new bit-identity and host time (probe), the
# benchmark suite (our backends; fla left out: no kernel changed since session 19 call 4), then the whole GPU
# test suite (session 20's direct-entry launches had not run it yet).
mkdir -p /tmp/tlc && tar -C /tmp/tlc -xJf .scratch/tlcache21.tar.xz
export TILELANG_CACHE_DIR=/tmp/tlc VIG_COMMIT=$1
source tools/device-setup.sh || exit 1
nproc; lscpu | grep -i "model name" | head -1
timeout 150 python3 .scratch/s21/probe.py > $OUT/probe.log 2>&1
echo "probe rc $? ($SECONDS s)"; grep -v -i "warn\|TileLang:" $OUT/probe.log | tail -45
OUT=$OUT/bench VIG_SKIP_FLA=1 VIG_DEADLINE=120 bash tools/gpu-run.sh bench >/dev/null 2>&1
echo "bench rc $? ($SECONDS s)"
grep "^| ViG" $OUT/bench/gpu-run.log | cut -c1-400
OUT=$OUT/tests VIG_DEADLINE=$(( ${DL:-585} - SECONDS )) bash tools/gpu-run.sh tests >/dev/null 2>&1
echo "tests rc $? ($SECONDS s)"
grep -E "passed|failed|FAILED|ERROR" $OUT/tests/tests.log | tail -12
echo "done ($SECONDS s)"
