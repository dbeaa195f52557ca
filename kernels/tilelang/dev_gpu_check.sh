#!/usr/bin/env bash
# TileLang GPU check, final call of session 4 (<= 110 s; the call already ran the setup).
# Shipped defaults since the mid call (.device/2/tilelang): bf16 with head dims 32 / 64 runs
# bwd_out2 on 256 threads (VIG_TILELANG_BWD_OUT=v2, BWD_OUT2_THREADS = 256; the mid call proved
# the 128-thread build 90/90 at L = 1..300 and the 256-thread build on the 5 bf16 cases at
# L = 196 before its time ran out) at every L (the v6 backward for L <= 224, the v5 one beyond),
# and the gradients are not zero-filled (VIG_TILELANG_GRAD_EMPTY=1). Forward unchanged.
# 1. parity of the shipped defaults: check_backend --parity (120 cases: L = 1..4096, 5 gate
#    regimes, bf16 / fp16 / fp32) -> $OUT/tilelang/tilelang-check.json;
# 2. compute-sanitizer memcheck on --small (L = 65, three dtypes, fwd+bwd) of the defaults;
# 3. (time left) fwd / fwd+bwd of the defaults at ViG-B@224 (not reached in the mid call).
# If 1 fails on bf16 only: VIG_TILELANG_BWD_OUT_THREADS=128 is the fully proven build,
# VIG_TILELANG_BWD_OUT=v1 VIG_TILELANG_GRAD_EMPTY=0 the previous defaults.
# Writes $OUT/tilelang/tilelang.log and tilelang-check.json.
set -u
export TILELANG_CACHE_DIR=${TILELANG_CACHE_DIR:-$PWD/.tilelang-cache}
D=${OUT:-/tmp}/tilelang
mkdir -p "$D"
left() { echo $(( 106 - SECONDS )); }
lim() { local l; l=$(left); echo $(( l < $1 ? (l > 1 ? l : 1) : $1 )); }
{
echo "== tilelang final: $(date -u +%H:%M:%S) defaults $(python -c 'import vig_kernels.tilelang as t; print(t.fwd_version(), t.bwd_version(), t.BWD_OUT_DEFAULT, t.BWD_OUT2_THREADS, t.GRAD_EMPTY_DEFAULT)' 2>/dev/null)"
echo "== 1 parity, shipped defaults ($SECONDS s)"
OUT=$D timeout $(lim 68) python tools/check_backend.py tilelang --parity
echo "== 2 memcheck --small, defaults ($SECONDS s, $(left) s left)"
[ "$(left)" -gt 15 ] && OUT=/tmp timeout $(lim 40) compute-sanitizer --tool memcheck python tools/check_backend.py tilelang --small
echo "== 3 fwd / fwd+bwd, defaults, ViG-B@224 ($SECONDS s, $(left) s left)"
[ "$(left)" -gt 10 ] && timeout $(lim 15) python kernels/tilelang/dev_bench.py --versions v6 ViG-B@224
echo "done ($SECONDS s)"
} 2>&1 | tee "$D/tilelang.log"
