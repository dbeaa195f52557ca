#!/usr/bin/env bash
# Session 11, call 2 (~230 s): the GPU test suite (tools/gpu-run.sh tests) beside the FINAL checks ($C2_CHECKS,
# parity of the shipped and previous defaults + sanitizers; they time nothing). Logs packed into $OUT/c2.tgz.
source tools/device-setup.sh || exit 1
mkdir -p /tmp/c2/run /tmp/c2/final
keep() { tar -C /tmp -czf "$OUT/c2.tgz.tmp" c2 2>/dev/null && mv "$OUT/c2.tgz.tmp" "$OUT/c2.tgz"; }
( while sleep 15; do keep; done ) &
KP=$!
( OUT=/tmp/c2/final FINAL=1 VIG_CHECKS="${C2_CHECKS:-cupy}" VIG_CHECKS_PARALLEL=1 VIG_CHECK_S=118 bash tools/gpu-run.sh checks >/dev/null 2>&1 ) &
P1=$!
sleep 25
OUT=/tmp/c2/run VIG_DEADLINE=${C2_DEADLINE:-300} bash tools/gpu-run.sh tests >/dev/null 2>&1
echo "tests rc $? ($SECONDS s)"
wait $P1
kill $KP; keep
grep -h "" /tmp/c2/run/gpu-run.log; grep -hE "parity|SUMMARY|FAILED|hazards in|rc " /tmp/c2/final/gpu-run.log | tail -40
echo "done ($SECONDS s)"
