"""GPU check (session 7): the forward of VIG_TILELANG_FUSED_EXP=ref3 (fwd_fused:m3:x5) and of
VIG_TILELANG_FWD_VIEWS=1 (fwd_fused:s2:m3:x5, int64 views) against the shipped ref2
(fwd_fused:m3:x4) on the same inputs: the same arithmetic (x4's compensation terms are zero, x5
only loads differently), so the outputs should be bit-identical. Inputs: the bench's views (q, k, v
slices of one projection, gates halves of one tensor) at L = 1, 17, 33, 196, 224 and ViG-T@224, plus
contiguous copies, a misaligned view (falls back to a copy) and strong gates (slow channels: the
pair loop). Prints one line per case and "same: N/M".

    python kernels/tilelang/dev_same.py
"""
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
import vig  # noqa: E402
from vig import bench  # noqa: E402
import vig_kernels.tilelang as tlb  # noqa: E402

VARIANTS = {"x4 (ref2)": {"VIG_TILELANG_FUSED_EXP": "ref2"},
            "x5 (ref3)": {"VIG_TILELANG_FUSED_EXP": "ref3"},
            "s2:x5 (FWD_VIEWS=1)": {"VIG_TILELANG_FWD_VIEWS": "1"}}


def run(env, ins):
    for k in ("VIG_TILELANG_FUSED_EXP", "VIG_TILELANG_FWD_VIEWS"):
        os.environ.pop(k, None)
    os.environ.update(env)
    tlb.reload_env()
    with torch.no_grad():
        o = vig.bidirectional_gla(*ins, backend="tilelang", check_gates=False)
    torch.cuda.synchronize()
    return o


def cases():
    for L in (1, 17, 33, 196, 224):
        shape = bench.OpShape(B=3, H=2, L=L, K=32, V=64)
        ins, _ = bench.make_inputs(shape, "cuda", seed=L)
        yield f"views L={L}", ins
    shape = bench.OpShape(*bench.SHAPES["ViG-T@224"])
    ins, _ = bench.make_inputs(shape, "cuda", seed=1)
    yield "views ViG-T@224", ins
    yield "contiguous ViG-T@224", tuple(t.contiguous() for t in ins)
    q, k, v, gf, gb = ins
    qm = torch.randn(*q.shape[:-1], 33, device="cuda", dtype=q.dtype)[..., 1:]  # 2-byte offset
    yield "misaligned q ViG-T@224", (qm, k, v, gf, gb)
    g = torch.Generator(device="cuda").manual_seed(7)
    strong = [-torch.rand(gf.shape, device="cuda", generator=g) * 4 for _ in range(2)]  # slow channels
    yield "strong gates ViG-T@224", (q, k, v, *strong)


n = ok = 0
for name, ins in cases():
    outs = {lab: run(env, ins) for lab, env in VARIANTS.items()}
    ref = outs["x4 (ref2)"]
    for lab, o in outs.items():
        if lab == "x4 (ref2)":
            continue
        same = torch.equal(o, ref)
        d = (o.float() - ref.float()).abs().max().item()
        n += 1
        ok += same
        print(f"{'same' if same else 'DIFF'} {name:<26} {lab:<20} max|diff| {d:.3g} "
              f"(|o| max {ref.float().abs().max().item():.3g})", flush=True)
print(f"same: {ok}/{n}", flush=True)
