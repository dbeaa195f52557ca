"""Benchmarks: every registered backend at the contract's shapes, beside the memory floor and the
peers (fla 0.6 chunk_gla run the official ViG way, eager and CUDA-graphed; SDPA at DeiT shapes),
the host floor (the op's eager host path with no kernels: bench.host_floor_op) and a ViG-T
training step.

``pytest --benchmark-only tests/benchmarks`` times them (pytest-benchmark's own clock, around a
synchronized call); the figure reported is the CUDA-event median of triton.testing.do_bench, kept
in each result's extra_info with its floor. On a machine without a GPU the shapes shrink and CI
runs them once with --benchmark-disable, as smoke tests.
"""
import pytest
import torch

import vig
from vig import bench, registry

ON_GPU = torch.cuda.is_available()
DEVICE = "cuda" if ON_GPU else "cpu"
SHAPES = bench.SHAPES if ON_GPU else bench.CPU_SHAPES


def _runnable(name):
    if vig.available_backends()[name]:
        return False
    return DEVICE in registry.get_backend_object(name).device_types


def _impls(graphed=True):
    """Every backend, then each kernel backend CUDA-graphed (the kernels' own time, without the
    host's per-call work), then fla's official path eager and graphed."""
    out = []
    for name in vig.available_backends():
        if name == "reference" and ON_GPU:
            continue  # far off the pace at these shapes; it is the oracle, not a contender
        marks = [] if _runnable(name) else [pytest.mark.skip(reason=f"{name} cannot run on {DEVICE} here")]
        out.append(pytest.param(name, id=name, marks=marks))
        if graphed and name != "reference":
            if ON_GPU and not marks:
                gmarks = []
            else:
                gmarks = [pytest.mark.skip(reason=f"{name} graphed needs CUDA graphs: {name} on a GPU")]
            out.append(pytest.param(f"{name}_graphed", id=f"{name}_graphed", marks=gmarks))
    # The host floor: the op's host path with no kernels (eager only: graphed it would be ~0).
    out.append(pytest.param("host_floor", id="host_floor"))
    why = bench.fla_available()
    fla_marks = [pytest.mark.skip(reason=why)] if why else []
    out.append(pytest.param("fla_official", id="fla_official", marks=fla_marks))
    out.append(pytest.param("fla_official_graphed", id="fla_official_graphed", marks=fla_marks))
    return out


def _setup(impl, shape, mode):
    backward = mode == "fwd_bwd"
    (q, k, v, gf, gb), _ = bench.make_inputs(shape, DEVICE)
    leaves = [t.detach().requires_grad_(backward) for t in (q, k, v, gf, gb)]
    do = torch.randn_like(leaves[2])
    base = impl.removesuffix("_graphed")
    if base == "fla_official":
        op = bench.fla_official
    elif base == "host_floor":
        op = bench.host_floor_op
    else:
        op = lambda *a: vig.bidirectional_gla(*a, backend=base, check_gates=False)  # noqa: E731
    if backward:
        def fn():
            return torch.autograd.grad(op(*leaves), leaves, do)
    else:
        def fn():
            with torch.no_grad():
                return op(*leaves)
    if impl.endswith("_graphed"):
        try:
            fn = bench.graphed(fn)  # forward+backward too: torch.autograd.grad captured whole
        except Exception as exc:
            if base != "fla_official":
                raise  # the op promises to compose with CUDA graphs
            pytest.skip(f"fla's path does not capture in a CUDA graph: {type(exc).__name__}: {exc}")
    return fn


def _sync(fn):
    def run():
        out = fn()
        if ON_GPU:
            torch.cuda.synchronize()
        return out
    return run


def _record(benchmark, fn, op_shape, backward, **info):
    benchmark.extra_info.update(info)
    benchmark.extra_info["device"] = bench.device_name()
    if not benchmark.disabled and ON_GPU:
        ms = bench.median_ms(fn)
        floor = bench.floor_ms(op_shape, backward)
        benchmark.extra_info.update(
            median_ms=ms, floor_ms=floor, x_floor=ms / floor, bytes=op_shape.bytes(backward),
            copy_bandwidth_GBps=bench.copy_bandwidth() / 1e9,
        )
        if backward and not info["impl"].endswith("_graphed"):
            benchmark.extra_info["peak_extra_MiB"] = bench.peak_extra_bytes(fn) / 2**20


@pytest.mark.parametrize("mode", ["fwd", "fwd_bwd"])
@pytest.mark.parametrize("shape_name", list(SHAPES), ids=lambda n: n.replace("@", "_"))
@pytest.mark.parametrize("impl", _impls())
def test_op(benchmark, impl, shape_name, mode):
    shape = bench.OpShape(*SHAPES[shape_name])
    fn = _setup(impl, shape, mode)
    _record(benchmark, fn, shape, mode == "fwd_bwd", impl=impl, shape=shape_name, mode=mode)
    benchmark.pedantic(_sync(fn), rounds=20, warmup_rounds=3)


#: rounds of the interleaved eager comparison (one do_bench median per backend per round)
EAGER_ROUNDS = 8


@pytest.mark.parametrize("mode", ["fwd", "fwd_bwd"])
@pytest.mark.parametrize("shape_name", list(SHAPES), ids=lambda n: n.replace("@", "_"))
def test_eager_interleaved(benchmark, shape_name, mode):
    """Eager calls are host-bound at the small shapes, and the GPU host's speed drifts within a minute (session 21:
    the kernel-free host floor took 0.12 to 0.23 ms per forward+backward in one process), so eager cells timed
    minutes apart (test_op) compare hosts as much as backends. Here the kernel backends' eager calls take turns:
    EAGER_ROUNDS rounds, one do_bench median per backend per round, each backend then compared with the fastest
    one (lowest median over the rounds) in the same round (tools/report.py: the second table)."""
    names = [p.id for p in _impls(graphed=False) if p.id not in ("reference", "host_floor")
             and not p.id.startswith("fla") and _runnable(p.id)]
    if not names:
        pytest.skip(f"no kernel backend runs on {DEVICE} here")
    shape = bench.OpShape(*SHAPES[shape_name])
    fns = {n: _setup(n, shape, mode) for n in names}
    benchmark.extra_info.update(impl="eager_interleaved", shape=shape_name, mode=mode, device=bench.device_name())
    if not benchmark.disabled and ON_GPU:
        for fn in fns.values():  # compile / plan / warm every backend before the first round
            _sync(fn)()
        rounds = {n: [] for n in fns}
        for _ in range(EAGER_ROUNDS):
            for n, fn in fns.items():
                rounds[n].append(bench.median_ms(fn, warmup_ms=5, rep_ms=40))
        benchmark.extra_info["rounds_ms"] = rounds
    benchmark.pedantic(_sync(fns[names[0]]), rounds=1, warmup_rounds=0)


@pytest.mark.skipif(not ON_GPU, reason="SDPA at DeiT shapes is a GPU peer")
@pytest.mark.parametrize("mode", ["fwd", "fwd_bwd"])
@pytest.mark.parametrize("shape_name", list(bench.DEIT_SHAPES), ids=lambda n: n.replace("@", "_"))
def test_sdpa_peer(benchmark, shape_name, mode):
    B, H, L, D = bench.DEIT_SHAPES[shape_name]
    q, k, v = (torch.randn(B, H, L, D, device="cuda", dtype=torch.bfloat16,
                           requires_grad=mode == "fwd_bwd") for _ in range(3))
    do = torch.randn_like(q)
    sdpa = torch.nn.functional.scaled_dot_product_attention
    if mode == "fwd":
        def fn():
            with torch.no_grad():
                return sdpa(q, k, v)
    else:
        def fn():
            return torch.autograd.grad(sdpa(q, k, v), (q, k, v), do)
    benchmark.extra_info.update(impl="sdpa", shape=shape_name, mode=mode,
                                median_ms=bench.median_ms(fn) if not benchmark.disabled else None)
    benchmark.pedantic(_sync(fn), rounds=20, warmup_rounds=3)


@pytest.mark.parametrize("impl", [p for p in _impls(graphed=False)
                                  if not p.id.startswith(("fla", "host_floor"))])
def test_vig_tiny_training_step(benchmark, impl):
    """One optimizer step of ViG-T (bf16 autocast on the GPU): batch 128 at 224 px on the GPU,
    batch 2 at 64 px on the CPU."""
    torch.manual_seed(0)
    batch, size = (128, 224) if ON_GPU else (2, 64)
    model = vig.create_model("vig_tiny", img_size=size, backend=impl).to(DEVICE)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    x = torch.randn(batch, 3, size, size, device=DEVICE)
    y = torch.randint(0, 1000, (batch,), device=DEVICE)

    def step():
        with torch.autocast(DEVICE, dtype=torch.bfloat16, enabled=ON_GPU):
            loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    benchmark.extra_info.update(impl=impl, shape=f"ViG-T train step b{batch}@{size}", mode="train",
                                device=bench.device_name())
    if not benchmark.disabled and ON_GPU:
        benchmark.extra_info["median_ms"] = bench.median_ms(step, rep_ms=500)
    benchmark.pedantic(_sync(step), rounds=5, warmup_rounds=1)
