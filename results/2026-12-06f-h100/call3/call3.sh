#!/usr/bin/env bash
# Session 11, call 3 (~340 s): the benchmark suite with fla's peer (tools/gpu-run.sh bench), alone on the GPU.
source tools/device-setup.sh || exit 1
mkdir -p /tmp/c3
keep() { tar -C /tmp -czf "$OUT/c3.tgz.tmp" c3 2>/dev/null && mv "$OUT/c3.tgz.tmp" "$OUT/c3.tgz"; }
( while sleep 20; do keep; done ) &
KP=$!
OUT=/tmp/c3 VIG_DEADLINE=${C3_DEADLINE:-545} bash tools/gpu-run.sh bench >/dev/null 2>&1
echo "bench rc $? ($SECONDS s)"
kill $KP; keep
cat /tmp/c3/gpu-run.log; cat /tmp/c3/results.md 2>/dev/null
echo "done ($SECONDS s)"
