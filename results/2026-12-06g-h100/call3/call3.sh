#!/usr/bin/env bash
# Session 12, call 3 (~330 s): the whole GPU test suite alone (calls 1-2 ran it in two parts beside checks, each cut
# by its deadline), then the ViG-T training-step benchmark alone (call 2's was noisy: stddev 2-6 ms).
source tools/device-setup.sh || exit 1
mkdir -p $OUT/run $OUT/train
OUT=$OUT/run VIG_DEADLINE=440 bash tools/gpu-run.sh tests >/dev/null 2>&1
echo "tests rc $? ($SECONDS s)"
cat $OUT/run/gpu-run.log
OUT=$OUT/train VIG_SKIP_FLA=1 VIG_DEADLINE=$(( 570 - SECONDS )) bash tools/gpu-run.sh bench -- -k training_step >/dev/null 2>&1
echo "train rc $? ($SECONDS s)"
grep -i "train" $OUT/train/results.md
echo "done ($SECONDS s)"
