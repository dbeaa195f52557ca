"""Time the tilelang backend at the contract's shapes without fla (its autotune costs minutes):
fwd, fwd graphed, fwd+bwd, peak extra memory of fwd+bwd. Usage: python kernels/tilelang/dev_bench.py"""
import os
import sys
import time

import torch

import vig
from vig import bench
from vig_kernels import tilelang as tlb

t = time.perf_counter()
bw = bench.copy_bandwidth()
print(f"device {bench.device_name()}  copy {bw / 1e9:.0f} GB/s", flush=True)
names = sys.argv[1:] or list(bench.SHAPES)
for shape_name in names:
    shape = bench.OpShape(*bench.SHAPES[shape_name])
    (q, k, v, gf, gb), _ = bench.make_inputs(shape, "cuda")
    leaves = [x.detach().requires_grad_() for x in (q, k, v, gf, gb)]
    do = torch.randn_like(leaves[2])
    op = lambda *a: vig.bidirectional_gla(*a, backend="tilelang", check_gates=False)  # noqa: E731
    fwd = lambda: op(*(x.detach() for x in leaves))  # noqa: E731
    fb = lambda: torch.autograd.grad(op(*leaves), leaves, do)  # noqa: E731
    fwd()
    fb()
    torch.cuda.synchronize()
    f, b = bench.median_ms(fwd), bench.median_ms(fb)
    with torch.no_grad():
        g = bench.median_ms(bench.graphed(fwd))
    mem = bench.peak_extra_bytes(fb) / 2**20
    ff, fbf = bench.floor_ms(shape, bandwidth=bw), bench.floor_ms(shape, True, bandwidth=bw)
    print(f"{shape_name:>11} fwd {f:.3f} (graphed {g:.3f}) = {f / ff:.1f}x floor {ff:.3f} | "
          f"fwd+bwd {b:.3f} = {b / fbf:.1f}x floor {fbf:.3f} | peak extra fwd+bwd {mem:.0f} MiB", flush=True)
print("compile log:", [(k[0], k[3], round(s, 2)) for k, s in tlb.compile_log], flush=True)
print(f"total {time.perf_counter() - t:.0f} s")
