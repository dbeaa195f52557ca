"""Per-kernel timings (bf16, CUDA-event medians, ms) of the v6 kernels and the bwd_out family
(default shapes: ViG-S@224; any of bench.SHAPES as arguments; ViG-*@1024 times the v5 backward's
bwd_out at L = 4096). Kernels come from the package's compile_kernel (the carried cache).
$DEV_PROF_KINDS (comma list) overrides the bwd_out kinds timed."""
import os
import sys

import torch

from vig import bench
from vig_kernels.tilelang import compile_kernel

A = "sm_90a"
OUT_KINDS = os.environ.get("DEV_PROF_KINDS", "bwd_out,bwd_out:t256,bwd_out:d0,bwd_out2,bwd_out2:t256").split(",")
FWD_KINDS = ["fwd_fused", "fwd_fused:l1:m3", "fwd_fused:l1:m2", "fwd_fused:s1", "fwd_fused:d0"]
ks = {n: compile_kernel(n, 32, 64, "bfloat16", A) for n in FWD_KINDS + ["bwd_states"] + OUT_KINDS}
for shape_name in sys.argv[1:] or ("ViG-S@224",):
    shape = bench.OpShape(*bench.SHAPES[shape_name])
    (q, k, v, gf, gb), _ = bench.make_inputs(shape, "cuda")
    q, k, v, gf, gb = (x.contiguous() for x in (q, k, v, gf, gb))
    B, L, H, _ = q.shape
    nc = -(-L // 32)
    f32 = dict(device="cuda", dtype=torch.float32)
    o = torch.empty_like(v)
    do = torch.randn_like(v)
    ws = torch.zeros(B, H, nc, 64, 64, **f32)
    ws2 = torch.zeros_like(ws)
    res = {}
    if L <= 224:
        for n in FWD_KINDS:
            res[n] = bench.median_ms(lambda: ks[n](q, k, v, gf, gb, o, 0.1))
        res["bwd_states"] = bench.median_ms(lambda: ks["bwd_states"](q, k, v, gf, gb, do, ws, ws2, 0.1))
    g = [torch.empty(B, L, H, 32, **f32) for _ in range(4)]
    dv = torch.empty(B, L, H, 64, **f32)
    for n in OUT_KINDS:
        res[n] = bench.median_ms(lambda: ks[n](q, k, v, gf, gb, do, ws, ws2, g[0], g[1], dv, g[2], g[3], 0.1))
    print(shape_name, {k_: round(v_, 4) for k_, v_ in res.items()}, flush=True)
