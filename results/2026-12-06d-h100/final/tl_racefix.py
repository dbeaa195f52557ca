"""Session 9, final call: TileLang's shipped kernels against their ":r1" twins (VIG_TILELANG_RACEFIX=1:
the gate cumsums' named barrier replaced by a block barrier), graphed fwd and f+b, one process, the same
inputs, alternating A / B / A / B; gradients compared (bit-identical expected)."""
import os
import torch
import vig
from vig import bench
from vig_kernels import tilelang as tlb

bw = bench.copy_bandwidth()
print(f"device {bench.device_name()}", flush=True)
CFG = {"shipped": {}, "racefix": {"VIG_TILELANG_RACEFIX": "1"}}
for name in ("ViG-T@224", "ViG-S@224", "ViG-B@224", "ViG-T@1024", "ViG-S@1024"):
    shape = bench.OpShape(*bench.SHAPES[name])
    (q, k, v, gf, gb), _ = bench.make_inputs(shape, "cuda")
    leaves = [x.detach().requires_grad_() for x in (q, k, v, gf, gb)]
    do = torch.randn_like(leaves[2])
    op = lambda *a: vig.bidirectional_gla(*a, backend="tilelang", check_gates=False)  # noqa: E731
    fb = lambda: torch.autograd.grad(op(*leaves), leaves, do)  # noqa: E731
    grads = {}
    for rep in range(2):
        for c, env in CFG.items():
            os.environ.pop("VIG_TILELANG_RACEFIX", None)
            os.environ.update(env)
            tlb.reload_env()
            grads[c] = fb()
            torch.cuda.synchronize()
            fwd = lambda: op(*(x.detach() for x in leaves))  # noqa: E731
            with torch.no_grad():
                fms = bench.median_ms(bench.graphed(fwd))
            ms = bench.median_ms(bench.graphed(fb))
            print(f"{name:>11} rep {rep} {c:>8} fwd graphed {fms:.4f} f+b graphed {ms:.4f} ms "
                  f"(floor {bench.floor_ms(shape, True, bandwidth=bw):.4f})", flush=True)
    d = max((a.float() - b.float()).abs().max().item() for a, b in zip(grads["shipped"], grads["racefix"]))
    print(f"{name:>11} max |grad shipped - grad racefix| {d:.3e}", flush=True)
