#!/usr/bin/env bash
# Session 10, call C (~160 s), from the root of a `git archive` snapshot (VIG_COMMIT exported by the caller):
# FINAL checks of every backend side by side (tools/gpu-run.sh checks, FINAL=1: parity of the shipped and the
# previous defaults, sanitizers; TileLang's FINAL adds a racecheck of fwd_segw with RACEFIX=1). Logs packed into
# $OUT/c.tgz every 15 s (a cut call still returns them). Failed machine starts cost 660 s of the session's device
# time: the GPU test suite, the benchmark suite and CuPy's MID of v36 / v37 did not fit.
R=$OUT
source tools/device-setup.sh || exit 1
mkdir -p /tmp/c/final
keep() { tar -C /tmp -czf "$R/c.tgz.tmp" c 2>/dev/null && mv "$R/c.tgz.tmp" "$R/c.tgz"; }
( while sleep 15; do keep; done ) &
KP=$!
( OUT=/tmp/c/final FINAL=1 VIG_CHECKS_PARALLEL=1 VIG_CHECK_S=112 bash tools/gpu-run.sh checks >/dev/null 2>&1 )
kill $KP; keep; grep -h "parity\|SUMMARY\|FAILED\|hazards in\|rc " /tmp/c/final/gpu-run.log | tail -40
echo "done ($SECONDS s)"
