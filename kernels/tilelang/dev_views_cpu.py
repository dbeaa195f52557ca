"""CPU checks of VIG_TILELANG_FWD_VIEWS=1 (session 7), no GPU, no compilation:

1. ``_packed``: the bench's q, k, v, gf, gb (views of one projection / one gate tensor) at
   ViG-T@224 and ViG-S@224 become int64 views of the same storage (no copy), and unpacking every
   element as fwd_fused:s2 does (bf16 channel 4j + u = (ushort)(x >> 16u), fp32 channel 2j + u =
   (uint)(x >> 32u)) gives the views' values bit for bit; a view with a 2-byte offset is copied.
2. Routing (compile_kernel mocked, CPU tensors): which kernel kinds run, with which layouts, for
   FWD_VIEWS=1 / FUSED_EXP=ref3 / both with STRIDED=1, at ViG-T@224 and ViG-T@1024 (bf16) and
   ViG-T@224 (fp16); the s2 forward must get int64 views, every other kernel contiguous tensors
   (except STRIDED=1's :s1 backward). Session 8 round 2: FWD_VIEWS=2 (fwd_segst:s2 +
   fwd_fused_seg:s2:m3:x4 at L > 224 on int64 views), also with FUSED_EXP=ref (contiguous at
   L > 224: no s2 seg kind for x3).
   BWD_VIEWS=1 (bwd_states:m3:s2:w1 + bwd_out2:t256:x4:s2:w1 on int64 views, with BWD_OUT=ref2 and
   BWD_STATES=m3 only; with STRIDED=1 the :s1 kinds as before). Session 9 round 2: BWD_VIEWS=2 (also with
   the w1 states: bwd_states:s2:w1 + bwd_out2:t256:x4:s2:w1), and "2b": the backward's exact kinds at
   ViG-T@224 for the shipped defaults and around them; a bad BWD_VIEWS value raises. Session 10 round 3: brought
   up to date with the defaults (BWD_VIEWS "2", BWD_SEG "128"): 2b's shipped backward is the :s2 pair, and the
   segment backward's kinds (bwd_segst, bwd_states_seg; also bwd_segr, fwd_segw) read int64 views without ":s2".
   Session 10 round 4: every row runs a whole configuration written out (dev_route_common's S10 = the values shipped
   since session 10's flips, or S9, with the row's changes; nothing inherited from the *_DEFAULT lines or the shell),
   except the "shipped defaults" rows (nothing set), whose expectations are literal; 2c has the 1024-px forward of
   the shipped defaults (fwd_segw:m6:g128 -> fwd_scan:v1 -> fwd_fused_seg:s2:m3:x4:g128), of S9 and of SEGW=0.
3. Bytes the contiguous copies move per call (read + written: tensors copied by Tensor.contiguous
   in the shared layer or the backend, counted at the five contract shapes with mocked kernels),
   forward and backward, for the shipped defaults, FWD_VIEWS=2, ref2+m3 and ref2+m3 with
   BWD_VIEWS=1 and FWD_VIEWS=2, BWD_VIEWS=2 (session 9 round 2), against the op's floor (bench.OpShape.bytes).
   Session 10 round 4: those all copied nothing any more (every default reads views since session 9, so the table
   was zeros, correctly); now the configurations are the shipped defaults, S10, S9 and three S9 variants that still
   copy (BWD_SEG off: the v5 backward at 1024 px; BWD_VIEWS=1 without m3: the w1 states at 224 px; FWD_VIEWS=0
   BWD_VIEWS=0: the shared layer's copies), each cell checked (zero where it must be, non-zero where it must copy).

    python kernels/tilelang/dev_views_cpu.py
"""
import sys

import torch

import dev_route_common as rc  # the mocks (compile_kernel, _arch, Tensor.contiguous counted)
from dev_route_common import _KernelFunction, bench, copied, log, tlb

n = 0
for name in ("ViG-T@224", "ViG-S@224"):
    (q, k, v, gf, gb), _ = bench.make_inputs(bench.OpShape(*bench.SHAPES[name]), "cpu")
    for t, r in ((q, 4), (k, 4), (v, 4), (gf, 2), (gb, 2)):
        assert r == 8 // t.element_size()
        p = tlb._packed(t)
        assert p.untyped_storage().data_ptr() == t.untyped_storage().data_ptr(), "copied"
        w = 64 // r
        bits = torch.stack([(p >> (w * u)) & ((1 << w) - 1) for u in range(r)], -1).flatten(-2)
        got = (bits.to(torch.int32).to(torch.int16).view(torch.bfloat16) if r == 4
               else bits.to(torch.int32).view(torch.float32))
        assert torch.equal(got, t), name
        n += t.numel()
x = torch.randn(2, 5, 3, 33, dtype=torch.bfloat16)[..., 1:]
assert tlb._packed(x).untyped_storage().data_ptr() != x.untyped_storage().data_ptr()
print(f"1. unpacking: {n} values bit-identical to the views, no copies; a misaligned view is copied")

S9, S10, SHIPPED = rc.S9, rc.S10, rc.SHIPPED  # every switch written out (dev_route_common) / nothing set


def cfg(env):
    """A row's whole environment: the shipped defaults (nothing set) for SHIPPED, else S10 with the row's changes."""
    return env if env is SHIPPED else {**S10, **env}


# kinds that read int64 views without ":s2" in their name: the segment backward's (VIG_TILELANG_BWD_SEG, the default
# "128" since session 9; SEG_SAVE's bwd_segr) and SEGW's forward walker: their builders take only the packed loads
PACKED = ("bwd_segst", "bwd_states_seg", "bwd_segr", "fwd_segw")
bad = 0
for env in ({"VIG_TILELANG_FWD_VIEWS": "1"}, {"VIG_TILELANG_FUSED_EXP": "ref3"},
            {"VIG_TILELANG_FWD_VIEWS": "1", "VIG_TILELANG_STRIDED": "1"}, {"VIG_TILELANG_FWD_VIEWS": "2"},
            {"VIG_TILELANG_FWD_VIEWS": "2", "VIG_TILELANG_FUSED_EXP": "ref"},
            {"VIG_TILELANG_FWD_VIEWS": "2", "VIG_TILELANG_STRIDED": "1"}, {"VIG_TILELANG_BWD_VIEWS": "1"},
            {"VIG_TILELANG_BWD_VIEWS": "1", "VIG_TILELANG_BWD_OUT": "ref2", "VIG_TILELANG_BWD_STATES": "m3"},
            {"VIG_TILELANG_BWD_VIEWS": "1", "VIG_TILELANG_BWD_OUT": "ref2", "VIG_TILELANG_BWD_STATES": "m3",
             "VIG_TILELANG_FWD_VIEWS": "0"},
            {"VIG_TILELANG_BWD_VIEWS": "1", "VIG_TILELANG_BWD_OUT": "ref2", "VIG_TILELANG_BWD_STATES": "m3",
             "VIG_TILELANG_STRIDED": "1"},
            # session 9 round 2: BWD_VIEWS=2 (views with the w1 states too), around the shipped defaults
            {}, {"VIG_TILELANG_BWD_VIEWS": "2"}, {"VIG_TILELANG_BWD_VIEWS": "2", "VIG_TILELANG_BWD_STATES": "m3"},
            {"VIG_TILELANG_BWD_VIEWS": "2", "VIG_TILELANG_FWD_VIEWS": "0"},
            {"VIG_TILELANG_BWD_VIEWS": "2", "VIG_TILELANG_STRIDED": "1"},
            {"VIG_TILELANG_BWD_VIEWS": "2", "VIG_TILELANG_BWD_OUT": "ref"}, {"VIG_TILELANG_BWD_VIEWS": "0"}):
    rc.setenv(cfg(env))
    for name, dt in (("ViG-T@224", torch.bfloat16), ("ViG-T@1024", torch.bfloat16), ("ViG-T@224", torch.float16)):
        (q, k, v, gf, gb), _ = bench.make_inputs(bench.OpShape(*bench.SHAPES[name]), "cpu", dtype=dt)
        leaves = [x.detach().requires_grad_() for x in (q, k, v, gf, gb)]
        log.clear()
        o = _KernelFunction.apply(tlb.TileLangBackend(), 32 ** -0.5, *leaves)
        torch.autograd.grad(o, leaves, torch.randn_like(o))
        row = []
        for kind, ts in log:
            lay = "int64 views" if ts[0].dtype == torch.int64 else (
                "contiguous" if all(t.is_contiguous() for t in ts) else "views")
            ok = ((lay == "int64 views") == (":s2" in kind or kind.split(":")[0] in PACKED)
                  and (lay != "views" or ":s1" in kind))
            bad += not ok
            row.append(f"{kind} [{lay}]" + ("" if ok else " <- WRONG"))
        print(f"2. {env} {name} {str(dt).split('.')[-1]}: " + ", ".join(row))
# the backward's kinds at ViG-T@224 (bf16), exactly (session 9 round 2)
EXPECT = ((SHIPPED, ["bwd_states:s2:w1", "bwd_out2:t256:x4:s2:w1"]),  # the shipped defaults (BWD_VIEWS "2" since s9)
          ({}, ["bwd_states:s2:w1", "bwd_out2:t256:x4:s2:w1"]),  # S10 written out
          ({"VIG_TILELANG_BWD_VIEWS": "0"}, ["bwd_states:w1", "bwd_out2:t256:x4:w1"]),
          ({"VIG_TILELANG_BWD_VIEWS": "2"}, ["bwd_states:s2:w1", "bwd_out2:t256:x4:s2:w1"]),
          ({"VIG_TILELANG_BWD_VIEWS": "2", "VIG_TILELANG_BWD_STATES": "m3"}, ["bwd_states:m3:s2:w1", "bwd_out2:t256:x4:s2:w1"]),
          ({"VIG_TILELANG_BWD_VIEWS": "1", "VIG_TILELANG_BWD_STATES": "m3"}, ["bwd_states:m3:s2:w1", "bwd_out2:t256:x4:s2:w1"]),
          ({"VIG_TILELANG_BWD_STATES": "m3"}, ["bwd_states:m3:s2:w1", "bwd_out2:t256:x4:s2:w1"]),
          ({"VIG_TILELANG_BWD_VIEWS": "2", "VIG_TILELANG_STRIDED": "1"}, ["bwd_states:s1:w1", "bwd_out2:t256:x4:s1:w1"]),
          ({"VIG_TILELANG_BWD_VIEWS": "2", "VIG_TILELANG_BWD_OUT": "ref"}, ["bwd_states:w1", "bwd_out2:t256:x3:w1"]),
          ({"VIG_TILELANG_BWD_VIEWS": "2", "VIG_TILELANG_LOWMEM": "0"}, ["bwd_states", "bwd_out2:t256:x4"]))
(q, k, v, gf, gb), _ = bench.make_inputs(bench.OpShape(*bench.SHAPES["ViG-T@224"]), "cpu")
for env, want in EXPECT:
    rc.setenv(cfg(env))
    leaves = [x.detach().requires_grad_() for x in (q, k, v, gf, gb)]
    o = _KernelFunction.apply(tlb.TileLangBackend(), 32 ** -0.5, *leaves)
    log.clear()
    torch.autograd.grad(o, leaves, torch.randn_like(o))
    got = [kind for kind, _ in log]
    bad += got != want
    lab = "shipped defaults" if env is SHIPPED else f"S10 {env}"
    print(f"2b. {lab}: backward {got}" + ("" if got == want else f" <- WRONG, expected {want}"))
rc.setenv({**S10, "VIG_TILELANG_BWD_VIEWS": "3"})
try:
    tlb._bwd_views2("bfloat16", 196, 32, 64)
    bad += 1
    print("2b. BWD_VIEWS=3 did not raise <- WRONG")
except ValueError as e:
    print(f"2b. BWD_VIEWS=3 raises: {e}")
# the forward's exact kinds and argument layouts (session 9 round 3's FWD_WALK=2, fwd_walk2:s2:m2:x5, was removed
# in the prune (git history at fdf897e): "0" still runs the shipped forward, "2" (or anything else) raises)
W2 = "VIG_TILELANG_FWD_WALK"
# (session 17: FWD_TILE=4 shipped, so the shipped 224-px bf16 views forward is x5's :e1:p1:b1 kind; the S10 rows
# pin FWD_TILE=0)
EXPECT_F = ((SHIPPED, "ViG-T@224", torch.bfloat16, ["fwd_fused:s2:m3:x5:e1:p1:b1"]),
            (SHIPPED, "ViG-B@224", torch.bfloat16, ["fwd_fused:s2:m3:x5:e1:p1:b1"]),
            ({"VIG_TILELANG_FWD_TILE": "1"}, "ViG-B@224", torch.bfloat16, ["fwd_fused:s2:m3:x5:e1"]),
            ({W2: "0"}, "ViG-T@224", torch.bfloat16, ["fwd_fused:s2:m3:x5"]),
            ({"VIG_TILELANG_FWD_VIEWS": "1"}, "ViG-T@224", torch.bfloat16, ["fwd_fused:s2:m3:x5"]),
            ({"VIG_TILELANG_FWD_VIEWS": "0"}, "ViG-T@224", torch.bfloat16, ["fwd_fused:m3:x5"]),
            (SHIPPED, "ViG-T@224", torch.float16, ["fwd_fused"]),
            # the shipped defaults at 1024 px (session 10's flips: SEG_L 128, SEGW 1, SCAN_VEC 1), literal
            (SHIPPED, "ViG-T@1024", torch.bfloat16, ["fwd_segw:m6:g128", "fwd_scan:v1", "fwd_fused_seg:s2:m3:x4:g128"]),
            ({}, "ViG-S@1024", torch.bfloat16, ["fwd_segw:m6:g128", "fwd_scan:v1", "fwd_fused_seg:s2:m3:x4:g128"]),
            (S9, "ViG-T@1024", torch.bfloat16, ["fwd_segst:s2", "fwd_scan", "fwd_fused_seg:s2:m3:x4"]),
            ({"VIG_TILELANG_SEGW": "0"}, "ViG-T@1024", torch.bfloat16,
             ["fwd_segst:s2:g128", "fwd_scan:v1", "fwd_fused_seg:s2:m3:x4:g128"]))
for env, name, dt, want in EXPECT_F:
    rc.setenv(cfg(env))
    (q, k, v, gf, gb), _ = bench.make_inputs(bench.OpShape(*bench.SHAPES[name]), "cpu", dtype=dt)
    log.clear()
    _KernelFunction.apply(tlb.TileLangBackend(), 32 ** -0.5, q, k, v, gf, gb)
    got = [kind for kind, _ in log]
    lay = ["int64" if ts[0].dtype == torch.int64 else "plain" for _, ts in log]
    ok = got == want and all((x == "int64") == (":s2" in kd or kd.split(":")[0] in PACKED) for kd, x in zip(got, lay))
    bad += not ok
    lab = "shipped defaults" if env is SHIPPED else "S9" if env is S9 else f"S10 {env}"
    print(f"2c. {lab} {name} {str(dt).split('.')[-1]}: forward {list(zip(got, lay))}" + ("" if ok else f" <- WRONG, expected {want}"))
(q, k, v, gf, gb), _ = bench.make_inputs(bench.OpShape(*bench.SHAPES["ViG-T@224"]), "cpu")
for val in ("2", "1"):
    rc.setenv({**S10, W2: val})
    try:
        _KernelFunction.apply(tlb.TileLangBackend(), 32 ** -0.5, q, k, v, gf, gb)
        bad += 1
        print(f"2c. FWD_WALK={val} did not raise <- WRONG")
    except ValueError as e:
        bad += W2 not in str(e)
        print(f"2c. FWD_WALK={val} raises: {e}")
rc.setenv({})
print(f"routing: {bad} wrong")

print("3. contiguous copies per call, MB read + written (tensors), forward / backward; the floor's bytes")
# every configuration written out; expected copies (forward, backward) per shape group: 0 = none, "+" = some
NOSEG = {"VIG_TILELANG_BWD_SEG": ""}
CONFIGS = {"shipped (defaults)": (SHIPPED, (0, 0), (0, 0)), "S10": (S10, (0, 0), (0, 0)), "S9": (S9, (0, 0), (0, 0)),
           "S9 BWD_SEG= (v5 states at 1024 px)": ({**S9, **NOSEG}, (0, 0), (0, "+")),
           "S9 BWD_VIEWS=1 BWD_SEG= (w1 states on copies)": ({**S9, **NOSEG, "VIG_TILELANG_BWD_VIEWS": "1"},
                                                               (0, "+"), (0, "+")),
           "S9 FWD_VIEWS=0 BWD_VIEWS=0 BWD_SEG= (all on copies)": ({**S9, **NOSEG, "VIG_TILELANG_FWD_VIEWS": "0",
                                                                    "VIG_TILELANG_BWD_VIEWS": "0"}, ("+", 0), ("+", 0))}
for name in bench.SHAPES:
    shape = bench.OpShape(*bench.SHAPES[name])
    (q, k, v, gf, gb), _ = bench.make_inputs(shape, "cpu")
    leaves = [x.detach().requires_grad_() for x in (q, k, v, gf, gb)]
    do = torch.randn_like(leaves[2])
    row = []
    for lab, (env, at224, at1024) in CONFIGS.items():
        rc.setenv(env)
        copied.clear()
        o = _KernelFunction.apply(tlb.TileLangBackend(), 32 ** -0.5, *leaves)
        nf = len(copied)
        fb = 2 * sum(copied) / 1e6
        torch.autograd.grad(o, leaves, do)
        bb = 2 * sum(copied[nf:]) / 1e6
        want = at1024 if shape.L > 224 else at224
        ok = all((x > 0) if w == "+" else x == 0 for x, w in zip((nf, len(copied) - nf), want))
        bad += not ok
        row.append(f"{lab}: {fb:.1f} ({nf}) / {bb:.1f} ({len(copied) - nf})"
                   + ("" if ok else f" <- WRONG, want {want}"))
    print(f"   {name:>10} floor fwd {shape.bytes() / 1e6:.1f}, f+b {shape.bytes(True) / 1e6:.1f} | " + " | ".join(row))
rc.setenv({})
print(f"dev_views_cpu: {bad} wrong")
sys.exit(1 if bad else 0)
