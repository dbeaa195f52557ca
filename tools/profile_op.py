"""Where one call's time goes, per backend (GPU only): the kernels one forward and one
forward+backward launch (torch.profiler, CUDA time of each), their sum beside the do_bench median
of the same call, and the host time to enqueue the call. A median far above the kernel sum means
the call is host-bound or has gaps between its launches; a kernel sum far above the floor means
the kernels themselves are slow.

    python tools/profile_op.py null,triton,cupy,tilelang [--shapes ViG-T@224,ViG-S@224] [--cprofile]

"null" is vig.bench.HostFloorBackend, whose kernels are torch.empty: the host time of the shared
layer (vig/ops.py) and autograd alone, the least any backend's call can cost on that host.
"""
import argparse
import json
import os
import sys
from collections import defaultdict

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import torch  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402

import vig  # noqa: E402
from vig import bench, registry  # noqa: E402


def kernels_of(fn, reps=5):
    """{kernel name: (launches per call, CUDA us per call)} over `reps` calls."""
    fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(reps):
            fn()
        torch.cuda.synchronize()
    agg = defaultdict(lambda: [0, 0.0])
    for e in prof.events():
        if e.device_type == torch.autograd.DeviceType.CUDA:
            agg[e.name][0] += 1
            agg[e.name][1] += e.device_time_total if hasattr(e, "device_time_total") else e.cuda_time_total
    return {n: (c / reps, us / reps) for n, (c, us) in agg.items()}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("backends")
    p.add_argument("--shapes", default="ViG-T@224,ViG-S@224,ViG-T@1024")
    p.add_argument("--cprofile", action="store_true",
                   help="also the host's own profile of 200 forward+backward calls (cProfile, top 30)")
    a = p.parse_args()
    registry._REGISTRY.setdefault("null", "vig.bench:HostFloorBackend")  # this run only, never the package's
    out = []
    for name in a.backends.split(","):
        for sname in a.shapes.split(","):
            shape = bench.OpShape(*bench.SHAPES[sname])
            (q, k, v, gf, gb), _ = bench.make_inputs(shape, "cuda")
            leaves = [t.detach().requires_grad_() for t in (q, k, v, gf, gb)]
            do = torch.randn_like(leaves[2])
            op = lambda *x: vig.bidirectional_gla(*x, backend=name, check_gates=False)  # noqa: E731

            def fwd():
                with torch.no_grad():
                    return op(*leaves)

            def fb():
                return torch.autograd.grad(op(*leaves), leaves, do)

            for mode, fn in (("fwd", fwd), ("fwd+bwd", fb)):
                ks = kernels_of(fn)
                total = sum(us for _, us in ks.values())
                r = {"backend": name, "shape": sname, "mode": mode, "median_ms": bench.median_ms(fn),
                     "kernel_sum_ms": total / 1000, "host_ms": bench.host_us(fn) / 1000,
                     "floor_ms": bench.floor_ms(shape, mode != "fwd"),
                     "kernels": {n: {"per_call": c, "ms": us / 1000} for n, (c, us) in ks.items()}}
                out.append(r)
                print(f"{name:>9} {sname:>10} {mode:>7}: median {r['median_ms']:.3f} ms, kernels "
                      f"{r['kernel_sum_ms']:.3f} ms in {sum(c for c, _ in ks.values()):.0f} launches, host "
                      f"{r['host_ms']:.3f} ms, floor {r['floor_ms']:.3f}", flush=True)
                for n, (c, us) in sorted(ks.items(), key=lambda kv: -kv[1][1]):
                    print(f"      {us / 1000:8.4f} ms  x{c:.0f}  {n[:100]}", flush=True)
            if a.cprofile:
                import cProfile
                import pstats

                torch.cuda.synchronize()
                pr = cProfile.Profile()
                pr.enable()
                for _ in range(200):
                    fb()
                pr.disable()
                torch.cuda.synchronize()
                pstats.Stats(pr).sort_stats("tottime").print_stats(30)
    path = os.path.join(os.environ.get("OUT", "."), "profile_op.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
