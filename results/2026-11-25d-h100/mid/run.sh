#!/usr/bin/env bash
# Session 4, mid call: each helper's GPU check of its new kernels (kernels/<b>/dev_gpu_check.sh, parity
# first, then old vs new timings; <= HELPER_S s each, results under $OUT/<b>/).
set -u
source tools/device-setup.sh
export TILELANG_CACHE_DIR=$PWD/.tilelang-cache HYPOTHESIS_PROFILE=gpu CUPY_CHECK_FINAL=0 FINAL=0
mkdir -p $OUT/lead
L=$OUT/lead/lead.log
git log -1 --format='HEAD %h %s' 2>/dev/null | cut -c1-100 | tee -a $L
git status --short 2>/dev/null | head -30 | tee -a $L
for b in ${HELPERS:-cupy triton tilelang}; do
  if [[ -f kernels/$b/dev_gpu_check.sh ]]; then
    echo "== $b dev_gpu_check ($SECONDS s)" | tee -a $L
    mkdir -p $OUT/$b
    timeout ${HELPER_S:-175} bash kernels/$b/dev_gpu_check.sh >/dev/null 2>&1; echo "$b: rc $? ($SECONDS s)" | tee -a $L
  fi
done
echo "done ($SECONDS s)" | tee -a $L
