#!/usr/bin/env bash
# Session 19 call 4: bwd_adj's RACEFIX twin under racecheck (check_backend --small, whole report) and bit-identity of
# RACEFIX=1 vs the shipped kinds (dev_racefix_same: SAVE224's a1 forward, bwd_adj, bwd_out2 at L <= 224), side by side;
# then the whole GPU test suite alone.
mkdir -p /tmp/tlc && tar -C /tmp/tlc -xJf .scratch/tlcache19.tar.xz
export TILELANG_CACHE_DIR=/tmp/tlc VIG_COMMIT=$1
source tools/device-setup.sh || exit 1
mkdir -p $OUT/rc
( VIG_TILELANG_RACEFIX=1 OUT=/tmp timeout 120 compute-sanitizer --tool racecheck --print-limit 10000 \
    python tools/check_backend.py tilelang --small > $OUT/rc/rc-save224-r1.log 2>&1; echo "rc $?" >> $OUT/rc/rc-save224-r1.log ) &
( timeout 120 python kernels/tilelang/dev_racefix_same.py > $OUT/rc/racefix-same.log 2>&1; echo "rc $?" >> $OUT/rc/racefix-same.log ) &
wait
echo "racecheck RACEFIX=1 --small: $(grep -h 'RACECHECK SUMMARY' $OUT/rc/rc-save224-r1.log | tail -1) $(tail -1 $OUT/rc/rc-save224-r1.log)"
grep -oh "at [a-z0-9_]*_kernel" $OUT/rc/rc-save224-r1.log | sort | uniq -c
cat $OUT/rc/racefix-same.log | grep -v Warning
echo "== tests ($SECONDS s)"
OUT=$OUT/tests VIG_DEADLINE=$(( 585 - SECONDS )) bash tools/gpu-run.sh tests >/dev/null 2>&1
echo "tests rc $? ($SECONDS s)"
grep -E "passed|failed|FAILED|error" $OUT/tests/tests.log | tail -8
echo "done ($SECONDS s)"
