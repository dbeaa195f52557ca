#!/usr/bin/env bash
# Session 25's device call: (1) the sanitizers on the "fused" layout's views (session 24 found that every earlier
# sanitizer and parity run handed the kernels contiguous copies), side by side, each in its own time box; (2) the peer
# test (fla's official path judged by the contract's parity rule, output and five gradients); (3) the benchmark suite
# with fla in the same run.
#   run: DL=<seconds for the whole call> PHASE=1|2 bash results/2026-12-07h-h100/call.sh <commit>
#   (PHASE 1: the sanitizers and the peer test, side by side; 2: the peer test alone, then the benchmark suite, fla
#   included, ~290 s alone; all: 1, then the benchmark suite)
#   carry: .device-deps, .scratch/tlcache21.tar.xz (every TileLang kind the tests launch)
mkdir -p /tmp/tlc && tar -C /tmp/tlc -xJf .scratch/tlcache21.tar.xz
export TILELANG_CACHE_DIR=/tmp/tlc VIG_COMMIT=$1
source tools/device-setup.sh >/dev/null || exit 1
if [[ ${PHASE:-1} != 2 ]]; then
S=$OUT/sanitizers; mkdir -p "$S"
san() {  # san NAME TOOL BACKEND L [env ...]: compute-sanitizer over check_backend --small at length L, views
  local name=$1 tool=$2 b=$3 L=$4; shift 4
  mkdir -p "$S/$name"
  ( env OUT="$S/$name" "$@" timeout "${SAN_S:-200}" compute-sanitizer --tool "$tool" \
      python3 tools/check_backend.py "$b" --small --length "$L" > "$S/$name.log" 2>&1
    echo "$name rc=$?" >> "$S/$name.log" ) &
}
san cupy-memcheck-L65-seg64 memcheck cupy 65 VIG_CUPY_MAX_SEG=64      # segmented: every workspace offset
san cupy-racecheck-L65-seg64 racecheck cupy 65 VIG_CUPY_MAX_SEG=64
san cupy-memcheck-L196 memcheck cupy 196                               # the 224-px path, one segment
san cupy-racecheck-L196 racecheck cupy 196
san tilelang-memcheck-L196 memcheck tilelang 196                       # the 224-px views kernels
san tilelang-memcheck-L300 memcheck tilelang 300                       # the segment views kernels
san triton-memcheck-L196 memcheck triton 196
san triton-memcheck-L300 memcheck triton 300
# the peer test beside them (nothing here is timed)
( timeout "${SAN_S:-200}" python3 -m pytest tests/test_peers.py -p no:cacheprovider -v -rfE > "$OUT/peers.log" 2>&1
  echo "peers rc=$?" >> "$OUT/peers.log" ) &
wait
echo "sanitizers and peers done ($SECONDS s)"
for f in "$S"/*.log; do
  echo "-- $(basename "$f" .log): $(grep -hE "ERROR SUMMARY|RACECHECK SUMMARY|parity cases|rc=" "$f" | tr '\n' ' ')"
done
grep -E "PASSED|FAILED|passed|failed|parity failed" "$OUT/peers.log" | cut -c1-300 | tail -12
fi
[[ ${PHASE:-1} == 1 ]] && exit 0
if [[ ${PHASE:-1} == 2 ]]; then  # the peer test alone first (fla autotunes per shape; it timed out beside the sanitizers)
  timeout "${PEERS_S:-240}" python3 -m pytest tests/test_peers.py -p no:cacheprovider -v -rfE > "$OUT/peers.log" 2>&1
  echo "peers rc $? ($SECONDS s)"; grep -E "PASSED|FAILED|passed|failed|parity failed" "$OUT/peers.log" | cut -c1-300 | tail -8
fi
left=$(( ${DL:-580} - SECONDS - 10 ))
OUT=$OUT/bench VIG_DEADLINE=$left bash tools/gpu-run.sh bench >/dev/null 2>&1
echo "bench rc $? ($SECONDS s)"; grep "^| ViG" "$OUT/bench/gpu-run.log" | cut -c1-400
