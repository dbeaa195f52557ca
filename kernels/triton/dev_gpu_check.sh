#!/usr/bin/env bash
# Triton GPU check for the lead's proof call (<= 110 s; the call already ran the setup). No timing.
# What changed since the mid call (16:32 UTC): the launcher only (kernels unchanged): knobs read
# once, fewer allocations (fp32 scratch and dgf/dgb in one buffer each), and no segments for
# L <= 512 (VIG_TRITON_SEG_MIN_L; before: segments whenever B*H < 512, e.g. ViG-T@224).
# 1. parity of the shipped default (v2.2 kernels, new launcher), check_backend --parity, 120 cases;
# 2. compute-sanitizer memcheck on check_backend --small (L 65, three dtypes) of the default;
# 3. the same with segments forced (VIG_TRITON_SEG_MIN_L=32: 2 segments at L 65), if time is left.
# Writes $OUT/triton/triton.log and $OUT/triton/triton-check.json (step 1).
set -u
D=${OUT:-/tmp}/triton
mkdir -p "$D"
left() { echo $(( 105 - SECONDS )); }
{
echo "== triton proof: $(date -u +%H:%M:%S) $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null)"
echo "== 1 default parity, check_backend --parity ($SECONDS s)"
OUT=$D timeout 70 python tools/check_backend.py triton --parity
echo "== 2 memcheck, default, --small ($SECONDS s, $(left) s left)"
[ "$(left)" -gt 15 ] && OUT=/tmp timeout $(left) compute-sanitizer --tool memcheck \
  python tools/check_backend.py triton --small 2>&1 | grep -v -i "warn"
echo "== 3 memcheck, segments forced (VIG_TRITON_SEG_MIN_L=32), --small ($SECONDS s, $(left) s left)"
[ "$(left)" -gt 15 ] && VIG_TRITON_SEG_MIN_L=32 OUT=/tmp timeout $(left) compute-sanitizer --tool memcheck \
  python tools/check_backend.py triton --small 2>&1 | grep -v -i "warn"
echo "done ($SECONDS s)"
} 2>&1 | tee "$D/triton.log"
