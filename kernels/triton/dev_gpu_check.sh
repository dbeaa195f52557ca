#!/usr/bin/env bash
# Triton GPU check (session 8), run by the lead from the repo root inside a device call that has already
# sourced tools/device-setup.sh: `FINAL=0 bash kernels/triton/dev_gpu_check.sh` (MID, <= 170 s, timing) or
# `FINAL=1 ...` (FINAL, <= 110 s, no timing). Writes only $OUT/triton/: triton.log (tee'd as it goes) and,
# while parity processes run, pA.log / pB.log (the other processes' logs live in /tmp: 3 files at most); each is
# appended to triton.log and removed when its process is done.
# Every parity run ends with ONE grep-able line `parity: N/M LABEL ...` (M = the cases it should have run: a
# run cut by its time box shows N < M); the script exits non-zero if any parity run has a FAIL or is short.
# MID_PHASE=parity|timing|both (default both), MID_BOX (whole box, s), MID_PAR_S (the parity processes' box).
# Shipped defaults (session 8, commit eb4d068): LAUNCH=direct, GRADBUF=1, bf16 dots, DX on (both passes), CS on, FO and SPLIT off.
# New in session 8 (kernels/triton/NOTES.md "Session 8 (SPLIT)"), opt-in: VIG_TRITON_SPLIT_BWD=1, the derived-exp
# backward split by direction (two launches, one state per sweep, 237 / 254 regs and 0 B spill uncapped); with
# VIG_TRITON_FO_BWD=1 each direction fast-only then the flagged programs redone (4 launches); launch knobs
# VIG_TRITON_NREG_SPLIT (bf16 register cap), VIG_TRITON_WARPS_SPLIT.
# MID:   M1 (MID_PHASE=parity) side by side in MID_PAR_S (default 110 s, at most 120):
#        pA parity of SPLIT (VIG_TRITON_SPLIT_BWD=1, 4 warps, uncapped) over the contract's 120 cases
#           (check_backend --parity);
#        pB dev_bench parity (L 65 / 300 / 4096 x model / neg_inf / patchy x bf16: 9 cases per variant) of
#           new_sp_nsp168 and new_sp_fob_nsp168 (cap 168: 3 programs per SM);
#        pE the same of new_sp_wsp8_nsp128 and new_sp_fob_wsp8_nsp128 (8 warps at 128: 2 programs of 8 warps);
#        pF the same of new_sp_fob (FO: MODE 1 + MODE 2 per direction, 4 warps uncapped);
#        pC compute-sanitizer memcheck of SPLIT on check_backend --small, segments forced (VIG_TRITON_SEG_MIN_L=32);
#        pD the same memcheck of SPLIT + FO at 8 warps, cap 128.
#        The processes also fill Triton's cache for M2 (same kernels, constexprs and launch options).
#        M2 (MID_PHASE=timing, <= 75 s) ONE process: dev_bench timing (eager and CUDA-graphed, do_bench median,
#        bench.make_inputs, bf16 data, fp32 gates; rep 60 ms) of new (shipped: DX), new_sp, new_sp_nsp168,
#        new_sp_wsp8_nsp128, new_sp_fob_nsp168, new_sp_fob, new_sp_fob_wsp8_nsp128 (the forward is the shipped
#        DX in every variant: the differences are the backward's) at S@224, T@224, B@224, S@1024, T@1024.
# FINAL: side by side: pA parity of the shipped defaults (no switch set), pB parity of the previous defaults
#        (if the lead flipped SPLIT on in __init__.py: SPLIT off; else CS off if flipped; else FO off if flipped;
#        else DX off), pC compute-sanitizer memcheck of the shipped defaults on check_backend --small, segments forced.
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
  VIG_TRITON_SEG_MIN_L VIG_TRITON_SEG_MIN_L_BWD
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
    if [ "$want" != "-" ]; then
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
  if ! grep -q '^SPLIT = {"BWD": False}' kernels/triton/__init__.py; then  # the lead flipped SPLIT
    PREV=(VIG_TRITON_SPLIT_BWD=0); PLAB="previous defaults (SPLIT off)"
  elif ! grep -q '^CS = {"BWD": False}' kernels/triton/__init__.py; then  # the lead flipped CS
    PREV=(VIG_TRITON_CS_BWD=0); PLAB="previous defaults (CS off)"
  elif ! grep -q '^FO = {"FWD": False, "BWD": False}' kernels/triton/__init__.py; then  # the lead flipped FO
    PREV=(VIG_TRITON_FO_FWD=0 VIG_TRITON_FO_BWD=0); PLAB="previous defaults (FO off)"
  elif ! grep -q '^DX = {"FWD": False, "BWD": False}' kernels/triton/__init__.py; then  # the lead flipped DX
    PREV=(VIG_TRITON_DX_FWD=0 VIG_TRITON_DX_BWD=0); PLAB="previous defaults (DX off)"
  else
    PREV=(VIG_TRITON_LAUNCH=jit VIG_TRITON_GRADBUF=0 VIG_TRITON_DOT_FWD=tf32); PLAB="previous defaults (jit, gb0, dtf)"
  fi
  echo "== F1 side by side: pA parity of the shipped defaults, pB parity of the $PLAB: ${PREV[*]}, pC memcheck"
  par pA 100 PYTHONUNBUFFERED=1 -- python tools/check_backend.py triton --parity
  par pB 100 PYTHONUNBUFFERED=1 "${PREV[@]}" -- python tools/check_backend.py triton --parity
  par pC 100 VIG_TRITON_SEG_MIN_L=32 -- compute-sanitizer --tool memcheck python tools/check_backend.py triton --small
  collect "pA:$NCASE:shipped defaults" "pB:$NCASE:$PLAB" "pC:-:memcheck --small (segments forced)"
  echo "done ($SECONDS s)"
else
  if [ "${MID_PHASE:-both}" != timing ]; then
  echo "== M1 side by side ($PS s box): pA parity SPLIT (120 cases), pB parity SPLIT cap 168 +- FO (9 + 9), pE parity SPLIT 8 warps cap 128 +- FO (9 + 9), pF parity SPLIT + FO (9), pC memcheck SPLIT, pD memcheck SPLIT + FO 8 warps cap 128 (--small, segments forced)"
  DB=(python kernels/triton/dev_bench.py --parity-only --lengths 65,300,4096 --dtypes bfloat16 --regimes model,neg_inf,patchy)
  par pA $PS PYTHONUNBUFFERED=1 VIG_TRITON_SPLIT_BWD=1 -- python tools/check_backend.py triton --parity
  par pB $PS PYTHONUNBUFFERED=1 -- "${DB[@]}" --parity-variants new_sp_nsp168,new_sp_fob_nsp168
  par pE $PS PYTHONUNBUFFERED=1 -- "${DB[@]}" --parity-variants new_sp_wsp8_nsp128,new_sp_fob_wsp8_nsp128
  par pF $PS PYTHONUNBUFFERED=1 -- "${DB[@]}" --parity-variants new_sp_fob
  par pC $PS VIG_TRITON_SPLIT_BWD=1 VIG_TRITON_SEG_MIN_L=32 -- \
    compute-sanitizer --tool memcheck python tools/check_backend.py triton --small
  par pD $PS VIG_TRITON_SPLIT_BWD=1 VIG_TRITON_FO_BWD=1 VIG_TRITON_WARPS_SPLIT=8 VIG_TRITON_NREG_SPLIT=128 \
    VIG_TRITON_SEG_MIN_L=32 -- compute-sanitizer --tool memcheck python tools/check_backend.py triton --small
  collect "pA:$NCASE:new_sp (VIG_TRITON_SPLIT_BWD=1, check_backend)" \
    "pB:18:new_sp_nsp168 + new_sp_fob_nsp168 (SPLIT, VIG_TRITON_NREG_SPLIT=168, +- FO_BWD; dev_bench, bf16)" \
    "pE:18:new_sp_wsp8_nsp128 + new_sp_fob_wsp8_nsp128 (SPLIT, VIG_TRITON_WARPS_SPLIT=8 NREG_SPLIT=128, +- FO_BWD; dev_bench, bf16)" \
    "pF:9:new_sp_fob (SPLIT + VIG_TRITON_FO_BWD=1; dev_bench, bf16)" \
    "pC:-:memcheck SPLIT --small (segments forced)" \
    "pD:-:memcheck SPLIT + FO, 8 warps, cap 128 --small (segments forced)"
  fi
  if [ "${MID_PHASE:-both}" != parity ]; then
  echo "== M2 timing, one process ($SECONDS s, $(left) s left)"
  if [ "$(left)" -gt 15 ]; then
    timeout $(( $(left) - 2 )) python kernels/triton/dev_bench.py --parity-variants "" \
      --variants new,new_sp,new_sp_nsp168,new_sp_wsp8_nsp128,new_sp_fob_nsp168,new_sp_fob,new_sp_fob_wsp8_nsp128 \
      --rep-ms 60 --shapes ViG-S@224,ViG-T@224,ViG-B@224,ViG-S@1024,ViG-T@1024
    echo "== M2 exit $? ($SECONDS s)"
  fi
  fi
  echo "done ($SECONDS s)"
fi
echo "== status $(cat "$ST") (0: every parity run complete and passing)"
} 2>&1 | tee -a "$D/triton.log"
exit "$(cat "$ST")"
