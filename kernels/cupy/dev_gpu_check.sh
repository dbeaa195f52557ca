#!/usr/bin/env bash
# CuPy backend, GPU check (session 5, issue #6: the plan launcher VIG_CUPY_LAUNCH=plan, the
# 128-token planner rule VIG_CUPY_SEG128=1, and the v2.7 backward VIG_CUPY_BWD=v27).
# Run by the lead as `bash kernels/cupy/dev_gpu_check.sh` inside a device call whose command already
# sourced tools/device-setup.sh. Writes $OUT/cupy/cupy-gpu.log (everything, tee'd progressively)
# and $OUT/cupy/cupy-check.json (the parity cases of the first parity process): 2 files.
# Mode: CUPY_CHECK_FINAL (or FINAL when that is unset) = 0 / 1 (default 1).
#   MID (0, <= 170 s): side by side (the GPU host has 16 cores): A parity (the contract's 120 cases)
#     with VIG_CUPY_LAUNCH=plan, B the SEG128 parity (dev_parity.py: 20 cases at B=8 H=3 L=4096 /
#     3000, where the rule gives 128-token segments; with the plan launcher), C / D memcheck of the
#     plan launcher with 64-token segments, kept states on / off (--small: every workspace offset
#     of the segmented forward and backward); E parity (120 cases) of VIG_CUPY_BWD=v27, F / G its
#     memcheck and racecheck (--small, 64-token segments);
#     then dev_bench in ONE process: legacy vs plan launcher (eager, CUDA-graphed, host enqueue
#     time; bit-identity checked: exit 1 on any difference), v27 vs v26p (kept states on; the
#     gradient diffs against v26ps are printed: expected 0), plan + SEG128, the T@224 shape first;
#     then, if time is left, tools/profile_op.py --cprofile of the plan launcher at ViG-T@224.
#     Session 5, phase 3: + H parity (120 cases) of VIG_CUPY_BWD=v28, I / J its memcheck and
#     racecheck (--small, 64-token segments), side by side with A-G; v28s in the bench.
#     CUPY_MID_ONLY=v28 (for a mid call after the one that ran A-G): only H, I, J side by side, then
#     dev_bench v26 | v26ps,v27s,v28s,v27s,v28s (v28s against v27s and v26ps in one process; the
#     gradient diffs against v26ps are printed: expected 0 for both).
#   FINAL (1, <= 110 s, no timing): parity of the shipped defaults (every VIG_CUPY_* unset) and of
#     the alternative (CUPY_FINAL_ALT; default: the previous defaults VIG_CUPY_LAUNCH=legacy
#     VIG_CUPY_SEG128=0 once either is flipped, else the new switches; plus VIG_CUPY_BWD=v26p once
#     BWD_DEFAULT is "v27"), memcheck and racecheck of
#     the shipped defaults on --small with VIG_CUPY_MAX_SEG=64, four processes side by side; plus
#     dev_parity.py when the shipped SEG128 rule is on.
set -u
D=${OUT:-/tmp/out}/cupy
mkdir -p "$D"
LOG=$D/cupy-gpu.log
T0=$SECONDS
el() { echo $(( SECONDS - T0 )); }
FINAL=${CUPY_CHECK_FINAL:-${FINAL:-1}}
if [ "$FINAL" = "1" ]; then BOX=105; else BOX=165; fi
left() { echo $(( BOX - (SECONDS - T0) )); }
S=/tmp/cupy-side
rm -rf $S; mkdir -p $S/a $S/b $S/mc $S/rc $S/e/mc $S/e/rc $S/h/mc $S/h/rc
ONLY=${CUPY_MID_ONLY:-}
NEWH="VIG_CUPY_BWD=v28"
unset VIG_CUPY_BWD VIG_CUPY_FWD VIG_CUPY_SCAN VIG_CUPY_SAVE_STATES VIG_CUPY_BWD_SEG VIG_CUPY_MAX_SEG \
  VIG_CUPY_BWD_LONG VIG_CUPY_LAUNCH VIG_CUPY_SEG128
SHIP_PLAN=0; grep -q '^LAUNCH_DEFAULT = "plan"' kernels/cupy/__init__.py && SHIP_PLAN=1
SHIP_Q=0; grep -q 'e.get("VIG_CUPY_SEG128", "1")' kernels/cupy/__init__.py && SHIP_Q=1
SHIP_27=0; grep -qE '^BWD_DEFAULT = "v2[78]"' kernels/cupy/__init__.py && SHIP_27=1  # v27 or v28 shipped
{
echo "== 0 device ($(el) s), final=$FINAL, mid_only=${ONLY:-no}, shipped: plan launcher=$SHIP_PLAN seg128=$SHIP_Q v27|v28=$SHIP_27"
nvidia-smi --query-gpu=name,clocks.max.sm,memory.total --format=csv,noheader
git log -1 --format='HEAD %h %s' 2>/dev/null | cut -c1-100
git status --short kernels/cupy tests/test_cupy_compile.py 2>/dev/null | head -20
grep -E '^(FWD|BWD|SCAN|LAUNCH)_DEFAULT|VIG_CUPY_(SAVE_STATES|SEG128)", "' kernels/cupy/__init__.py

if [ "$FINAL" = "1" ]; then
  NEWA=""                                   # the shipped defaults
  # the previous defaults once either switch is flipped; while neither is, the new switches
  ALT="VIG_CUPY_LAUNCH=legacy VIG_CUPY_SEG128=0"
  if [ $SHIP_PLAN = 0 ] && [ $SHIP_Q = 0 ]; then ALT="VIG_CUPY_LAUNCH=plan VIG_CUPY_SEG128=1"; fi
  if [ $SHIP_27 = 1 ]; then ALT="$ALT VIG_CUPY_BWD=v26p"; fi  # the previous backward once v27 ships
  NEWB=${CUPY_FINAL_ALT-$ALT}
  echo "== 1 parity A [shipped] | parity B [$NEWB] | memcheck A | racecheck A$([ $SHIP_Q = 1 ] && echo ' | seg128 parity A') ($(el) s)"
  ( env $NEWB OUT=$S/b timeout 100 python tools/check_backend.py cupy --parity \
      > $S/parity-b.log 2>&1; echo "parity B rc=$?" >> $S/parity-b.log ) &
  P1=$!
  ( env VIG_CUPY_MAX_SEG=64 PYTORCH_NO_CUDA_MEMORY_CACHING=1 OUT=$S/mc \
      timeout 100 compute-sanitizer --tool memcheck python tools/check_backend.py cupy --small \
      > $S/memcheck.log 2>&1; echo "memcheck rc=$?" >> $S/memcheck.log ) &
  P2=$!
  ( env VIG_CUPY_MAX_SEG=64 OUT=$S/rc \
      timeout 100 compute-sanitizer --tool racecheck python tools/check_backend.py cupy --small \
      > $S/racecheck.log 2>&1; echo "racecheck rc=$?" >> $S/racecheck.log ) &
  P3=$!
  P4=
  if [ $SHIP_Q = 1 ]; then
    ( timeout 100 python kernels/cupy/dev_parity.py --expect-seg 128 > $S/seg128.log 2>&1; \
      echo "seg128 parity rc=$?" >> $S/seg128.log ) &
    P4=$!
  fi
  OUT=$D timeout 100 python tools/check_backend.py cupy --parity
  echo "parity A rc=$? ($(el) s)"
  wait $P1 $P2 $P3 $P4
  echo "== 1b parity B [$NEWB] (done at $(el) s)"
  grep -v "^ok " $S/parity-b.log | tail -n 30
  echo "== 1c memcheck"; tail -n 12 $S/memcheck.log
  echo "== 1d racecheck"; tail -n 12 $S/racecheck.log
  if [ $SHIP_Q = 1 ]; then echo "== 1e seg128 parity"; grep -v "^ok " $S/seg128.log | tail -n 30; fi
elif [ "$ONLY" = "v28" ]; then
  echo "== 1 parity H [$NEWH] | memcheck I | racecheck J (64-token segments) ($(el) s)"
  ( env $NEWH VIG_CUPY_MAX_SEG=64 PYTORCH_NO_CUDA_MEMORY_CACHING=1 OUT=$S/h/mc \
      timeout 95 compute-sanitizer --tool memcheck python tools/check_backend.py cupy --small \
      > $S/memcheck-h.log 2>&1; echo "memcheck H rc=$?" >> $S/memcheck-h.log ) &
  P8=$!
  ( env $NEWH VIG_CUPY_MAX_SEG=64 OUT=$S/h/rc \
      timeout 95 compute-sanitizer --tool racecheck python tools/check_backend.py cupy --small \
      > $S/racecheck-h.log 2>&1; echo "racecheck H rc=$?" >> $S/racecheck-h.log ) &
  P9=$!
  env $NEWH OUT=$D timeout 95 python tools/check_backend.py cupy --parity
  echo "parity H rc=$? ($(el) s)"
  wait $P8 $P9
  echo "== 1i memcheck H (done at $(el) s)"; tail -n 12 $S/memcheck-h.log
  echo "== 1j racecheck H"; tail -n 12 $S/racecheck-h.log
  # 2. timing in one process: v28 vs v27 vs v26p (kept states on), interleaved repeats
  echo "== 2 bench ($(el) s, $(left) s left)"
  timeout $(( $(left) > 5 ? $(left) : 5 )) python kernels/cupy/dev_bench.py \
    v26 v26ps,v27s,v28s,v27s,v28s ViG-T@224,ViG-T@1024,ViG-S@224,ViG-S@1024,ViG-B@224
  echo "bench rc=$? ($(el) s)"
else
  NEWA="VIG_CUPY_LAUNCH=plan"
  NEWB="VIG_CUPY_LAUNCH=plan VIG_CUPY_SEG128=1"
  NEWE="VIG_CUPY_BWD=v27"
  echo "== 1 parity A [$NEWA] | seg128 parity B [$NEWB] (dev_parity.py) | memcheck A, 64-token segments, kept states on | off | parity E [$NEWE] | memcheck, racecheck E ($(el) s)"
  ( env $NEWE OUT=$S/e timeout 95 python tools/check_backend.py cupy --parity \
      > $S/parity-e.log 2>&1; echo "parity E rc=$?" >> $S/parity-e.log ) &
  P5=$!
  ( env $NEWE VIG_CUPY_MAX_SEG=64 PYTORCH_NO_CUDA_MEMORY_CACHING=1 OUT=$S/e/mc \
      timeout 95 compute-sanitizer --tool memcheck python tools/check_backend.py cupy --small \
      > $S/memcheck-e.log 2>&1; echo "memcheck E rc=$?" >> $S/memcheck-e.log ) &
  P6=$!
  ( env $NEWE VIG_CUPY_MAX_SEG=64 OUT=$S/e/rc \
      timeout 95 compute-sanitizer --tool racecheck python tools/check_backend.py cupy --small \
      > $S/racecheck-e.log 2>&1; echo "racecheck E rc=$?" >> $S/racecheck-e.log ) &
  P7=$!
  ( env $NEWH OUT=$S/h timeout 95 python tools/check_backend.py cupy --parity \
      > $S/parity-h.log 2>&1; echo "parity H rc=$?" >> $S/parity-h.log ) &
  P10=$!
  ( env $NEWH VIG_CUPY_MAX_SEG=64 PYTORCH_NO_CUDA_MEMORY_CACHING=1 OUT=$S/h/mc \
      timeout 95 compute-sanitizer --tool memcheck python tools/check_backend.py cupy --small \
      > $S/memcheck-h.log 2>&1; echo "memcheck H rc=$?" >> $S/memcheck-h.log ) &
  P8=$!
  ( env $NEWH VIG_CUPY_MAX_SEG=64 OUT=$S/h/rc \
      timeout 95 compute-sanitizer --tool racecheck python tools/check_backend.py cupy --small \
      > $S/racecheck-h.log 2>&1; echo "racecheck H rc=$?" >> $S/racecheck-h.log ) &
  P9=$!
  ( env $NEWB timeout 95 python kernels/cupy/dev_parity.py --expect-seg 128 \
      > $S/seg128.log 2>&1; echo "seg128 parity B rc=$?" >> $S/seg128.log ) &
  P1=$!
  ( env $NEWA VIG_CUPY_MAX_SEG=64 PYTORCH_NO_CUDA_MEMORY_CACHING=1 OUT=$S/mc \
      timeout 95 compute-sanitizer --tool memcheck python tools/check_backend.py cupy --small \
      > $S/memcheck.log 2>&1; echo "memcheck rc=$?" >> $S/memcheck.log ) &
  P2=$!
  # kept states off: the backward's own state pass, its sts | gs in the plan's workspace
  ( env $NEWA VIG_CUPY_MAX_SEG=64 VIG_CUPY_SAVE_STATES=0 PYTORCH_NO_CUDA_MEMORY_CACHING=1 \
      OUT=$S/rc timeout 95 compute-sanitizer --tool memcheck python tools/check_backend.py cupy \
      --small > $S/memcheck0.log 2>&1; echo "memcheck (no kept states) rc=$?" >> $S/memcheck0.log ) &
  P3=$!
  env $NEWA OUT=$D timeout 95 python tools/check_backend.py cupy --parity
  echo "parity A rc=$? ($(el) s)"
  wait $P1 $P2 $P3 $P5 $P6 $P7 $P8 $P9 $P10
  echo "== 1b seg128 parity B (done at $(el) s)"
  cat $S/seg128.log | tail -n 25
  echo "== 1c memcheck"; tail -n 12 $S/memcheck.log
  echo "== 1d memcheck, no kept states"; tail -n 12 $S/memcheck0.log
  echo "== 1e parity E [$NEWE]"; grep -v "^ok " $S/parity-e.log | tail -n 30
  echo "== 1f memcheck E"; tail -n 12 $S/memcheck-e.log
  echo "== 1g racecheck E"; tail -n 12 $S/racecheck-e.log
  echo "== 1h parity H [$NEWH]"; grep -v "^ok " $S/parity-h.log | tail -n 30
  echo "== 1i memcheck H"; tail -n 12 $S/memcheck-h.log
  echo "== 1j racecheck H"; tail -n 12 $S/racecheck-h.log

  # 2. timing in one process: legacy vs plan launcher (interleaved: the eager figures are
  # host-bound and jitter), v27 vs v26p (legacy and plan launcher; kept states on, the defaults),
  # plan + SEG128 (changes only ViG-T@1024's plan); ViG-T@224 first.
  echo "== 2 bench ($(el) s, $(left) s left)"
  timeout $(( $(left) > 90 ? 90 : ($(left) > 5 ? $(left) : 5) )) python kernels/cupy/dev_bench.py \
    v26,v26+L,v26+Q+L,v26,v26+L v26ps,v26ps+L,v27s,v27s+L,v28s,v26ps+Q+L \
    ViG-T@224,ViG-T@1024,ViG-S@224,ViG-S@1024,ViG-B@224
  echo "bench rc=$? ($(el) s)"
  # 3. where the host time goes with the plan launcher (ViG-T@224, torch.profiler + cProfile)
  if [ "$(left)" -gt 25 ]; then
    echo "== 3 profile_op cupy (plan launcher) ViG-T@224 --cprofile ($(el) s, $(left) s left)"
    env $NEWA OUT=$S timeout $(( $(left) - 3 )) python tools/profile_op.py cupy --shapes ViG-T@224 \
      --cprofile 2>&1 | grep -v Warning | head -45
  fi
fi
echo "== done ($(el) s)"
} 2>&1 | tee "$LOG"
