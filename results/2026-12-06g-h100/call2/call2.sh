#!/usr/bin/env bash
# Session 12, call 2 (~420 s): A) FINAL checks of Triton and TileLang (side by side, no timing) beside the GPU tests
# call 1's deadline cut (test_peers, test_reference, test_registry); B) the benchmark suite with fla's peer, alone.
source tools/device-setup.sh || exit 1
mkdir -p /tmp/c2/run /tmp/c2/final
keep() { tar -C /tmp -czf "$OUT/c2.tgz.tmp" c2 2>/dev/null && mv "$OUT/c2.tgz.tmp" "$OUT/c2.tgz"; }
( while sleep 15; do keep; done ) &
KP=$!
( OUT=/tmp/c2/final FINAL=1 VIG_CHECKS="triton tilelang" VIG_CHECKS_PARALLEL=1 VIG_CHECK_S=118 bash tools/gpu-run.sh checks >/dev/null 2>&1 ) &
P1=$!
sleep 5
OUT=/tmp/c2/run VIG_DEADLINE=150 VIG_TESTS="tests/test_peers.py tests/test_reference.py tests/test_registry.py" bash tools/gpu-run.sh tests >/dev/null 2>&1
echo "tests rc $? ($SECONDS s)"
wait $P1
echo "checks done ($SECONDS s)"; keep
grep -h "" /tmp/c2/run/gpu-run.log; grep -hE "parity|SUMMARY|FAILED|hazards in|rc " /tmp/c2/final/gpu-run.log | tail -40
OUT=$OUT/bench VIG_DEADLINE=$(( 575 - SECONDS )) bash tools/gpu-run.sh bench >/dev/null 2>&1
echo "bench rc $? ($SECONDS s)"
kill $KP; keep
cat $OUT/bench/gpu-run.log; cat $OUT/bench/results.md 2>/dev/null
echo "done ($SECONDS s)"
