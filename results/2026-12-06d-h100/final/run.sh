#!/usr/bin/env bash
# Session 9, final call (~260 s), from the project root (the tree is the commit: VIG_COMMIT exported by the
# caller). The TileLang cache travels packed (.scratch/tlcache.tar.xz: 23 MB of entries -> 1.8 MB).
#  1. side by side: TileLang's RACE=1 mode (the racecheck artifacts: parity of the shipped defaults with
#     RACEFIX=1, racecheck of RACEFIX=1 and of a 40-line kernel of the same barrier shape, bit-identity)
#     and CuPy's MID parity (v34 / v34q 120 cases each, memcheck, racecheck, seg128);
#  2. CuPy's MID timing (v29q, v31, v34, v34q, v31), then TileLang shipped vs RACEFIX=1 (tl_racefix.py).
source tools/device-setup.sh || exit 1
mkdir -p /tmp/tlc && tar -C /tmp/tlc -xJf .scratch/tlcache.tar.xz && export TILELANG_CACHE_DIR=/tmp/tlc
L=/tmp/fin; mkdir -p $L
keep() { rm -f $L/*/*.json; tar -C /tmp -czf "$OUT/final.tgz" fin; }
( OUT=$L RACE=1 timeout 124 bash kernels/tilelang/dev_gpu_check.sh >/dev/null 2>&1 ) &
( OUT=$L FINAL=0 MID_PHASE=parity MID_BOX=104 MID_PAR_S=98 timeout 108 bash kernels/cupy/dev_gpu_check.sh >/dev/null 2>&1 ) &
wait; keep
grep -hE "parity|ERROR SUMMARY|RACECHECK SUMMARY|same|seg128|repro|FAIL|rc=" $L/*/*.log | tail -40
OUT=$L FINAL=0 MID_PHASE=timing MID_BOX=62 timeout 66 bash kernels/cupy/dev_gpu_check.sh >/dev/null 2>&1
echo "cupy timing rc $?"; keep
grep -hE "graphed|BITEXACT" $L/cupy/*.log | tail -30
{ timeout 70 python results/2026-12-06d-h100/final/tl_racefix.py 2>&1; echo "tl_racefix rc $?"; } > $L/tl-racefix.log
cat $L/tl-racefix.log; keep
find "$OUT" -type f | sort
