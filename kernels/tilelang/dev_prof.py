"""Per-kernel timings (bf16, CUDA-event medians, ms) of the v5 and v6 kernels (default shapes:
ViG-T@224, ViG-B@224; any of bench.SHAPES as arguments).
Kernels come from the package's compile_kernel (the carried cache)."""
import sys

import torch

from vig import bench
from vig_kernels.tilelang import compile_kernel

A = "sm_90a"
ks = {n: compile_kernel(n, 32, 64, "float32" if n == "fwd_scan" else "bfloat16", A)
      for n in ("fwd_st", "fwd_scan", "fwd_out", "bwd_st", "bwd_out", "fwd_fused", "bwd_states",
                "fwd_fused:t128", "bwd_out:t256", "bwd_states:c16", "bwd_out:c16:t64",
                "fwd_segst", "fwd_fused_seg", "fwd_fused:d0", "bwd_out:d0")}
for shape_name in sys.argv[1:] or ("ViG-T@224", "ViG-B@224"):
    shape = bench.OpShape(*bench.SHAPES[shape_name])
    (q, k, v, gf, gb), _ = bench.make_inputs(shape, "cuda")
    q, k, v, gf, gb = (x.contiguous() for x in (q, k, v, gf, gb))
    B, L, H, _ = q.shape
    nc = -(-L // 32)
    f32 = dict(device="cuda", dtype=torch.float32)
    ws = torch.zeros(B, H, nc, 64, 64, **f32)
    ws2 = torch.zeros_like(ws)
    dw = torch.ones(B, H, nc, 64, **f32)
    o = torch.empty_like(v)
    do = torch.randn_like(v)
    g = [torch.empty(B, L, H, 32, **f32) for _ in range(4)]
    dv = torch.empty(B, L, H, 64, **f32)
    res = {
        "fwd_st": bench.median_ms(lambda: ks["fwd_st"](k, v, gf, gb, ws, dw)),
        "fwd_scan": bench.median_ms(lambda: ks["fwd_scan"](ws, dw)),
        "fwd_out": bench.median_ms(lambda: ks["fwd_out"](q, k, v, gf, gb, ws, o, 0.1)),
        "bwd_st": bench.median_ms(lambda: ks["bwd_st"](q, do, gf, gb, ws2, dw, 0.1)),
        "bwd_out": bench.median_ms(
            lambda: ks["bwd_out"](q, k, v, gf, gb, do, ws, ws2, g[0], g[1], dv, g[2], g[3], 0.1)),
        "bwd_out:t256": bench.median_ms(
            lambda: ks["bwd_out:t256"](q, k, v, gf, gb, do, ws, ws2, g[0], g[1], dv, g[2], g[3], 0.1)),
        "bwd_out:d0 (no diag, wrong)": bench.median_ms(
            lambda: ks["bwd_out:d0"](q, k, v, gf, gb, do, ws, ws2, g[0], g[1], dv, g[2], g[3], 0.1)),
        "v6 bwd_states": bench.median_ms(lambda: ks["bwd_states"](q, k, v, gf, gb, do, ws, ws2, 0.1)),
    }
    if L <= 224:
        res["v6 fwd_fused"] = bench.median_ms(lambda: ks["fwd_fused"](q, k, v, gf, gb, o, 0.1))
        res["v6 fwd_fused:t128"] = bench.median_ms(lambda: ks["fwd_fused:t128"](q, k, v, gf, gb, o, 0.1))
        res["v6 fwd_fused:d0 (no diag, wrong)"] = bench.median_ms(lambda: ks["fwd_fused:d0"](q, k, v, gf, gb, o, 0.1))
    else:
        ns = -(-L // 224)
        wsg, dwg = torch.zeros(B, H, ns, 64, 64, **f32), torch.ones(B, H, ns, 64, **f32)
        res["v6 fwd_segst"] = bench.median_ms(lambda: ks["fwd_segst"](k, v, gf, gb, wsg, dwg))
        res["v6 fwd_scan(seg)"] = bench.median_ms(lambda: ks["fwd_scan"](wsg, dwg))
        res["v6 fwd_fused_seg"] = bench.median_ms(lambda: ks["fwd_fused_seg"](q, k, v, gf, gb, wsg, o, 0.1))
    w16 = [torch.zeros(B, H, -(-L // 16), 64, 64, **f32) for _ in range(2)]
    res["c16 bwd_states"] = bench.median_ms(lambda: ks["bwd_states:c16"](q, k, v, gf, gb, do, *w16, 0.1))
    res["c16 bwd_out:t64"] = bench.median_ms(
        lambda: ks["bwd_out:c16:t64"](q, k, v, gf, gb, do, *w16, g[0], g[1], dv, g[2], g[3], 0.1))
    print(shape_name, {k_: round(v_, 4) for k_, v_ in res.items()}, flush=True)
