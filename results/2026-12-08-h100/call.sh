#!/usr/bin/env bash
# Session 26's device calls.
#   run: DL=<seconds for the whole call> PHASE=1|2 bash results/2026-12-08-h100/call.sh <commit>
#   PHASE 1: the peer test alone (fla's official path judged by the contract's parity rule; fla autotunes per shape),
#            then the benchmark suite with fla in the same run (~290 s alone).
#   PHASE 2: compute-sanitizer racecheck of TileLang on the "fused" layout's views at L = 196 (224-px kernels) and
#            L = 300 (segment kernels), with VIG_TILELANG_RACEFIX=1 (the :r1 twins: the gb half of the parallel
#            cumsums behind a block-wide barrier instead of an unbalanced named one, which racecheck misreads;
#            kernels/tilelang/__init__.py RACEFIX) and, for comparison, the shipped kinds at L = 196.
#   carry: .device-deps, .scratch/tlcache22.tar.xz (every kind the tests launch, plus the five :r1 twins)
mkdir -p /tmp/tlc && tar -C /tmp/tlc -xJf .scratch/tlcache22.tar.xz
export TILELANG_CACHE_DIR=/tmp/tlc VIG_COMMIT=$1
source tools/device-setup.sh >/dev/null || exit 1
if [[ ${PHASE:-1} == 1 ]]; then
  timeout "${PEERS_S:-240}" python3 -m pytest tests/test_peers.py -p no:cacheprovider -v -rfE > "$OUT/peers.log" 2>&1
  echo "peers rc $? ($SECONDS s)"; grep -E "PASSED|FAILED|passed|failed|parity failed|Error" "$OUT/peers.log" | cut -c1-300 | tail -12
  left=$(( ${DL:-580} - SECONDS - 10 ))
  OUT=$OUT/bench VIG_DEADLINE=$left bash tools/gpu-run.sh bench >/dev/null 2>&1
  echo "bench rc $? ($SECONDS s)"; grep "^| ViG" "$OUT/bench/gpu-run.log" | cut -c1-400
  exit 0
fi
S=$OUT/sanitizers; mkdir -p "$S"
san() {  # san NAME TOOL BACKEND L [env ...]: compute-sanitizer over check_backend --small at length L (fused views)
  local name=$1 tool=$2 b=$3 L=$4; shift 4
  mkdir -p "$S/$name"
  ( env OUT="$S/$name" "$@" timeout "${SAN_S:-300}" compute-sanitizer --tool "$tool" \
      python3 tools/check_backend.py "$b" --small --length "$L" > "$S/$name.log" 2>&1
    echo "$name rc=$?" >> "$S/$name.log" ) &
}
san tilelang-racecheck-L196-racefix racecheck tilelang 196 VIG_TILELANG_RACEFIX=1
san tilelang-racecheck-L300-racefix racecheck tilelang 300 VIG_TILELANG_RACEFIX=1
san tilelang-racecheck-L196-shipped racecheck tilelang 196
wait
echo "sanitizers done ($SECONDS s)"
for f in "$S"/*.log; do
  echo "-- $(basename "$f" .log): $(grep -hE "ERROR SUMMARY|RACECHECK SUMMARY|parity cases|rc=" "$f" | tr '\n' ' ')"
done
for f in "$S"/*.log; do grep -m3 -E "Race reported|hazard" "$f" | cut -c1-200; done
