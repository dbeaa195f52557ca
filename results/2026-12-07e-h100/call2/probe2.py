"""Session 21 call 2 (GPU host): eager forward+backward of each backend, interleaved rounds (the host's speed drifts
by 2x within a minute: call 1), do_bench medians per round -> min and median over rounds; TileLang before (HEAD~1 as
old_tl) and after this session's host-path change; then where tl_new's host time goes (cProfile)."""
import os, sys, time, statistics, cProfile, pstats
sys.path.insert(0, os.getcwd())
sys.path.insert(0, os.path.join(os.getcwd(), ".scratch/s21"))
import torch
import triton
from vig import bench
from vig_kernels import tilelang as tl_new
import old_tl as tl_old
import vig_kernels.cupy as cpm
import vig_kernels.triton as trm

def host_us(fn, n=50):
    fn(); torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(n): fn()
    dt = (time.perf_counter() - t) / n * 1e6
    torch.cuda.synchronize()
    return dt

bes = {"null": bench._HOST_FLOOR, "cupy": cpm.CuPyBackend(), "triton": trm.TritonBackend(),
       "tl_old": tl_old.TileLangBackend(), "tl_new": tl_new.TileLangBackend()}
scale = 32 ** -0.5
ROUNDS = int(os.environ.get("ROUNDS", "10"))
for sname in ("ViG-T@224", "ViG-S@224", "ViG-T@1024"):
    leaves = [t.detach().requires_grad_() for t in bench.make_inputs(bench.OpShape(*bench.SHAPES[sname]), "cuda")[0]]
    do = torch.randn_like(leaves[2])
    fns = {n: (lambda be=be: torch.autograd.grad(be.apply(*leaves, scale), leaves, do)) for n, be in bes.items()}
    for f in fns.values():
        f(); f()
    torch.cuda.synchronize()
    ms = {n: [] for n in fns}
    hs = {n: [] for n in fns}
    for r in range(ROUNDS):
        for n, f in fns.items():
            ms[n].append(triton.testing.do_bench(f, warmup=10, rep=60, return_mode="median"))
            hs[n].append(host_us(f))
    print(f"== {sname}: eager f+b over {ROUNDS} interleaved rounds (do_bench median per round, ms; host us per call)")
    for n in fns:
        print(f"{n:>7}: ms min {min(ms[n]):.4f} median {statistics.median(ms[n]):.4f} max {max(ms[n]):.4f} | "
              f"host us min {min(hs[n]):6.1f} median {statistics.median(hs[n]):6.1f}", flush=True)
    for n in ("tl_old", "tl_new", "triton"):
        ratios = [a / b for a, b in zip(ms[n], ms["cupy"])]
        print(f"  {n}/cupy same round: min {min(ratios):.2f} median {statistics.median(ratios):.2f} max {max(ratios):.2f}")
leaves = [t.detach().requires_grad_() for t in bench.make_inputs(bench.OpShape(*bench.SHAPES["ViG-T@224"]), "cuda")[0]]
do = torch.randn_like(leaves[2])
for name in ("tl_new", "cupy"):
    be = bes[name]
    f = lambda: torch.autograd.grad(be.apply(*leaves, scale), leaves, do)
    f(); torch.cuda.synchronize()
    pr = cProfile.Profile(); pr.enable()
    for _ in range(300): f()
    pr.disable(); torch.cuda.synchronize()
    print(f"== cProfile {name} ViG-T@224, 300 eager f+b, by tottime")
    pstats.Stats(pr).sort_stats("tottime").print_stats(22)
