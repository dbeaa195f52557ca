#!/usr/bin/env bash
# Session 21 call 4 (call 3 trimmed to the device time left): TileLang fp16 at an odd offset with the old and the new
# _contig (two processes), the hypothesis odd-offset test on every backend; the interleaved eager comparison only
# if time is left.
mkdir -p /tmp/tlc && tar -C /tmp/tlc -xJf .scratch/tlcache21.tar.xz
export TILELANG_CACHE_DIR=/tmp/tlc VIG_COMMIT=$1
source tools/device-setup.sh || exit 1
for v in old new; do timeout 35 python3 .scratch/s21/misaligned_old.py $v 2>&1 | grep -v -i "warn\|TileLang:" | tail -2; done
HYPOTHESIS_PROFILE=gpu timeout $(( ${DL:-160} - SECONDS - 5 )) python3 -m pytest -q -rs tests/test_backends.py -k "odd_offsets" -p no:cacheprovider > $OUT/odd.log 2>&1
echo "odd-offset tests rc $? ($SECONDS s)"; grep -E "passed|failed|FAILED|Error" $OUT/odd.log | tail -8
left=$(( ${DL:-160} - SECONDS ))
if (( left > 50 )); then
  timeout $left python3 -m pytest tests/benchmarks -p no:cacheprovider --benchmark-only -q -k "eager_interleaved and fwd_bwd" --benchmark-json=$OUT/bench.json > $OUT/bench.log 2>&1
  echo "eager bench rc $? ($SECONDS s)"
  python3 tools/report.py $OUT/bench.json --out $OUT/results 2>&1 | tail -9
fi
echo "done ($SECONDS s)"
