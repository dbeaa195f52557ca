#!/usr/bin/env bash
# Triton GPU check (session 5, after the mid call), run by the lead from the repo root inside a device call
# that has already sourced tools/device-setup.sh: `FINAL=1 bash kernels/triton/dev_gpu_check.sh` (FINAL,
# <= 105 s, no timing) or `FINAL=0 ...` (MID, <= 170 s, timing). Writes only $OUT/triton/: triton.log (tee'd
# as it goes) and, while parity processes run, pA.log / pB.log (pC's log lives in /tmp: 3 files at most);
# each is appended to triton.log and removed when its process is done.
# Shipped since v2.7 (session 5 mid call, NOTES.md v2.7): VIG_TRITON_LAUNCH=direct (cached direct launch,
# kernels/triton/launch.py), VIG_TRITON_GRADBUF=1, bf16 forward dot operands (VIG_TRITON_DOT_FWD=bf16).
# Previous defaults (session 4): VIG_TRITON_LAUNCH=jit VIG_TRITON_GRADBUF=0 VIG_TRITON_DOT_FWD=tf32.
# JSCAN was removed (slower; commit 8f515e9 has it).
# FINAL: side by side: pA parity of the shipped defaults (no switch set; 120 cases, 98 s: the mid call's 70 s
#        box cut it at 119; with the direct launch the first regime of each (L, dtype) misses its cache, the
#        other four hit it), pB parity of the previous defaults (120 cases), pC compute-sanitizer memcheck of
#        the shipped defaults on check_backend --small with segments forced (VIG_TRITON_SEG_MIN_L=32).
# MID:   1. ONE process: host time of 200 eager calls + bit identity (new vs new_jit_gb0) at ViG-T@224 and
#           ViG-T@1024, then dev_bench timing (eager and CUDA-graphed, do_bench median) of the shipped
#           defaults (new) vs the previous defaults (new_jit_gb0_dtf) at the five shapes;
#        2. if time is left: FSCAN (opt-in) re-timed at ViG-T@1024 and ViG-S@1024 (new vs new_fsc).
set -u
D=${OUT:-/tmp}/triton
mkdir -p "$D"
FINAL=${FINAL:-0}
if [ "$FINAL" = "1" ]; then BOX=105; else BOX=165; fi
left() { echo $(( BOX - SECONDS )); }
unset VIG_TRITON_LAUNCH VIG_TRITON_GRADBUF VIG_TRITON_DOT_FWD VIG_TRITON_DOT_BWD VIG_TRITON_FSCAN
lg() { if [ "$1" = pC ]; then echo "/tmp/triton-$1.log"; else echo "$D/$1.log"; fi; }
par() {  # par NAME SECONDS ENV... -- COMMAND...: background process, output to $(lg NAME)
  local name=$1 secs=$2; shift 2
  local envs=(); while [ "$1" != "--" ]; do envs+=("$1"); shift; done; shift
  ( env "${envs[@]}" OUT=/tmp/triton-$name timeout "$secs" "$@" > "$(lg $name)" 2>&1;
    echo "== $name exit $? ($SECONDS s)" >> "$(lg $name)" ) &
}
collect() {  # wait for the background processes, append their logs (with a pass count) to the main log
  wait
  for f in "$@"; do
    local l; l=$(lg "$f"); [ -f "$l" ] || continue
    echo "---- $f: $(grep -c '^ok ' "$l") ok, $(grep -c '^FAIL' "$l") FAIL"
    cat "$l"; rm -f "$l"
  done
}
mkdir -p /tmp/triton-pA /tmp/triton-pB /tmp/triton-pC
{
echo "== triton dev_gpu_check FINAL=$FINAL: $(date -u +%H:%M:%S) $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null)"
if [ "$FINAL" = "1" ]; then
  echo "== F1 side by side: pA parity of the shipped defaults, pB parity of the previous defaults, pC memcheck"
  par pA 98 PYTHONUNBUFFERED=1 -- python tools/check_backend.py triton --parity
  par pB 95 PYTHONUNBUFFERED=1 VIG_TRITON_LAUNCH=jit VIG_TRITON_GRADBUF=0 VIG_TRITON_DOT_FWD=tf32 -- \
    python tools/check_backend.py triton --parity
  par pC 95 VIG_TRITON_SEG_MIN_L=32 -- compute-sanitizer --tool memcheck python tools/check_backend.py triton --small
  collect pA pB pC
  echo "done ($SECONDS s)"
else
  echo "== M1 host time + timing, one process ($SECONDS s, $(left) s left)"
  timeout $(( $(left) - 40 )) python kernels/triton/dev_bench.py --parity-variants "" \
    --variants new,new_jit_gb0_dtf --rep-ms 100 \
    --shapes ViG-T@224,ViG-T@1024,ViG-S@224,ViG-B@224,ViG-S@1024 \
    --host new,new_jit_gb0 --host-n 200
  echo "== M2 FSCAN re-timed ($SECONDS s, $(left) s left)"
  [ "$(left)" -gt 18 ] && timeout $(( $(left) - 2 )) python kernels/triton/dev_bench.py --parity-variants "" \
    --variants new,new_fsc --rep-ms 100 --shapes ViG-T@1024,ViG-S@1024
  echo "done ($SECONDS s)"
fi
} 2>&1 | tee "$D/triton.log"
