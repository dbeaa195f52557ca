#!/usr/bin/env bash
# CuPy backend, GPU check (session 3, issue #6: the rebalanced backward, VIG_CUPY_BWD=v25 / v24).
# Run by the lead as `bash kernels/cupy/dev_gpu_check.sh` inside a device call whose command already
# sourced tools/device-setup.sh. At most ~100 s (final) / ~150 s (mid call). Writes $OUT/cupy/cupy-gpu.log (everything, tee'd
# progressively) and $OUT/cupy/cupy-check.json (the parity cases of $NEW).
#   CUPY_NEW (default v25) / CUPY_ALT (default v24): the two new backwards; parity of both runs in
#     two processes side by side (the parity runs are host-bound), then the timings, a profile.
#   CUPY_CHECK_FINAL=1 (the default since the mid call; <= 110 s, no timing): parity of the shipped
#     defaults (VIG_CUPY_BWD unset: v25) and of VIG_CUPY_SAVE_STATES=1, compute-sanitizer memcheck
#     and racecheck on --small (VIG_CUPY_MAX_SEG=64), four processes side by side.
#   CUPY_CHECK_FINAL=0: the mid call's run (parity of $NEW and $ALT, timings, ncu).
set -u
D=${OUT:-/tmp/out}/cupy
mkdir -p "$D"
LOG=$D/cupy-gpu.log
T0=$SECONDS
el() { echo $(( SECONDS - T0 )); }
left() { echo $(( 145 - (SECONDS - T0) )); }
FINAL=${CUPY_CHECK_FINAL:-1}
NEW=${CUPY_NEW:-v25}
ALT=${CUPY_ALT-v24}
EXTRA=${CUPY_EXTRA-v25s}  # timed beside them: v25 with the forward's segment states kept
mkdir -p /tmp/cupy-side/mc /tmp/cupy-side/rc /tmp/cupy-side/ss
{
echo "== 0 device ($(el) s), final=$FINAL"
nvidia-smi --query-gpu=name,clocks.max.sm,memory.total --format=csv,noheader
git log -1 --format='HEAD %h %s' 2>/dev/null | cut -c1-100

if [ "$FINAL" = "1" ]; then
  # 1. parity of the shipped defaults (the launcher changed after the mid call: one fp32 buffer for
  # dq | dk | dv and one cast, the raw stream pointer; the kernels did not), parity with the
  # segment states kept (VIG_CUPY_SAVE_STATES=1: changes only L > 256), memcheck and racecheck
  # (segmented kernels forced: L = 65 over 64-token segments): four processes side by side.
  unset VIG_CUPY_BWD VIG_CUPY_FWD VIG_CUPY_SAVE_STATES VIG_CUPY_BWD_SEG VIG_CUPY_MAX_SEG VIG_CUPY_BWD_LONG
  echo "== 1 parity (defaults), parity (VIG_CUPY_SAVE_STATES=1), memcheck, racecheck side by side ($(el) s)"
  ( VIG_CUPY_MAX_SEG=64 PYTORCH_NO_CUDA_MEMORY_CACHING=1 OUT=/tmp/cupy-side/mc \
      timeout 95 compute-sanitizer --tool memcheck python tools/check_backend.py cupy --small \
      > /tmp/cupy-side/memcheck.log 2>&1; echo "memcheck rc=$?" >> /tmp/cupy-side/memcheck.log ) &
  B1=$!
  ( VIG_CUPY_MAX_SEG=64 OUT=/tmp/cupy-side/rc \
      timeout 95 compute-sanitizer --tool racecheck python tools/check_backend.py cupy --small \
      > /tmp/cupy-side/racecheck.log 2>&1; echo "racecheck rc=$?" >> /tmp/cupy-side/racecheck.log ) &
  B2=$!
  ( VIG_CUPY_SAVE_STATES=1 OUT=/tmp/cupy-side/ss timeout 95 python tools/check_backend.py cupy --parity \
      > /tmp/cupy-side/parity-save.log 2>&1; echo "parity save-states rc=$?" >> /tmp/cupy-side/parity-save.log ) &
  B3=$!
  OUT=$D timeout 95 python tools/check_backend.py cupy --parity
  echo "parity (defaults) rc=$? ($(el) s)"
  wait $B1 $B2 $B3
  echo "== 1b parity VIG_CUPY_SAVE_STATES=1 (done at $(el) s)"
  grep -v "^ok " /tmp/cupy-side/parity-save.log | tail -n 30
  echo "== 1c memcheck"; tail -n 30 /tmp/cupy-side/memcheck.log
  echo "== 1d racecheck"; tail -n 30 /tmp/cupy-side/racecheck.log
  echo "== done ($(el) s)"
  exit 0
else
  # 1. parity first: the contract's 120 cases (fp32 stays v1), $NEW here, $ALT beside it.
  echo "== 1 parity VIG_CUPY_BWD=$NEW, and $ALT in a second process ($(el) s)"
  if [ -n "$ALT" ]; then
    ( OUT=/tmp/cupy-side VIG_CUPY_BWD=$ALT timeout 100 python tools/check_backend.py cupy --parity \
        > /tmp/cupy-side/parity.log 2>&1; echo "parity $ALT rc=$?" >> /tmp/cupy-side/parity.log ) &
    BG=$!
  fi
  OUT=$D VIG_CUPY_BWD=$NEW timeout 100 python tools/check_backend.py cupy --parity
  echo "parity $NEW rc=$? ($(el) s)"
  if [ -n "$ALT" ]; then
    wait $BG
    echo "== 1b parity VIG_CUPY_BWD=$ALT (ran beside step 1; done at $(el) s)"
    cat /tmp/cupy-side/parity.log
  fi
fi

# 2. timing: v2.3 (chunked) and the new backwards in one process (forward: the shipped v2.3);
# f+b eager and CUDA-graphed, gradient differences against v2.3.
echo "== 2 bench chunked vs $ALT $NEW $EXTRA ($(el) s, $(left) s left)"
timeout $(( $(left) > 55 ? 55 : $(left) )) python kernels/cupy/dev_bench.py chunked \
  chunked${ALT:+,$ALT},$NEW${EXTRA:+,$EXTRA}
echo "bench rc=$? ($(el) s)"

if [ "$FINAL" != "1" ]; then
  if [ "$(left)" -gt 20 ] && command -v ncu >/dev/null; then
    # 3. a short profile of the new backward at ViG-T@224 (duration, stalls, occupancy).
    echo "== 3 ncu bigla_tc_bwd ($NEW, ViG-T@224) ($(el) s, $(left) s left)"
    VIG_CUPY_BWD=$NEW timeout $(( $(left) > 40 ? 40 : $(left) - 3 )) ncu --section SpeedOfLight \
      --section WarpStateStats --section SchedulerStats --section LaunchStats --section Occupancy \
      --section MemoryWorkloadAnalysis -k regex:bigla_tc_bwd -c 1 \
      python kernels/cupy/dev_prof.py ViG-T@224 2>&1 | grep -v "^    ---"
  fi
  # 4. the backward's segments capped at 128 tokens (more blocks; ViG@224 then takes the
  # segmented path, 2 segments per (b, h)): a separate process (the cap is read at import).
  if [ "$(left)" -gt 30 ]; then
    echo "== 4 bench $NEW with VIG_CUPY_BWD_SEG=128 ($(el) s, $(left) s left)"
    VIG_CUPY_BWD_SEG=128 timeout $(( $(left) > 35 ? 35 : $(left) )) \
      python kernels/cupy/dev_bench.py chunked $NEW
    echo "bench rc=$? ($(el) s)"
  fi
fi
echo "== done ($(el) s)"
} 2>&1 | tee "$LOG"
