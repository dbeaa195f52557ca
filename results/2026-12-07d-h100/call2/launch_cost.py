"""GPU host: what one TileLang launch costs on the host, layer by layer (no sync inside loops), and the
op's host time per eager f+b for each backend. Session 20 probe."""
import os, sys, time
sys.path.insert(0, os.getcwd())
import torch
from vig import bench
from vig_kernels import tilelang as tlb

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

shape = bench.OpShape(*bench.SHAPES["ViG-T@224"])
(q, k, v, gf, gb), _ = bench.make_inputs(shape, "cuda")
gf, gb = gf.float(), gb.float()
B, L, H, K = q.shape
o = torch.empty_like(v)
ins = tlb._packed_all(q, k, v, gf, gb)
kern = tlb.compile_kernel("fwd_fused:s2:m3:x5" + tlb._fwd_tile(), 32, 64, "bfloat16", tlb._arch(q.device))
kern = getattr(kern, "jit", kern)  # the JITKernel (session 20 wraps it)
ad = kern.adapter
exe = ad._get_executable()
main = (exe.jit() if hasattr(exe, "jit") else exe).main
print("result_idx", ad.result_idx, "type(main)", type(main))
import tvm_ffi
print("torch", torch.__version__, "tvm_ffi", tvm_ffi.__version__, "dlpack_c_exchange:", hasattr(torch.Tensor, "__dlpack_c_exchange_api__"),
      hasattr(torch.Tensor, "__c_dlpack_exchange_api__"), "stream proto:", hasattr(torch.cuda.Stream, "__cuda_stream__"))
try:
    import torch_c_dlpack_ext; print("torch_c_dlpack_ext", torch_c_dlpack_ext.__file__)
except Exception as e: print("torch_c_dlpack_ext:", e)
os.system("ls -la ~/.cache/tvm-ffi 2>&1 | head")
args = (*ins, o, 0.5 * 32 ** -0.5)
r = {}
r["JITKernel(*a)"] = per_call(lambda: kern(*args))
r["adapter.func(*a)"] = per_call(lambda: ad.func(*args))
r["executable(*a)"] = per_call(lambda: exe(*args))
r["main(*a) cached"] = per_call(lambda: main(*args))
r["_packed_all x5"] = per_call(lambda: tlb._packed_all(q, k, v, gf, gb))
r["torch.empty o"] = per_call(lambda: torch.empty(B, L, H, 64, device="cuda", dtype=torch.bfloat16))
r["compile_kernel lookup"] = per_call(lambda: tlb.compile_kernel("fwd_fused:s2:m3:x5" + tlb._fwd_tile(), 32, 64, "bfloat16", "sm_90a"))
try:
    import cupy
    x = cupy.zeros(1, dtype=cupy.float32)
    ker = cupy.RawKernel(r'extern "C" __global__ void nop(float* x) {}', "nop")
    ker((1,), (32,), (x,))
    r["cupy RawKernel nop"] = per_call(lambda: ker((1,), (32,), (x,)))
except Exception as e:
    print("cupy probe failed", e)
for kname, us in r.items():
    print(f"{kname:>24}: {us:7.2f} us per call")
# the op, per backend: host us per eager f+b and per no-grad forward
import vig
from vig import registry
registry._REGISTRY.setdefault('null', 'vig.bench:HostFloorBackend')
direct_call = tlb.Kernel.__call__
def via_jit(self, *a):
    return self.jit(*a)
for sname in ('ViG-T@224', 'ViG-T@1024'):
    print('==', sname)
    leaves = [t.detach().requires_grad_() for t in bench.make_inputs(bench.OpShape(*bench.SHAPES[sname]), "cuda")[0]]
    do = torch.randn_like(leaves[2])
    for rep in range(3):
        for name in ("null", "tilelang", "tilelang-jit"):
            tlb.Kernel.__call__ = via_jit if name == "tilelang-jit" else direct_call
            op = lambda *x: vig.bidirectional_gla(*x, backend=name.split("-")[0], check_gates=False)
            def fb():
                return torch.autograd.grad(op(*leaves), leaves, do)
            def fw():
                with torch.no_grad():
                    return op(*leaves)
            print(f"rep {rep} {name:>9}: host f+b {per_call(fb, 100):7.1f} us, fwd {per_call(fw, 100):6.1f} us", flush=True)
tlb.Kernel.__call__ = direct_call
if "--cprofile" in sys.argv:
    import cProfile, pstats
    for name in ("tilelang", "triton"):
        op = lambda *x: vig.bidirectional_gla(*x, backend=name, check_gates=False)
        fb = lambda: torch.autograd.grad(op(*leaves), leaves, do)
        fb(); torch.cuda.synchronize()
        pr = cProfile.Profile(); pr.enable()
        for _ in range(100): fb()
        pr.disable(); torch.cuda.synchronize()
        print("=====", name); pstats.Stats(pr).sort_stats("tottime").print_stats(22)
