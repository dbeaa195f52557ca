#!/usr/bin/env bash
# The lead's final device call of 2026-11-25 (session 2): priorities first, each step time-boxed.
set -u
source tools/device-setup.sh
export TILELANG_CACHE_DIR=$PWD/.tilelang-cache HYPOTHESIS_PROFILE=gpu
export VIG_COMMIT=${VIG_COMMIT:-unknown}
left() { echo $(( ${DEADLINE:-570} - SECONDS )); }
nvidia-smi --query-gpu=name,clocks.max.sm,memory.total --format=csv | tee $OUT/device.txt
echo "== 1 tilelang v5 backward parity ($SECONDS s)"
VIG_TILELANG_BWD=v5 timeout 130 python tools/check_backend.py tilelang --parity 2>&1 | tee $OUT/tilelang-v5bwd-parity.log
if [[ ${PIPESTATUS[0]} == 0 ]]; then export VIG_TILELANG_BWD=v5; else export VIG_TILELANG_BWD=v4; fi
echo "VIG_TILELANG_BWD=$VIG_TILELANG_BWD" | tee $OUT/choice.txt
echo "== 2 bench, every backend, no fla ($SECONDS s)"
timeout 150 python -m pytest tests/benchmarks -p no:cacheprovider --benchmark-only -q -k "not fla" \
  --benchmark-json=$OUT/bench.json 2>&1 | tee $OUT/bench.log
echo "== 3 tilelang GPU suite ($SECONDS s)"
timeout 130 python -m pytest tests/test_backends.py -p no:cacheprovider -k tilelang -v -x --junitxml=$OUT/tilelang-tests.xml 2>&1 | tee $OUT/tilelang-gpu-tests.log
echo "== 4 fla peer, same machine ($SECONDS s, $(left) s left)"
timeout $(left) python -m pytest tests/benchmarks -p no:cacheprovider --benchmark-only -v -k "fla" \
  --benchmark-json=$OUT/bench-fla.json 2>&1 | tee $OUT/bench-fla.log
echo "== report ($SECONDS s)"
files=($OUT/bench.json); [[ -s $OUT/bench-fla.json ]] && files+=($OUT/bench-fla.json)
python tools/report.py "${files[@]}" --out $OUT/results 2>&1 | tail -3
echo "done ($SECONDS s)"
