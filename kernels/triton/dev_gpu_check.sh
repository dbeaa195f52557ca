#!/usr/bin/env bash
# Triton GPU check (session 5), run by the lead from the repo root inside a device call that has
# already sourced tools/device-setup.sh: `FINAL=0 bash kernels/triton/dev_gpu_check.sh` (MID, <= 170 s,
# timing) or `FINAL=1 ...` (FINAL, <= 110 s, no timing). Writes only $OUT/triton/: triton.log (tee'd as
# it goes) and, while parity processes run, pA.log / pB.log (pC's, pD's logs live in /tmp: 3 files at most);
# each is appended to triton.log and removed when its process is done.
# New in v2.7 (NOTES.md), all opt-in:
#   VIG_TRITON_LAUNCH=direct  cached direct launch (kernels/triton/launch.py): the CompiledKernel's launcher
#                             called directly after the first normal launch per specialisation key;
#   VIG_TRITON_GRADBUF=1      the backward's dq/dk and dgf/dgb pairs one allocation each;
#   VIG_TRITON_DOT_FWD=bf16   (existing switch, never timed) bf16 dot operands in the forward kernel;
#   VIG_TRITON_JSCAN=1        joined cumsums / sums in the main kernels' gate code (fewer bar.sync).
# MID:   1. parity, side by side: A = LAUNCH=direct + GRADBUF=1, B = DOT_FWD=bf16 (check_backend --parity,
#           120 cases each; L 4096 last; in A the first regime of each (L, dtype) misses the direct launch's
#           cache, the other four hit it),
#           C = dev_bench parity of new_dl_gb with every case called twice and the second call (cache hits)
#           checked (L 65 / 196 / 300 / 4096, bf16 / fp32, model / neg_inf / patchy: 24),
#           D = dev_bench parity of new_js (L 65 / 196 / 300 / 4096, bf16 / fp32, five regimes: 40);
#        2. ONE process: host time of 200 eager calls back to back (one sync) + bit identity of outputs and
#           gradients, new vs new_dl vs new_dl_gb, at ViG-T@224 and ViG-T@1024; then dev_bench timing (eager
#           and CUDA-graphed, do_bench median) of new, new_dl_gb, new_dl_gb_dbf, new_dl_gb_js, new_dl_gb_dbf_js
#           at the five shapes;
#        3. if time is left: FSCAN re-timed at ViG-S@1024 and ViG-T@1024 (new_dl_gb vs new_dl_gb_fsc).
# FINAL: side by side: parity of the shipped defaults (no switch set), parity of the previous defaults
#        (session 4: LAUNCH=jit, GRADBUF=0, DOT_FWD=tf32, JSCAN=0), compute-sanitizer memcheck of the defaults on
#        check_backend --small with segments forced (VIG_TRITON_SEG_MIN_L=32), and dev_bench parity of the
#        defaults with each case called twice (the second call checked: the direct launch's cache hits).
set -u
D=${OUT:-/tmp}/triton
mkdir -p "$D"
FINAL=${FINAL:-0}
if [ "$FINAL" = "1" ]; then BOX=105; else BOX=165; fi
left() { echo $(( BOX - SECONDS )); }
unset VIG_TRITON_LAUNCH VIG_TRITON_GRADBUF VIG_TRITON_DOT_FWD VIG_TRITON_DOT_BWD VIG_TRITON_FSCAN VIG_TRITON_JSCAN
lg() { if [ "$1" = pC ] || [ "$1" = pD ]; then echo "/tmp/triton-$1.log"; else echo "$D/$1.log"; fi; }
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
mkdir -p /tmp/triton-pA /tmp/triton-pB /tmp/triton-pC /tmp/triton-pD
{
echo "== triton dev_gpu_check FINAL=$FINAL: $(date -u +%H:%M:%S) $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null)"
if [ "$FINAL" = "1" ]; then
  echo "== F1 side by side: pA parity of the shipped defaults, pB parity of the previous defaults, pC memcheck, pD hits"
  par pA 95 PYTHONUNBUFFERED=1 -- python tools/check_backend.py triton --parity
  par pB 95 VIG_TRITON_LAUNCH=jit VIG_TRITON_GRADBUF=0 VIG_TRITON_DOT_FWD=tf32 VIG_TRITON_JSCAN=0 -- \
    python tools/check_backend.py triton --parity
  par pC 95 VIG_TRITON_SEG_MIN_L=32 -- compute-sanitizer --tool memcheck python tools/check_backend.py triton --small
  # pD: the shipped defaults with every case called twice, the second checked (if the direct launch is
  # shipped: its cache hits, at L 4096 too)
  par pD 95 PYTHONUNBUFFERED=1 -- python kernels/triton/dev_bench.py --parity-only --repeat 2 \
    --parity-variants new --lengths 65,196,4096 --dtypes bfloat16,float32 --regimes model,neg_inf,patchy
  collect pA pB pC pD
  echo "done ($SECONDS s)"
else
  echo "== M1 parity side by side ($SECONDS s): pA LAUNCH=direct GRADBUF=1, pB DOT_FWD=bf16 (120 cases each), pC new_dl_gb hits (24), pD JSCAN=1 (40)"
  par pA 70 VIG_TRITON_LAUNCH=direct VIG_TRITON_GRADBUF=1 -- python tools/check_backend.py triton --parity
  par pB 70 VIG_TRITON_DOT_FWD=bf16 -- python tools/check_backend.py triton --parity
  # pC: the direct launch's cache hits (each case called twice, the second checked; segmented at 4096)
  par pC 70 PYTHONUNBUFFERED=1 -- python kernels/triton/dev_bench.py --parity-only --repeat 2 \
    --parity-variants new_dl_gb --lengths 65,196,300,4096 --dtypes bfloat16,float32 --regimes model,neg_inf,patchy
  # pD: joined scans (VIG_TRITON_JSCAN=1), both main kernels, five regimes + patchy, segmented at 4096
  par pD 70 PYTHONUNBUFFERED=1 -- python kernels/triton/dev_bench.py --parity-only \
    --parity-variants new_js --lengths 65,196,300,4096 --dtypes bfloat16,float32 \
    --regimes model,strong,neg_inf,mixed,patchy
  collect pA pB pC pD
  echo "== M2 host time + bit identity, then timing, one process ($SECONDS s, $(left) s left)"
  [ "$(left)" -gt 20 ] && timeout $(( $(left) - 22 > 20 ? $(left) - 22 : $(left) )) python kernels/triton/dev_bench.py \
    --parity-variants "" --host new,new_dl,new_dl_gb --host-n 200 --host-profile \
    --variants new,new_dl_gb,new_dl_gb_dbf,new_dl_gb_js,new_dl_gb_dbf_js --rep-ms 100 \
    --shapes ViG-T@224,ViG-T@1024,ViG-S@224,ViG-B@224,ViG-S@1024
  echo "== M3 FSCAN re-timed ($SECONDS s, $(left) s left)"
  [ "$(left)" -gt 18 ] && timeout $(( $(left) - 2 )) python kernels/triton/dev_bench.py --parity-variants "" \
    --variants new_dl_gb,new_dl_gb_fsc --rep-ms 100 --shapes ViG-T@1024,ViG-S@1024
  echo "done ($SECONDS s)"
fi
} 2>&1 | tee "$D/triton.log"
