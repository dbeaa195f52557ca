#!/usr/bin/env bash
# Session 4, final call: the benchmark suite in one run — every backend eager and CUDA-graphed (forward and
# forward+backward), SDPA, the host floor, the ViG-T training step, then fla's official path (eager and graphed; autotunes
# ~5 min) — and the report. Parity, GPU suites and sanitizers of the shipped kernels ran in the call before.
set -u
source tools/device-setup.sh
export TILELANG_CACHE_DIR=$PWD/.tilelang-cache HYPOTHESIS_PROFILE=gpu
export VIG_COMMIT=${VIG_COMMIT:-unknown}
left() { echo $(( ${DEADLINE:-570} - SECONDS )); }
nvidia-smi --query-gpu=name,clocks.max.sm,memory.total --format=csv | tee $OUT/device.txt
echo "== 1 bench, every backend, eager and graphed, no fla ($SECONDS s)"
timeout 210 python -m pytest tests/benchmarks -p no:cacheprovider --benchmark-only -q -k "not fla" \
  --benchmark-json=$OUT/bench.json 2>&1 | tee $OUT/bench.log
echo "== 2 fla peer, same machine ($SECONDS s, $(left) s left)"
timeout $(left) python -m pytest tests/benchmarks -p no:cacheprovider --benchmark-only -v -k "fla" \
  --benchmark-json=$OUT/bench-fla.json 2>&1 | tee -a $OUT/bench.log
echo "== report ($SECONDS s)"
files=($OUT/bench.json); [[ -s $OUT/bench-fla.json ]] && files+=($OUT/bench-fla.json)
python tools/report.py "${files[@]}" --out $OUT/results 2>&1 | tail -3
echo "done ($SECONDS s)"
