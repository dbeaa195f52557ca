#!/usr/bin/env bash
# Session 9, call 1 (~500 s), from the root of a `git archive` snapshot of the commit under test
# (VIG_COMMIT exported by the caller; .device-deps / .tilelang-cache linked in from the carried tree):
#  1. the GPU test suite on the shipped defaults, alone on the GPU (every test file but the three
#     compile-only ones, which CI runs, and fla's peer test, whose autotuning takes minutes);
#  2. side by side, 120-case parity of: TileLang ref2 with the w1 states (BWD_STATES=""), Triton SPLIT
#     + FO capped at 168 registers (session 8's fastest split at 224 px), CuPy v29r (+ v30, vec2);
#  3. alone: CuPy v29q against v29r graphed f+b at all five shapes (dev_bench, alternating), then
#     TileLang shipped against w1 states (tl_states.py).
source tools/device-setup.sh || exit 1
export TILELANG_CACHE_DIR=$PWD/.tilelang-cache
D=results/2026-12-06d-h100/call1
VIG_TESTS="tests --ignore=tests/test_cupy_compile.py --ignore=tests/test_tilelang_compile.py --ignore=tests/test_triton_compile.py --ignore=tests/test_peers.py" \
  VIG_DEADLINE=${TESTS_S:-240} bash tools/gpu-run.sh tests
tail -3 "$OUT/tests.log"
mkdir -p /tmp/p
( OUT=/tmp/p VIG_TILELANG_BWD_STATES= timeout 110 python tools/check_backend.py tilelang --parity > /tmp/p/tl-w1.log 2>&1 ) &
( OUT=/tmp/p VIG_TRITON_SPLIT_BWD=1 VIG_TRITON_FO_BWD=1 VIG_TRITON_NREG_SPLIT=168 timeout 110 python tools/check_backend.py triton --parity > /tmp/p/tr-split.log 2>&1 ) &
( OUT=/tmp/p VIG_CUPY_BWD=v29r timeout 110 python tools/check_backend.py cupy --parity > /tmp/p/cu-v29r.log 2>&1 ) &
wait
for f in /tmp/p/*.log; do echo "== $f"; grep -vE "^ok |^ *$" "$f" | tail -8; done | tee "$OUT/parity.log"
{ timeout 80 python kernels/cupy/dev_bench.py v26+Q+F v29qs+Q+F,v29rs+Q+F,v29qs+Q+F,v29rs+Q+F \
    ViG-T@224,ViG-S@224,ViG-B@224,ViG-T@1024,ViG-S@1024 2>&1; echo "cupy bench rc $?"; } > "$OUT/cupy-bench.log"
grep -E "f\+b|rc" "$OUT/cupy-bench.log" | cut -c1-160
{ timeout 60 python $D/tl_states.py 2>&1; echo "tl_states rc $?"; } > "$OUT/tl-states.log"
cat "$OUT/tl-states.log"
find "$OUT" -type f | sort
