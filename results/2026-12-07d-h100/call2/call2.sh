#!/usr/bin/env bash
# Session 20 call 2 (budget left 260 s): the probe (fixed: the Module path has no jit()) and a bf16 parity check of
# the TileLang backend with the direct-entry Kernel at lengths whose kinds the carried cache holds.
mkdir -p /tmp/tlc && tar -C /tmp/tlc -xJf .scratch/tlcache20.tar.xz
export TILELANG_CACHE_DIR=/tmp/tlc VIG_COMMIT=$1
source tools/device-setup.sh || exit 1
timeout 70 python3 .scratch/s20/quick_parity.py 2>&1 | grep -v "TileLang:" | tee $OUT/parity.log
echo "parity rc $? ($SECONDS s)"
timeout 90 python3 .scratch/s20/launch_cost.py 2>&1 | grep -v "TileLang:" > $OUT/probe.log
echo "probe rc $? ($SECONDS s)"; cat $OUT/probe.log
