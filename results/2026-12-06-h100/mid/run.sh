#!/usr/bin/env bash
# Session 6 mid call, from the project root on the device (VIG_COMMIT exported by the caller): every
# backend's MID check in two phases - the parity (and sanitizer) processes of all three side by side,
# then the old-vs-new timing, one backend at a time so nothing else runs on the GPU while it times.
# About 480 s in all (a 600 s call: run's timeout_s 560). NOT RUN in session 6: the device budget went to failed starts
# (see results/2026-12-06-h100/README.md); it is the first call to make in session 7.
FINAL=0 MID_PHASE=parity MID_PAR_S=125 MID_BOX=140 VIG_CHECKS_PARALLEL=1 VIG_CHECKS="tilelang triton cupy" \
  VIG_CHECK_S=145 VIG_DEADLINE=215 bash tools/gpu-run.sh checks
FINAL=0 MID_PHASE=timing MID_BOX=110 VIG_CHECKS="cupy" VIG_CHECK_S=112 VIG_DEADLINE=120 bash tools/gpu-run.sh checks
FINAL=0 MID_PHASE=timing MID_BOX=95 VIG_CHECKS="tilelang triton" VIG_CHECK_S=97 VIG_DEADLINE=200 bash tools/gpu-run.sh checks
