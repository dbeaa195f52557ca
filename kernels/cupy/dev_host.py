"""Development only: the plan launcher's host time per call on the CPU (no GPU), with the kernel
launch itself mocked: CuPyBackend.forward / .backward at a contract shape on CPU tensors (bf16 q, k,
v, do; fp32 gates), median of N calls, twice. (Until session 6 it compared the legacy launcher,
VIG_CUPY_LAUNCH=legacy, removed in session 6 round 3.)

    python kernels/cupy/dev_host.py [ViG-T@224] [N=300] [B]

B (optional) replaces the shape's batch (a smaller B may change the segment plan: fewer blocks).

Mocked: the device index (CPU tensors), PyTorch's raw stream (0); the real kernel_defs lookup runs
on pre-filled cache entries; the cupy Function is a Python no-op; the final fp32 -> bf16 cast of the
gradients is an allocation only (no CPU cast). Not measured (needs a driver): the launch itself.
Also counts the torch.empty calls of one call (the mocked cast is one)."""
import os
import statistics
import warnings
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

import torch  # noqa: E402

from vig import bench  # noqa: E402
import vig_kernels.cupy as cp  # noqa: E402


class _Dummy:
    max_dynamic_shared_size_bytes = 0

    @property
    def kernel(self):
        return lambda grid, block, args, smem, stream: None


def _mock():
    cp._raw_stream = lambda dev: 0
    cp._device_index = lambda device: 0
    cp._current_device = lambda: -1
    cp._function = lambda kern, dev: kern.kernel
    real = cp._Modules.kernel_defs

    def kernel_defs(self, source, func, device, defines, smem):
        key = (source, func, device, defines)
        if key not in self._cache:
            self._cache[key] = _Dummy()
            self._limit[key] = 1 << 30
        return real(self, source, func, device, defines, smem)

    cp._Modules.kernel_defs = kernel_defs


def main():
    warnings.simplefilter("ignore", DeprecationWarning)
    name = sys.argv[1] if len(sys.argv) > 1 else "ViG-T@224"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    _mock()
    dims = list(bench.SHAPES[name])
    if len(sys.argv) > 3:
        dims[0] = int(sys.argv[3])
    shape = bench.OpShape(*dims)
    (q, k, v, gf, gb), _ = bench.make_inputs(shape, "cpu")
    q, k, v = (t.to(torch.bfloat16) for t in (q, k, v))
    gf, gb = gf.float(), gb.float()
    do = torch.randn_like(v)
    be = cp.CuPyBackend()
    scale = q.shape[-1] ** -0.5
    counts = {}
    real_empty = torch.empty

    def empty(*a, **kw):
        counts["empty"] = counts.get("empty", 0) + 1
        return real_empty(*a, **kw)

    real_to = torch.Tensor.to

    def to(self, *a, **kw):  # the gradients' bf16 cast: an allocation here, a kernel on a GPU
        if len(a) == 1 and a[0] is torch.bfloat16 and self.dtype is torch.float32 and not kw:
            return torch.empty(self.shape, dtype=torch.bfloat16)
        return real_to(self, *a, **kw)

    torch.Tensor.to = to
    for kind in ("plan", "plan"):
        o, saved = be.forward(q, k, v, gf, gb, scale)
        be.backward(q, k, v, gf, gb, scale, do, saved)
        res = {}
        for what, fn in (("fwd", lambda: be.forward(q, k, v, gf, gb, scale)),
                         ("bwd", lambda: be.backward(q, k, v, gf, gb, scale, do, saved))):
            ts = []
            for _ in range(n):
                t0 = time.perf_counter()
                fn()
                ts.append(time.perf_counter() - t0)
            counts.clear()
            torch.empty = empty
            try:
                fn()
            finally:
                torch.empty = real_empty
            res[what] = (statistics.median(ts) * 1e6, counts.get("empty", 0))
        print(f"{name} B={shape.B} {kind:>6}: forward {res['fwd'][0]:7.1f} us "
              f"({res['fwd'][1]} allocations), backward {res['bwd'][0]:7.1f} us ({res['bwd'][1]} allocations, the cast included)", flush=True)


if __name__ == "__main__":
    main()
