#!/usr/bin/env bash
# Next session's first call (~480 s): the FINAL checks of v39w (the default since session 14; previous = v37 + v31),
# the GPU tests (CuPy), then the benchmark suite with fla's peer (session 14's was cut). Template: call1.sh.
source tools/device-setup.sh || exit 1
mkdir -p /tmp/c5/run /tmp/c5/final
keep() { rm -f /tmp/c5/*/*.json /tmp/c5/*/*/*.json; tar -C /tmp -czf "$OUT/c5.tgz.tmp" c5 2>/dev/null && mv "$OUT/c5.tgz.tmp" "$OUT/c5.tgz"; }
( while sleep 15; do keep; done ) &
KP=$!
( OUT=/tmp/c5/final FINAL=1 timeout 118 bash kernels/cupy/dev_gpu_check.sh >/dev/null 2>&1 ) &
P1=$!
sleep 3
OUT=/tmp/c5/run VIG_DEADLINE=122 bash tools/gpu-run.sh tests -- -k cupy >/dev/null 2>&1
echo "tests rc $? ($SECONDS s)"
wait $P1; keep
grep -h "" /tmp/c5/run/gpu-run.log
grep -hE "parity|SUMMARY|FAIL|hazards|rc=" /tmp/c5/final/cupy/cupy-gpu.log | tail -30
timeout 60 python kernels/cupy/dev_bench.py v26+N+R,v26+N,v26+N+R,v26+N v36s+N ViG-T@224,ViG-T@1024 > /tmp/c5/bench-v39w.log 2>&1
grep -E "fwd|f\+b" /tmp/c5/bench-v39w.log | cut -c1-150
OUT=$OUT/bench VIG_DEADLINE=$(( ${DL:-585} - SECONDS )) bash tools/gpu-run.sh bench >/dev/null 2>&1
echo "bench rc $? ($SECONDS s)"
kill $KP; keep
cat $OUT/bench/gpu-run.log; cat $OUT/bench/results.md 2>/dev/null
echo "done ($SECONDS s)"
