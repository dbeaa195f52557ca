"""GPU checks of VIG_TILELANG_FWD_WALK=2 (fwd_walk2:s2:m2:x5, session 9 round 3): the forward with both
directions walking the chunks together, against the shipped views forward (fwd_fused:s2:m3:x5) and the
float64 reference on the same inputs (another summation order: not bit-identical; both errors printed,
relative to max |o_ref|; a "WORSE" line when walk2's error exceeds 2x the shipped one + 1e-3).

    python kernels/tilelang/dev_walk2.py          # bench views (B 8, H 3) at L = 1, 17, 31, 33, 65, 196, 224,
                                                  # B 16 H 6 L 196, strong gates (gates x 40: slow channels, the
                                                  # pair loop), a misaligned q (the float64 reference runs on the CPU)
    python kernels/tilelang/dev_walk2.py --san    # FWD_WALK=2 only, B 2, H 3, L = 17, 65, 196, 224 (sanitizers)
"""
import os
import sys

import torch

import vig
from vig import bench
from vig_kernels import tilelang as tlb


def run(env, *args):
    for key in ("VIG_TILELANG_FWD_WALK",):
        os.environ.pop(key, None)
    os.environ.update(env)
    tlb.reload_env()
    o = vig.bidirectional_gla(*args, backend="tilelang", check_gates=False)
    torch.cuda.synchronize()
    return o


def ref64(q, k, v, gf, gb):
    c = lambda t: t.detach().double().cpu()  # noqa: E731
    return vig.bidirectional_gla(c(q), c(k), c(v), c(gf), c(gb), backend="reference", check_gates=False).cuda()


W2 = {"VIG_TILELANG_FWD_WALK": "2"}
if "--san" in sys.argv:
    for L in (17, 65, 196, 224):
        (q, k, v, gf, gb), _ = bench.make_inputs(bench.OpShape(2, 3, L, 32, 64), "cuda")
        o = run(W2, q, k, v, gf, gb)
        r = ref64(q, k, v, gf, gb)
        err = ((o.double() - r).abs().max() / r.abs().max()).item()
        print(f"san L {L}: finite {bool(torch.isfinite(o).all())} rel err {err:.2e}", flush=True)
    sys.exit(0)

cases = []
for L in (1, 17, 31, 33, 65, 196, 224):
    cases.append((f"views L {L}", bench.make_inputs(bench.OpShape(8, 3, L, 32, 64), "cuda")[0]))
cases.append(("B 16 H 6 L 196 (ViG-S@224 heads)", bench.make_inputs(bench.OpShape(16, 6, 196, 32, 64), "cuda")[0]))
q, k, v, gf, gb = bench.make_inputs(bench.OpShape(8, 3, 196, 32, 64), "cuda")[0]
cases.append(("strong gates L 196", (q, k, v, gf * 40, gb * 40)))
qm = torch.empty(q.numel() + 1, dtype=q.dtype, device=q.device)[1:].view_as(q).copy_(q)  # 2-byte offset: copied
cases.append(("misaligned q L 196", (qm, k, v, gf, gb)))
worse = 0
for name, args in cases:
    r = ref64(*args)
    m = r.abs().max().item()
    a = run({"VIG_TILELANG_FWD_WALK": "0"}, *args)
    b = run(W2, *args)
    ea = ((a.double() - r).abs().max() / m).item()
    eb = ((b.double() - r).abs().max() / m).item()
    bad = not (eb <= 2 * ea + 1e-3) or not bool(torch.isfinite(b).all())
    worse += bad
    print(f"{'WORSE' if bad else 'ok'} {name}: rel err shipped {ea:.2e} walk2 {eb:.2e} | max |walk2 - shipped| "
          f"{((b.double() - a.double()).abs().max() / m).item():.2e}", flush=True)
print(f"walk2 vs shipped: {len(cases) - worse}/{len(cases)} within 2x the shipped error", flush=True)
sys.exit(1 if worse else 0)
