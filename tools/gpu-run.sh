#!/usr/bin/env bash
# The GPU run: on the lent GPU machine (the device tool), from the project root,
#
#   VIG_COMMIT=<git rev-parse HEAD> bash tools/gpu-run.sh [tests|bench|all] [pytest args...]   (carry .device-deps)
#
# runs the GPU tests (the whole suite, unskipped, Triton compiled), then the benchmarks
# (pytest --benchmark-only; fla's peer in a second invocation, skipped with VIG_SKIP_FLA=1), and
# writes under $OUT (default results/run): tests.log, tests.xml, bench.json and bench-fla.json
# (pytest-benchmark), results.json (machine-readable) and results.md (the table).
set -uo pipefail
cd "$(dirname "$0")/.."
source tools/device-setup.sh || exit 1
OUT=${OUT:-results/run}
mkdir -p "$OUT"
what=${1:-all}
shift || true
extra=("$@")  # e.g. -k "not tilelang": split the run over several device calls
export HYPOTHESIS_PROFILE=gpu
rc=0
if [[ $what == tests || $what == all ]]; then
  python3 -m pytest tests -p no:cacheprovider --benchmark-skip -q -x --junitxml="$OUT/tests.xml" \
    "${extra[@]}" 2>&1 | tee "$OUT/tests.log"
  rc=${PIPESTATUS[0]}
fi
if [[ $what == bench || $what == all ]]; then
  # Two pytest invocations, one report: our backends first (about a minute), then fla's peer, whose
  # autotuning takes about 5 minutes on its first call per shape; a cut-off fla part loses nothing else.
  python3 -m pytest tests/benchmarks -p no:cacheprovider --benchmark-only -q -k "not fla" \
    --benchmark-json="$OUT/bench.json" "${extra[@]}" 2>&1 | tee -a "$OUT/tests.log"
  [[ ${PIPESTATUS[0]} == 0 ]] || rc=1
  files=("$OUT/bench.json")
  if [[ -z ${VIG_SKIP_FLA:-} ]]; then
    python3 -m pytest tests/benchmarks -p no:cacheprovider --benchmark-only -v -k "fla" \
      --benchmark-json="$OUT/bench-fla.json" "${extra[@]}" 2>&1 | tee -a "$OUT/tests.log"
    [[ ${PIPESTATUS[0]} == 0 ]] || rc=1
    [[ -s $OUT/bench-fla.json ]] && files+=("$OUT/bench-fla.json")
  fi
  python3 tools/report.py "${files[@]}" --tests "$OUT/tests.xml" --out "$OUT/results" || rc=1
fi
exit $rc
