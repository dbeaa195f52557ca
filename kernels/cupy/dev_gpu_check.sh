#!/usr/bin/env bash
# CuPy backend, GPU check (session 5, after the mid call: the plan launcher and the 128-token planner
# rule VIG_CUPY_SEG128=1 are the shipped defaults; the v2.7 / v2.8 backwards were removed, see
# NOTES.md; session 6 round 3: the legacy launcher and its switch VIG_CUPY_LAUNCH were removed, the
# plan launcher is the only one). Session 7: the shipped defaults are v29q + DGFIX=vec + FWD0=m0
# (dace9ae); MID tries v29r and DGFIX=vec2 (not defaults); FINAL checks the shipped defaults and the
# previous ones (CUPY_FINAL_ALT; if the lead flips to v29r / vec2, set
# CUPY_FINAL_ALT="VIG_CUPY_BWD=v29q VIG_CUPY_DGFIX=vec").
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
#   MID (0, <= 170 s; session 7: the v29r backward, VIG_CUPY_BWD=v29r, -DBW4=9 = v29q with 32-bit
#   element offsets in its chunk loads and full-chunk dq / dv / dk epilogues, and the dg fix-up
#   VIG_CUPY_DGFIX=vec2, bigla_tc_dg_fix4s = dg_fix4 with its segment-total sums once per block;
#   both on trial, not defaults):
#     1. side by side (each `timeout 95`, MID_PAR_S): A parity of v29r + vec2 (the contract's 120
#        cases; its cupy-check.json is the second file), A2 parity of vec2 alone (shipped v29q),
#        B memcheck and C racecheck of v29r + vec2 on --small with VIG_CUPY_MAX_SEG=64 (segmented
#        mode 0 / mode 1 / dg fix-up, kept states), D dev_parity.py --expect-seg 128 with v29r + vec2
#        (20 cases at B=8 H=3 L=4096 / 3000: 128-token segments);
#     2. dev_bench in ONE process (what is left of the 170 s): the shipped v29qs+Q+D+M, v29rs+Q+D+M,
#        v29rs+Q+E+M (E: vec2), then v29qs+Q+D+M and v29rs+Q+D+M again (drift), eager and
#        CUDA-graphed f+b, host us, the backward alone (DEV_BENCH_BWD=1) eager and graphed, the
#        fix-up kernels alone at 1024 px (DEV_BENCH_DGFIX=1: scalar / vec / vec2, graphed);
#        T@224, S@224, T@1024, S@1024, B@224; verdict lines: v29r gradients == v29q's bit for bit,
#        +E == +D bit for bit, vec2 fix-up == scalar bit for bit;
#     3. with >= 22 s left each, in this order: ncu of bigla_tc_bwd [v29r] at ViG-S@224 (instructions,
#        issue, stalls), of the dg fix-up [vec2] at ViG-T@1024 (time, DRAM bytes, L2 reads), then
#        the same of v29q and vec (session 7's mid call has v29q's: 151.1 M instructions, 299 us).
#   Parity takes ~90-115 s with 5-7 processes side by side (session 7's mid call: 114 s): if the
#   call has less than ~200 s, run MID_PHASE=parity and MID_PHASE=timing as two calls.
#   MID_PHASE=parity | timing runs only step 1 | steps 2-3 (two device calls if one is too short).
#   (Session 6's MID, v29 / v29q and DGFIX=vec / FWD0=m0 against v26p, is in git history: dace9ae.)
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
# the sanitizers (memcheck, racecheck: --small with every segmented workspace offset) and the SEG128
# rule's cases of one configuration (its env assignments as arguments; none: the shipped defaults),
# each in the background under `timeout $TO`; their pids in SIDE; side_report prints their tails
side_checks() {
  ( env "$@" VIG_CUPY_MAX_SEG=64 PYTORCH_NO_CUDA_MEMORY_CACHING=1 OUT=$S/mc \
      timeout $TO compute-sanitizer --tool memcheck python tools/check_backend.py cupy --small \
      > $S/memcheck.log 2>&1; echo "memcheck rc=$?" >> $S/memcheck.log ) &
  SIDE=$!
  ( env "$@" VIG_CUPY_MAX_SEG=64 OUT=$S/rc \
      timeout $TO compute-sanitizer --tool racecheck python tools/check_backend.py cupy --small \
      > $S/racecheck.log 2>&1; echo "racecheck rc=$?" >> $S/racecheck.log ) &
  SIDE="$SIDE $!"
  ( env "$@" timeout $TO python kernels/cupy/dev_parity.py --expect-seg 128 > $S/seg128.log 2>&1; \
    echo "seg128 parity rc=$?" >> $S/seg128.log ) &
  SIDE="$SIDE $!"
}
side_report() {
  echo "== memcheck [$1]"; tail -n 12 $S/memcheck.log
  echo "== racecheck [$1]"; tail -n 12 $S/racecheck.log
  echo "== seg128 parity [$1]"; grep -v "^ok " $S/seg128.log | tail -n 30
}
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
side_checks
OUT=$D timeout $TO python tools/check_backend.py cupy --parity
echo "parity A rc=$? ($(el) s)"
wait $P1 $SIDE
echo "== 1b parity B [$ALT] (done at $(el) s)"; grep -v "^ok " $S/parity-b.log | tail -n 30
side_report "shipped defaults"
else
# ---------------- MID (session 7): v29r and DGFIX=vec2 against the shipped v29q + vec ----------------
NEW="VIG_CUPY_BWD=v29r VIG_CUPY_DGFIX=vec2"
TO=${MID_PAR_S:-95}
if [ "${MID_PHASE:-both}" != timing ]; then
echo "== 1 parity A [$NEW] | A2 [VIG_CUPY_DGFIX=vec2] | memcheck B | racecheck C [$NEW, --small, MAX_SEG=64] | seg128 parity D [$NEW] ($(el) s, each timeout $TO)"
( env VIG_CUPY_DGFIX=vec2 OUT=$S/b timeout $TO python tools/check_backend.py cupy --parity \
    > $S/parity-a2.log 2>&1; echo "parity A2 [vec2] rc=$?" >> $S/parity-a2.log ) &
P0=$!
side_checks $NEW
env $NEW OUT=$D timeout $TO python tools/check_backend.py cupy --parity
echo "parity A [$NEW] rc=$? ($(el) s)"
wait $P0 $SIDE
echo "== 1a2 parity A2 [vec2] (done at $(el) s)"; grep -v "^ok " $S/parity-a2.log | tail -n 30
side_report "$NEW"
fi
if [ "${MID_PHASE:-both}" != parity ]; then
echo "== 2 bench, one process: v29qs+Q+D+M (shipped) | v29rs+Q+D+M | v29rs+Q+E+M (+ vec2) | v29qs+Q+D+M | v29rs+Q+D+M ($(el) s, $(left) s left)"
DEV_BENCH_BWD=1 DEV_BENCH_DGFIX=1 timeout $(( $(left) > 7 ? $(left) - 2 : 5 )) python kernels/cupy/dev_bench.py \
  v26+Q+M v29qs+Q+D+M,v29rs+Q+D+M,v29rs+Q+E+M,v29qs+Q+D+M,v29rs+Q+D+M \
  ViG-T@224,ViG-S@224,ViG-T@1024,ViG-S@1024,ViG-B@224 | tee $S/bench.log
echo "bench rc=${PIPESTATUS[0]} ($(el) s)"
# v29r must reproduce v29q's gradients bit for bit (same loads, same arithmetic): every v29rs line's
# diffs against the first kind (v29qs+Q+D+M) must be 0
NV=$(grep -E "f\+b +v29rs\+" $S/bench.log | grep -vc skipped)
NZ=$(grep -E "f\+b +v29rs\+" $S/bench.log | grep -v skipped | grep -vcE 'dq 0\.0e\+00/[^ ]+ dk 0\.0e\+00/[^ ]+ dv 0\.0e\+00/[^ ]+ dgf 0\.0e\+00/[^ ]+ dgb 0\.0e\+00/')
echo "v29rs gradients vs v29qs: $NV lines, $NZ not bit-identical -> $([ "$NV" -gt 0 ] && [ "$NZ" = 0 ] && echo BITEXACT || echo 'CHECK (not bit-identical, or no lines)')"
# DGFIX=vec2 (+E) must reproduce vec (+D) bit for bit, and the fix-up kernels alone the scalar one
NE=$(grep -E "f\+b +[^ ]+\+E[+:]" $S/bench.log | grep -vc skipped)
NEB=$(grep -E "f\+b +[^ ]+\+E[+:]" $S/bench.log | grep -v skipped | grep -c "; vs [^ ]*: BITEXACT")
NEK=$(grep -c "dgfix vec2 vs scalar: BITEXACT" $S/bench.log)
echo "+E (DGFIX=vec2) gradients vs +D: $NE timed, $NEB BITEXACT; fix-up kernel alone BITEXACT at $NEK shapes -> $([ "$NE" -gt 0 ] && [ "$NE" = "$NEB" ] && [ "$NEK" -gt 0 ] && ! grep -q "dgfix vec2 vs scalar: MISMATCH" $S/bench.log && echo BITEXACT || echo CHECK)"
grep -E "dgfix +(scalar|vec|vec2) " $S/bench.log
# 3. if time is left: ncu of the backward kernel alone at ViG-S@224 (instructions, issue, stalls) and
#    of the dg fix-up at ViG-T@1024 (time, DRAM and L2 traffic), each process time-boxed
M=gpu__time_duration.sum,smsp__inst_executed.sum,smsp__issue_active.avg.pct_of_peak_sustained_active,\
smsp__average_warps_issue_stalled_barrier_per_issue_active.ratio,\
smsp__average_warps_issue_stalled_long_scoreboard_per_issue_active.ratio,\
smsp__average_warps_issue_stalled_wait_per_issue_active.ratio,\
launch__registers_per_thread,sm__warps_active.avg.pct_of_peak_sustained_active
MD=gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum,lts__t_sectors_op_read.sum,\
smsp__inst_executed.sum,sm__warps_active.avg.pct_of_peak_sustained_active
# order: the new kernels first (session 7's mid call has v29q's bwd numbers: 151.1 M instructions)
for J in bwd:v29r dg:vec2 bwd:v29q dg:vec; do
  W=${J%%:*}; V=${J#*:}
  if [ $(left) -lt 22 ]; then echo "== 3 ncu $J skipped ($(left) s left)"; continue; fi
  if [ $W = bwd ]; then
    echo "== 3 ncu bigla_tc_bwd [$V] ViG-S@224 ($(el) s, $(left) s left)"
    VIG_CUPY_BWD=$V timeout $(( $(left) - 3 )) ncu --clock-control none --csv --metrics $M \
      -k regex:bigla_tc_bwd -c 1 python kernels/cupy/dev_prof.py ViG-S@224 2>&1 \
      | grep '"bigla_tc_bwd' | awk -F'","' '{v=$NF; sub(/"$/,"",v); print "  " $(NF-2), v}'
  else
    echo "== 3 ncu dg fix-up [$V] ViG-T@1024 ($(el) s, $(left) s left)"
    VIG_CUPY_DGFIX=$V timeout $(( $(left) - 3 )) ncu --clock-control none --csv --metrics $MD \
      -k regex:bigla_tc_dg_fix -c 1 python kernels/cupy/dev_prof.py ViG-T@1024 2>&1 \
      | grep '"bigla_tc_dg_fix' | awk -F'","' '{v=$NF; sub(/"$/,"",v); print "  " $(NF-2), v}'
  fi
done
fi
fi
echo "== done ($(el) s)"
} 2>&1 | tee -a "$LOG"
