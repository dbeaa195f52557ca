"""What the benchmarks share: the contract's shapes, the memory floor, the peers, the timer.

Used by tests/benchmarks (pytest-benchmark), tools/gpu-run.sh's report and ``python -m vig``.
"""
from __future__ import annotations

import json
import math
import statistics
import time
from dataclasses import asdict, dataclass

import torch

from .backend import KernelBackend

# The contract's benchmark shapes (../shared/design/bidirectional-gla.md, beside the project root): bf16 q, k, v, o; float32 gates.
SHAPES = {
    "ViG-T@224": (128, 3, 196, 32, 64),
    "ViG-S@224": (128, 6, 196, 32, 64),
    "ViG-B@224": (128, 12, 196, 32, 64),
    "ViG-T@1024": (8, 3, 4096, 32, 64),
    "ViG-S@1024": (8, 6, 4096, 32, 64),
}
# Small stand-ins for machines without a GPU (CI smoke runs).
CPU_SHAPES = {"tiny": (2, 2, 50, 32, 64)}
# DeiT at 224 px (197 tokens, head dim 64): the softmax-attention peer, through SDPA.
DEIT_SHAPES = {"DeiT-T@224": (128, 3, 197, 64), "DeiT-S@224": (128, 6, 197, 64)}


@dataclass
class OpShape:
    B: int
    H: int
    L: int
    K: int
    V: int

    def bytes(self, backward=False, dtype=torch.bfloat16, gate_dtype=torch.float32):
        """Least device-memory traffic of the contract's floor. Forward: read q, k, v, g_fwd,
        g_bwd once, write o once. Forward+backward: the forward, then a backward pass that reads
        q, k, v, both gates and dO and writes the five gradients (0.045 ms at ViG-T@224 on an
        H100 at 3.0 TB/s, as the contract's table gives)."""
        e, ge = torch.finfo(dtype).bits // 8, torch.finfo(gate_dtype).bits // 8
        n = self.B * self.H * self.L
        qkv = n * (2 * self.K + self.V) * e
        gates = 2 * n * self.K * ge
        o = n * self.V * e
        fwd = qkv + gates + o
        if not backward:
            return fwd
        return fwd + (qkv + gates + o) + (qkv + gates)  # backward: read inputs and dO, write 5 grads


class HostFloorBackend(KernelBackend):
    """The shared op layer with no kernels: outputs and gradients come from torch.empty. Its eager
    time is what the host spends per call (argument checks, layout, autograd) before any kernel
    runs: at the small shapes no backend's eager call can be faster. A benchmark peer and a
    profiling aid, never registered (its results are garbage). Under do_bench the timed call
    starts while the GPU still clears the L2 (do_bench's flush), so host time shorter than that
    flush (an eager forward's) reads as ~0; forward+backward's host time shows."""

    name = "host_floor"
    device_types = ("cuda", "cpu")

    def forward(self, q, k, v, g_fwd, g_bwd, scale, needs_grad=True):
        return torch.empty(v.shape, dtype=v.dtype, device=v.device), ()

    def backward(self, q, k, v, g_fwd, g_bwd, scale, do, saved):
        return tuple(torch.empty_like(t) for t in (q, k, v, g_fwd, g_bwd))


_HOST_FLOOR = HostFloorBackend()


def host_floor_op(q, k, v, g_fwd, g_bwd, scale=None):
    """vig.bidirectional_gla's host path (its argument checks and the shared autograd wiring)
    over HostFloorBackend, without the registry lookup: the eager host floor of one call."""
    from .ops import _validate

    _validate(q, k, v, g_fwd, g_bwd, scale)
    return _HOST_FLOOR.apply(q, k, v, g_fwd, g_bwd, q.shape[-1] ** -0.5 if scale is None else float(scale))


def make_inputs(shape: OpShape, device, dtype=torch.bfloat16, requires_grad=False, seed=0):
    """Random ViG-like inputs: q, k, v slices of one projection, gates logsigmoid(x)/16."""
    g = torch.Generator(device=device).manual_seed(seed)
    B, H, L, K, V = shape.B, shape.H, shape.L, shape.K, shape.V
    qkv = torch.randn(B, L, H * (2 * K + V), device=device, dtype=dtype, generator=g)
    gk = torch.randn(B, L, 2 * H * K, device=device, dtype=torch.float32, generator=g)
    gates = torch.nn.functional.logsigmoid(gk) / 16
    if requires_grad:
        qkv.requires_grad_(True)
        gates.requires_grad_(True)
    q, k, v = qkv.split([H * K, H * K, H * V], -1)
    gf, gb = gates.chunk(2, -1)
    return (q.unflatten(-1, (H, K)), k.unflatten(-1, (H, K)), v.unflatten(-1, (H, V)),
            gf.unflatten(-1, (H, K)), gb.unflatten(-1, (H, K))), (qkv, gates)


def fla_official(q, k, v, g_fwd, g_bwd, scale=None):
    """fla's chunk_gla run the way the official ViG trains: flip the sequence, concatenate it on
    the batch, one causal chunked GLA, unflip, average."""
    from fla.ops.gla import chunk_gla

    B = q.shape[0]
    cat = lambda a, b: torch.cat([a, b.flip(1)], 0)  # noqa: E731
    o, _ = chunk_gla(cat(q, q), cat(k, k), cat(v, v), cat(g_fwd, g_bwd), scale=scale)
    return (o[:B] + o[B:].flip(1)) / 2


def fla_available() -> str | None:
    try:
        import fla.ops.gla  # noqa: F401
    except Exception as exc:
        return f"fla is not importable ({type(exc).__name__}: {exc})"
    if not torch.cuda.is_available():
        return "fla needs a CUDA GPU"
    return None


def median_ms(fn, warmup_ms=25, rep_ms=200, device=None) -> float:
    """Median time of fn in milliseconds: CUDA events through triton.testing.do_bench for work on a GPU, a host clock
    for work on the CPU. ``device``: where fn's work runs (default: the GPU when there is one)."""
    on_gpu = torch.cuda.is_available() if device is None else torch.device(device).type == "cuda"
    if on_gpu:
        from triton.testing import do_bench

        return float(do_bench(fn, warmup=warmup_ms, rep=rep_ms, return_mode="median"))
    fn()
    times = []
    deadline = time.perf_counter() + rep_ms / 1000
    while len(times) < 3 or (time.perf_counter() < deadline and len(times) < 50):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def host_us(fn, n=50) -> float:
    """Host time to enqueue one call of fn in microseconds: n calls back to back, no
    synchronization inside the loop (GPU only). Far below the median_ms of the same call, the
    call is kernel-bound; near it, host-bound."""
    fn()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    t1 = time.perf_counter()
    torch.cuda.synchronize()
    return (t1 - t0) / n * 1e6


def graphed(fn, warmup=3):
    """A CUDA-graph replay of fn: a forward, or a whole torch.autograd.grad (forward and
    backward captured together; the graph owns the outputs and workspaces)."""
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(warmup):
            fn()
    torch.cuda.current_stream().wait_stream(s)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    return graph.replay


_BANDWIDTH: dict[str, float] = {}


def copy_bandwidth(device="cuda") -> float:
    """Measured device-to-device copy bandwidth in bytes/s (bytes read + bytes written)."""
    if device in _BANDWIDTH:
        return _BANDWIDTH[device]
    n = 1 << 30  # 1 GiB, many times the L2
    src = torch.empty(n, dtype=torch.uint8, device=device)
    src.random_(0, 255)  # never time on zeros
    dst = torch.empty_like(src)
    ms = median_ms(lambda: dst.copy_(src))
    del src, dst
    _BANDWIDTH[device] = 2 * n / (ms / 1000)
    return _BANDWIDTH[device]


def floor_ms(shape: OpShape, backward=False, bandwidth=None) -> float:
    bw = bandwidth or copy_bandwidth()
    return shape.bytes(backward) / bw * 1000


def peak_extra_bytes(fn) -> int:
    """Peak device memory fn allocates beyond what was allocated before it ran."""
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    fn()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() - base


def device_name() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name()
    return "cpu"


def dumps(obj) -> str:
    def conv(o):
        if hasattr(o, "__dataclass_fields__"):
            return asdict(o)
        if isinstance(o, float) and not math.isfinite(o):
            return str(o)
        raise TypeError(type(o))

    return json.dumps(obj, indent=1, default=conv)
