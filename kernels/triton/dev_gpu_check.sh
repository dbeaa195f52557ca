#!/usr/bin/env bash
# Triton GPU check (session 9), run by the lead from the repo root inside a device call that has already
# sourced tools/device-setup.sh: `FINAL=0 bash kernels/triton/dev_gpu_check.sh` (MID) or `FINAL=1 ...` (FINAL,
# <= 110 s, no timing). Writes only $OUT/triton/: triton.log (tee'd as it goes) and, while parity processes run,
# pA.log / pB.log (the other processes' logs live in /tmp: 3 files at most); each is appended to triton.log and
# removed when its process is done.
# Every parity run ends with ONE grep-able line `parity: N/M LABEL ...` (M = the cases it should have run: a
# run cut by its time box shows N < M); the script exits non-zero if any parity run has a FAIL or is short.
# MID_PHASE=parity|timing|both (default both), MID_BOX (whole box, s), MID_PAR_S (the parity processes' box).
# Shipped defaults (commit 9bf15d5): LAUNCH=direct, GRADBUF=1, bf16 dots, DX (the only main kernels since session 9:
# VIG_TRITON_DX_FWD / _BWD = 0 now raise), CS on, FO and SPLIT off.
# New in session 9 (kernels/triton/NOTES.md "Session 9"), opt-in: VIG_TRITON_SPLIT_BWD=auto, the session 8 split
# backward (+ FO + cap 168, as timed in session 8's final call) where a program-round rule says it wins, else DX +
# CS; at the contract shapes (132 SMs): split at T/S/B@224, DX + CS at T/S@1024 (eager and graphed alike).
# VIG_TRITON_SPLIT_SMS=N makes the rule assume N SMs (1: the split nearly everywhere).
# Session 10 (NOTES.md "Session 10 (KS)"): shipped defaults now SPLIT_BWD=auto and KEEP_STATES=1 (both proven in
# session 10's call B: results/2026-12-06e-h100/callB/triton.log); STATE_CHUNK was removed (slower; raises).
# Session 11 (NOTES.md "Session 11 (on trial): VIG_TRITON_FTZ"), the default since session 11's MID call (FINAL: previous = FTZ=0): every kernel's exp as
# ex2.approx.ftz.f32 (no denormal range guard around MUFU.EX2 on sm_90).
# MID:   M1 (MID_PHASE=parity) side by side in MID_PAR_S (default 110 s):
#        pA parity of VIG_TRITON_FTZ=1 (the shipped defaults + FTZ), 120 cases; pB the same with
#           VIG_TRITON_SPLIT_SMS=1 and SEG_MIN_L=32 (the split + segments in nearly every case), 120 cases;
#        pC memcheck of FTZ=1 on check_backend --small, segments forced (SPLIT_SMS=1 SEG_MIN_L=32, as before).
#        M2 (MID_PHASE=timing, <= 70 s) ONE process: dev_bench timing (eager and CUDA-graphed, do_bench median,
#        bench.make_inputs, bf16 data, fp32 gates; rep 60 ms) of new (shipped), new_ftz (FTZ=1) and new again (the
#        drift check) at the five shapes.
# FINAL: side by side: pA parity of the shipped defaults (no switch set), pB parity of the previous defaults
#        (if the lead flipped SPLIT in __init__.py: SPLIT off; else CS off if flipped; else FO off if flipped),
#        (if the lead flipped FTZ to 1 in __init__.py: FTZ 0, checked first),
#        pC compute-sanitizer memcheck of the shipped defaults on check_backend --small, segments forced; if SPLIT
#        is flipped to "auto", pD the same memcheck with VIG_TRITON_SPLIT_SMS=1 (the split branch).
set -u
D=${OUT:-/tmp}/triton
mkdir -p "$D"
FINAL=${FINAL:-0}
if [ "$FINAL" = "1" ]; then BOX=108; else BOX=168; fi; BOX=${MID_BOX:-$BOX}
PS=${MID_PAR_S:-110}  # the MID parity processes' box (the lead's parity box is <= 120 s)
NCASE=120  # the contract's parity cases (tools/check_backend.py --parity)
left() { echo $(( BOX - SECONDS )); }
unset VIG_TRITON_LAUNCH VIG_TRITON_GRADBUF VIG_TRITON_DOT_FWD VIG_TRITON_DOT_BWD VIG_TRITON_FSCAN \
  VIG_TRITON_DX_FWD VIG_TRITON_DX_BWD VIG_TRITON_STAGES_BWD VIG_TRITON_STAGES_FWD VIG_TRITON_FO_FWD VIG_TRITON_FO_BWD \
  VIG_TRITON_CS_BWD VIG_TRITON_NREG_FWD VIG_TRITON_NREG_BWD VIG_TRITON_WARPS_FWD VIG_TRITON_WARPS_BWD VIG_TRITON_CHUNK_BWD \
  VIG_TRITON_SPLIT_BWD VIG_TRITON_NREG_SPLIT VIG_TRITON_WARPS_SPLIT VIG_TRITON_STAGES_SPLIT VIG_TRITON_SEGMENT \
  VIG_TRITON_SEG_MIN_L VIG_TRITON_SEG_MIN_L_BWD VIG_TRITON_SPLIT_SMS VIG_TRITON_FTZ
ST=/tmp/triton-status; rm -f "$ST"; echo 0 > "$ST"
lg() { if [ "$1" = pC ] || [ "$1" = pD ] || [ "$1" = pE ] || [ "$1" = pF ]; then echo "/tmp/triton-$1.log"; else echo "$D/$1.log"; fi; }
par() {  # par NAME SECONDS ENV... -- COMMAND...: background process, output to $(lg NAME)
  local name=$1 secs=$2; shift 2
  local envs=(); while [ "$1" != "--" ]; do envs+=("$1"); shift; done; shift
  ( env "${envs[@]}" OUT=/tmp/triton-$name timeout "$secs" "$@" > "$(lg $name)" 2>&1;
    echo "== $name exit $? ($SECONDS s)" >> "$(lg $name)" ) &
}
collect() {  # collect "NAME:EXPECTED:LABEL" ...: wait, append each log, print its parity summary line
  wait
  for spec in "$@"; do
    local f=${spec%%:*} rest=${spec#*:}; local want=${rest%%:*} label=${rest#*:}
    local l; l=$(lg "$f"); [ -f "$l" ] || continue
    echo "---- $f ($label)"
    cat "$l"
    if [ "$want" = "pt" ]; then  # a pytest run: some passed, none failed / errored
      if ! grep -q ' passed' "$l" || grep -Eq '[0-9]+ (failed|error)' "$l"; then echo 1 > "$ST"; fi
    elif [ "$want" != "-" ]; then
      local nok nfail
      nok=$(grep -c '^ok ' "$l"); nfail=$(grep -c '^FAIL' "$l")
      echo "parity: $nok/$want $label ($nfail FAIL$( [ $((nok + nfail)) -lt "$want" ] && echo ", cut short: $((want - nok - nfail)) not run"))"
      if [ "$nfail" -gt 0 ] || [ "$nok" -lt "$want" ]; then echo 1 > "$ST"; fi
    else
      grep -q 'ERROR SUMMARY: 0 errors' "$l" || echo 1 > "$ST"
    fi
    rm -f "$l"
  done
}
mkdir -p /tmp/triton-pA /tmp/triton-pB /tmp/triton-pC /tmp/triton-pD /tmp/triton-pE /tmp/triton-pF
{
echo "== triton dev_gpu_check FINAL=$FINAL: $(date -u +%H:%M:%S) $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null)"
if [ "$FINAL" = "1" ]; then
  if ! grep -q '^FTZ = 0' kernels/triton/__init__.py; then  # the lead flipped FTZ (session 11)
    PREV=(VIG_TRITON_FTZ=0); PLAB="previous defaults (FTZ off)"
  elif ! grep -q '^SPLIT = {"BWD": False}' kernels/triton/__init__.py; then  # the lead flipped SPLIT (and KEEP_STATES)
    PREV=(VIG_TRITON_SPLIT_BWD=0 VIG_TRITON_KEEP_STATES=0); PLAB="previous defaults (SPLIT off, KEEP_STATES 0)"
  elif ! grep -q '^CS = {"BWD": False}' kernels/triton/__init__.py; then  # the lead flipped CS
    PREV=(VIG_TRITON_CS_BWD=0); PLAB="previous defaults (CS off)"
  elif ! grep -q '^FO = {"FWD": False, "BWD": False}' kernels/triton/__init__.py; then  # the lead flipped FO
    PREV=(VIG_TRITON_FO_FWD=0 VIG_TRITON_FO_BWD=0); PLAB="previous defaults (FO off)"
  else
    PREV=(VIG_TRITON_LAUNCH=jit VIG_TRITON_GRADBUF=0 VIG_TRITON_DOT_FWD=tf32); PLAB="previous defaults (jit, gb0, dtf)"
  fi
  echo "== F1 side by side: pA parity of the shipped defaults, pB parity of the $PLAB: ${PREV[*]}, pC memcheck"
  par pA 100 PYTHONUNBUFFERED=1 -- python tools/check_backend.py triton --parity
  par pB 100 PYTHONUNBUFFERED=1 "${PREV[@]}" -- python tools/check_backend.py triton --parity
  par pC 100 VIG_TRITON_SEG_MIN_L=32 -- compute-sanitizer --tool memcheck python tools/check_backend.py triton --small
  if grep -q '^SPLIT = {"BWD": "auto"}' kernels/triton/__init__.py; then  # auto shipped: its split branch too
    par pD 100 VIG_TRITON_SPLIT_SMS=1 VIG_TRITON_SEG_MIN_L=32 -- \
      compute-sanitizer --tool memcheck python tools/check_backend.py triton --small
    par pE 100 PYTHONUNBUFFERED=1 VIG_TRITON_SPLIT_SMS=1 VIG_TRITON_SEG_MIN_L=32 -- \
      python tools/check_backend.py triton --parity
  fi
  collect "pA:$NCASE:shipped defaults" "pB:$NCASE:$PLAB" "pC:-:memcheck --small (segments forced)" \
    "pD:-:memcheck --small, VIG_TRITON_SPLIT_SMS=1 (the split branch of auto, segments forced)" \
    "pE:$NCASE:shipped + SPLIT_SMS=1 SEG_MIN_L=32 (the split + KEEP_STATES in segments nearly everywhere)"
  echo "done ($SECONDS s)"
else
  if [ "${MID_PHASE:-both}" != timing ]; then
  echo "== M1 side by side ($PS s box): pA parity FTZ=1 (120 cases), pB parity FTZ=1 + SPLIT_SMS=1 SEG_MIN_L=32 (120 cases), pC memcheck FTZ=1 (--small, segments forced)"
  par pA $PS PYTHONUNBUFFERED=1 VIG_TRITON_FTZ=1 -- python tools/check_backend.py triton --parity
  par pB $PS PYTHONUNBUFFERED=1 VIG_TRITON_FTZ=1 VIG_TRITON_SPLIT_SMS=1 VIG_TRITON_SEG_MIN_L=32 -- \
    python tools/check_backend.py triton --parity
  par pC $PS VIG_TRITON_FTZ=1 VIG_TRITON_SPLIT_SMS=1 VIG_TRITON_SEG_MIN_L=32 -- \
    compute-sanitizer --tool memcheck python tools/check_backend.py triton --small
  collect "pA:$NCASE:FTZ=1 (shipped + VIG_TRITON_FTZ=1; check_backend)" \
    "pB:$NCASE:FTZ=1 + SPLIT_SMS=1 SEG_MIN_L=32 (the split + segments nearly everywhere; check_backend)" \
    "pC:-:memcheck FTZ=1 + SPLIT_SMS=1 --small (segments forced)"
  fi
  if [ "${MID_PHASE:-both}" != parity ]; then
  if [ "${MID_PHASE:-both}" = timing ]; then BOX=${MID_BOX:-70}; fi
  echo "== M2 timing, one process ($SECONDS s, $(left) s left)"
  if [ "$(left)" -gt 15 ]; then
    timeout $(( $(left) - 2 )) python kernels/triton/dev_bench.py --parity-variants "" \
      --variants new,new_ftz,new --rep-ms 60 --shapes ViG-T@224,ViG-S@224,ViG-B@224,ViG-T@1024,ViG-S@1024
    echo "== M2 exit $? ($SECONDS s)"
  fi
  fi
  echo "done ($SECONDS s)"
fi
echo "== status $(cat "$ST") (0: every parity run complete and passing)"
} 2>&1 | tee -a "$D/triton.log"
exit "$(cat "$ST")"
