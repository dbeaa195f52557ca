"""TileLang kinds the GPU tests can launch: every (K, V) of tests/strategies.HEAD_DIMS, dtype, layout (contiguous /
fused views made on the device), gate dtype, at L 17 and 300, with and without grad; plus session 21's list."""
import os, sys, itertools
sys.path.insert(0, os.getcwd())
import torch
from vig_kernels import tilelang as tlb
from tests.strategies import Case, make_inputs, HEAD_DIMS
kinds = set()
tlb.compile_kernel = lambda kind, K, V, dt, arch: (kinds.add((kind, K, V, dt)) or (lambda *a: None))
tlb._arch = lambda device: "sm_90a"
be = tlb.TileLangBackend()
for K, V, dt, layout, gd, L in itertools.product(HEAD_DIMS, HEAD_DIMS, ("bfloat16", "float16", "float32"),
                                                ("contiguous", "fused"), ("float32", "same"), (17, 300)):
    c = Case(B=2, L=L, H=2, K=K, V=V, dtype=dt, regime="mixed", layout=layout, gate_dtype=gd, seed=1)
    q, k, v, gf, gb, do = make_inputs(c, "cpu")
    for grad in (True, False):
        ins = [x.detach().requires_grad_(grad) for x in (q, k, v, gf, gb)]
        import vig
        o = vig.bidirectional_gla(*ins, backend=None) if False else be.apply(*ins, K ** -0.5)
        if grad:
            torch.autograd.grad(o, ins, do)
for k in sorted(kinds): print(*k)
