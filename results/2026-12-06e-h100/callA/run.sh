# call A (session 10): per-kernel profiles of every backend at the five shapes; Triton SPLIT=auto host cost
set -u
ROOT=$PWD; R=$OUT
mkdir -p /tmp/snap && tar -C /tmp/snap -xzf .scratch/snap.tar.gz && ln -sfn $ROOT/.device-deps /tmp/snap/.device-deps
cd /tmp/snap && source tools/device-setup.sh
mkdir -p /tmp/tlc && tar -C /tmp/tlc -xJf $ROOT/.scratch/tlcache.tar.xz && export TILELANG_CACHE_DIR=/tmp/tlc
export VIG_COMMIT=815fd97
L=/tmp/la; mkdir -p $L/p $L/s $L/a
S=ViG-T@224,ViG-S@224,ViG-B@224,ViG-T@1024,ViG-S@1024
echo "== profile all ($SECONDS s)"
OUT=$L/p timeout 230 python tools/profile_op.py null,cupy,triton,tilelang --shapes $S > $L/profile.log 2>&1
grep -E "median" $L/profile.log
echo "== triton shipped vs auto cprofile ($SECONDS s)"
OUT=$L/s timeout 70 python tools/profile_op.py triton --shapes ViG-T@224,ViG-T@1024 --cprofile > $L/shipped.log 2>&1
OUT=$L/a VIG_TRITON_SPLIT_BWD=auto timeout 70 python tools/profile_op.py triton --shapes ViG-T@224,ViG-T@1024 --cprofile > $L/auto.log 2>&1
grep -E "median" $L/shipped.log $L/auto.log
echo "== done ($SECONDS s)"
tar -C /tmp -czf $R/callA.tgz la
