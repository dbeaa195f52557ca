#!/usr/bin/env bash
# Session 13, the one call (~520 s), FWD_DEFAULT flipped to v38 before it:
#  1. (<= 125 s, side by side) CuPy FINAL checks (A parity shipped = v38, B parity previous = v37 forward + v31
#     backward, C memcheck, D racecheck, E seg128), the edge-length parity of v38 (dev_parity --lengths), and the
#     GPU tests of the CuPy backend (-k cupy);
#  2. (~75 s, alone) dev_bench: fwd v37 | v38 | v37 | v38, f+b (v36 backward) v37 | v38 | v37 | v38, five shapes;
#  3. (the rest, alone) the benchmark suite with fla's peer.
source tools/device-setup.sh || exit 1
mkdir -p /tmp/c1/run /tmp/c1/final /tmp/c1/edge
keep() { rm -f /tmp/c1/*/*.json /tmp/c1/*/*/*.json; tar -C /tmp -czf "$OUT/c1.tgz.tmp" c1 2>/dev/null && mv "$OUT/c1.tgz.tmp" "$OUT/c1.tgz"; }
( while sleep 15; do keep; done ) &
KP=$!
( OUT=/tmp/c1/final FINAL=1 timeout 118 bash kernels/cupy/dev_gpu_check.sh >/dev/null 2>&1 ) &
P1=$!
( timeout 115 python kernels/cupy/dev_parity.py --lengths 1,17,33,49,65,196,208,224,225,256 > /tmp/c1/edge/edge.log 2>&1; echo "edge rc=$?" >> /tmp/c1/edge/edge.log ) &
P2=$!
sleep 3
OUT=/tmp/c1/run VIG_DEADLINE=122 bash tools/gpu-run.sh tests -- -k cupy >/dev/null 2>&1
echo "tests rc $? ($SECONDS s)"
wait $P1 $P2
echo "phase 1 done ($SECONDS s)"; keep
grep -h "" /tmp/c1/run/gpu-run.log
grep -hE "parity|SUMMARY|FAIL|hazards|rc=" /tmp/c1/final/cupy/cupy-gpu.log | tail -30
grep -vE "^ok " /tmp/c1/edge/edge.log | tail -12
FK=v26+N+R,v26+N,v26+N+R,v26+N
BK=v36s+N+R,v36s+N,v36s+N+R,v36s+N
timeout 100 python kernels/cupy/dev_bench.py $FK $BK ViG-T@224,ViG-S@224,ViG-B@224,ViG-T@1024,ViG-S@1024 > /tmp/c1/bench-v38.log 2>&1
echo "dev_bench rc $? ($SECONDS s)"; keep
grep -E "^(ViG|fwd|f\+b)|BITEXACT|DIFF" /tmp/c1/bench-v38.log | head -80
OUT=$OUT/bench VIG_DEADLINE=$(( 585 - SECONDS )) bash tools/gpu-run.sh bench >/dev/null 2>&1
echo "bench rc $? ($SECONDS s)"
kill $KP; keep
cat $OUT/bench/gpu-run.log; cat $OUT/bench/results.md 2>/dev/null
echo "done ($SECONDS s)"
