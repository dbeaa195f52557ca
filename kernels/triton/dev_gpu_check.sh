#!/usr/bin/env bash
# Triton GPU check (session 6), run by the lead from the repo root inside a device call that has already
# sourced tools/device-setup.sh: `FINAL=0 bash kernels/triton/dev_gpu_check.sh` (MID, <= 170 s, timing) or
# `FINAL=1 ...` (FINAL, <= 110 s, no timing). Writes only $OUT/triton/: triton.log (tee'd as it goes) and,
# while parity processes run, pA.log / pB.log (pC's and pD's logs live in /tmp: 3 files at most); each is appended to
# triton.log and removed when its process is done.
# Every parity run ends with ONE grep-able line `parity: N/M LABEL ...` (M = the cases it should have run: a
# run cut by its time box shows N < M); the script exits non-zero if any parity run has a FAIL or is short.
# New in session 6 (NOTES.md v2.8), opt-in: VIG_TRITON_DX_FWD=1 / VIG_TRITON_DX_BWD=1 (derived-exp forward /
# backward kernels), VIG_TRITON_STAGES_BWD=N (num_stages of the backward kernel; measurement knob).
# Round 2 (NOTES.md v2.9), opt-in: VIG_TRITON_FO_FWD=1 / VIG_TRITON_FO_BWD=1 (the derived-exp kernels split in a
# fast-only launch that flags its program if any chunk needs the exact path, then an exact-capable launch that
# redoes only the flagged programs).
# Shipped defaults (v2.7): LAUNCH=direct, GRADBUF=1, bf16 forward dots, DX off, FO off.
# MID:   M1 side by side (100 s box, MID_PAR_S; pE: memcheck of FO + DX on --small, segments forced):
#        pA parity of DX (both kernels) over the contract's 120 cases
#        (check_backend --parity), pB parity of DX + STAGES_BWD=1 and of DX + the forward capped at 96 registers
#        (pC, VIG_TRITON_NREG_FWD=96: 5 programs per SM) and of DX + the backward at 8 warps capped at 128 registers
#        (pC, 2 programs of 8 warps per SM: CuPy's 4 warps per scheduler; ptxas 578 B spill); dev_bench, L 65 / 300 /
#        4096 x model / neg_inf / patchy x bf16 / fp32 (pB, 18 cases) or bf16 (pC, 9 cases per variant);
#        pD parity of FO (both kernels; v2.9) over the contract's 120 cases (check_backend --parity). The four
#        processes also fill Triton's cache for M2 (same kernels, constexprs and launch options).
#        M2 ONE process: dev_bench timing (eager and CUDA-graphed, do_bench median, bench.make_inputs, bf16
#        data, fp32 gates) of new (shipped), new_dx, new_fo, new_dx_stb1, new_dx_f96, new_dx_wb8_b128 at the five shapes (S@224,
#        B@224, S@1024 first: the kernel-bound ones).
# FINAL: side by side: pA parity of the shipped defaults (no switch set), pB parity of the previous defaults
#        (if the lead flipped FO on in __init__.py: FO off; else if DX was flipped: DX off; else session 5's: LAUNCH=jit GRADBUF=0
#        DOT_FWD=tf32), pC compute-sanitizer memcheck of the shipped defaults on check_backend --small with
#        segments forced (VIG_TRITON_SEG_MIN_L=32).
set -u
D=${OUT:-/tmp}/triton
mkdir -p "$D"
FINAL=${FINAL:-0}
if [ "$FINAL" = "1" ]; then BOX=108; else BOX=168; fi; BOX=${MID_BOX:-$BOX}
PS=${MID_PAR_S:-100}  # the MID parity processes' box
NCASE=120  # the contract's parity cases (tools/check_backend.py --parity)
left() { echo $(( BOX - SECONDS )); }
unset VIG_TRITON_LAUNCH VIG_TRITON_GRADBUF VIG_TRITON_DOT_FWD VIG_TRITON_DOT_BWD VIG_TRITON_FSCAN \
  VIG_TRITON_DX_FWD VIG_TRITON_DX_BWD VIG_TRITON_STAGES_BWD VIG_TRITON_STAGES_FWD VIG_TRITON_FO_FWD VIG_TRITON_FO_BWD
ST=/tmp/triton-status; rm -f "$ST"; echo 0 > "$ST"
lg() { if [ "$1" = pC ] || [ "$1" = pD ] || [ "$1" = pE ]; then echo "/tmp/triton-$1.log"; else echo "$D/$1.log"; fi; }
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
mkdir -p /tmp/triton-pA /tmp/triton-pB /tmp/triton-pC /tmp/triton-pD /tmp/triton-pE
{
echo "== triton dev_gpu_check FINAL=$FINAL: $(date -u +%H:%M:%S) $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null)"
if [ "$FINAL" = "1" ]; then
  if ! grep -q '^FO = {"FWD": False, "BWD": False}' kernels/triton/__init__.py; then  # the lead flipped FO
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
  echo "== M1 side by side: pA parity DX (both kernels, 120 cases), pB DX + STAGES_BWD=1 (18), pC DX + forward cap 96, DX + backward 8 warps at 128 regs (9 + 9), pD parity FO (both kernels, 120 cases), pE memcheck of FO + DX (--small, segments forced)"
  par pA $PS PYTHONUNBUFFERED=1 VIG_TRITON_DX_FWD=1 VIG_TRITON_DX_BWD=1 -- python tools/check_backend.py triton --parity
  par pB $PS PYTHONUNBUFFERED=1 -- python kernels/triton/dev_bench.py --parity-only --parity-variants new_dx_stb1 \
    --lengths 65,300,4096 --dtypes bfloat16,float32 --regimes model,neg_inf,patchy
  par pC $PS PYTHONUNBUFFERED=1 -- python kernels/triton/dev_bench.py --parity-only --parity-variants new_dx_f96,new_dx_wb8_b128 \
    --lengths 65,300,4096 --dtypes bfloat16 --regimes model,neg_inf,patchy
  par pD $PS PYTHONUNBUFFERED=1 VIG_TRITON_FO_FWD=1 VIG_TRITON_FO_BWD=1 -- python tools/check_backend.py triton --parity
  par pE $PS VIG_TRITON_FO_FWD=1 VIG_TRITON_FO_BWD=1 VIG_TRITON_DX_FWD=1 VIG_TRITON_DX_BWD=1 VIG_TRITON_SEG_MIN_L=32 -- \
    compute-sanitizer --tool memcheck python tools/check_backend.py triton --small
  collect "pA:$NCASE:new_dx (VIG_TRITON_DX_FWD=1 VIG_TRITON_DX_BWD=1, check_backend)" \
    "pB:18:new_dx_stb1 (dev_bench)" "pC:18:new_dx_f96 + new_dx_wb8_b128 (dev_bench, bf16, 9 cases each)" \
    "pD:$NCASE:new_fo (VIG_TRITON_FO_FWD=1 VIG_TRITON_FO_BWD=1, check_backend)" \
    "pE:-:memcheck FO + DX --small (segments forced)"
  fi
  if [ "${MID_PHASE:-both}" != parity ]; then
  echo "== M2 timing, one process ($SECONDS s, $(left) s left)"
  if [ "$(left)" -gt 15 ]; then
    timeout $(( $(left) - 2 )) python kernels/triton/dev_bench.py --parity-variants "" \
      --variants new,new_dx,new_fo,new_dx_stb1,new_dx_f96,new_dx_wb8_b128 --rep-ms 60 \
      --shapes ViG-S@224,ViG-B@224,ViG-S@1024,ViG-T@224,ViG-T@1024
    echo "== M2 exit $? ($SECONDS s)"
  fi
  fi
  echo "done ($SECONDS s)"
fi
echo "== status $(cat "$ST") (0: every parity run complete and passing)"
} 2>&1 | tee -a "$D/triton.log"
exit "$(cat "$ST")"
