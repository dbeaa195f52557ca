#!/usr/bin/env bash
# The GPU run: on the lent GPU machine (the device tool), from the project root,
#
#   VIG_COMMIT=<git rev-parse HEAD> bash tools/gpu-run.sh STEP [STEP ...] [-- pytest args...]
#   (carry .device-deps, and .tilelang-cache when it exists)
#
# STEP is one of
#   tests   the GPU tests (the whole suite, unskipped, Triton compiled, less the three compile-only
#           files, which CI runs on its CPU and which on this host only spend minutes in nvcc /
#           TileLang's lowering; VIG_TESTS=path replaces the selection,
#           e.g. tests/test_backends.py): tests.log, tests.xml
#   bench   the benchmarks (pytest --benchmark-only; fla's peer in a second invocation, left out
#           with VIG_SKIP_FLA=1), then the report: bench.json, bench-fla.json, results.json and
#           results.md (the table)
#   checks  each backend's own GPU check, kernels/<b>/dev_gpu_check.sh, for b in $VIG_CHECKS
#           (default: cupy triton tilelang), each under `timeout $VIG_CHECK_S` (default 175 s);
#           the scripts read FINAL (0: new variants, parity then old-vs-new timing; 1, the default:
#           parity and sanitizers of the shipped kernels) and write under $OUT/<b>/; their
#           parity / sanitizer summary lines and a FAILED verdict go to gpu-run.log;
#           VIG_CHECKS_PARALLEL=1 runs the backends' checks side by side (FINAL mode times nothing)
#           In MID mode the scripts also read MID_PHASE=parity|timing (default both), MID_BOX (their
#           total box) and MID_PAR_S (each parity process's box): parity of every backend side by side,
#           then the timing alone, one backend after another (results/2026-12-06-h100/mid/run.sh)
#   all     tests, then bench
# and writes under $OUT (default results/run). With VIG_DEADLINE=N (seconds), a step that starts
# is cut N seconds after the script began (a 600 s device call: N = 575 or so), so what ran
# still comes back. pytest args (after --) reach the tests and both benchmark invocations,
# e.g. `gpu-run.sh tests -- -k triton`.
set -uo pipefail
cd "$(dirname "$0")/.."
source tools/device-setup.sh || exit 1
OUT=${OUT:-results/run}
mkdir -p "$OUT"
[[ -d .tilelang-cache ]] && export TILELANG_CACHE_DIR=${TILELANG_CACHE_DIR:-$PWD/.tilelang-cache}
# the device's copy of .git may be older than the tree sent with it: pass VIG_COMMIT from the checkout
export HYPOTHESIS_PROFILE=gpu VIG_COMMIT=${VIG_COMMIT:-unknown}
steps=()
while [[ $# -gt 0 && $1 != -- ]]; do steps+=("$1"); shift; done
[[ ${1:-} == -- ]] && shift
extra=("$@")
[[ ${#steps[@]} == 0 ]] && steps=(all)
exp=(); for s in "${steps[@]}"; do [[ $s == all ]] && exp+=(tests bench) || exp+=("$s"); done; steps=("${exp[@]}")
LOG=$OUT/gpu-run.log
say() { echo "== $* (${SECONDS} s)" | tee -a "$LOG"; }
# timeout for the next command: the rest of VIG_DEADLINE, less a reserve of $1 s for what follows
box() { if [[ -n ${VIG_DEADLINE:-} ]]; then echo $(( VIG_DEADLINE - SECONDS - ${1:-0} > 1 ? VIG_DEADLINE - SECONDS - ${1:-0} : 1 )); else echo 86400; fi; }
say "device: $(nvidia-smi --query-gpu=name,clocks.max.sm,memory.total --format=csv,noheader 2>/dev/null); commit $VIG_COMMIT"
rc=0
for step in "${steps[@]}"; do
  case $step in
    checks)
      # VIG_CHECKS_PARALLEL=1: the backends' checks side by side (they time nothing in FINAL mode;
      # the GPU host has 16 cores), each in its own time box; otherwise one after another
      declare -A pid=()
      for b in ${VIG_CHECKS:-cupy triton tilelang}; do
        say "check $b (FINAL=${FINAL:-1})"
        mkdir -p "$OUT/$b"
        t=$(box); (( t > ${VIG_CHECK_S:-175} )) && t=${VIG_CHECK_S:-175}
        OUT=$OUT FINAL=${FINAL:-1} CUPY_CHECK_FINAL=${FINAL:-1} timeout "$t" bash "kernels/$b/dev_gpu_check.sh" >/dev/null 2>&1 &
        pid[$b]=$!
        [[ ${VIG_CHECKS_PARALLEL:-0} == 1 ]] || wait "${pid[$b]}"
      done
      for b in ${VIG_CHECKS:-cupy triton tilelang}; do
        wait "${pid[$b]}"; r=$?; say "check $b: rc $r"; [[ $r == 0 ]] || rc=1
        # the verdict, from the check's own log (its exit code says only that it ran): every
        # parity / sanitizer summary line, and FAILED when a case failed, a sanitizer found
        # something or a step hit its time box; it lands in gpu-run.log, which always comes back
        grep -hE "parity cases pass|parity: [0-9]+/[0-9]+|: [0-9]+ pass, [0-9]+ fail|ERROR SUMMARY|RACECHECK SUMMARY| ok, [0-9]+ FAIL|exit 124|rc=124" \
          "$OUT/$b"/*.log 2>/dev/null | sed "s/^/   $b: /" | tee -a "$LOG"
        if grep -qE "^FAIL| [1-9][0-9]* fail\b| [1-9][0-9]* FAIL|ERROR SUMMARY: [1-9]|\([1-9][0-9]* errors|exit 124|rc=124" "$OUT/$b"/*.log 2>/dev/null; then
          say "check $b: FAILED (see its log)"; rc=1
        fi
      done ;;
    tests)
      say "tests"
      # -v: one line per test as it ends, so a run cut by the deadline still says what passed
      sel=(tests --ignore=tests/test_cupy_compile.py --ignore=tests/test_tilelang_compile.py --ignore=tests/test_triton_compile.py)
      [[ -n ${VIG_TESTS:-} ]] && sel=($VIG_TESTS)
      timeout "$(box)" python3 -m pytest "${sel[@]}" -p no:cacheprovider --benchmark-skip -v -rfE \
        --junitxml="$OUT/tests.xml" "${extra[@]}" 2>&1 | tee "$OUT/tests.log" | grep -E "^(FAILED|ERROR)|[0-9]+ (passed|failed)" | tee -a "$LOG"
      [[ ${PIPESTATUS[0]} == 0 ]] || rc=1 ;;
    bench)
      # Two pytest invocations, one report: our backends first (about 3 minutes), then fla's peer,
      # whose autotuning takes about 5 minutes; a cut-off fla part loses nothing else.
      say "bench"
      timeout "$(box $([[ -z ${VIG_SKIP_FLA:-} ]] && echo 60 || echo 5))" python3 -m pytest tests/benchmarks -p no:cacheprovider --benchmark-only -q -k "not fla" \
        --benchmark-json="$OUT/bench.json" "${extra[@]}" >> "$OUT/bench.log" 2>&1 || rc=1
      files=("$OUT/bench.json")
      if [[ -z ${VIG_SKIP_FLA:-} ]]; then
        say "bench fla"
        # fla is a required peer: missing, the run fails (its tests would skip and the table lose its column
        # silently); VIG_SKIP_FLA=1 leaves it out on purpose
        why=$(python3 -c "from vig import bench; print(bench.fla_available() or '')" 2>&1)
        [[ -z $why ]] || { say "bench fla: fla cannot run here ($why); VIG_SKIP_FLA=1 leaves it out"; rc=1; }
        timeout "$(box 10)" python3 -m pytest tests/benchmarks -p no:cacheprovider --benchmark-only -v -k "fla" \
          --benchmark-json="$OUT/bench-fla.json" "${extra[@]}" >> "$OUT/bench.log" 2>&1 || rc=1
        [[ -s $OUT/bench-fla.json ]] && files+=("$OUT/bench-fla.json")
      fi
      tests=(); [[ -s $OUT/tests.xml ]] && tests=(--tests "$OUT/tests.xml")
      python3 tools/report.py "${files[@]}" "${tests[@]}" --out "$OUT/results" >> "$LOG" 2>&1 || rc=1 ;;
    *) echo "gpu-run.sh: unknown step $step (tests, bench, checks, all)"; exit 2 ;;
  esac
done
# the device returns at most 8 files: past that, the checks' logs are merged into one
if (( $(find "$OUT" -type f | wc -l) > 8 )); then
  for f in "$OUT"/*/*.log; do echo "==== $f"; cat "$f"; done > "$OUT/checks.log" 2>/dev/null
  rm -f "$OUT"/*/*.log
  (( $(find "$OUT" -type f | wc -l) > 8 )) && rm -f "$OUT"/*/*.json
fi
say "done, rc $rc"
exit $rc
