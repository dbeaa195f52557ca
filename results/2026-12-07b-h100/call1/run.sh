#!/usr/bin/env bash
# device wrapper: TileLang cache from the carried xz, VIG_COMMIT, then the call's script (from the repo root)
mkdir -p /tmp/tlc && [ -f .scratch/tlcache.tar.xz ] && tar -C /tmp/tlc -xJf .scratch/tlcache.tar.xz
export TILELANG_CACHE_DIR=/tmp/tlc VIG_COMMIT=$2
echo "cache entries: $(ls /tmp/tlc/0.1.15/linux-x86_64/kernels 2>/dev/null | wc -l); commit $2"
bash "$1"
