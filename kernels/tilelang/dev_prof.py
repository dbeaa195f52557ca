"""Per-kernel timings of the v5 forward (and variants). --compile: only compile (CPU, fills the cache)."""
import sys

import tilelang
from tvm.target import Target

from vig_kernels.tilelang import kernels as K_

ARCH = "sm_90a"
VARIANTS = {
    "st": lambda: K_.build_fwd_st(32, 64, "bfloat16"),
    "scan": lambda: K_.build_fwd_scan(32, 64),
    "out": lambda: K_.build_fwd_out(32, 64, "bfloat16"),
    "bwd": lambda: K_.build_bwd(32, 64, "bfloat16"),
    "bwd_st": lambda: K_.build_bwd_st(32, 64, "bfloat16"),
    "bwd_out": lambda: K_.build_bwd_out(32, 64, "bfloat16"),
}


def comp(name):
    return tilelang.compile(VARIANTS[name](), target=Target({"kind": "cuda", "arch": ARCH}),
                            execution_backend="tvm_ffi")


if "--compile" in sys.argv:
    for n in VARIANTS:
        comp(n)
        print("compiled", n, flush=True)
    sys.exit(0)

import torch  # noqa: E402
from vig import bench  # noqa: E402

ks = {n: comp(n) for n in VARIANTS}
for shape_name in ("ViG-T@224", "ViG-S@1024"):
    shape = bench.OpShape(*bench.SHAPES[shape_name])
    (q, k, v, gf, gb), _ = bench.make_inputs(shape, "cuda")
    q, k, v, gf, gb = (x.contiguous() for x in (q, k, v, gf, gb))
    B, L, H, _ = q.shape
    nc = -(-L // 32)
    ws = torch.zeros(B, H, nc, 64, 64, device="cuda")
    dw = torch.ones(B, H, nc, 64, device="cuda")
    o = torch.empty_like(v)
    f32 = dict(device="cuda", dtype=torch.float32)
    res = {
        "st": bench.median_ms(lambda: ks["st"](k, v, gf, gb, ws, dw)),
        "scan": bench.median_ms(lambda: ks["scan"](ws, dw)),
        "out": bench.median_ms(lambda: ks["out"](q, k, v, gf, gb, ws, o, 0.1)),
    }
    do = torch.randn_like(v)
    g = [torch.empty(B, L, H, 32, **f32) for _ in range(4)]
    dv = torch.empty(B, L, H, 64, **f32)
    wsb = torch.empty(B, nc, H, 2, 32, 64, **f32)
    res["bwd_v4"] = bench.median_ms(lambda: ks["bwd"](q, k, v, gf, gb, do, g[0], g[1], dv, g[2], g[3], wsb, 0.1))
    ws2 = torch.zeros_like(ws)
    res["bwd_st_v5"] = bench.median_ms(lambda: ks["bwd_st"](q, do, gf, gb, ws2, dw, 0.1))
    res["bwd_out_v5"] = bench.median_ms(
        lambda: ks["bwd_out"](q, k, v, gf, gb, do, ws, ws2, g[0], g[1], dv, g[2], g[3], 0.1))
    print(shape_name, {k_: round(v_, 4) for k_, v_ in res.items()}, flush=True)
