#!/usr/bin/env bash
# Session 11, call 1 (~500 s): MID of CuPy v36 / v37 and TileLang FWD_TILE; FINAL of Triton and TileLang (shipped).
#  1. TileLang MID parity | Triton FINAL (side by side, ~122 s)
#  2. CuPy MID parity | TileLang FINAL (side by side, ~122 s)
#  3. timing alone: CuPy MID (70 s), TileLang MID (66 s)
# Logs under /tmp/c1, packed into $OUT/c1.tgz every 15 s and after each phase.
source tools/device-setup.sh || exit 1
mkdir -p /tmp/c1/final
keep() { rm -f /tmp/c1/*/*.json; tar -C /tmp -czf "$OUT/c1.tgz.tmp" c1 2>/dev/null && mv "$OUT/c1.tgz.tmp" "$OUT/c1.tgz"; }
( while sleep 15; do keep; done ) &
KP=$!
( OUT=/tmp/c1 FINAL=0 MID_PHASE=parity MID_BOX=118 MID_PAR_S=112 timeout 122 bash kernels/tilelang/dev_gpu_check.sh >/dev/null 2>&1 ) &
sleep 20
( OUT=/tmp/c1/final FINAL=1 VIG_CHECKS=triton VIG_CHECK_S=115 bash tools/gpu-run.sh checks >/dev/null 2>&1; mv /tmp/c1/final/gpu-run.log /tmp/c1/final/gpu-run-triton.log ) &
wait $(jobs -p | grep -v "^$KP$")
echo "phase 1 done ($SECONDS s)"; keep
( OUT=/tmp/c1 FINAL=0 MID_PHASE=parity MID_BOX=118 MID_PAR_S=110 timeout 122 bash kernels/cupy/dev_gpu_check.sh >/dev/null 2>&1 ) &
P1=$!
( OUT=/tmp/c1/final FINAL=1 VIG_CHECKS=tilelang VIG_CHECK_S=115 bash tools/gpu-run.sh checks >/dev/null 2>&1; mv /tmp/c1/final/gpu-run.log /tmp/c1/final/gpu-run-tilelang.log ) &
P2=$!
wait $P1 $P2
echo "phase 2 done ($SECONDS s)"; keep
grep -hE "parity:|parity cases|ERROR SUMMARY|RACECHECK SUMMARY|hazards in|same|BITEXACT|FAIL|passed|failed|worst" /tmp/c1/*/*.log /tmp/c1/final/*.log 2>/dev/null | tail -80
for b in cupy tilelang; do
  T=70; [ $b = tilelang ] && T=66
  OUT=/tmp/c1 FINAL=0 MID_PHASE=timing MID_BOX=$T timeout $(( T + 4 )) bash kernels/$b/dev_gpu_check.sh >/dev/null 2>&1
  echo "$b timing rc $? ($SECONDS s)"; keep
done
kill $KP
grep -hE "BITEXACT|graphed|ViG-|CHECK" /tmp/c1/cupy/*.log /tmp/c1/tilelang/*.log 2>/dev/null | tail -120
echo "done ($SECONDS s)"
