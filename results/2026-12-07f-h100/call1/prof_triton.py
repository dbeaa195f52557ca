"""Session 22 (GPU host): where Triton's eager f+b host time goes. Host us per call (min of 5 loops of 100) for the
null backend, CuPy, Triton; then cProfile of 300 Triton eager f+b at ViG-T@224 by tottime, and launch.stats."""
import os, sys, time, cProfile, pstats
sys.path.insert(0, os.getcwd())
import torch
from vig import bench
import vig_kernels.cupy as cpm
import vig_kernels.triton as trm
sys.path.insert(0, os.path.join(os.getcwd(), ".scratch/s22"))
import old_tri
from vig_kernels.triton import launch as trl

def host_us(fn, n=100):
    fn(); torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(n): fn()
    dt = (time.perf_counter() - t) / n * 1e6
    torch.cuda.synchronize()
    return dt

scale = 32 ** -0.5
bes = {"null": bench._HOST_FLOOR, "cupy": cpm.CuPyBackend(), "tri_old": old_tri.TritonBackend(), "triton": trm.TritonBackend()}
for sname in ("ViG-T@224", "ViG-S@224", "ViG-T@1024"):
    leaves = [t.detach().requires_grad_() for t in bench.make_inputs(bench.OpShape(*bench.SHAPES[sname]), "cuda")[0]]
    do = torch.randn_like(leaves[2])
    fns = {n: (lambda be=be: torch.autograd.grad(be.apply(*leaves, scale), leaves, do)) for n, be in bes.items()}
    outs = {}
    for n in ("tri_old", "triton"):
        o = bes[n].apply(*leaves, scale)
        outs[n] = [o.detach()] + list(torch.autograd.grad(o, leaves, do))
    print("  old vs new bit-identical (o, five grads):", [torch.equal(a, b) for a, b in zip(outs["tri_old"], outs["triton"])])
    best = {n: 1e9 for n in fns}
    for r in range(5):
        for n, f in fns.items():
            best[n] = min(best[n], host_us(f))
    print(sname, "host us per eager f+b (min of 5 x 100):", {n: round(v, 1) for n, v in best.items()}, flush=True)
    # launches per f+b
    h0 = dict(trl.stats); fns["triton"](); torch.cuda.synchronize()
    print("  triton launches per f+b:", {k: trl.stats[k] - h0[k] for k in h0})
    # fwd only / bwd only split
    be = bes["triton"]
    def fwd_only():
        with torch.no_grad():
            return be.apply(*leaves, scale)
    print("  triton fwd-only (no grad) host us:", round(min(host_us(fwd_only) for _ in range(5)), 1),
          "null:", round(min(host_us(lambda: bench._HOST_FLOOR.apply(*[x.detach() for x in leaves], scale)) for _ in range(5)), 1))
leaves = [t.detach().requires_grad_() for t in bench.make_inputs(bench.OpShape(*bench.SHAPES["ViG-T@224"]), "cuda")[0]]
do = torch.randn_like(leaves[2])
be = bes["triton"]
f = lambda: torch.autograd.grad(be.apply(*leaves, scale), leaves, do)
f(); torch.cuda.synchronize()
pr = cProfile.Profile(); pr.enable()
for _ in range(300): f()
pr.disable(); torch.cuda.synchronize()
print("== cProfile triton ViG-T@224, 300 eager f+b, by tottime")
pstats.Stats(pr).sort_stats("tottime").print_stats(30)
