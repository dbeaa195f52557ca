#!/usr/bin/env bash
# Session 3, call 1: prove the two next-session forwards on the GPU (CuPy v3, Triton chunk-parallel) and time
# them against the shipped forwards in the same process. Priority-ordered, each step time-boxed.
set -u
source tools/device-setup.sh
export TILELANG_CACHE_DIR=$PWD/.tilelang-cache HYPOTHESIS_PROFILE=gpu
left() { echo $(( ${DEADLINE:-560} - SECONDS )); }
nvidia-smi --query-gpu=name,clocks.max.sm,memory.total --format=csv | tee $OUT/device.txt
L=$OUT/call1.log
{
echo "== 1 cupy v3 parity ($SECONDS s)"
VIG_CUPY_FWD=v3 timeout 120 python tools/check_backend.py cupy --parity
echo "== 2 triton cp parity ($SECONDS s)"
VIG_TRITON_FWD=cp timeout 170 python tools/check_backend.py triton --parity
echo "== 3 cupy bench chunked vs v3 ($SECONDS s)"
timeout 90 python kernels/cupy/dev_bench.py chunked,v3 chunked
echo "== 4 triton bench ($SECONDS s)"
timeout $(( $(left) > 150 ? 150 : $(left) )) python kernels/triton/dev_bench.py --parity-variants new_cp --lengths 65,300 \
  --variants new,new_cp,new_cp_stbf16,new_cp_c0,new_cp_cs128
echo "== 5 cupy v3 GPU suite ($SECONDS s, $(left) s left)"
VIG_CUPY_FWD=v3 timeout $(left) python -m pytest tests/test_backends.py -p no:cacheprovider -k cupy -v -x
echo "== 6 triton cp GPU suite ($SECONDS s, $(left) s left)"
VIG_TRITON_FWD=cp timeout $(left) python -m pytest tests/test_backends.py -p no:cacheprovider -k triton -v -x
echo "done ($SECONDS s)"
} 2>&1 | tee $L
