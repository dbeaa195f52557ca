#!/usr/bin/env bash
# Session 6, call 1: Nsight Compute (full set) of the shipped kernels (commit 7c6da9f's defaults) at
# ViG-S@224 (kernel-bound) for all three backends and CuPy at ViG-T@1024; details page per backend,
# stall metrics (raw) per kernel. Needs tools/device-setup.sh sourced; writes $OUT/ncu/.
set -u
export TILELANG_CACHE_DIR=$PWD/.tilelang-cache
D=$OUT/ncu; mkdir -p $D
T=results/2026-12-06-h100/ncu/target.py
N="ncu --clock-control none --set full --import-source no"
prof() {  # backend shape regex skip count tag
  echo "== $6 ($SECONDS s)"
  timeout ${NCU_S:-100} $N -k "regex:$3" -s $4 -c $5 -o /tmp/$6 python3 $T $1 $2 > /tmp/$6.log 2>&1; echo "rc $?"; tail -3 /tmp/$6.log
  ncu -i /tmp/$6.ncu-rep --page details --print-units base >> $D/details-$1.txt 2>&1
  ncu -i /tmp/$6.ncu-rep --page raw --csv 2>/dev/null | python3 -c "
import csv,sys
rows=list(csv.reader(sys.stdin)); h=rows[0]
keep=[i for i,n in enumerate(h) if n in ('Kernel Name','gpu__time_duration.sum','launch__registers_per_thread','launch__occupancy_limit_registers','launch__occupancy_limit_shared_mem','sm__warps_active.avg.pct_of_peak_sustained_active','dram__throughput.avg.pct_of_peak_sustained_elapsed','sm__throughput.avg.pct_of_peak_sustained_elapsed','smsp__issue_active.avg.pct_of_peak_sustained_active','launch__grid_size','launch__block_size','launch__shared_mem_per_block_dynamic','sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active','l1tex__data_bank_conflicts_pipe_lsu_mem_shared.sum','smsp__inst_executed.sum','sm__inst_executed_pipe_xu.sum','smsp__inst_executed_op_shared_ld.sum','smsp__inst_executed_op_shared_st.sum','smsp__inst_executed_op_global_ld.sum','smsp__inst_executed_op_global_st.sum','smsp__inst_executed_op_global_red.sum') or n.startswith('smsp__average_warps_issue_stalled_') and n.endswith('_per_issue_active.ratio') or n.startswith('sass__inst_executed_per_opcode')]
for r in rows[2:]:
  print('---'); [print(h[i], r[i]) for i in keep if r[i] not in ('0','0.00','')]
" >> $D/stalls.txt
  echo "$6 done ($SECONDS s)"
}
prof cupy ViG-S@224 bigla_tc 2 2 cupyS
prof triton ViG-S@224 bigla 2 4 tritonS
prof tilelang ViG-S@224 bigla 0 16 tlS
prof cupy ViG-T@1024 bigla_tc 0 12 cupyT1k
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm --format=csv >> $D/stalls.txt
echo "ncu done ($SECONDS s)"
