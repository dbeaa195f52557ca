#!/usr/bin/env bash
# CuPy backend, GPU check (session 4, issue #6: v2.6 = the batched segment scan, the forward's
# token-major V / Ki tiles + 16-byte output stores, the backward's token-major tiles + padded fp32
# tiles; VIG_CUPY_SCAN=batched, VIG_CUPY_FWD=v26, VIG_CUPY_BWD=v26 | v26p).
# Run by the lead as `bash kernels/cupy/dev_gpu_check.sh` inside a device call whose command already
# sourced tools/device-setup.sh. Writes $OUT/cupy/cupy-gpu.log (everything, tee'd progressively)
# and $OUT/cupy/cupy-check.json (the parity cases of the first parity process).
#   CUPY_CHECK_FINAL=0 (the mid call, <= 150 s): parity of the new variants (two processes)
#     beside memcheck and racecheck of the new kernels (segments forced), then dev_bench old vs new
#     in one process at all five shapes (eager and CUDA-graphed), then a short ncu if time is left.
#   CUPY_CHECK_FINAL=1 (default since the mid call; the final call, <= 110 s, no timing): parity of
#     the shipped defaults (every VIG_CUPY_* unset: v26 forward, batched scan, v26p backward, saved
#     states) and of the previous defaults (CUPY_FINAL_ALT), memcheck and racecheck of the shipped
#     defaults on --small with VIG_CUPY_MAX_SEG=64, four processes side by side.
set -u
D=${OUT:-/tmp/out}/cupy
mkdir -p "$D"
LOG=$D/cupy-gpu.log
T0=$SECONDS
el() { echo $(( SECONDS - T0 )); }
left() { echo $(( 145 - (SECONDS - T0) )); }
FINAL=${CUPY_CHECK_FINAL:-1}
S=/tmp/cupy-side
rm -rf $S; mkdir -p $S/a $S/b $S/mc $S/rc
unset VIG_CUPY_BWD VIG_CUPY_FWD VIG_CUPY_SCAN VIG_CUPY_SAVE_STATES VIG_CUPY_BWD_SEG VIG_CUPY_MAX_SEG \
  VIG_CUPY_BWD_LONG
# the variants under test (mid call) / the alternative to the shipped defaults (final call)
NEWA="VIG_CUPY_FWD=v26 VIG_CUPY_SCAN=batched VIG_CUPY_BWD=v26 VIG_CUPY_SAVE_STATES=1"
NEWB="VIG_CUPY_FWD=v26 VIG_CUPY_SCAN=batched VIG_CUPY_BWD=v26p VIG_CUPY_SAVE_STATES=0"
if [ "$FINAL" = "1" ]; then
  NEWA=""                                   # the shipped defaults
  # the previous defaults (v2.3 forward, serial scan, v2.5 backward, no saved states): the
  # fallback must stay correct
  NEWB=${CUPY_FINAL_ALT-"VIG_CUPY_FWD=chunked VIG_CUPY_SCAN=serial VIG_CUPY_BWD=v25 VIG_CUPY_SAVE_STATES=0"}
fi
{
echo "== 0 device ($(el) s), final=$FINAL"
nvidia-smi --query-gpu=name,clocks.max.sm,memory.total --format=csv,noheader
git log -1 --format='HEAD %h %s' 2>/dev/null | cut -c1-100
git status --short kernels/cupy tests/test_cupy_compile.py 2>/dev/null | head -20
grep -E '^(FWD|BWD|SCAN)_DEFAULT|VIG_CUPY_SAVE_STATES", "' kernels/cupy/__init__.py

# 1. parity first (the contract's 120 cases; fp32 stays v1): A = "$NEWA" here, B = "$NEWB" beside it,
# memcheck and racecheck of A's kernels on --small with 64-token segments (L = 65: two segments in
# the forward and the backward, every scan, the state passes), four processes side by side.
echo "== 1 parity A [$NEWA] | parity B [$NEWB] | memcheck A | racecheck A ($(el) s)"
( env $NEWB OUT=$S/b timeout 100 python tools/check_backend.py cupy --parity \
    > $S/parity-b.log 2>&1; echo "parity B rc=$?" >> $S/parity-b.log ) &
P1=$!
( env $NEWA VIG_CUPY_MAX_SEG=64 PYTORCH_NO_CUDA_MEMORY_CACHING=1 OUT=$S/mc \
    timeout 100 compute-sanitizer --tool memcheck python tools/check_backend.py cupy --small \
    > $S/memcheck.log 2>&1; echo "memcheck rc=$?" >> $S/memcheck.log ) &
P2=$!
( env $NEWA VIG_CUPY_MAX_SEG=64 OUT=$S/rc \
    timeout 100 compute-sanitizer --tool racecheck python tools/check_backend.py cupy --small \
    > $S/racecheck.log 2>&1; echo "racecheck rc=$?" >> $S/racecheck.log ) &
P3=$!
env $NEWA OUT=$D timeout 100 python tools/check_backend.py cupy --parity
echo "parity A rc=$? ($(el) s)"
wait $P1 $P2 $P3
echo "== 1b parity B [$NEWB] (done at $(el) s)"
grep -v "^ok " $S/parity-b.log | tail -n 30
echo "== 1c memcheck"; tail -n 12 $S/memcheck.log
echo "== 1d racecheck"; tail -n 12 $S/racecheck.log

if [ "$FINAL" != "1" ]; then
  # 2. timing, old vs new in one process (eager and CUDA-graphed), the 1024-px shapes first:
  # forward v2.3 (serial scan), v2.3 + batched scan, v2.6 (tiles + batched scan), v2.6 with
  # 128-token segments;
  # f+b v2.5 (the shipped default) vs v2.5 + batched scan, v2.6, v2.6p, v2.6 + saved states, and
  # that with 128-token segments (each kind sets its own forward, see dev_bench).
  echo "== 2 bench ($(el) s, $(left) s left)"
  timeout $(( $(left) > 78 ? 78 : $(left) )) python kernels/cupy/dev_bench.py chunked,chunkedb,v26,v26@128 \
    v25,v25b,v26,v26p,v26s,v26s@128 ViG-T@1024,ViG-S@1024,ViG-S@224,ViG-T@224,ViG-B@224
  echo "bench rc=$? ($(el) s)"
  # 3. a short profile of the new scan and forward at ViG-T@1024 (mode 0, scan, mode 1).
  if [ "$(left)" -gt 22 ] && command -v ncu >/dev/null; then
    echo "== 3 ncu bigla_tc_fwd / bigla_tc_scan2 (v26, ViG-T@1024) ($(el) s, $(left) s left)"
    env $NEWA timeout $(( $(left) - 3 )) ncu --section SpeedOfLight --section WarpStateStats \
      --section LaunchStats --section MemoryWorkloadAnalysis_Tables -k regex:bigla_tc_ -c 3 \
      python kernels/cupy/dev_prof.py ViG-T@1024 2>&1 | grep -v "^    ---" \
      | grep -E "bigla|Duration|Registers|Warp Cycles|Issue|Bank|bank|Throughput|Stall|stall" | head -60
  fi
fi
echo "== done ($(el) s)"
} 2>&1 | tee "$LOG"
