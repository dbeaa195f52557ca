"""Per-kernel timings (CUDA-event medians through bench.median_ms, ms) of the bf16 LOWMEM backward's
two kernels, shipped vs session 8's: bwd_states:w1 vs bwd_states:m3:w1 (VIG_TILELANG_BWD_STATES=m3)
and bwd_out2:t256:x3:w1 vs bwd_out2:t256:x4:w1 (VIG_TILELANG_BWD_OUT=ref2), on bench.make_inputs
(gates logsigmoid / 16: no slow channel, the lane pass never runs) and on "model" gates
(logsigmoid, not divided: chunks with slow channels, the lane pass runs), with the states that
bwd_states:w1 itself produced. Also prints max |x4 - x3| / max |x3| of the five gradients and of
the states (m3 vs shipped): the variants compute the same things up to rounding.

    python kernels/tilelang/dev_prof_bwd.py [SHAPE ...]     (default: ViG-S@224 ViG-T@224 ViG-B@224)
"""
import sys

import torch

from vig import bench
from vig_kernels.tilelang import compile_kernel

A = "sm_90a"
ST = ("bwd_states:w1", "bwd_states:m3:w1")
OUT = ("bwd_out2:t256:x3:w1", "bwd_out2:t256:x4:w1")
ks = {n: compile_kernel(n, 32, 64, "bfloat16", A) for n in ST + OUT}


def rel(a, b):
    return float((a.float() - b.float()).abs().max() / b.float().abs().max().clamp_min(1e-30))


for shape_name in sys.argv[1:] or ("ViG-S@224", "ViG-T@224", "ViG-B@224"):
    shape = bench.OpShape(*bench.SHAPES[shape_name])
    (q, k, v, gf, gb), _ = bench.make_inputs(shape, "cuda")
    q, k, v, gf, gb = (x.contiguous() for x in (q, k, v, gf, gb))
    B, L, H, _ = q.shape
    do = torch.randn_like(v)
    nc = -(-L // 32)
    for regime in ("bench", "model"):
        if regime == "model":  # 16x stronger: ViG's own logsigmoid gates
            gf, gb = gf * 16, gb * 16
        ws = {n: torch.empty(2, B, H, nc, 64, 64, device="cuda", dtype=torch.bfloat16) for n in ST}
        res = {}
        for n in ST:
            res[n] = bench.median_ms(lambda: ks[n](q, k, v, gf, gb, do, ws[n][0], ws[n][1], 0.1))
        w0, w1 = ws[ST[0]]
        grads = {}
        for n in OUT:
            g = [torch.empty(B, L, H, 32, device="cuda", dtype=torch.bfloat16) for _ in range(2)]
            dv = torch.empty(B, L, H, 64, device="cuda", dtype=torch.bfloat16)
            gg = [torch.empty(B, L, H, 32, device="cuda", dtype=torch.float32) for _ in range(2)]
            args = (q, k, v, gf, gb, do, w0, w1, g[0], g[1], dv, gg[0], gg[1], 0.1)
            res[n] = bench.median_ms(lambda: ks[n](*args))
            ks[n](*args)
            torch.cuda.synchronize()
            grads[n] = (g[0], g[1], dv, gg[0], gg[1])
        diffs = [round(rel(a, b), 6) for a, b in zip(grads[OUT[1]], grads[OUT[0]])]
        sdiff = round(max(rel(ws[ST[1]][i], ws[ST[0]][i]) for i in range(2)), 6)
        print(f"{shape_name} {regime}: " + ", ".join(f"{n} {t:.4f}" for n, t in res.items())
              + f" | rel diff x4 vs x3 (dq dk dv dgf dgb) {diffs} | states m3 vs w1 {sdiff}", flush=True)
