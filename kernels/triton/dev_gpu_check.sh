#!/usr/bin/env bash
# Triton GPU check for the lead's FINAL call (<= 110 s; the call already ran the setup). No timing.
# Shipped since the mid call (19:14 UTC, /work/.device/2/triton/triton.log; NOTES.md v2.6):
#   * bf16 dot operands in the v2.2 backward kernel for bf16 inputs (DOT_BF16["BWD"]; measured 12-16 % faster
#     CUDA-graphed at ViG-S/B@224, ViG-T@224, ViG-T@1024) -- NOT yet parity-checked on the GPU in this kernel
#     (it was in the par kernel: 104/104, session 3). VIG_TRITON_DOT_BWD=tf32 restores v2.2's tf32 operands;
#   * VIG_TRITON_BSEG=v26 (backward segment machinery, L > 512 only): GPU parity 24/24 in the mid call
#     (L 65 / 300 / 4096 in 2 / 5 / 64 segments, bf16 / fp32, four regimes). VIG_TRITON_BSEG=v22 restores v2.2's.
# 1. parity of the shipped defaults, check_backend --parity (120 cases: L 1..300 unsegmented, L 4096 in 64
#    segments, last; time-boxed);
# 2. compute-sanitizer memcheck on check_backend --small (L 65, three dtypes) with segments forced
#    (VIG_TRITON_SEG_MIN_L=32: 2 segments at L 65, so the new v2.6 scan / carry kernels run under memcheck);
# 3. if time is left: dev_bench parity of the defaults at L 4096 (bf16 / fp32 x model, neg_inf, patchy).
# Writes $OUT/triton/triton.log and $OUT/triton/triton-check.json (step 1).
set -u
D=${OUT:-/tmp}/triton
mkdir -p "$D"
left() { echo $(( 105 - SECONDS )); }
{
echo "== triton final: $(date -u +%H:%M:%S) $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null)"
echo "== 1 parity of the shipped defaults (bf16 backward dots, v26 segments), check_backend --parity ($SECONDS s)"
OUT=$D timeout 52 python tools/check_backend.py triton --parity
echo "== 2 memcheck, defaults, segments from L 33 (VIG_TRITON_SEG_MIN_L=32), --small ($SECONDS s, $(left) s left)"
[ "$(left)" -gt 15 ] && VIG_TRITON_SEG_MIN_L=32 OUT=/tmp timeout $(( $(left) > 55 ? 42 : $(left) )) \
  compute-sanitizer --tool memcheck python tools/check_backend.py triton --small 2>&1 | grep -v -i "warn"
echo "== 3 parity of the defaults at L 4096 ($SECONDS s, $(left) s left)"
[ "$(left)" -gt 12 ] && timeout $(left) python kernels/triton/dev_bench.py --parity-only \
  --parity-variants new --lengths 4096 --dtypes bfloat16,float32 --regimes model,neg_inf,patchy
echo "done ($SECONDS s)"
} 2>&1 | tee "$D/triton.log"
