#!/usr/bin/env bash
# Session 19 call 1: SAVE224 (fwd_fused:...:a1 + bwd_adj:m6) on trial: parity, edge lengths, memcheck, timing, profile.
mkdir -p /tmp/tlc && tar -C /tmp/tlc -xJf .scratch/tlcache19.tar.xz
export TILELANG_CACHE_DIR=/tmp/tlc
source tools/device-setup.sh || exit 1
echo "cache entries: $(ls /tmp/tlc/0.1.15/linux-x86_64/kernels | wc -l); commit $(git log -1 --format=%h 2>/dev/null) $1"
mkdir -p $OUT/c1
python - <<'PY' 2>&1 | grep -v Warning
import time
from vig_kernels.tilelang import compile_kernel
for k in ("fwd_fused:s2:m3:x5:e1:p1:b1:a1", "bwd_adj:m6", "fwd_fused:s2:m3:x5:e1:p1:b1", "bwd_states:s2:w1", "bwd_out2:t256:x4:s2:w1"):
    t = time.perf_counter(); compile_kernel(k, 32, 64, "bfloat16", "sm_90a"); print(f"load {k}: {time.perf_counter() - t:.1f} s", flush=True)
PY
echo "== parity side by side ($SECONDS s)"
( VIG_TILELANG_SAVE224=1 OUT=/tmp timeout 150 python tools/check_backend.py tilelang --parity > $OUT/c1/parity.log 2>&1; echo "rc $?" >> $OUT/c1/parity.log ) &
( VIG_TILELANG_SAVE224=1 timeout 150 python kernels/tilelang/dev_parity.py 1,2,17,31,32,33,63,64,65,100,150,196,223,224 > $OUT/c1/edges.log 2>&1; echo "rc $?" >> $OUT/c1/edges.log ) &
( VIG_TILELANG_SAVE224=1 OUT=/tmp timeout 150 compute-sanitizer --tool memcheck python tools/check_backend.py tilelang --small > $OUT/c1/memcheck.log 2>&1; echo "rc $?" >> $OUT/c1/memcheck.log ) &
wait
echo "parity: $(grep -E 'parity cases pass|pass,' $OUT/c1/parity.log | tail -1) $(tail -1 $OUT/c1/parity.log)"
grep -v " ok " $OUT/c1/parity.log | tail -5
echo "edges: $(grep dev_parity $OUT/c1/edges.log | tail -1) $(tail -1 $OUT/c1/edges.log)"
grep -i "broke\|FAIL" $OUT/c1/edges.log | head -5
echo "memcheck: $(grep 'ERROR SUMMARY' $OUT/c1/memcheck.log | tail -1) $(tail -1 $OUT/c1/memcheck.log)"
echo "== timing ($SECONDS s)"
timeout 200 python kernels/tilelang/dev_bench.py --versions v6s+v6,v6s+v6/a1,v6s+v6,v6s+v6/a1 ViG-T@224 ViG-S@224 ViG-B@224 2>&1 | grep -v Warning | tee $OUT/c1/bench.log
echo "== profile ($SECONDS s)"
VIG_TILELANG_SAVE224=1 timeout 120 python tools/profile_op.py tilelang --shapes ViG-T@224,ViG-S@224,ViG-B@224 2>&1 | grep -v Warning | tee $OUT/c1/profile.log | head -60
echo "done ($SECONDS s)"
