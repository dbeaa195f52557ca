"""Session 21 probe (GPU host): TileLang's host path before (HEAD 461e27f, as the package old_tl) and after this
session's change: bit-identity of outputs and all five gradients (same kernels), host time per eager f+b and
no-grad forward, and do_bench medians of the eager f+b next to CuPy's and the null backend's."""
import os, sys, time
sys.path.insert(0, os.getcwd())
sys.path.insert(0, os.path.join(os.getcwd(), ".scratch/s21"))
import torch
import triton
from vig import bench
from vig_kernels import tilelang as tl_new
import old_tl as tl_old
import vig_kernels.cupy as cpm

def per_call(fn, n=200):
    fn(); torch.cuda.synchronize()
    best = 1e9
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(n): fn()
        dt = (time.perf_counter() - t) / n * 1e6
        torch.cuda.synchronize()
        best = min(best, dt)
    return best

bes = {"null": bench._HOST_FLOOR, "cupy": cpm.CuPyBackend(), "tl_old": tl_old.TileLangBackend(), "tl_new": tl_new.TileLangBackend()}
scale = 32 ** -0.5
ok_all = True
for sname in ("ViG-T@224", "ViG-S@224", "ViG-T@1024"):
    print("==", sname, flush=True)
    leaves = [t.detach().requires_grad_() for t in bench.make_inputs(bench.OpShape(*bench.SHAPES[sname]), "cuda")[0]]
    do = torch.randn_like(leaves[2])
    res = {}
    for name in ("tl_old", "tl_new"):
        o = bes[name].apply(*leaves, scale)
        res[name] = (o.detach(),) + torch.autograd.grad(o, leaves, do)
    same = all(torch.equal(a, b) for a, b in zip(res["tl_old"], res["tl_new"]))
    finite = all(bool(torch.isfinite(t).all()) for t in res["tl_new"])
    ok_all &= same and finite
    print(f"old vs new: output + 5 gradients bit-identical: {same}; finite: {finite}", flush=True)
    for rep in range(2):
        for name, be in bes.items():
            fb = lambda: torch.autograd.grad(be.apply(*leaves, scale), leaves, do)
            def fw():
                with torch.no_grad():
                    return be.apply(*leaves, scale)
            hb, hf = per_call(fb, 100), per_call(fw, 100)
            ms = triton.testing.do_bench(fb, warmup=25, rep=200, return_mode="median")
            print(f"rep {rep} {name:>7}: host f+b {hb:7.1f} us, fwd {hf:6.1f} us; do_bench eager f+b {ms:.4f} ms", flush=True)
# odd placement (session 21's _packed clone): q, k, v and the gates as flat slices at an odd element offset;
# old: view error or misaligned view; new: copies, same values as on contiguous inputs
shape = bench.OpShape(2, 3, 196, 32, 64)
ins = bench.make_inputs(shape, "cuda")[0]
odd = []
for t in ins:
    buf = torch.empty(t.numel() + 1, device="cuda", dtype=t.dtype)
    buf[1:].copy_(t.reshape(-1))
    odd.append(buf[1:].view(t.shape))
want = tl_new.TileLangBackend().apply(*[t.contiguous() for t in ins], scale)
for name in ("tl_new", "tl_old"):  # the old one last: a misaligned access poisons the context
    try:
        got = bes[name].apply(*odd, scale)
        torch.cuda.synchronize()
        print(f"odd offset {name}: bit-identical to contiguous inputs: {torch.equal(got, want)}", flush=True)
    except Exception as e:
        print(f"odd offset {name}: {type(e).__name__}: {str(e)[:200]}", flush=True)
        if name == "tl_new":
            ok_all = False
print("PROBE", "OK" if ok_all else "FAILED")
