#!/usr/bin/env bash
# Session 4, proof call: each helper's final GPU check (parity of kernels changed since the mid call,
# compute-sanitizer on the shipped kernels; <= 110 s each), then the shared GPU suite of every backend as
# shipped, then a capture check of the CUDA-graphed benchmarks (forward and forward+backward).
set -u
source tools/device-setup.sh
git log -1 --format='HEAD %h %s' 2>/dev/null | cut -c1-100
export TILELANG_CACHE_DIR=$PWD/.tilelang-cache HYPOTHESIS_PROFILE=gpu CUPY_CHECK_FINAL=1 FINAL=1
mkdir -p $OUT/lead
L=$OUT/lead/lead.log
left() { echo $(( ${DEADLINE:-575} - SECONDS )); }
for b in ${HELPERS:-cupy triton tilelang}; do
  if [[ -f kernels/$b/dev_gpu_check.sh ]]; then
    echo "== $b final check ($SECONDS s)" | tee -a $L
    mkdir -p $OUT/$b
    timeout ${HELPER_S:-110} bash kernels/$b/dev_gpu_check.sh >/dev/null 2>&1; echo "$b: rc $? ($SECONDS s)" | tee -a $L
  fi
done
echo "== GPU suites ($SECONDS s, $(left) s left)" | tee -a $L
timeout $(( $(left) - 45 )) python -m pytest tests/test_backends.py -p no:cacheprovider -v -k "${SUITE_K:-cupy or triton or tilelang}" \
  --junitxml=$OUT/lead/suite.xml 2>&1 | grep -E "PASS|FAIL|ERROR|passed|failed|error" | tee -a $L
echo "== graphed capture check ($SECONDS s, $(left) s left)" | tee -a $L
timeout $(( $(left) - 5 )) python -m pytest tests/benchmarks -p no:cacheprovider --benchmark-only -q \
  -k "graphed and not fla and T_224 and (${SUITE_K:-cupy or triton or tilelang})" 2>&1 | grep -E "passed|failed|error|Error" | tee -a $L
echo "done ($SECONDS s)" | tee -a $L
