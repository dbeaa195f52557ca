"""One forward + backward of one backend at one contract shape, for ncu (GPU only).
    python results/2026-12-06-h100/ncu/target.py <backend> <shape>"""
import sys

import torch

import vig
from vig import bench

backend, name = sys.argv[1], sys.argv[2]
inputs, _ = bench.make_inputs(bench.OpShape(*bench.SHAPES[name]), "cuda")
leaves = [t.detach().requires_grad_() for t in inputs]
for _ in range(2):  # first call compiles / autotunes; ncu counts launches from the start
    o = vig.bidirectional_gla(*leaves, backend=backend, check_gates=False)
    torch.autograd.grad(o, leaves, torch.randn_like(o))
torch.cuda.synchronize()
print("done", backend, name)
