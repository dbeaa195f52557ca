#!/usr/bin/env bash
# CuPy backend, GPU check (session 5, after the mid call: the plan launcher VIG_CUPY_LAUNCH=plan and
# the 128-token planner rule VIG_CUPY_SEG128=1 are the shipped defaults; the v2.7 / v2.8 backwards
# were removed, see NOTES.md).
# Run by the lead as `bash kernels/cupy/dev_gpu_check.sh` inside a device call whose command already
# sourced tools/device-setup.sh. Writes $OUT/cupy/cupy-gpu.log (everything, tee'd progressively)
# and $OUT/cupy/cupy-check.json (the parity cases of the shipped defaults): 2 files.
# Mode: CUPY_CHECK_FINAL (or FINAL when that is unset) = 0 / 1 (default 1).
#   FINAL (1, <= 105 s, no timing), five processes side by side (the GPU host has 16 cores):
#     A parity (the contract's 120 cases) of the shipped defaults (every VIG_CUPY_* unset), B parity
#     of the previous defaults (CUPY_FINAL_ALT; default VIG_CUPY_LAUNCH=legacy VIG_CUPY_SEG128=0),
#     C memcheck and D racecheck of the shipped defaults on --small with VIG_CUPY_MAX_SEG=64 (every
#     workspace offset of the segmented forward and backward), E dev_parity.py --expect-seg 128 (the
#     SEG128 rule's 20 cases at ViG-T@1024's B=8 H=3, shipped defaults).
#   MID (0, <= 165 s): A, B, C as above plus memcheck with kept states off, side by side; then
#     dev_bench in ONE process: the previous defaults (legacy launcher, rule off) vs the shipped
#     ones (+Q+L), eager, CUDA-graphed and host enqueue time, bit-identity of +L checked.
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
rm -rf $S; mkdir -p $S/b $S/mc $S/rc $S/mc0
unset VIG_CUPY_BWD VIG_CUPY_FWD VIG_CUPY_SCAN VIG_CUPY_SAVE_STATES VIG_CUPY_BWD_SEG VIG_CUPY_MAX_SEG \
  VIG_CUPY_BWD_LONG VIG_CUPY_LAUNCH VIG_CUPY_SEG128
ALT=${CUPY_FINAL_ALT-"VIG_CUPY_LAUNCH=legacy VIG_CUPY_SEG128=0"}   # the previous defaults
{
echo "== 0 device ($(el) s), final=$FINAL"
nvidia-smi --query-gpu=name,clocks.max.sm,memory.total --format=csv,noheader
git log -1 --format='HEAD %h %s' 2>/dev/null | cut -c1-100
git status --short kernels/cupy tests/test_cupy_compile.py 2>/dev/null | head -20
grep -E '^(FWD|BWD|SCAN|LAUNCH)_DEFAULT|VIG_CUPY_(SAVE_STATES|SEG128)", "' kernels/cupy/__init__.py

if [ "$FINAL" = "1" ]; then TO=98; else TO=90; fi
echo "== 1 parity A [shipped] | parity B [$ALT] | memcheck C | $([ "$FINAL" = 1 ] && echo 'racecheck D | seg128 parity E' || echo 'memcheck, no kept states') ($(el) s)"
( env $ALT OUT=$S/b timeout $TO python tools/check_backend.py cupy --parity \
    > $S/parity-b.log 2>&1; echo "parity B rc=$?" >> $S/parity-b.log ) &
P1=$!
( env VIG_CUPY_MAX_SEG=64 PYTORCH_NO_CUDA_MEMORY_CACHING=1 OUT=$S/mc \
    timeout $TO compute-sanitizer --tool memcheck python tools/check_backend.py cupy --small \
    > $S/memcheck.log 2>&1; echo "memcheck C rc=$?" >> $S/memcheck.log ) &
P2=$!
if [ "$FINAL" = "1" ]; then
  ( env VIG_CUPY_MAX_SEG=64 OUT=$S/rc \
      timeout $TO compute-sanitizer --tool racecheck python tools/check_backend.py cupy --small \
      > $S/racecheck.log 2>&1; echo "racecheck D rc=$?" >> $S/racecheck.log ) &
  P3=$!
  ( timeout $TO python kernels/cupy/dev_parity.py --expect-seg 128 > $S/seg128.log 2>&1; \
    echo "seg128 parity E rc=$?" >> $S/seg128.log ) &
  P4=$!
else
  # kept states off: the backward's own state pass, its sts | gs in the plan's workspace
  ( env VIG_CUPY_MAX_SEG=64 VIG_CUPY_SAVE_STATES=0 PYTORCH_NO_CUDA_MEMORY_CACHING=1 OUT=$S/mc0 \
      timeout $TO compute-sanitizer --tool memcheck python tools/check_backend.py cupy --small \
      > $S/memcheck0.log 2>&1; echo "memcheck (no kept states) rc=$?" >> $S/memcheck0.log ) &
  P3=$!
  P4=
fi
OUT=$D timeout $TO python tools/check_backend.py cupy --parity
echo "parity A rc=$? ($(el) s)"
wait $P1 $P2 $P3 $P4
echo "== 1b parity B [$ALT] (done at $(el) s)"; grep -v "^ok " $S/parity-b.log | tail -n 30
echo "== 1c memcheck"; tail -n 12 $S/memcheck.log
if [ "$FINAL" = "1" ]; then
  echo "== 1d racecheck"; tail -n 12 $S/racecheck.log
  echo "== 1e seg128 parity"; grep -v "^ok " $S/seg128.log | tail -n 30
else
  echo "== 1d memcheck, no kept states"; tail -n 12 $S/memcheck0.log
  # 2. timing in one process: previous defaults (v26ps: legacy launcher, rule off) vs shipped (+Q+L)
  echo "== 2 bench ($(el) s, $(left) s left)"
  timeout $(( $(left) > 5 ? $(left) : 5 )) python kernels/cupy/dev_bench.py \
    v26,v26+Q+L,v26,v26+Q+L v26ps,v26ps+Q+L,v26ps,v26ps+Q+L \
    ViG-T@224,ViG-T@1024,ViG-S@224,ViG-S@1024,ViG-B@224
  echo "bench rc=$? ($(el) s)"
fi
echo "== done ($(el) s)"
} 2>&1 | tee "$LOG"
