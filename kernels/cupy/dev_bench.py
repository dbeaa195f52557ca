"""Development only: forward timings of the CuPy backend's chunked (v2) vs recurrent (v1) forward
at the contract's shapes, on one card in one process, plus segment-plan variants at 1024 px and
a sanity diff of the two forwards. Usage (GPU): python kernels/cupy/dev_bench.py"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

import torch  # noqa: E402

import vig  # noqa: E402
from vig import bench  # noqa: E402
import vig_kernels.cupy as cp  # noqa: E402


def fwd_ms(inputs, kind):
    os.environ["VIG_CUPY_FWD"] = kind
    f = lambda: vig.bidirectional_gla(*inputs, backend="cupy", check_gates=False)  # noqa: E731
    eager = bench.median_ms(f)
    with torch.no_grad():
        g = bench.median_ms(bench.graphed(f))
    return eager, g, f()


def main():
    print("device:", bench.device_name())
    for name, dims in bench.SHAPES.items():
        shape = bench.OpShape(*dims)
        inputs, _ = bench.make_inputs(shape, "cuda")
        fl = bench.floor_ms(shape)
        rows = []
        for kind in ("recurrent", "chunked"):
            e, g, o = fwd_ms(inputs, kind)
            rows.append((kind, e, g, o))
        diff = (rows[0][3].float() - rows[1][3].float()).abs().max().item()
        scale = rows[0][3].float().abs().max().item()
        msg = "  ".join(f"{k} {e:.4f} (graphed {g:.4f}, {e / fl:.1f}x)" for k, e, g, _ in rows)
        print(f"{name:>11} floor {fl:.4f}  {msg}  plan {cp.tc_plan(*dims[:3], dims[4])} "
              f"max|chunked-recurrent| {diff:.2e} (|o| {scale:.2f})", flush=True)
        if dims[2] <= cp.TC_MAX_SEG:
            leaves = [t.detach().requires_grad_() for t in inputs]
            do = torch.randn_like(leaves[2])
            res = {}
            for kind in ("recurrent", "chunked"):
                os.environ["VIG_CUPY_BWD"] = kind
                fb = lambda: torch.autograd.grad(  # noqa: E731
                    vig.bidirectional_gla(*leaves, backend="cupy", check_gates=False), leaves, do)
                res[kind] = (bench.median_ms(fb), fb())
            os.environ["VIG_CUPY_BWD"] = "chunked"
            diffs = " ".join(f"{n} {(a.float() - b.float()).abs().max().item():.2e}/"
                             f"{a.float().abs().max().item():.2e}"
                             for n, a, b in zip(("dq", "dk", "dv", "dgf", "dgb"),
                                                res["recurrent"][1], res["chunked"][1]))
            print(f"{'':>11} fwd+bwd floor {bench.floor_ms(shape, True):.4f}: recurrent bwd "
                  f"{res['recurrent'][0]:.4f}  chunked bwd {res['chunked'][0]:.4f}  "
                  f"max diff/max: {diffs}", flush=True)
        if dims[2] > 256:
            keep = cp.TC_BLOCKS, cp.TC_MAX_SEG
            for blocks, mx in ((1056, 256), (1056, 128), (264, 256)):
                cp.TC_BLOCKS, cp.TC_MAX_SEG = blocks, mx
                e, g, _ = fwd_ms(inputs, "chunked")
                print(f"{'':>11} variant TC_BLOCKS={blocks} TC_MAX_SEG={mx} plan "
                      f"{cp.tc_plan(*dims[:3], dims[4])}: {e:.4f} (graphed {g:.4f})", flush=True)
            cp.TC_BLOCKS, cp.TC_MAX_SEG = keep
    os.environ["VIG_CUPY_FWD"] = "chunked"


if __name__ == "__main__":
    main()
