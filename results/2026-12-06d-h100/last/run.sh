#!/usr/bin/env bash
# Session 9, last call (~440 s), from the root of a `git archive` snapshot of the commit under test
# (VIG_COMMIT exported by the caller), after the flips of the mid call (CuPy BWD v31; TileLang
# BWD_VIEWS 2, BWD_SEG 128) and Triton's cleanup (the pre-DX kernels removed):
#  1a. side by side: FINAL checks of TileLang and Triton (parity of the shipped and previous defaults,
#      memcheck) and two TileLang racechecks with their whole reports (the mid call's racecheck of the
#      1024-px kernels kept only its tail: which kernels the 7 hazards were in is not known): the
#      session-9 kernels alone (dev_prof_seg --san-seg) and one shipped fwd+bwd at L = 225 / 449;
#      and CuPy's MID parity (v34, round 3; its side processes share /tmp paths with the FINAL's);
#  1b. side by side: CuPy's FINAL (parity shipped / previous, memcheck, racecheck, seg128) and parity of
#      v31q (v31's fallback where 32-bit offsets do not reach);
#  2.  CuPy's MID timing alone;
#  3.  the benchmark suite on the shipped defaults (fla's peer left out: ~6 min of autotuning).
# Logs go under /tmp/last and are packed into $OUT/last.tgz after each phase (the device returns <= 8 files).
source tools/device-setup.sh || exit 1
export TILELANG_CACHE_DIR=$PWD/.tilelang-cache
L=/tmp/last; mkdir -p $L/final $L/mid $L/rc
keep() { rm -f $L/*/*/*.json $L/*/*.json; tar -C /tmp -czf "$OUT/last.tgz" last; }
rcfull() {  # racecheck NAME ARGS...: the whole report kept, the hazards' kernels and lines summarised
  local n=$1; shift
  timeout ${RC_S:-125} compute-sanitizer --tool racecheck --print-limit 200 python "$@" > $L/rc/$n.log 2>&1
  echo "rc $?" >> $L/rc/$n.log
}
( OUT=$L/final FINAL=1 timeout 118 bash kernels/tilelang/dev_gpu_check.sh >/dev/null 2>&1 ) &
( OUT=$L/final FINAL=1 timeout 118 bash kernels/triton/dev_gpu_check.sh >/dev/null 2>&1 ) &
( rcfull seg kernels/tilelang/dev_prof_seg.py --san-seg ) &
( rcfull shipped kernels/tilelang/dev_prof_seg.py --san ) &
( OUT=$L/mid FINAL=0 MID_PHASE=parity MID_BOX=110 MID_PAR_S=104 timeout 114 bash kernels/cupy/dev_gpu_check.sh >/dev/null 2>&1 ) &
wait; keep
( OUT=$L/final FINAL=1 CUPY_CHECK_FINAL=1 timeout 118 bash kernels/cupy/dev_gpu_check.sh >/dev/null 2>&1 ) &
( OUT=$L/rc VIG_CUPY_BWD=v31q timeout 110 python tools/check_backend.py cupy --parity > $L/rc/cupy-v31q.log 2>&1 ) &
wait; keep
grep -hE "parity:|parity cases|ERROR SUMMARY|RACECHECK SUMMARY|same|seg128|FAIL" $L/*/*/*.log $L/rc/*.log | tail -50
for f in $L/rc/seg.log $L/rc/shipped.log; do
  echo "== $f"; grep -oE "(Read|Write) access at [a-zA-Z0-9_]+\+0x[0-9a-f]+ in [a-z_.]+:[0-9]+" $f | sort | uniq -c | head -20
  grep -E "RACECHECK SUMMARY|^rc " $f
done
OUT=$L/mid FINAL=0 MID_PHASE=timing MID_BOX=64 timeout 68 bash kernels/cupy/dev_gpu_check.sh >/dev/null 2>&1
echo "cupy timing rc $?"; keep
grep -hE "graphed|BITEXACT" $L/mid/*/*.log | tail -40
VIG_SKIP_FLA=1 VIG_DEADLINE=${BENCH_S:-115} bash tools/gpu-run.sh bench
cat "$OUT/results.md" 2>/dev/null | head -24
find "$OUT" -type f | sort
