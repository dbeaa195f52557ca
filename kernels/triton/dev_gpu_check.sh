#!/usr/bin/env bash
# Triton GPU check (session 7), run by the lead from the repo root inside a device call that has already
# sourced tools/device-setup.sh: `FINAL=0 bash kernels/triton/dev_gpu_check.sh` (MID, <= 170 s, timing) or
# `FINAL=1 ...` (FINAL, <= 110 s, no timing). Writes only $OUT/triton/: triton.log (tee'd as it goes) and,
# while parity processes run, pA.log / pB.log (pC's and pD's logs live in /tmp: 3 files at most); each is appended to
# triton.log and removed when its process is done.
# Every parity run ends with ONE grep-able line `parity: N/M LABEL ...` (M = the cases it should have run: a
# run cut by its time box shows N < M); the script exits non-zero if any parity run has a FAIL or is short.
# MID_PHASE=parity|timing|both (default both), MID_BOX (whole box, s), MID_PAR_S (the parity processes' box).
# Shipped defaults (session 7, commit dace9ae): LAUNCH=direct, GRADBUF=1, bf16 dots, DX on (both passes), FO off.
# New in session 7 (kernels/triton/NOTES.md "Session 7"), opt-in: VIG_TRITON_CS_BWD=1, compact scratch in the
# derived-exp backward (the reverse sweep leaves 3 key-side term tiles + pv instead of 5 partial tiles; same
# values); VIG_TRITON_CHUNK_BWD=32 (+ VIG_TRITON_WARPS_BWD=8, with FO): the derived-exp backward on 32-token chunks.
# MID:   M1 side by side (MID_PAR_S box, default 100 s; pA needs ~120 s beside four others: give it 125 if the
#        parity phase runs alone):
#        pA parity of DX + CS (VIG_TRITON_CS_BWD=1, the shipped DX otherwise) over the contract's 120 cases
#           (check_backend --parity);
#        pB parity of FO (backward) + CS (dev_bench, L 65 / 300 / 4096 x model / neg_inf / patchy x bf16: 9 cases; MODE 1 and
#           MODE 2 with CS, the redo path included);
#        pE parity of FO (backward) + CS + 32-token chunks at 8 warps (dev_bench, the same 9 cases);
#        pC compute-sanitizer memcheck of DX + CS on check_backend --small, segments forced (VIG_TRITON_SEG_MIN_L=32);
#        pD the same memcheck of FO + CS + 32-token chunks at 8 warps.
#        The processes also fill Triton's cache for M2 (same kernels, constexprs and launch options).
#        M2 ONE process: dev_bench timing (eager and CUDA-graphed, do_bench median, bench.make_inputs, bf16
#        data, fp32 gates) of new (shipped: DX), new_cs, new_fob_cs_cb32_wb8, new_fob, new_fob_cs (FO in the backward only: the forward is the shipped DX in every variant) at the five shapes
#        (S@224, T@224, B@224, S@1024, T@1024).
# FINAL: side by side: pA parity of the shipped defaults (no switch set), pB parity of the previous defaults
#        (if the lead flipped CS on in __init__.py: CS off; else if FO was flipped: FO off; else DX off), pC
#        compute-sanitizer memcheck of the shipped defaults on check_backend --small with segments forced.
set -u
D=${OUT:-/tmp}/triton
mkdir -p "$D"
FINAL=${FINAL:-0}
if [ "$FINAL" = "1" ]; then BOX=108; else BOX=168; fi; BOX=${MID_BOX:-$BOX}
PS=${MID_PAR_S:-100}  # the MID parity processes' box
NCASE=120  # the contract's parity cases (tools/check_backend.py --parity)
left() { echo $(( BOX - SECONDS )); }
unset VIG_TRITON_LAUNCH VIG_TRITON_GRADBUF VIG_TRITON_DOT_FWD VIG_TRITON_DOT_BWD VIG_TRITON_FSCAN \
  VIG_TRITON_DX_FWD VIG_TRITON_DX_BWD VIG_TRITON_STAGES_BWD VIG_TRITON_STAGES_FWD VIG_TRITON_FO_FWD VIG_TRITON_FO_BWD \
  VIG_TRITON_CS_BWD VIG_TRITON_NREG_FWD VIG_TRITON_NREG_BWD VIG_TRITON_WARPS_FWD VIG_TRITON_WARPS_BWD VIG_TRITON_CHUNK_BWD
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
  if ! grep -q '^CS = {"BWD": False}' kernels/triton/__init__.py; then  # the lead flipped CS
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
  echo "== M1 side by side: pA parity DX + CS (120 cases), pB parity FO + CS (9), pE parity FO + CS + CB32 at 8 warps (9), pC memcheck DX + CS, pD memcheck FO + CS + CB32, pF memcheck of the shipped DX (--small, segments forced)"
  par pA $PS PYTHONUNBUFFERED=1 VIG_TRITON_CS_BWD=1 -- python tools/check_backend.py triton --parity
  par pB $PS PYTHONUNBUFFERED=1 -- python kernels/triton/dev_bench.py --parity-only --parity-variants new_fob_cs \
    --lengths 65,300,4096 --dtypes bfloat16 --regimes model,neg_inf,patchy
  par pE $PS PYTHONUNBUFFERED=1 -- python kernels/triton/dev_bench.py --parity-only --parity-variants new_fob_cs_cb32_wb8 \
    --lengths 65,300,4096 --dtypes bfloat16 --regimes model,neg_inf,patchy
  par pC $PS VIG_TRITON_CS_BWD=1 VIG_TRITON_SEG_MIN_L=32 -- \
    compute-sanitizer --tool memcheck python tools/check_backend.py triton --small
  par pD $PS VIG_TRITON_CS_BWD=1 VIG_TRITON_FO_FWD=1 VIG_TRITON_FO_BWD=1 VIG_TRITON_CHUNK_BWD=32 VIG_TRITON_WARPS_BWD=8 \
    VIG_TRITON_SEG_MIN_L=32 -- \
    compute-sanitizer --tool memcheck python tools/check_backend.py triton --small
  # the shipped DX kernels alone (MODE 0) were never memchecked (session 7's mid call ran FO + DX): owed
  par pF $PS VIG_TRITON_SEG_MIN_L=32 -- compute-sanitizer --tool memcheck python tools/check_backend.py triton --small
  collect "pA:$NCASE:new_cs (VIG_TRITON_CS_BWD=1, DX shipped, check_backend)" \
    "pB:9:new_fob_cs (VIG_TRITON_FO_BWD=1 VIG_TRITON_CS_BWD=1, dev_bench, bf16)" \
    "pE:9:new_fob_cs_cb32_wb8 (FO_BWD + CS + VIG_TRITON_CHUNK_BWD=32 VIG_TRITON_WARPS_BWD=8, dev_bench, bf16)" \
    "pC:-:memcheck DX + CS --small (segments forced)" \
    "pD:-:memcheck FO + CS + CB32 at 8 warps --small (segments forced)" \
    "pF:-:memcheck of the shipped defaults (DX) --small (segments forced)"
  fi
  if [ "${MID_PHASE:-both}" != parity ]; then
  echo "== M2 timing, one process ($SECONDS s, $(left) s left)"
  if [ "$(left)" -gt 15 ]; then
    timeout $(( $(left) - 2 )) python kernels/triton/dev_bench.py --parity-variants "" \
      --variants new,new_cs,new_fob_cs_cb32_wb8,new_fob,new_fob_cs --rep-ms 60 \
      --shapes ViG-S@224,ViG-T@224,ViG-B@224,ViG-S@1024,ViG-T@1024
    echo "== M2 exit $? ($SECONDS s)"
  fi
  fi
  echo "done ($SECONDS s)"
fi
echo "== status $(cat "$ST") (0: every parity run complete and passing)"
} 2>&1 | tee -a "$D/triton.log"
exit "$(cat "$ST")"
