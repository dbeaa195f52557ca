"""GPU check (session 9 round 4, issue #5): VIG_TILELANG_RACEFIX=1 (the ":r1" twins of fwd_fused / fwd_fused_seg /
bwd_out2 with ":x4" / ":x5": the gb half of the parallel gate cumsums split by a block-wide __syncthreads instead
of a named barrier in warps 4-7 only) against the shipped kinds, through the backend with the shipped defaults,
same inputs: the same arithmetic and indices, so the output and the five gradients should be bit-identical.
bf16, bench.make_inputs (views), L = 17, 65, 196, 224 (the fused forward), 225, 449, 1000 (the segment forward
and the segment backward), B 2, H 3, plus ViG-T@224. Prints one line per case and "same: N/M".

    python kernels/tilelang/dev_racefix_same.py
"""
import os

import torch

import vig
from vig import bench
from vig_kernels import tilelang as tlb


def run(x, do, rf: str, var: str = "VIG_TILELANG_RACEFIX"):
    """Output and the five gradients through the backend with $var = rf (dev_save_same.py: another switch)."""
    os.environ[var] = rf
    tlb.reload_env()
    leaves = [t.detach().requires_grad_() for t in x]
    o = vig.bidirectional_gla(*leaves, backend="tilelang")
    gr = torch.autograd.grad(o, leaves, do)
    torch.cuda.synchronize()
    return [o.detach(), *gr]


def main():
    torch.manual_seed(0)
    cases = [(2, 3, L) for L in (17, 65, 196, 224, 225, 449, 1000)] + [(128, 3, 196)]
    same = 0
    for B, H, L in cases:
        x, _ = bench.make_inputs(bench.OpShape(B, H, L, 32, 64), "cuda")
        do = torch.randn(B, L, H, 64, device="cuda", dtype=x[0].dtype)
        a = run(x, do, "")
        b = run(x, do, "1")
        eq = [bool(torch.equal(u, w)) for u, w in zip(a, b)]
        diff = max(float((u.float() - w.float()).abs().max()) for u, w in zip(a, b))
        ok = all(eq)
        same += ok
        print(f"{'ok  ' if ok else 'DIFF'} B {B} H {H} L {L}: o,dq,dk,dv,dgf,dgb equal {eq} max|diff| {diff:.3e}",
              flush=True)
    names = sorted({k[0] for k in tlb._cache})
    print(f"kinds compiled: {', '.join(names)}", flush=True)
    print(f"same: {same}/{len(cases)}", flush=True)


if __name__ == "__main__":
    main()
