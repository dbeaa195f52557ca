"""Session 9, call 1: TileLang's shipped backward (BWD_OUT=ref2, BWD_STATES=m3, BWD_VIEWS=1) against
ref2 with the w1 states (BWD_STATES="", which turns BWD_VIEWS off), graphed f+b, one process, the same
inputs, alternating A / B / A / B (dev_bench's version strings cannot say BWD_STATES="")."""
import os
import torch
import vig
from vig import bench
from vig_kernels import tilelang as tlb

bw = bench.copy_bandwidth()
print(f"device {bench.device_name()}", flush=True)
CFG = {"shipped": {}, "w1": {"VIG_TILELANG_BWD_STATES": ""}}
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
            os.environ.pop("VIG_TILELANG_BWD_STATES", None)
            os.environ.update(env)
            tlb.reload_env()
            grads[c] = fb()
            torch.cuda.synchronize()
            ms = bench.median_ms(bench.graphed(fb))
            print(f"{name:>11} rep {rep} {c:>8} f+b graphed {ms:.4f} ms "
                  f"(floor {bench.floor_ms(shape, True, bandwidth=bw):.4f})", flush=True)
    d = max((a.float() - b.float()).abs().max().item() for a, b in zip(grads["shipped"], grads["w1"]))
    print(f"{name:>11} max |grad shipped - grad w1| {d:.3e}", flush=True)
