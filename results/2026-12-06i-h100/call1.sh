#!/usr/bin/env bash
# Session 14, call 1 (~540 s), FWD_DEFAULT flipped to v39 before it:
#  1. (<= 125 s, side by side) CuPy FINAL checks (A parity shipped = v39, B parity previous = v37 forward + v31
#     backward, C memcheck, D racecheck, E seg128), the edge-length parity of v39 (dev_parity --lengths), and the
#     GPU tests of the CuPy backend (-k cupy);
#  2. (~100 s, alone) dev_bench: fwd v37 | v39 | v37 | v39, f+b v37 | v39 | v39+BWD_MINB=3, twice, five shapes;
#  3. (the rest, alone) the benchmark suite with fla's peer.
source tools/device-setup.sh || exit 1
mkdir -p /tmp/c4/run /tmp/c4/final /tmp/c4/edge
keep() { rm -f /tmp/c4/*/*.json /tmp/c4/*/*/*.json; tar -C /tmp -czf "$OUT/c4.tgz.tmp" c4 2>/dev/null && mv "$OUT/c4.tgz.tmp" "$OUT/c4.tgz"; }
( while sleep 15; do keep; done ) &
KP=$!
( OUT=/tmp/c4/final FINAL=1 timeout 118 bash kernels/cupy/dev_gpu_check.sh >/dev/null 2>&1 ) &
P1=$!
( timeout 115 python kernels/cupy/dev_parity.py --lengths 1,17,33,49,65,196,208,224,225,256 > /tmp/c4/edge/edge.log 2>&1; echo "edge rc=$?" >> /tmp/c4/edge/edge.log ) &
P2=$!
sleep 3
OUT=/tmp/c4/run VIG_DEADLINE=122 bash tools/gpu-run.sh tests -- -k cupy >/dev/null 2>&1
echo "tests rc $? ($SECONDS s)"
wait $P1 $P2
echo "phase 1 done ($SECONDS s)"; keep
grep -h "" /tmp/c4/run/gpu-run.log
grep -hE "parity|SUMMARY|FAIL|hazards|rc=" /tmp/c4/final/cupy/cupy-gpu.log | tail -30
grep -vE "^ok " /tmp/c4/edge/edge.log | tail -12
FK=v26+N+R,v26+N,v26+N+R,v26+N
BK=v36s+N+R,v36s+N,v36s+N+U,v36s+N+R,v36s+N,v36s+N+U
timeout 125 python kernels/cupy/dev_bench.py $FK $BK ViG-T@224,ViG-S@224,ViG-B@224,ViG-T@1024,ViG-S@1024 > /tmp/c4/bench-v39.log 2>&1
echo "dev_bench rc $? ($SECONDS s)"; keep
grep -E "^(ViG|fwd|f\+b)|BITEXACT|DIFF" /tmp/c4/bench-v39.log | head -80
M=gpu__time_duration.sum,launch__occupancy_limit_shared_mem,launch__occupancy_limit_registers,launch__registers_per_thread,\
launch__shared_mem_per_block_dynamic,sm__warps_active.avg.pct_of_peak_sustained_active,smsp__issue_active.avg.pct_of_peak_sustained_active
[ $SECONDS -lt $(( ${DL:-585} - 200 )) ] && for fk in v39 v37; do echo "ncu $fk"; VIG_CUPY_FWD=$fk timeout 28 ncu --clock-control none --csv --metrics $M -k regex:bigla_tc_fwd -c 2 python kernels/cupy/dev_prof.py ViG-S@224 2>&1 \
    | grep '"bigla_tc_fwd' | awk -F'","' '{v=$NF; sub(/"$/,"",v); print "  " $(NF-2), v}' | tee -a /tmp/c4/ncu.log; done
echo "ncu done ($SECONDS s)"
OUT=$OUT/bench VIG_DEADLINE=$(( ${DL:-585} - SECONDS )) bash tools/gpu-run.sh bench >/dev/null 2>&1
echo "bench rc $? ($SECONDS s)"
kill $KP; keep
cat $OUT/bench/gpu-run.log; cat $OUT/bench/results.md 2>/dev/null
echo "done ($SECONDS s)"
