"""Development only: one forward and one forward + backward of the CuPy backend at one contract
shape, for a profiler (ncu). Usage (GPU):
    ncu --set full -k regex:bigla_tc -c 3 python kernels/cupy/dev_prof.py [ViG-T@224]"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

import torch  # noqa: E402

import vig  # noqa: E402
from vig import bench  # noqa: E402

name = sys.argv[1] if len(sys.argv) > 1 else "ViG-T@224"
inputs, _ = bench.make_inputs(bench.OpShape(*bench.SHAPES[name]), "cuda")
leaves = [t.detach().requires_grad_() for t in inputs]
o = vig.bidirectional_gla(*leaves, backend="cupy", check_gates=False)
torch.autograd.grad(o, leaves, torch.randn_like(o))
torch.cuda.synchronize()
print("done", name)
