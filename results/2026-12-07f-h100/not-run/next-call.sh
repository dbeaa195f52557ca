#!/usr/bin/env bash
# For the next session's first device call (not run in session 22: no device time left). The commits after
# 1915497 are CPU-tested only: the shared layer's device switch, zero head dims and 'auto' by dtype / head size;
# the parity suite's fused-layout inputs now cut into views on the device (the first GPU run of the kernels' view
# paths under every backend's hypothesis parity test); the bf16-autocast model gradients against the reference.
# Run the whole GPU suite, then (time left) the benchmark suite without fla. Carry .device-deps and
# .scratch/tlcache21.tar.xz (session 21's cache holds every TileLang kind the tests launch: results/2026-12-07f-h100/not-run/kinds.py
# lists them, the same 29).
#   run: DL=580 bash results/2026-12-07f-h100/not-run/next-call.sh $(git rev-parse --short HEAD)
mkdir -p /tmp/tlc && tar -C /tmp/tlc -xJf .scratch/tlcache21.tar.xz
export TILELANG_CACHE_DIR=/tmp/tlc VIG_COMMIT=$1
OUT=$OUT/tests VIG_DEADLINE=$(( ${DL:-580} - 30 )) bash tools/gpu-run.sh tests >/dev/null 2>&1
echo "tests rc $? ($SECONDS s)"
grep -E "passed|failed|FAILED|ERROR" $OUT/tests/tests.log | tail -15
left=$(( ${DL:-580} - SECONDS - 10 ))
if (( left > 150 )); then
  OUT=$OUT/bench VIG_SKIP_FLA=1 VIG_DEADLINE=$left bash tools/gpu-run.sh bench >/dev/null 2>&1
  echo "bench rc $? ($SECONDS s)"; grep "^| ViG" $OUT/bench/gpu-run.log | cut -c1-300
fi
