"""GPU check (session 7): the forward of VIG_TILELANG_FUSED_EXP=ref3 (fwd_fused:m3:x5) and of
VIG_TILELANG_FWD_VIEWS=1 (fwd_fused:s2:m3:x5, int64 views) against the shipped ref2
(fwd_fused:m3:x4) on the same inputs: the same arithmetic (x4's compensation terms are zero, x5
only loads differently), so the outputs should be bit-identical. Inputs: the bench's views (q, k, v
slices of one projection, gates halves of one tensor) at L = 1, 17, 33, 196, 224 and ViG-T@224, plus
contiguous copies, a misaligned view (falls back to a copy) and strong gates (slow channels: the
pair loop). Prints one line per case and "same: N/M".

    python kernels/tilelang/dev_same.py

--seg (session 8, round 2): the forward at L > 224 of VIG_TILELANG_FWD_VIEWS=2 (fwd_segst:s2 +
fwd_fused_seg:s2:m3:x4 on int64 views) against FWD_VIEWS=1 (fwd_segst + fwd_fused_seg:m3:x4 on the
contiguous copies the backend makes; FUSED_EXP unset: ref3): only the loads differ, so bit-identical
outputs. Views at L = 225, 449, 1000 and ViG-T@1024, contiguous, a misaligned q, strong gates.
--seg --small: views at L = 225 and 449 only (B 2, H 3: for compute-sanitizer memcheck).

    python kernels/tilelang/dev_same.py --seg [--small]

--bwd (session 8, round 2): the five gradients of VIG_TILELANG_BWD_VIEWS=1 (bwd_states:m3:s2:w1 +
bwd_out2:t256:x4:s2:w1 on int64 views) against BWD_VIEWS unset (the same kinds without :s2, on the
contiguous copies), both with BWD_OUT=ref2 BWD_STATES=m3 and the same forward: only the loads differ,
so bit-identical gradients. Views at L = 1, 17, 33, 196, 224 and ViG-T@224, contiguous, a misaligned q,
strong gates. --bwd --small: views at L = 65 and 196 only (for compute-sanitizer memcheck).

    python kernels/tilelang/dev_same.py --bwd [--small]

(Session 9 round 2: --bwd's base sets BWD_VIEWS=0 explicitly; since BWD_VIEWS_DEFAULT became "1" an unset
BWD_VIEWS ran the views in the base too, and the comparison could not fail.)

--bwd2 (session 9 round 2): the five gradients of VIG_TILELANG_BWD_VIEWS=2 with the w1 states (BWD_STATES="",
the default since session 9: bwd_states:s2:w1 + bwd_out2:t256:x4:s2:w1 on int64 views) against BWD_VIEWS=0
(bwd_states:w1 + bwd_out2:t256:x4:w1 on the contiguous copies), both with BWD_OUT=ref2 and the same forward:
only the loads differ, so bit-identical gradients. The same cases as --bwd; --bwd2 --small: L = 65 and 196.

    python kernels/tilelang/dev_same.py --bwd2 [--small]

--save (session 10): the five gradients with VIG_TILELANG_SEG_SAVE=1 (the backward reads the forward's segment
states: bwd_segr + fwd_scan + bwd_states_seg) against SEG_SAVE=0 (bwd_segst + fwd_scan over both + bwd_states_seg),
both SEG_L=128 BWD_SEG=128, the same forward: the S side comes from fwd_segst (expf, compensated cumsums) instead of
bwd_segst (__expf, plain cumsums), so "DIFF" lines are expected, close (max |diff| a bf16 rounding of the states,
~1e-2 of max |grad| at most); parity is the proof. The --seg cases (L = 225, 449, 1000, ViG-T@1024's views,
contiguous, misaligned q, strong gates); --save --small: L = 225, 449 only.

    python kernels/tilelang/dev_same.py --save [--small]

--scan (session 10): o and the five gradients with VIG_TILELANG_SCAN_VEC=1 (fwd_scan:v1: the same FFMA per element
and chunk, vector stores) against SCAN_VEC=0, both with SEG_SAVE=1 SEG_L=128 BWD_SEG=128 (the forward's and the
backward's in-place scans): bit-identical expected ("same: N/N"). The --seg cases; --scan --small: L = 225, 449.

    python kernels/tilelang/dev_same.py --scan [--small]

--tile (session 10 round 5): the forward of VIG_TILELANG_FWD_TILE=1 (fwd_fused:s2:m3:x5:e1: four exps per operand-tile
element in chunks with no slow channel, q e^{Gf}, q e^{Gb}, k e^{Gf_{C-1} - Gf} through per-channel factors) against
FWD_TILE=0 (fwd_fused:s2:m3:x5): another fp32 rounding before the bf16 stores of three tiles, so "DIFF" lines are
expected, close (worst max |diff| / max |o| a few bf16 ulps, <= 2e-2 by the line's rule; the CPU model sees one
element in ~1e5 of those tiles differ); parity is the proof. The default cases (L = 1, 17, 33, 196, 224, ViG-T@224's
views, contiguous, misaligned q, strong gates: x5's tile); --tile --small: views at L = 65, 196 (B 2, H 3).

    python kernels/tilelang/dev_same.py --tile [--small]

--tile2 (session 16): the forward of VIG_TILELANG_FWD_TILE=2 (fwd_fused:s2:m3:x5:e1:p1, loads one chunk ahead), =3
(:e1:b1, fewer barriers: per-thread midpoints, __syncthreads_or, A without the pair loop in chunks with no slow channel)
and =4 (:e1:p1:b1) against FWD_TILE=1 (the shipped :e1): the same tiles and sums, so bit-identical outputs expected
("same: N/N"). --tile's cases plus mixed gates (strong in the first half of the sequence, ViG's in the second: blocks
whose chunks take both paths); --tile2 --small: views at L = 65, 196 and mixed gates at L = 196 (B 2, H 3).

    python kernels/tilelang/dev_same.py --tile2 [--small]
"""
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
import vig  # noqa: E402
from vig import bench  # noqa: E402
import vig_kernels.tilelang as tlb  # noqa: E402

VARIANTS = {"x4 (ref2)": {"VIG_TILELANG_FUSED_EXP": "ref2", "VIG_TILELANG_FWD_VIEWS": "0"},  # FWD_VIEWS "1" since session 8
            "x5 (ref3)": {"VIG_TILELANG_FUSED_EXP": "ref3", "VIG_TILELANG_FWD_VIEWS": "0"},
            "s2:x5 (FWD_VIEWS=1)": {"VIG_TILELANG_FWD_VIEWS": "1"}}


def run(env, ins):
    for k in ("VIG_TILELANG_FUSED_EXP", "VIG_TILELANG_FWD_VIEWS", "VIG_TILELANG_BWD_VIEWS", "VIG_TILELANG_SEG_SAVE",
              "VIG_TILELANG_SCAN_VEC", "VIG_TILELANG_FWD_TILE"):
        os.environ.pop(k, None)
    os.environ.update(env)
    tlb.reload_env()
    if any(a in sys.argv for a in ("--bwd", "--bwd2", "--save", "--scan")):  # the five gradients, concatenated as float32
        leaves = [x.detach().requires_grad_() for x in ins]
        o = vig.bidirectional_gla(*leaves, backend="tilelang", check_gates=False)
        g = torch.Generator(device="cuda").manual_seed(3)
        do = torch.randn(o.shape, device="cuda", generator=g).to(o.dtype)
        grads = torch.autograd.grad(o, leaves, do)
        torch.cuda.synchronize()
        return torch.cat([x.float().flatten() for x in grads + ((o,) if "--scan" in sys.argv else ())])
    with torch.no_grad():
        o = vig.bidirectional_gla(*ins, backend="tilelang", check_gates=False)
    torch.cuda.synchronize()
    return o


def views(lengths, small=False):
    """The bench's views at sequence lengths ``lengths`` (B 3, H 2; ``small``: B 2, H 3)."""
    for L in lengths:
        shape = bench.OpShape(B=2 if small else 3, H=3 if small else 2, L=L, K=32, V=64)
        ins, _ = bench.make_inputs(shape, "cuda", seed=L)
        yield f"views L={L}", ins


def shape_cases(name):
    """A contract shape: views, contiguous copies, a misaligned q, strong gates (slow channels)."""
    shape = bench.OpShape(*bench.SHAPES[name])
    ins, _ = bench.make_inputs(shape, "cuda", seed=1)
    yield f"views {name}", ins
    yield f"contiguous {name}", tuple(t.contiguous() for t in ins)
    q, k, v, gf, gb = ins
    qm = torch.randn(*q.shape[:-1], 33, device="cuda", dtype=q.dtype)[..., 1:]  # 2-byte offset
    yield f"misaligned q {name}", (qm, k, v, gf, gb)
    g = torch.Generator(device="cuda").manual_seed(7)
    strong = [-torch.rand(gf.shape, device="cuda", generator=g) * 4 for _ in range(2)]  # slow channels
    yield f"strong gates {name}", (q, k, v, *strong)


def cases():
    yield from views((1, 17, 33, 196, 224))
    yield from shape_cases("ViG-T@224")


def tile_cases(small):  # cases()'s list (not the name: the mode loop below rebinds it)
    if small:
        yield from views((65, 196), small)
    else:
        yield from views((1, 17, 33, 196, 224))
        yield from shape_cases("ViG-T@224")


def mixed(L, small):
    """The bench's views at L with strong gates (slow channels) in the first half of the sequence only."""
    shape = bench.OpShape(B=2 if small else 3, H=3 if small else 2, L=L, K=32, V=64)
    q, k, v, gf, gb = bench.make_inputs(shape, "cuda", seed=L + 1)[0]
    g = torch.Generator(device="cuda").manual_seed(11)
    gf, gb = (torch.where(torch.arange(L, device="cuda")[None, :, None, None] < L // 2,
                          -torch.rand(x.shape, device="cuda", generator=g) * 4, x) for x in (gf, gb))
    return f"mixed gates L={L}", (q, k, v, gf, gb)


def tile2_cases(small):
    yield from tile_cases(small)
    yield mixed(196, small)
    if not small:
        yield mixed(224, small)
        yield mixed(100, small)


def seg_cases(small):
    yield from views((225, 449) if small else (225, 449, 1000), small)
    if not small:
        yield from shape_cases("ViG-T@1024")


def bwd_cases(small):
    yield from views((65, 196) if small else (1, 17, 33, 196, 224), small)
    if not small:
        yield from shape_cases("ViG-T@224")

BASE = "x4 (ref2)"
SEG128 = {"VIG_TILELANG_SEG_L": "128", "VIG_TILELANG_BWD_SEG": "128"}
MODES = [  # flag: (environment of both, (base label, its switches), (variant label, its switches), cases)
    ("--bwd", {"VIG_TILELANG_BWD_OUT": "ref2", "VIG_TILELANG_BWD_STATES": "m3"},
     ("ref2+m3 on copies", {"VIG_TILELANG_BWD_VIEWS": "0"}),
     ("ref2+m3 BWD_VIEWS=1 (:s2)", {"VIG_TILELANG_BWD_VIEWS": "1"}), bwd_cases),
    ("--bwd2", {"VIG_TILELANG_BWD_OUT": "ref2", "VIG_TILELANG_BWD_STATES": ""},
     ("ref2+w1 on copies", {"VIG_TILELANG_BWD_VIEWS": "0"}),
     ("ref2+w1 BWD_VIEWS=2 (:s2)", {"VIG_TILELANG_BWD_VIEWS": "2"}), bwd_cases),
    ("--save", SEG128, ("SEG_SAVE=0 (bwd_segst)", {"VIG_TILELANG_SEG_SAVE": "0"}),
     ("SEG_SAVE=1 (bwd_segr)", {"VIG_TILELANG_SEG_SAVE": "1"}), seg_cases),
    ("--scan", SEG128, ("SCAN_VEC=0 (fwd_scan)", {"VIG_TILELANG_SEG_SAVE": "1", "VIG_TILELANG_SCAN_VEC": "0"}),
     ("SCAN_VEC=1 (fwd_scan:v1)", {"VIG_TILELANG_SEG_SAVE": "1", "VIG_TILELANG_SCAN_VEC": "1"}), seg_cases),
    ("--tile2", {}, ("FWD_TILE=1 (s2:m3:x5:e1)", {"VIG_TILELANG_FWD_TILE": "1"}),
     [("FWD_TILE=2 (e1:p1)", {"VIG_TILELANG_FWD_TILE": "2"}), ("FWD_TILE=3 (e1:b1)", {"VIG_TILELANG_FWD_TILE": "3"}),
      ("FWD_TILE=4 (e1:p1:b1)", {"VIG_TILELANG_FWD_TILE": "4"})], tile2_cases),
    ("--tile", {}, ("FWD_TILE=0 (s2:m3:x5)", {"VIG_TILELANG_FWD_TILE": "0"}),
     ("FWD_TILE=1 (s2:m3:x5:e1)", {"VIG_TILELANG_FWD_TILE": "1"}), tile_cases),
    ("--seg", {}, ("seg:x4 on copies (FWD_VIEWS=1)", {"VIG_TILELANG_FWD_VIEWS": "1"}),
     ("seg:s2:x4 (FWD_VIEWS=2)", {"VIG_TILELANG_FWD_VIEWS": "2"}), seg_cases),
]
for flag, env, (BASE_, benv), var, kase in MODES:  # the first flag given, in this order
    if flag in sys.argv:
        os.environ.update(env)
        BASE, VARIANTS = BASE_, {BASE_: benv, **dict(var if isinstance(var, list) else [var])}
        cases = lambda kase=kase: kase("--small" in sys.argv)  # noqa: E731
        break
n = ok = 0
worst = 0.0
for name, ins in cases():
    outs = {lab: run(env, ins) for lab, env in VARIANTS.items()}
    ref = outs[BASE]
    for lab, o in outs.items():
        if lab == BASE:
            continue
        same = torch.equal(o, ref)
        d = (o.float() - ref.float()).abs().max().item()
        n += 1
        ok += same
        r = d / max(ref.float().abs().max().item(), 1e-30)
        worst = max(worst, r) if r == r else float("inf")  # a NaN counts as far
        print(f"{'same' if same else 'DIFF'} {name:<26} {lab:<30} max|diff| {d:.3g} "
              f"(|o| max {ref.float().abs().max().item():.3g})", flush=True)
print(f"same: {ok}/{n}", flush=True)
if "--save" in sys.argv or "--tile" in sys.argv:
    print(f"{'save' if '--save' in sys.argv else 'tile'}: worst max|diff| / max|{'grad' if '--save' in sys.argv else 'o'}| {worst:.3g} over {n} cases ({'close' if worst <= 2e-2 else 'FAR'})",
          flush=True)
