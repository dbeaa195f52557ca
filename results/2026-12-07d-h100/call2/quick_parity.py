"""Session 20: TileLang (bf16, the cached default kinds) against the float64 oracle with the direct-entry Kernel:
output and five gradients, contract's rule; plus bit-identity of the direct call against JITKernel's call."""
import os, sys, time
sys.path.insert(0, os.getcwd()); sys.path.insert(0, os.path.join(os.getcwd(), "tests"))
import torch, vig
from vig import bench
from vig_kernels import tilelang as tlb
import parity
torch.manual_seed(20)
ok = 0; n = 0
for (B, L) in ((2, 17), (3, 196), (2, 224), (2, 300), (1, 1000)):
    (q, k, v, gf, gb), _ = bench.make_inputs(bench.OpShape(B, 3, L, 32, 64), "cuda", seed=L)
    ins = [q, k, v, gf, gb]
    do = torch.randn_like(v)
    fn = lambda *a: vig.bidirectional_gla(*a, backend="tilelang")
    got = parity.run_with_grads(fn, ins, do)
    ref = parity.oracle(ins, do, naive=L <= 300)
    base = parity.plain_pytorch(ins, do)
    rows = parity.parity_report(got, ref, base, q.dtype)
    good = all(e <= b for _, e, b in rows); n += 1; ok += good
    # the same call through JITKernel.__call__ (the previous launch path): bit-identical?
    direct = tlb.Kernel.__call__
    tlb.Kernel.__call__ = lambda self, *a: self.jit(*a)
    try:
        old = parity.run_with_grads(fn, ins, do)
    finally:
        tlb.Kernel.__call__ = direct
    same = all(torch.equal(a, b) for a, b in zip(got, old))
    print(f"B={B} L={L}: parity {'ok' if good else 'FAIL'} worst err/bound {max(e / b for _, e, b in rows):.2f}; "
          f"direct == JITKernel path: {same}", flush=True)
print(f"parity {ok}/{n}")
