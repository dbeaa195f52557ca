#!/usr/bin/env bash
# Session 21 call 2: the new odd-offset test (every backend) and the chunk-edge tests on the GPU; eager f+b of every backend in interleaved rounds (TileLang before / after the host-path change),
# and a cProfile of TileLang's and CuPy's host path at ViG-T@224.
mkdir -p /tmp/tlc && tar -C /tmp/tlc -xJf .scratch/tlcache21.tar.xz
export TILELANG_CACHE_DIR=/tmp/tlc VIG_COMMIT=$1
source tools/device-setup.sh || exit 1
nproc; lscpu | grep -i "model name" | head -1
HYPOTHESIS_PROFILE=gpu timeout 200 python3 -m pytest -q -rs tests/test_backends.py -k "odd_offsets or chunk_edges" -p no:cacheprovider > $OUT/odd.log 2>&1
echo "odd-offset + chunk-edge tests rc $? ($SECONDS s)"; grep -E "passed|failed|FAILED|Error" $OUT/odd.log | tail -8
ROUNDS=${ROUNDS:-10} timeout 420 python3 .scratch/s21/probe2.py > $OUT/probe2.log 2>&1
echo "probe2 rc $? ($SECONDS s)"; grep -v -i "warn\|TileLang:" $OUT/probe2.log | head -40
