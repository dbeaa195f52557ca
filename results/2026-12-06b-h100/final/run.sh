#!/usr/bin/env bash
# Session 7 final call, from the project root on the device (VIG_COMMIT exported by the caller): the
# FINAL checks of the flipped defaults (parity of the shipped and previous defaults, sanitizers), side
# by side; then the GPU test suite; then our backends' benchmarks (fla's peer in its own call).
FINAL=1 VIG_CHECKS_PARALLEL=1 VIG_CHECK_S=115 VIG_SKIP_FLA=1 VIG_DEADLINE=545 \
  bash tools/gpu-run.sh checks tests bench
