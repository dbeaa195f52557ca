#!/usr/bin/env bash
# Session 11, call 5 (~420 s): MID of VIG_TILELANG_FTZ=1/2 and VIG_TRITON_FTZ=1 (each backend's dev_gpu_check.sh,
# FINAL=0): parity side by side, then each timing alone; then, if time is left, ncu of CuPy's forward v30 vs v37 at
# T@224 (call 4's diagnostic, never run). Logs under /tmp/c5, packed into $OUT/c5.tgz every 15 s and after each phase.
source tools/device-setup.sh || exit 1
mkdir -p /tmp/c5
keep() { rm -f /tmp/c5/*/*.json; tar -C /tmp -czf "$OUT/c5.tgz.tmp" c5 2>/dev/null && mv "$OUT/c5.tgz.tmp" "$OUT/c5.tgz"; }
( while sleep 15; do keep; done ) &
KP=$!
( OUT=/tmp/c5 FINAL=0 MID_PHASE=parity MID_BOX=118 MID_PAR_S=112 timeout 122 bash kernels/tilelang/dev_gpu_check.sh >/dev/null 2>&1 ) &
P1=$!
sleep 20
( OUT=/tmp/c5 FINAL=0 MID_PHASE=parity MID_BOX=100 MID_PAR_S=96 timeout 104 bash kernels/triton/dev_gpu_check.sh >/dev/null 2>&1 ) &
P2=$!
wait $P1 $P2
echo "parity done ($SECONDS s)"; keep
grep -hE "parity:|parity cases|ERROR SUMMARY|FAIL|passed|failed|worst" /tmp/c5/*/*.log 2>/dev/null | grep -v "^\[" | tail -40
OUT=/tmp/c5 FINAL=0 MID_PHASE=timing MID_BOX=115 timeout 119 bash kernels/tilelang/dev_gpu_check.sh >/dev/null 2>&1
echo "tilelang timing rc $? ($SECONDS s)"; keep
OUT=/tmp/c5 FINAL=0 MID_PHASE=timing MID_BOX=80 timeout 84 bash kernels/triton/dev_gpu_check.sh >/dev/null 2>&1
echo "triton timing rc $? ($SECONDS s)"; keep
grep -hE "v6s\+v6|new" /tmp/c5/tilelang/*.log /tmp/c5/triton/*.log 2>/dev/null | grep -E "fwd|graphed|ms" | tail -60
if [ $SECONDS -lt 360 ]; then
  M=gpu__time_duration.sum,launch__registers_per_thread,launch__occupancy_limit_shared_mem,launch__occupancy_limit_registers,launch__waves_per_multiprocessor,sm__warps_active.avg.pct_of_peak_sustained_active,smsp__issue_active.avg.pct_of_peak_sustained_active,smsp__inst_executed.sum,smsp__average_warps_issue_stalled_long_scoreboard_per_issue_active.ratio,smsp__average_warps_issue_stalled_barrier_per_issue_active.ratio,smsp__average_warps_issue_stalled_short_scoreboard_per_issue_active.ratio,smsp__average_warps_issue_stalled_mio_throttle_per_issue_active.ratio
  for f in v30 v37; do
    echo "== ncu cupy fwd $f ViG-T@224 ($SECONDS s)"
    VIG_CUPY_FWD=$f timeout 40 ncu --clock-control none --csv --metrics $M -k regex:bigla_tc_fwd -c 1 \
      python kernels/cupy/dev_prof.py ViG-T@224 2>&1 | grep '"bigla_tc_fwd' | awk -F'","' '{v=$NF; sub(/"$/,"",v); print "  " $(NF-2), v}'
  done 2>&1 | tee /tmp/c5/ncu-cupy-fwd.log
fi
kill $KP; keep
echo "done ($SECONDS s)"
