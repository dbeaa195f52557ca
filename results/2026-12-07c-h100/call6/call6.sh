#!/usr/bin/env bash
# Session 19 call 6: SAVE224=2 (16-byte state stores through shared tiles) on trial: parity, edges, memcheck, racecheck
# RACEFIX=1, bit-identity with SAVE224=1 (side by side), then timing (a1 | a2 twice, one process) and a per-kernel profile.
mkdir -p /tmp/tlc && tar -C /tmp/tlc -xJf .scratch/tlcache19.tar.xz
export TILELANG_CACHE_DIR=/tmp/tlc
source tools/device-setup.sh || exit 1
echo "cache entries: $(ls /tmp/tlc/0.1.15/linux-x86_64/kernels | wc -l); commit $1"
D=$OUT/c6; mkdir -p $D
python - <<'PY' 2>&1 | grep -v Warning
import time
from vig_kernels.tilelang import compile_kernel
for k in ("fwd_fused:s2:m3:x5:e1:p1:b1:a2", "bwd_adj:m6:v1", "fwd_fused:s2:m3:x5:e1:p1:b1:a1", "bwd_adj:m6",
          "fwd_fused:s2:m3:x5:e1:p1:b1", "bwd_states:s2:w1", "bwd_out2:t256:x4:s2:w1"):
    t = time.perf_counter(); compile_kernel(k, 32, 64, "bfloat16", "sm_90a"); print(f"load {k}: {time.perf_counter() - t:.1f} s", flush=True)
PY
echo "== side by side ($SECONDS s)"
( VIG_TILELANG_SAVE224=2 OUT=/tmp timeout 120 python tools/check_backend.py tilelang --parity > $D/parity.log 2>&1; echo "rc $?" >> $D/parity.log ) &
( VIG_TILELANG_SAVE224=2 timeout 120 python kernels/tilelang/dev_parity.py 1,2,17,31,32,33,63,64,65,100,150,196,223,224 > $D/edges.log 2>&1; echo "rc $?" >> $D/edges.log ) &
( VIG_TILELANG_SAVE224=2 OUT=/tmp timeout 120 compute-sanitizer --tool memcheck python tools/check_backend.py tilelang --small > $D/memcheck.log 2>&1; echo "rc $?" >> $D/memcheck.log ) &
( VIG_TILELANG_SAVE224=2 VIG_TILELANG_RACEFIX=1 OUT=/tmp timeout 120 compute-sanitizer --tool racecheck --print-limit 10000 python tools/check_backend.py tilelang --small > $D/racecheck.log 2>&1; echo "rc $?" >> $D/racecheck.log ) &
( timeout 120 python kernels/tilelang/dev_save_same.py > $D/same.log 2>&1; echo "rc $?" >> $D/same.log ) &
wait
echo "parity: $(grep -E 'parity cases pass' $D/parity.log | tail -1) $(tail -1 $D/parity.log)"
echo "edges: $(grep dev_parity $D/edges.log | tail -1) $(tail -1 $D/edges.log)"
grep -i "broke" $D/edges.log | head -3
echo "memcheck: $(grep 'ERROR SUMMARY' $D/memcheck.log | tail -1) $(tail -1 $D/memcheck.log)"
echo "racecheck RACEFIX=1: $(grep 'RACECHECK SUMMARY' $D/racecheck.log | tail -1) $(tail -1 $D/racecheck.log)"
grep -oh "at [a-z0-9_]*_kernel" $D/racecheck.log | sort | uniq -c
grep -v Warning $D/same.log
echo "== timing ($SECONDS s)"
timeout 150 python kernels/tilelang/dev_bench.py --versions v6s+v6/a1,v6s+v6/a2,v6s+v6/a1,v6s+v6/a2 ViG-T@224 ViG-S@224 ViG-B@224 2>&1 | grep -v Warning | tee $D/bench.log | grep ViG
echo "== profile ($SECONDS s)"
VIG_TILELANG_SAVE224=2 timeout 100 python tools/profile_op.py tilelang --shapes ViG-T@224,ViG-S@224,ViG-B@224 2>&1 | grep -v "Warn\|warn" | tee $D/profile.log | grep -A4 "fwd+bwd"
echo "done ($SECONDS s)"
