#!/usr/bin/env bash
# CuPy backend, GPU check (session 5, after the mid call: the plan launcher and the 128-token planner
# rule VIG_CUPY_SEG128=1 are the shipped defaults; the v2.7 / v2.8 backwards were removed, see
# NOTES.md; session 6 round 3: the legacy launcher and its switch VIG_CUPY_LAUNCH were removed, the
# plan launcher is the only one). Session 7: the shipped defaults are v29q + DGFIX=vec + FWD0=m0
# (dace9ae); session 7's MID tried v29r and DGFIX=vec2, flipped in session 8 (eb4d068); FINAL checks
# the shipped defaults and the previous ones (CUPY_FINAL_ALT, default since session 8
# "VIG_CUPY_BWD=v29q VIG_CUPY_DGFIX=vec"). Session 8: MID tries the v30 / v30l
# forwards (VIG_CUPY_FWD=v30 / v30l; not defaults; if the lead flips FWD_DEFAULT to v30, add
# VIG_CUPY_FWD=v26 to CUPY_FINAL_ALT; flipped in session 8, 460f6bb). Session 9: MID tries the v31 /
# v31q backwards (VIG_CUPY_BWD=v31 / v31q; not defaults; if the lead flips BWD_DEFAULT to one of
# them, add VIG_CUPY_BWD=v29q to CUPY_FINAL_ALT). v31 flipped to the default after session 9's mid
# call; v29q stays CUPY_FINAL_ALT. Session 9's v32 - v34q backwards (rounds 1-3) were proven, not
# faster, and removed after the session (last in fdf897e). Session 10 round 1's v35 / v35q (proven,
# slower; last in 0dc6b40) were removed; round 2: MID tries the v36 backward (VIG_CUPY_BWD=v36:
# v31 + -DO16=1, the kernel rounds every dq / dk / dv row it wrote once into the inputs' dtype
# after an end barrier, no cast kernel; the default since session 11's call 1; its fallback v36q is not run here). FINAL's
# previous defaults (CUPY_FINAL_ALT) follow BWD_DEFAULT: VIG_CUPY_BWD=v31 once the lead flips it to
# v36 / v36q, else VIG_CUPY_BWD=v29q.
# Run by the lead as `bash kernels/cupy/dev_gpu_check.sh` inside a device call whose command already
# sourced tools/device-setup.sh. Writes $OUT/cupy/cupy-gpu.log (everything, tee'd progressively)
# and $OUT/cupy/cupy-check.json (the parity cases of the shipped defaults): 2 files.
# Mode: CUPY_CHECK_FINAL (or FINAL when that is unset) = 0 / 1 (default 1).
#   FINAL (1, <= 105 s, no timing), five processes side by side (the GPU host has 16 cores):
#     A parity (the contract's 120 cases) of the shipped defaults (every VIG_CUPY_* unset), B parity
#     of the previous defaults (CUPY_FINAL_ALT; default: VIG_CUPY_BWD=v31 when BWD_DEFAULT is v36 /
#     v36q, else VIG_CUPY_BWD=v29q),
#     C memcheck and D racecheck of the shipped defaults on --small with VIG_CUPY_MAX_SEG=64 (every
#     workspace offset of the segmented forward and backward), E dev_parity.py --expect-seg 128 (the
#     SEG128 rule's 20 cases at ViG-T@1024's B=8 H=3, shipped defaults).
#   MID (0; session 13 round 2: the v39 forward, VIG_CUPY_FWD=v39 = v37 + -DFC3=1 -DMINB=3 in the output pass;
#   session 14 ran its checks as FINAL with v39 the default, results/2026-12-06i-h100/; since then "+N" is the
#   default v39w, which is v39 at 384-block grids and v37 elsewhere, so the +T timing below differs from +N only
#   where v39w picks v37):
#     MID_PHASE=parity (<= MID_BOX, default 108 s; each process `timeout MID_PAR_S`, default 100),
#       5 processes side by side: A parity of v39 (the contract's 120 cases; its cupy-check.json is the
#       second file), B memcheck and C racecheck of v39 on --small with VIG_CUPY_MAX_SEG=64, D
#       dev_parity.py --expect-seg 128 with v39, E dev_parity.py --lengths 1,17,..,256 with v39 (B = 96,
#       H = 3: one segment per (b, h), chunk counts 1 .. 16, every gate regime).
#     MID_PHASE=timing (<= MID_BOX, default 68 s): ONE dev_bench process: fwd v26+N (the shipped
#       forward: v37 in session 13, v39w now) | v26+N+T (v39) | v26+N | v26+N+T, f+b v36s+N | v36s+N+T | v36s+N | v36s+N+T at the
#       five shapes; verdict line: every +T line BITEXACT against its twin; then, with >= 22 s left
#       each, ncu of bigla_tc_fwd [v39], then [v37], at ViG-S@224 (occupancy limits, warps active).
#   (Session 10's MID, v36 / v37, as it was; its script is in git history at 9f67044:)
#   MID (0; session 10 round 2: the v36 backward; round 3: the v37 forward (both defaults since session 11's call 1),
#   VIG_CUPY_FWD=v37 = v30 + -DFTR=1, channel-major Qi / Qf / Kf / Ki tiles):
#     MID_PHASE=parity (<= MID_BOX, default 108 s; each process `timeout MID_PAR_S`, default 100),
#       7 processes side by side: A parity of v36 (the contract's 120 cases; its cupy-check.json is
#       the second file), B memcheck and C racecheck of v36 on --small with VIG_CUPY_MAX_SEG=64
#       (segmented mode 0 / scan / mode 1, dg fix-up), D dev_parity.py --expect-seg 128 with v36
#       (20 cases at B=8 H=3 L=4096 / 3000); E parity of v37 (120 cases, summary in the log),
#       F memcheck and G racecheck of v37 on --small with VIG_CUPY_MAX_SEG=64 (the mode-0 module
#       m0, the scan, mode 1 and the backward's own state pass all run FTR).
#     MID_PHASE=timing (<= MID_BOX, default 68 s): ONE dev_bench process: fwd v26+N (the shipped
#       forward, v30) | v26+N+R (v37) | v26+N | v26+N+R, f+b v31s+N (shipped) | v36s+N |
#       v31s+N+R (v37 forward) | v31s+N, eager and CUDA-graphed, host us, peak extra MiB ("+N":
#       every other switch at its shipped default, 224 px included); shapes T@224, S@224, B@224,
#       T@1024, S@1024; verdict lines: every v36 gradient bit-identical to v31's (= its fp32 values
#       rounded once: the launcher's cast), every v37 output / gradient bit-identical to v30's
#       (its +R twin without +R); then, only with >= 22 s left each, ncu of bigla_tc_bwd [v36],
#       then [v31], at ViG-S@224.
#     MID_PHASE=both (unset): both, MID_BOX default 170 s.
#   (Session 10 round 1's MID, v35 / v35q: 0dc6b40.)
#   (Session 9 round 3's MID, v34 / v34q and their sanitizers: fdf897e; rounds 1-2's, v31 / v32 /
#   v33: 05e62b3.)
#   (Session 8's MID, the v30 / v30l forwards, is in git history: 9bf15d5; session 7's, v29r /
#   DGFIX=vec2: 236a0b2.)
set -u
D=${OUT:-/tmp/out}/cupy
mkdir -p "$D"
LOG=$D/cupy-gpu.log
T0=$SECONDS
el() { echo $(( SECONDS - T0 )); }
FINAL=${CUPY_CHECK_FINAL:-${FINAL:-1}}
if [ "$FINAL" = "1" ]; then BOX=105
else case "${MID_PHASE:-both}" in parity) BOX=108;; timing) BOX=68;; *) BOX=170;; esac; fi
BOX=${MID_BOX:-$BOX}
left() { echo $(( BOX - (SECONDS - T0) )); }
S=/tmp/cupy-side
rm -rf $S; mkdir -p $S/b $S/b3 $S/mc $S/rc $S/mc0 $S/b37
unset VIG_CUPY_BWD VIG_CUPY_FWD VIG_CUPY_SCAN VIG_CUPY_SAVE_STATES VIG_CUPY_BWD_SEG VIG_CUPY_MAX_SEG \
  VIG_CUPY_BWD_LONG VIG_CUPY_SEG128 VIG_CUPY_DGFIX VIG_CUPY_FWD0
# the previous defaults: v31 (shipped since session 9's mid call) once BWD_DEFAULT is v36 / v36q
# (session 10), else session 8's v29q
case "$(sed -n 's/^BWD_DEFAULT = "\([a-z0-9]*\)".*/\1/p' kernels/cupy/__init__.py)" in
  v36*) ALT0="VIG_CUPY_BWD=v31";; *) ALT0="VIG_CUPY_BWD=v29q";; esac
# session 11: v37 the default forward -> the previous forward, v30, joins the previous defaults
# session 13: v39 the default -> v37 does; session 14: the same for v39w
case "$(sed -n 's/^FWD_DEFAULT = "\([a-z0-9]*\)".*/\1/p' kernels/cupy/__init__.py)" in
  v37) ALT0="VIG_CUPY_FWD=v30 $ALT0";; v39|v39w) ALT0="VIG_CUPY_FWD=v37 $ALT0";; esac
ALT=${CUPY_FINAL_ALT-$ALT0}
# the sanitizers (memcheck, racecheck: --small with every segmented workspace offset) and the SEG128
# rule's cases of one configuration (its env assignments as arguments; none: the shipped defaults),
# each in the background under `timeout $TO`; their pids in SIDE; side_report prints their tails
# (san_checks: the two sanitizers alone; first argument: a tag for the log names and OUT folders)
san_checks() {
  local T=$1; shift
  mkdir -p $S/mc$T $S/rc$T
  ( env "$@" VIG_CUPY_MAX_SEG=64 PYTORCH_NO_CUDA_MEMORY_CACHING=1 OUT=$S/mc$T \
      timeout $TO compute-sanitizer --tool memcheck python tools/check_backend.py cupy --small \
      > $S/memcheck$T.log 2>&1; echo "memcheck rc=$?" >> $S/memcheck$T.log ) &
  SIDE="$SIDE $!"
  ( env "$@" VIG_CUPY_MAX_SEG=64 OUT=$S/rc$T \
      timeout $TO compute-sanitizer --tool racecheck python tools/check_backend.py cupy --small \
      > $S/racecheck$T.log 2>&1; echo "racecheck rc=$?" >> $S/racecheck$T.log ) &
  SIDE="$SIDE $!"
}
side_checks() {
  SIDE=""
  san_checks "" "$@"
  ( env "$@" timeout $TO python kernels/cupy/dev_parity.py --expect-seg 128 > $S/seg128.log 2>&1; \
    echo "seg128 parity rc=$?" >> $S/seg128.log ) &
  SIDE="$SIDE $!"
}
san_report() {  # tag, label
  echo "== memcheck [$2]"; tail -n 12 $S/memcheck$1.log
  echo "== racecheck [$2]"; tail -n 12 $S/racecheck$1.log
}
side_report() {
  san_report "" "$1"
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
# ---------------- MID (session 13 round 2): the v39 forward ----------------
NEW="VIG_CUPY_FWD=v39"
TO=${MID_PAR_S:-100}
if [ "${MID_PHASE:-both}" != timing ]; then
echo "== 1 parity A [$NEW] | memcheck B | racecheck C [$NEW, --small, MAX_SEG=64] | seg128 parity D [$NEW] | edge lengths E [$NEW] ($(el) s, each timeout $TO)"
side_checks $NEW
( env $NEW timeout $TO python kernels/cupy/dev_parity.py --lengths 1,17,33,49,65,196,208,224,225,256 \
    > $S/edge.log 2>&1; echo "edge parity rc=$?" >> $S/edge.log ) &
SIDE="$SIDE $!"
env $NEW OUT=$D timeout $TO python tools/check_backend.py cupy --parity
echo "parity A [v39] rc=$? ($(el) s)"
wait $SIDE
side_report "$NEW"
echo "== edge lengths E [$NEW]"; grep -v "^ok " $S/edge.log | tail -n 30
fi
if [ "${MID_PHASE:-both}" != parity ]; then
FK=v26+N,v26+N+T,v26+N,v26+N+T
BK=v36s+N,v36s+N+T,v36s+N,v36s+N+T
echo "== 2 bench, one process: fwd $FK | f+b $BK ($(el) s, $(left) s left)"
timeout $(( $(left) > 7 ? $(left) - 2 : 5 )) python kernels/cupy/dev_bench.py \
  $FK $BK ViG-T@224,ViG-S@224,ViG-B@224,ViG-T@1024,ViG-S@1024 | tee $S/bench.log
echo "bench rc=${PIPESTATUS[0]} ($(el) s)"
# v39 computes v37's values in v37's order: every +T line BITEXACT against its twin
NR=$(grep -cE "(fwd|f\+b) +v[0-9a-z]+\+N\+T:" $S/bench.log)
NRB=$(grep -E "(fwd|f\+b) +v[0-9a-z]+\+N\+T:" $S/bench.log | grep -cE "vs v[0-9a-z]+\+N: BITEXACT")
echo "v39 vs v37 (fwd and f+b): $NR lines, $NRB BITEXACT -> $([ "$NR" -gt 0 ] && [ "$NR" = "$NRB" ] && echo BITEXACT || echo 'CHECK (not bit-identical, or no lines)')"
awk '$2 == "fwd" && $3 ~ /^v26\+N(\+T)?:$/ {g = $0; sub(/.*graphed /, "", g); sub(/;.*/, "", g);
  print "  " $1, "fwd", $3, "eager", $4, "graphed", g}' $S/bench.log
awk '$2 == "fwd" {sh = $1} $1 == "f+b" && $2 ~ /^v36s\+N(\+T)?:$/ {g = $0; sub(/.*graphed /, "", g);
  sub(/;.*/, "", g); p = $0; sub(/.*peak extra /, "", p); sub(/ MiB.*/, "", p);
  print "  " sh, $2, "eager", $3, "graphed", g, "peak", p, "MiB"}' $S/bench.log
# occupancy: v39 must reach 3 blocks per SM (the driver picks the shared-memory carveout)
M=gpu__time_duration.sum,launch__occupancy_limit_shared_mem,launch__occupancy_limit_registers,\
launch__registers_per_thread,launch__shared_mem_per_block_dynamic,sm__warps_active.avg.pct_of_peak_sustained_active,\
smsp__issue_active.avg.pct_of_peak_sustained_active
for V in v39 v37; do
  if [ $(left) -lt 22 ]; then echo "== 3 ncu bigla_tc_fwd [$V] skipped ($(left) s left)"; continue; fi
  echo "== 3 ncu bigla_tc_fwd [$V] ViG-S@224 ($(el) s, $(left) s left)"
  VIG_CUPY_FWD=$V timeout $(( $(left) - 3 )) ncu --clock-control none --csv --metrics $M \
    -k regex:bigla_tc_fwd -c 1 python kernels/cupy/dev_prof.py ViG-S@224 2>&1 \
    | grep '"bigla_tc_fwd' | awk -F'","' '{v=$NF; sub(/"$/,"",v); print "  " $(NF-2), v}'
done
fi
fi
echo "== done ($(el) s)"
} 2>&1 | tee -a "$LOG"
