"""CPU dry run of the TileLang launcher's memory: the kernels mocked, real CPU tensors at a
contract shape, and at every (mocked) kernel launch the bytes of all live tensors (unique
storages, found through the garbage collector) beyond the inputs and dO: the peak extra of one
fwd+bwd as torch.cuda.max_memory_allocated would see it (its peaks are at launches).

    VIG_TILELANG_LOWMEM=1 python kernels/tilelang/dev_mem_dryrun.py [SHAPE ...]
"""
import gc
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
from vig import bench  # noqa: E402
from vig.ops import _KernelFunction  # noqa: E402
import vig_kernels.tilelang as tlb  # noqa: E402

MiB = 2 ** 20


def live(exclude):
    seen, n = set(), 0
    for o in gc.get_objects():
        if isinstance(o, torch.Tensor) and o.device.type == "cpu":
            s = o.untyped_storage()
            p = s.data_ptr()
            if p and p not in seen and p not in exclude:
                seen.add(p)
                n += s.nbytes()
    return n


def run(name):
    shape = bench.OpShape(*bench.SHAPES[name])
    (q, k, v, gf, gb), bases = bench.make_inputs(shape, "cpu")
    leaves = [x.detach().requires_grad_() for x in (q, k, v, gf, gb)]
    do = torch.randn_like(leaves[2])
    exclude = {t.untyped_storage().data_ptr() for t in (*bases, do)}
    log = []

    def fake(kind, K, V, dtype, arch):
        def launch(*args):
            log.append((kind, live(exclude)))
            for a in args:  # touch nothing; check the dtypes handed to the kernel
                if isinstance(a, torch.Tensor):
                    assert a.device.type == "cpu"
        return launch

    tlb.compile_kernel = fake
    tlb._arch = lambda device: "sm_90a"
    be = tlb.TileLangBackend()
    o = _KernelFunction.apply(be, shape.K ** -0.5, *leaves)
    grads = torch.autograd.grad(o, leaves, do)
    log.append(("(after: o + gradients)", live(exclude)))
    print(f"{name}: FWD={tlb.fwd_version()} BWD={tlb.bwd_version()} "
          f"LOWMEM={os.environ.get('VIG_TILELANG_LOWMEM', tlb.LOWMEM_DEFAULT)}")
    for kind, b in log:
        print(f"  {kind:<26} live extra {b / MiB:8.1f} MiB")
    print(f"  peak extra (at a launch) {max(b for _, b in log[:-1]) / MiB:.1f} MiB; gradient dtypes "
          f"{[str(g.dtype).split('.')[-1] for g in grads]}")


if __name__ == "__main__":
    for n in sys.argv[1:] or ["ViG-T@224", "ViG-S@1024"]:
        run(n)
        gc.collect()
