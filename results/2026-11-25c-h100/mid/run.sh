#!/usr/bin/env bash
# Session 3, mid call: each helper's first GPU check of its new kernels (kernels/<b>/dev_gpu_check.sh,
# <= 150 s each, results under $OUT/<b>/), then the lead's host/kernel profile of every backend and a
# capture check of the graphed forward+backward benchmark.
set -u
source tools/device-setup.sh
export TILELANG_CACHE_DIR=$PWD/.tilelang-cache HYPOTHESIS_PROFILE=gpu
mkdir -p $OUT/lead
for b in ${HELPERS:-cupy triton tilelang}; do
  if [[ -f kernels/$b/dev_gpu_check.sh ]]; then
    echo "== $b dev_gpu_check ($SECONDS s)" | tee -a $OUT/lead/lead.log
    mkdir -p $OUT/$b
    timeout 170 bash kernels/$b/dev_gpu_check.sh; echo "$b: rc $? ($SECONDS s)" | tee -a $OUT/lead/lead.log
  fi
done
left=$(( ${DEADLINE:-560} - SECONDS ))
echo "== lead profile ($SECONDS s, $left s left)" | tee -a $OUT/lead/lead.log
(( left > 40 )) && OUT=$OUT/lead timeout $(( left > 100 ? 70 : left - 30 )) python tools/profile_op.py null,cupy,triton,tilelang \
  --shapes ViG-T@224,ViG-S@224 2>&1 | grep -v -i warn | tee -a $OUT/lead/lead.log
left=$(( ${DEADLINE:-560} - SECONDS ))
echo "== graphed capture check ($SECONDS s, $left s left)" | tee -a $OUT/lead/lead.log
(( left > 20 )) && timeout $(( left - 10 )) python -m pytest tests/benchmarks -p no:cacheprovider --benchmark-only -q \
  -k "graphed and not fla and T_224" 2>&1 | tail -15 | tee -a $OUT/lead/lead.log
echo "done ($SECONDS s)" | tee -a $OUT/lead/lead.log
