#!/usr/bin/env bash
# CuPy backend, GPU check (session 5, after the mid call: the plan launcher and the 128-token planner
# rule VIG_CUPY_SEG128=1 are the shipped defaults; the v2.7 / v2.8 backwards were removed, see
# NOTES.md; session 6 round 3: the legacy launcher and its switch VIG_CUPY_LAUNCH were removed, the
# plan launcher is the only one). Session 6: MID tries the v29 / v29q backwards (not defaults); FINAL
# is unchanged (if the lead flips BWD_DEFAULT to v29 / v29q: CUPY_FINAL_ALT="VIG_CUPY_BWD=v26p").
# Run by the lead as `bash kernels/cupy/dev_gpu_check.sh` inside a device call whose command already
# sourced tools/device-setup.sh. Writes $OUT/cupy/cupy-gpu.log (everything, tee'd progressively)
# and $OUT/cupy/cupy-check.json (the parity cases of the shipped defaults): 2 files.
# Mode: CUPY_CHECK_FINAL (or FINAL when that is unset) = 0 / 1 (default 1).
#   FINAL (1, <= 105 s, no timing), five processes side by side (the GPU host has 16 cores):
#     A parity (the contract's 120 cases) of the shipped defaults (every VIG_CUPY_* unset), B parity
#     of the previous defaults (CUPY_FINAL_ALT; default VIG_CUPY_SEG128=0: session 4's segment plan),
#     C memcheck and D racecheck of the shipped defaults on --small with VIG_CUPY_MAX_SEG=64 (every
#     workspace offset of the segmented forward and backward), E dev_parity.py --expect-seg 128 (the
#     SEG128 rule's 20 cases at ViG-T@1024's B=8 H=3, shipped defaults).
#   MID (0, <= 170 s; session 6: the v29 / v29q backwards, VIG_CUPY_BWD=v29 / v29q, -DBW4=7 / 8,
#   on trial; v29 = v26p with direction-local chunk-step barriers, v29q = v29 + early yq loads):
#     1. side by side (each `timeout 80`): A parity of v29q (the contract's 120 cases; its
#        cupy-check.json is the second file), A2 parity of v29 (120), B memcheck and C racecheck of
#        v29q on --small with VIG_CUPY_MAX_SEG=64 (segmented mode 0 / mode 1 / dg fix-up, kept
#        states; v29q has every barrier change of v29), D dev_parity.py --expect-seg 128 with v29q
#        (20 cases at B=8 H=3 L=4096 / 3000: 128-token segments);
#     2. dev_bench in ONE process (what is left of the 170 s): the shipped v26ps+Q, v29s+Q,
#        v29qs+Q, v26ps+Q again (drift check), eager and CUDA-graphed f+b, host us, and
#        (DEV_BENCH_BWD=1) the backward alone, eager and graphed; T@224, S@224, T@1024, S@1024,
#        B@224; then a verdict line: v29 / v29q gradients must equal v26p's bit for bit;
#     3. with >= 25 s left each: ncu (a few metrics) of bigla_tc_bwd at ViG-S@224, v26p and v29q.
#   Session 6 round 2 (same MID box): R2="VIG_CUPY_DGFIX=vec VIG_CUPY_FWD0=m0" (bigla_tc_dg_fix4, the
#   16-byte dg fix-up of segmented backwards, bit-identical to the shipped scalar one in the emulator;
#   and the segmented forward's state pass from a mode-0-only module, -DFWM0=1 -DMINB=3) joins
#   step 1 as A3 parity of R2 alone (shipped v26p otherwise; 120 cases, L 300 / 4096 segmented), D2
#   seg128 parity of R2 (20 cases, 32 segments a sequence), and B / C memcheck / racecheck now run
#   v29q WITH R2 (the reports name the kernel: bigla_tc_dg_fix4; the FWM0 module is bigla_tc_fwd);
#   step 2's bench gains "+D" (DGFIX=vec) and "+D+M" (and FWD0=m0) kinds, skipped at shapes without
#   segments (224 px); +D must match its kind without +D bit for bit, +M is compared (BITEXACT /
#   DIFF); it drops round 1's second v29s and (DEV_BENCH_DGFIX=1) times the fix-up kernel alone at
#   T@1024 / S@1024, scalar vs vec, graphed; the forward kinds v26+Q vs v26+Q+M (1024 px).
set -u
D=${OUT:-/tmp/out}/cupy
mkdir -p "$D"
LOG=$D/cupy-gpu.log
T0=$SECONDS
el() { echo $(( SECONDS - T0 )); }
FINAL=${CUPY_CHECK_FINAL:-${FINAL:-1}}
if [ "$FINAL" = "1" ]; then BOX=105; else BOX=170; fi; BOX=${MID_BOX:-$BOX}
left() { echo $(( BOX - (SECONDS - T0) )); }
S=/tmp/cupy-side
rm -rf $S; mkdir -p $S/b $S/b3 $S/mc $S/rc $S/mc0
unset VIG_CUPY_BWD VIG_CUPY_FWD VIG_CUPY_SCAN VIG_CUPY_SAVE_STATES VIG_CUPY_BWD_SEG VIG_CUPY_MAX_SEG \
  VIG_CUPY_BWD_LONG VIG_CUPY_SEG128 VIG_CUPY_DGFIX VIG_CUPY_FWD0
ALT=${CUPY_FINAL_ALT-"VIG_CUPY_BWD=v26p VIG_CUPY_DGFIX=scalar VIG_CUPY_FWD0=generic"}   # the previous defaults (session 6's)
{
echo "== 0 device ($(el) s), final=$FINAL"
nvidia-smi --query-gpu=name,clocks.max.sm,memory.total --format=csv,noheader
git log -1 --format='HEAD %h %s' 2>/dev/null | cut -c1-100
git status --short kernels/cupy tests/test_cupy_compile.py 2>/dev/null | head -20
grep -E '^(FWD|BWD|SCAN)_DEFAULT|VIG_CUPY_(SAVE_STATES|SEG128)", "' kernels/cupy/__init__.py

if [ "$FINAL" = "1" ]; then
TO=98
echo "== 1 parity A [shipped] | parity B [$ALT] | memcheck C | racecheck D | seg128 parity E ($(el) s)"
( env $ALT OUT=$S/b timeout $TO python tools/check_backend.py cupy --parity \
    > $S/parity-b.log 2>&1; echo "parity B rc=$?" >> $S/parity-b.log ) &
P1=$!
( env VIG_CUPY_MAX_SEG=64 PYTORCH_NO_CUDA_MEMORY_CACHING=1 OUT=$S/mc \
    timeout $TO compute-sanitizer --tool memcheck python tools/check_backend.py cupy --small \
    > $S/memcheck.log 2>&1; echo "memcheck C rc=$?" >> $S/memcheck.log ) &
P2=$!
( env VIG_CUPY_MAX_SEG=64 OUT=$S/rc \
    timeout $TO compute-sanitizer --tool racecheck python tools/check_backend.py cupy --small \
    > $S/racecheck.log 2>&1; echo "racecheck D rc=$?" >> $S/racecheck.log ) &
P3=$!
( timeout $TO python kernels/cupy/dev_parity.py --expect-seg 128 > $S/seg128.log 2>&1; \
  echo "seg128 parity E rc=$?" >> $S/seg128.log ) &
P4=$!
OUT=$D timeout $TO python tools/check_backend.py cupy --parity
echo "parity A rc=$? ($(el) s)"
wait $P1 $P2 $P3 $P4
echo "== 1b parity B [$ALT] (done at $(el) s)"; grep -v "^ok " $S/parity-b.log | tail -n 30
echo "== 1c memcheck"; tail -n 12 $S/memcheck.log
echo "== 1d racecheck"; tail -n 12 $S/racecheck.log
echo "== 1e seg128 parity"; grep -v "^ok " $S/seg128.log | tail -n 30
else
# ---------------- MID (session 6): v29 / v29q against the shipped v26p ----------------
NEW="VIG_CUPY_BWD=v29q"
R2="VIG_CUPY_DGFIX=vec VIG_CUPY_FWD0=m0"
TO=${MID_PAR_S:-80}
if [ "${MID_PHASE:-both}" != timing ]; then
echo "== 1 parity A [$NEW] | A2 [VIG_CUPY_BWD=v29] | A3 [$R2] | memcheck B | racecheck C [$NEW $R2, --small, MAX_SEG=64] | seg128 parity D [$NEW] | D2 [$R2] ($(el) s)"
( env VIG_CUPY_BWD=v29 OUT=$S/b timeout $TO python tools/check_backend.py cupy --parity \
    > $S/parity-a2.log 2>&1; echo "parity A2 [v29] rc=$?" >> $S/parity-a2.log ) &
P0=$!
( env $NEW $R2 VIG_CUPY_MAX_SEG=64 PYTORCH_NO_CUDA_MEMORY_CACHING=1 OUT=$S/mc \
    timeout $TO compute-sanitizer --tool memcheck python tools/check_backend.py cupy --small \
    > $S/memcheck.log 2>&1; echo "memcheck B rc=$?" >> $S/memcheck.log ) &
P1=$!
( env $NEW $R2 VIG_CUPY_MAX_SEG=64 OUT=$S/rc \
    timeout $TO compute-sanitizer --tool racecheck python tools/check_backend.py cupy --small \
    > $S/racecheck.log 2>&1; echo "racecheck C rc=$?" >> $S/racecheck.log ) &
P2=$!
( env $NEW timeout $TO python kernels/cupy/dev_parity.py --expect-seg 128 > $S/seg128.log 2>&1; \
  echo "seg128 parity D rc=$?" >> $S/seg128.log ) &
P3=$!
( env $R2 OUT=$S/b3 timeout $TO python tools/check_backend.py cupy --parity \
    > $S/parity-a3.log 2>&1; echo "parity A3 [$R2] rc=$?" >> $S/parity-a3.log ) &
P4=$!
( env $R2 timeout $TO python kernels/cupy/dev_parity.py --expect-seg 128 > $S/seg128-d2.log 2>&1; \
  echo "seg128 parity D2 [$R2] rc=$?" >> $S/seg128-d2.log ) &
P5=$!
env $NEW OUT=$D timeout $TO python tools/check_backend.py cupy --parity
echo "parity A [$NEW] rc=$? ($(el) s)"
wait $P0 $P1 $P2 $P3 $P4 $P5
echo "== 1a2 parity A2 [v29] (done at $(el) s)"; grep -v "^ok " $S/parity-a2.log | tail -n 30
echo "== 1a3 parity A3 [$R2]"; grep -v "^ok " $S/parity-a3.log | tail -n 30
echo "== 1b memcheck [$NEW $R2]"; tail -n 12 $S/memcheck.log
echo "== 1c racecheck [$NEW $R2]"; tail -n 12 $S/racecheck.log
echo "== 1d seg128 parity [$NEW]"; grep -v "^ok " $S/seg128.log | tail -n 30
echo "== 1d2 seg128 parity [$R2]"; grep -v "^ok " $S/seg128-d2.log | tail -n 30
fi
if [ "${MID_PHASE:-both}" != parity ]; then
echo "== 2 bench, one process: v26ps+Q (shipped) | +D | +D+M | v29s+Q | v29qs+Q | +D, then v26ps+Q | v29qs+Q again ($(el) s, $(left) s left)"
DEV_BENCH_BWD=1 DEV_BENCH_DGFIX=1 timeout $(( $(left) > 7 ? $(left) - 2 : 5 )) python kernels/cupy/dev_bench.py \
  v26+Q,v26+Q+M v26ps+Q,v26ps+Q+D,v26ps+Q+D+M,v29s+Q,v29qs+Q,v29qs+Q+D,v26ps+Q,v29qs+Q \
  ViG-T@224,ViG-S@224,ViG-T@1024,ViG-S@1024,ViG-B@224 | tee $S/bench.log
echo "bench rc=${PIPESTATUS[0]} ($(el) s)"
# v29 / v29q must reproduce v26p's gradients bit for bit (same arithmetic, same order)
for V in v29s v29qs; do
  NV=$(grep -E "f\+b +$V\+" $S/bench.log | grep -vc skipped)
  NZ=$(grep -E "f\+b +$V\+" $S/bench.log | grep -v skipped | grep -vcE 'dq 0\.0e\+00/[^ ]+ dk 0\.0e\+00/[^ ]+ dv 0\.0e\+00/[^ ]+ dgf 0\.0e\+00/[^ ]+ dgb 0\.0e\+00/')
  echo "$V gradients vs v26p: $NV shapes, $NZ not bit-identical -> $([ "$NV" -gt 0 ] && [ "$NZ" = 0 ] && echo BITEXACT || echo 'CHECK (not bit-identical, or no lines)')"
done
# DGFIX=vec (+D) must reproduce the scalar fix-up bit for bit: the +D kinds against their twins,
# and the fix-up kernels alone
ND=$(grep -E "f\+b +[^ ]+\+D:" $S/bench.log | grep -vc skipped)
NDB=$(grep -E "f\+b +[^ ]+\+D:" $S/bench.log | grep -v skipped | grep -c "; vs [^ ]*: BITEXACT")
# FWD0=m0 (+M): bit-identity against the generic module is informative only (parity A3 / D2 decide)
grep -E "(fwd|f\+b) +[^ ]+\+M:" $S/bench.log | grep -v skipped | sed -E \
  's/^ *([^ ]* )?(fwd|f\+b) +([^ ]+): ([0-9.]+) ms \(graphed ([0-9.]+).* vs ([^ ]+): ([A-Z]+) .*/  +M: \1\2 \3 \4 ms (graphed \5) vs \6: \7/' 
NDK=$(grep -c "dgfix vec vs scalar: BITEXACT" $S/bench.log)
echo "+D (DGFIX=vec) gradients vs their twins: $ND timed, $NDB BITEXACT; fix-up kernel alone BITEXACT at $NDK shapes -> $([ "$ND" -gt 0 ] && [ "$ND" = "$NDB" ] && ! grep -q "dgfix vec vs scalar: MISMATCH" $S/bench.log && echo BITEXACT || echo CHECK)"
grep -E "dgfix +(scalar|vec) " $S/bench.log
# 3. if time is left: ncu of the backward kernel alone at ViG-S@224, v26p then v29q (stall split,
#    instructions, the barrier occupancy limit); each process time-boxed
M=gpu__time_duration.sum,smsp__inst_executed.sum,smsp__issue_active.avg.pct_of_peak_sustained_active,\
smsp__average_warps_issue_stalled_barrier_per_issue_active.ratio,\
smsp__average_warps_issue_stalled_long_scoreboard_per_issue_active.ratio,\
smsp__average_warps_issue_stalled_wait_per_issue_active.ratio,\
smsp__average_warps_issue_stalled_short_scoreboard_per_issue_active.ratio,\
launch__occupancy_limit_barriers,launch__occupancy_limit_registers,sm__warps_active.avg.pct_of_peak_sustained_active
for V in v26p v29q; do
  if [ $(left) -lt 25 ]; then echo "== 3 ncu $V skipped ($(left) s left)"; continue; fi
  echo "== 3 ncu bigla_tc_bwd [$V] ViG-S@224 ($(el) s, $(left) s left)"
  VIG_CUPY_BWD=$V timeout $(( $(left) - 3 )) ncu --clock-control none --csv --metrics $M \
    -k regex:bigla_tc_bwd -c 1 python kernels/cupy/dev_prof.py ViG-S@224 2>&1 \
    | grep '"bigla_tc_bwd' | awk -F'","' '{v=$NF; sub(/"$/,"",v); print "  " $(NF-2), v}'
done
fi
fi
echo "== done ($(el) s)"
} 2>&1 | tee -a "$LOG"
