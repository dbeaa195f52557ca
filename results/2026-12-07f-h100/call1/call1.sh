#!/usr/bin/env bash
# Session 22 call 1: TileLang fp16 at an odd offset with the old and the new _contig (session 21's not-run call);
# the whole GPU test suite at this commit (holds the odd-offset parity test of every backend, the shared layer's
# alignment test, Triton's routing memo); Triton old (fba07de) vs new host time, bit-identity and cProfile;
# the interleaved eager comparison (f+b) with what time is left.
mkdir -p /tmp/tlc && tar -C /tmp/tlc -xJf .scratch/tlcache21.tar.xz
export TILELANG_CACHE_DIR=/tmp/tlc VIG_COMMIT=$1
source tools/device-setup.sh || exit 1
nvidia-smi --query-gpu=name --format=csv,noheader
for v in old new; do timeout 40 python3 .scratch/s21/misaligned_old.py $v 2>&1 | grep -v -i "warn\|TileLang:" | tail -2; done
echo "probe done ($SECONDS s)"
OUT=$OUT/tests VIG_DEADLINE=$(( ${DL:-580} - SECONDS - 150 )) bash tools/gpu-run.sh tests >/dev/null 2>&1
echo "tests rc $? ($SECONDS s)"
grep -E "passed|failed|FAILED|ERROR" $OUT/tests/tests.log | tail -12
grep -E "odd_offset|aligned" $OUT/tests/tests.log | tail -12
timeout $(( ${DL:-580} - SECONDS - 10 )) python3 .scratch/s22/prof_triton.py > $OUT/prof_triton.log 2>&1; echo "prof rc $? ($SECONDS s)"
grep -v -i warn $OUT/prof_triton.log | head -60
left=$(( ${DL:-580} - SECONDS - 5 ))
if (( left > 60 )); then
  timeout $left python3 -m pytest tests/benchmarks -p no:cacheprovider --benchmark-only -q -k "eager_interleaved and fwd_bwd" --benchmark-json=$OUT/eager.json > $OUT/eager.log 2>&1
  echo "eager bench rc $? ($SECONDS s)"; tail -2 $OUT/eager.log
  python3 tools/report.py $OUT/eager.json --out $OUT/eager 2>&1 | tail -12
fi
echo "done ($SECONDS s)"
