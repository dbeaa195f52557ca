#!/usr/bin/env bash
# Session 12, call 1 (FINAL after the FTZ flips) (~230 s): the GPU test suite (tools/gpu-run.sh tests) beside the FINAL checks ($C1_CHECKS,
# parity of the shipped and previous defaults + sanitizers; they time nothing). Logs packed into $OUT/c1.tgz.
source tools/device-setup.sh || exit 1
mkdir -p /tmp/c1/run /tmp/c1/final
keep() { tar -C /tmp -czf "$OUT/c1.tgz.tmp" c1 2>/dev/null && mv "$OUT/c1.tgz.tmp" "$OUT/c1.tgz"; }
( while sleep 15; do keep; done ) &
KP=$!
( OUT=/tmp/c1/final FINAL=1 VIG_CHECKS="${C1_CHECKS:-triton tilelang}" VIG_CHECKS_PARALLEL=1 VIG_CHECK_S=118 bash tools/gpu-run.sh checks >/dev/null 2>&1 ) &
P1=$!
sleep 25
OUT=/tmp/c1/run VIG_DEADLINE=${C1_DEADLINE:-300} bash tools/gpu-run.sh tests >/dev/null 2>&1
echo "tests rc $? ($SECONDS s)"
wait $P1
kill $KP; keep
grep -h "" /tmp/c1/run/gpu-run.log; grep -hE "parity|SUMMARY|FAILED|hazards in|rc " /tmp/c1/final/gpu-run.log | tail -40
echo "done ($SECONDS s)"
