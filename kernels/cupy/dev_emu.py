"""Development only: run the chunked forward and backward (bigla_tc.cu) on the CPU through the host
emulation of dev_emu.h and compare them with the float64 oracle by the contract's parity rule. The
kernels are launched by the backend's own plan launcher (plan_forward / plan_backward, what the GPU
runs; dev_mock.py hands each planned launch's argument block to the emulator instead of the driver).
Exercises indexing, fragment layouts, barriers, segments, the plans' workspaces and both paths;
proves nothing about the GPU.
Usage: python kernels/cupy/dev_emu.py [quick | scan | dgfix | fwd0 | fwd30 | bwd | bwdquick | bwdlong | bwdseg | bwdsave | plan]
(VIG_CUPY_FWD / VIG_CUPY_BWD / VIG_CUPY_SCAN / VIG_CUPY_DGFIX / VIG_CUPY_FWD0 pick the variants, as on the GPU; VIG_EMU_SAME=<variant>:
the backward modes also require gradients bit-identical to that VIG_CUPY_BWD variant's; VIG_EMU_SAME_FWD=<variant>: the
forward modes also require outputs and kept states bit-identical to that VIG_CUPY_FWD variant's)."""
import contextlib
import ctypes
import hashlib
import os
import subprocess
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", ".."))

from tests.parity import EPS  # noqa: E402
from tests.strategies import Case, make_inputs  # noqa: E402
from vig_reference import chunked_bidirectional_gla, naive_bidirectional_gla  # noqa: E402
import vig_kernels.cupy as cp  # noqa: E402
from vig_kernels.cupy import dev_mock  # noqa: E402

_LIBS = {}
REC = []  # the planned launches of this process (dev_mock.host_plans, entered in __main__)


@contextlib.contextmanager
def _switch(name, value):
    """One VIG_CUPY_* switch set to value (the backend's knobs re-read) for the with block, then
    restored as it was."""
    mine = os.environ.get(name)
    os.environ[name] = value
    cp.reload_env()
    try:
        yield
    finally:
        if mine is None:
            os.environ.pop(name)
        else:
            os.environ[name] = mine
        cp.reload_env()


def lib(defines):
    key = tuple(defines)
    if key not in _LIBS:
        # the sources' hash in the name: a library built from an older bigla_tc.cu is never reused
        h = hashlib.md5(b"".join(open(os.path.join(HERE, f), "rb").read() for f in
                                 ("bigla_tc.cu", "bigla.cuh", "dev_emu.h", "dev_emu.cpp"))).hexdigest()[:10]
        out = f"/tmp/vig_emu_{'_'.join(f'{n}{v}' for n, v in defines)}_{h}.so"
        cmd = ["g++", "-std=c++20", "-O1", "-Wall", "-Wno-unused", "-Wno-unknown-pragmas", "-pthread", "-shared", "-fPIC", "-DVIG_EMU",
               *(f"-D{n}={v}" for n, v in defines), f"-I{HERE}", "-o", out,
               os.path.join(HERE, "dev_emu.cpp")]
        subprocess.run(cmd, check=True)
        L = ctypes.CDLL(out)
        L.emu_launch.restype = ctypes.c_int
        _LIBS[key] = L
    return _LIBS[key]


def launch(func, grid, block, args, smem, defines):
    objs = []
    for a in args:
        if isinstance(a, np.uint64):
            objs.append(ctypes.c_uint64(int(a)))
        elif isinstance(a, np.int32):
            objs.append(ctypes.c_int32(int(a)))
        elif isinstance(a, np.int64):
            objs.append(ctypes.c_int64(int(a)))
        elif isinstance(a, np.float32):
            objs.append(ctypes.c_float(float(a)))
        else:
            raise TypeError(type(a))
    arr = (ctypes.c_void_p * len(objs))(*[ctypes.addressof(x) for x in objs])
    emu(func, grid, block, smem, defines, arr)


def emu(func, grid, block, smem, defines, args):
    """Run one launch in the emulator; ``args``: the kernel parameters' addresses (void*[])."""
    rc = lib(defines).emu_launch(func.encode(), grid[0], grid[1], grid[2], block[0], smem, args)
    assert rc == 0


def check(case):
    q, k, v, gf, gb, _ = make_inputs(case, "cpu")
    gf, gb = gf.float(), gb.float()
    scale = case.K ** -0.5
    o = cp.plan_forward(q, k, v, gf, gb, scale)
    ref = naive_bidirectional_gla(*(x.double() for x in (q, k, v, gf, gb)), scale)
    base = chunked_bidirectional_gla(q, k, v, gf.to(q.dtype), gb.to(q.dtype), scale,
                                     compute_dtype=q.dtype)
    err = (o.double() - ref).abs().max().item()
    berr = (base.double() - ref).abs().max().item()
    bound = 2 * berr + 4 * EPS[q.dtype] * ref.abs().max().item() + 1e-12
    ok = err <= bound
    same = ""
    if os.environ.get("VIG_EMU_SAME_FWD"):  # also bit-identical (output, kept states) to this variant?
        REC.clear()
        o1, s1 = cp.plan_forward(q, k, v, gf, gb, scale, True)
        defs = [dict(r[4]) for r in REC if r[0] == "bigla_tc_fwd"]
        with _switch("VIG_CUPY_FWD", os.environ["VIG_EMU_SAME_FWD"]):
            o2, s2 = cp.plan_forward(q, k, v, gf, gb, scale, True)
        eq = (torch.equal(o, o1) and torch.equal(o1, o2) and len(s1) == len(s2)
              and all(torch.equal(a, b) for a, b in zip(s1, s2)))
        ok &= eq
        flags = "+".join(n for n in ("FL32", "FDEC", "FTR", "FC3") if any(d.get(n) for d in defs)) or "-"
        same = f" same-as-{os.environ['VIG_EMU_SAME_FWD']}:{'yes' if eq else 'NO'} [{flags}]"
    print(f"{'ok  ' if ok else 'FAIL'} err {err:.3e} bound {bound:.3e} ratio {err / bound:.3f} "
          f"plan {cp.tc_plan(case.B, case.H, case.L, case.V)}{same}  {case}", flush=True)
    return ok


def check_bwd(case, save=False):
    """Gradients against the oracle by the contract's rule; with VIG_EMU_SAME=<variant> also
    bit-identical to that VIG_CUPY_BWD variant's (e.g. v26p against v26)."""
    from tests.parity import NAMES, oracle, parity_report, plain_pytorch, run_with_grads

    q, k, v, gf, gb, do = make_inputs(case, "cpu")
    gf, gb = gf.float(), gb.float()
    scale = case.K ** -0.5
    if save:  # the forward's segment states, reused by the backward (VIG_CUPY_SAVE_STATES)
        _, states = cp.plan_forward(q, k, v, gf, gb, scale, True)
        states = tuple(states)
        assert len(states) == 2, "expected a segmented forward"
        REC.clear()
        got = list(cp.plan_backward(q, k, v, gf, gb, scale, do, states))
        names = [r[0] for r in REC]
        assert "bigla_tc_fwd" not in names, names  # the states were reused
    else:
        got = list(cp.plan_backward(q, k, v, gf, gb, scale, do))
    ref = oracle((q, k, v, gf, gb), do)
    base = plain_pytorch((q, k, v, gf, gb), do)
    rep = parity_report([ref[0]] + got, ref, base, q.dtype)[1:]
    ok = all(e <= b for _, e, b in rep)
    same = ""
    if os.environ.get("VIG_EMU_SAME"):  # also bit-identical to this VIG_CUPY_BWD variant's gradients?
        with _switch("VIG_CUPY_BWD", os.environ["VIG_EMU_SAME"]):
            other = list(cp.plan_backward(q, k, v, gf, gb, scale, do, states if save else ()))
        eq = all(torch.equal(a, b) for a, b in zip(got, other))
        ok &= eq
        same = f" same-as-{os.environ['VIG_EMU_SAME']}:{'yes' if eq else 'NO'}"
    print(f"{'ok  ' if ok else 'FAIL'} bwd " + " ".join(f"{n}:{e / b:.3f}" for n, e, b in rep)
          + same + f"  {case}", flush=True)
    return ok


def check_plan(case, seg=None):
    """The plan launcher end to end (session 6: the only launcher; until then this mode compared it
    with the legacy one): the forward with and without kept states (outputs bit-identical, against
    the oracle), the backward with the kept states and recomputing them (gradients bit-identical,
    against the oracle, the kept states really reused: no state pass), or None where the backward is
    the recurrent one (V > 64 etc.). ``launches``: the forward + backward launches with kept
    states."""
    from tests.parity import oracle, parity_report, plain_pytorch

    q, k, v, gf, gb, do = make_inputs(case, "cpu")
    gf, gb = gf.float(), gb.float()
    scale = case.K ** -0.5
    saved_seg = cp.TC_MAX_SEG, cp.TC_BWD_SEG
    if seg:
        cp.TC_MAX_SEG = cp.TC_BWD_SEG = seg
    try:
        ok = check(case)
        REC.clear()
        o1 = cp.plan_forward(q, k, v, gf, gb, scale)
        o2, st = cp.plan_forward(q, k, v, gf, gb, scale, True)
        segmented = cp.tc_plan(case.B, case.H, case.L, case.V)[2] > 1
        ok &= torch.equal(o1, o2) and len(st) == (2 if segmented else 0)
        nf = len(REC)
        if cp.bwd_kind(q, v, do, k) != "chunked":
            ok &= cp.plan_backward(q, k, v, gf, gb, scale, do, st) is None
            n = len(REC) - nf // 2
        else:
            g1 = cp.plan_backward(q, k, v, gf, gb, scale, do)
            REC.clear()
            g2 = cp.plan_backward(q, k, v, gf, gb, scale, do, st)
            names = [r[0] for r in REC]
            n = nf // 2 + len(REC)
            ok &= not st or "bigla_tc_fwd" not in names
            ok &= all(a.dtype == b.dtype and a.shape == b.shape and a.stride() == b.stride()
                      and torch.equal(a, b) for a, b in zip(g1, g2))
            ref = oracle((q, k, v, gf, gb), do)
            base = plain_pytorch((q, k, v, gf, gb), do)
            rep = parity_report([ref[0]] + list(g2), ref, base, q.dtype)[1:]
            ok &= all(e <= bd for _, e, bd in rep)
    finally:
        cp.TC_MAX_SEG, cp.TC_BWD_SEG = saved_seg
    print(f"{'ok  ' if ok else 'FAIL'} plan seg={seg} launches={n} {case}", flush=True)
    return ok


def _grid(lengths):
    """ViG head dims (K 32, V 64) at each length, both 16-bit dtypes, every gate regime."""
    return [Case(1, L, 1, 32, 64, dt, rg, "fused", "float32", L) for L in lengths
            for dt in ("bfloat16", "float16") for rg in ("model", "strong", "zero", "neg_inf", "mixed")]


def check_scan():
    """bigla_tc_scan2 (batched loads) against bigla_tc_scan: bit-identical states, any nseg
    (across and beyond the batch of 16), both orders, -inf gate sums included."""
    bad = 0
    defines = (("DTYPE", 2), ("KT", 2), ("VEC", 1))
    for BH, nseg, Vp in ((1, 1, 64), (2, 5, 64), (1, 16, 64), (2, 17, 64), (1, 40, 64), (3, 33, 128)):
        for flip in (0, 1):
            g = torch.Generator().manual_seed(nseg * 10 + flip)
            st = torch.randn(BH, nseg, 2, Vp, 32, generator=g)
            gs = -torch.rand(BH, nseg, 2, 32, generator=g) * 30
            gs[..., 3] = -float("inf")
            gs[:, ::3, :, 5] = 0.0
            outs = []
            for func in ("bigla_tc_scan", "bigla_tc_scan2"):
                x = st.clone()
                total = BH * 2 * Vp * 32
                launch(func, (-(-total // 256), 1, 1), (256, 1, 1),
                       (np.uint64(x.data_ptr()), np.uint64(gs.data_ptr()), np.int32(BH),
                        np.int32(nseg), np.int32(Vp), np.int32(flip)), 0, defines)
                outs.append(x)
            same = torch.equal(outs[0], outs[1]) and not torch.equal(outs[0], st)
            bad += not same
            print(f"{'ok  ' if same else 'FAIL'} scan BH={BH} nseg={nseg} Vp={Vp} flip={flip}",
                  flush=True)
    print(f"{12 - bad} ok, {bad} fail")


def check_dgfix():
    """bigla_tc_dg_fix4 (VIG_CUPY_DGFIX=vec, session 6) and bigla_tc_dg_fix4s (vec2, session 7)
    against bigla_tc_dg_fix: bit-identical dg
    (random dg incl. -0.0 and mixed magnitudes, random segment totals), the launches taken from
    dgfix_launch as the backward takes them; partial blocks, L not a multiple of the segment, K < 32,
    H * K from 12 to 384 (1 to 32 rows a step); K % 4 != 0 must fall back to the scalar kernel."""
    bad = n = 0
    for B, L, H, K, seglen in ((1, 65, 1, 32, 64), (2, 200, 3, 32, 64), (2, 300, 6, 16, 128),
                               (1, 1000, 6, 32, 128), (1, 300, 12, 32, 64), (2, 100, 2, 20, 32),
                               (1, 100, 3, 12, 48), (1, 520, 3, 32, 256), (3, 64, 1, 8, 16),
                               (1, 200, 32, 32, 64), (1, 150, 20, 24, 64)):  # rs = 1, 2 H K / 4 > block
        nseg = -(-L // seglen)
        kt = cp.tc_kt(K)
        defines = (("DTYPE", 2), ("KT", kt), ("VEC", 1))
        g = torch.Generator().manual_seed(L * 7 + H)
        dg = torch.randn(2, B, L, H, K, generator=g) * torch.exp(3 * torch.randn(2, B, L, H, K, generator=g))
        dg[dg.abs() < 0.05] = -0.0
        yt = torch.randn(B * H, nseg, 2, 16 * kt, generator=g) * torch.exp(4 * torch.randn(B * H, nseg, 2, 16 * kt, generator=g))
        outs = []
        for kind in ("scalar", "vec", "vec2"):
            os.environ["VIG_CUPY_DGFIX"] = kind
            cp.reload_env()
            func, grid, block, consts = cp.dgfix_launch(B, L, H, K, seglen, nseg)
            x = dg.clone()
            launch(func, grid, block, (np.uint64(x[0].data_ptr()), np.uint64(x[1].data_ptr()),
                                       np.uint64(yt.data_ptr())) + consts,
                   cp.dgfix_smem(func, H, K), defines)
            outs.append((func, x))
        os.environ.pop("VIG_CUPY_DGFIX")
        cp.reload_env()
        (f0, x0), (f1, x1), (f2, x2) = outs
        same = (f0 == "bigla_tc_dg_fix" and f1 == "bigla_tc_dg_fix4" and f2 == "bigla_tc_dg_fix4s"
                and not torch.equal(x0, dg))
        for x in (x1, x2):  # vec, vec2 (session 7): bit for bit the scalar kernel's, signs of 0 too
            same = same and torch.equal(x0, x) and torch.equal(x0.signbit(), x.signbit())
        n += 1
        bad += not same
        print(f"{'ok  ' if same else 'FAIL'} dgfix B={B} L={L} H={H} K={K} seglen={seglen} "
              f"nseg={nseg} {f1}, {f2} grid={grid} block={block}", flush=True)
    for kind in ("vec", "vec2"):
        os.environ["VIG_CUPY_DGFIX"] = kind
        cp.reload_env()
        fb = cp.dgfix_launch(1, 100, 2, 18, 32, 4)[0]
        os.environ.pop("VIG_CUPY_DGFIX")
        cp.reload_env()
        n += 1
        bad += fb != "bigla_tc_dg_fix"
        print(f"{'ok  ' if fb == 'bigla_tc_dg_fix' else 'FAIL'} dgfix {kind} K=18 falls back: {fb}")
    print(f"{n - bad} ok, {bad} fail")
    return bad == 0


def check_fwd0():
    """VIG_CUPY_FWD0=m0 (session 6): the segmented forward (64-token segments) with the mode-0-only
    module against the oracle (check) and bit-identical to VIG_CUPY_FWD0=generic (outputs and the
    kept states), and that the m0 run really launched the FWM0 module."""
    cp.TC_MAX_SEG = cp.TC_BWD_SEG = 64
    bad = n = 0
    for L in (65, 130, 200):
        for dt in ("bfloat16", "float16"):
            for rg in ("model", "neg_inf", "mixed"):
                case = Case(1, L, 1, 32, 64, dt, rg, "fused", "float32", L)
                q, k, v, gf, gb, _ = make_inputs(case, "cpu")
                gf, gb = gf.float(), gb.float()
                outs = []
                REC.clear()
                for kind in ("generic", "m0"):
                    os.environ["VIG_CUPY_FWD0"] = kind
                    cp.reload_env()
                    o, st = cp.plan_forward(q, k, v, gf, gb, case.K ** -0.5, True)
                    outs.append((o, st))
                used = [dict(r[4]).get("FWM0", 0) for r in REC]
                os.environ["VIG_CUPY_FWD0"] = "m0"
                cp.reload_env()
                ok = check(case)
                os.environ.pop("VIG_CUPY_FWD0")
                cp.reload_env()
                (o0, s0), (o1, s1) = outs
                same = (torch.equal(o0, o1) and len(s0) == len(s1) == 2
                        and all(torch.equal(a, b) for a, b in zip(s0, s1)))
                ok = ok and same and used.count(1) == 1
                n += 1
                bad += not ok
                print(f"{'ok  ' if ok else 'FAIL'} fwd0 m0 same-as-generic:{'yes' if same else 'NO'} "
                      f"FWM0 launches {used.count(1)}  {case}", flush=True)
    print(f"{n - bad} ok, {bad} fail")
    return bad == 0


def check_fwd30():
    """VIG_CUPY_FWD=v30 / v30l (session 8): full and partial chunks, odd and even chunk counts (the
    middle chunk), one segment and 64-token segments (mode 0 + scan + mode 1), both dtypes, strided
    gate views, K = 16 / 32, V = 64 / 128 (two value blocks) / 20 (VEC=0: no FL32); run it with
    VIG_EMU_SAME_FWD=v26 for bit-identity."""
    C = Case
    cases = [C(1, 196, 1, 32, 64, "bfloat16", "model", "fused", "float32", 1),    # 13 chunks
             C(1, 256, 1, 32, 64, "float16", "mixed", "fused", "float32", 2),     # 16 chunks
             C(2, 37, 2, 32, 64, "bfloat16", "neg_inf", "fused", "float32", 3),   # partial last
             C(1, 18, 1, 32, 64, "bfloat16", "strong", "contiguous", "float32", 4),
             C(1, 40, 1, 16, 16, "float16", "model", "contiguous", "float32", 5),  # K = KPD = 16
             C(1, 50, 1, 32, 128, "bfloat16", "mixed", "fused", "float32", 6),    # 2 value blocks
             C(1, 70, 2, 32, 20, "bfloat16", "model", "fused", "float32", 7),     # VEC=0
             C(1, 1, 1, 32, 64, "bfloat16", "model", "fused", "float32", 8),      # L = 1
             C(1, 50, 2, 64, 128, "bfloat16", "strong", "contiguous", "float32", 9),  # K = 64
             C(1, 33, 1, 128, 80, "float16", "neg_inf", "contiguous", "float32", 10)]  # V 64 + 16
    blocks = cp.TC_BLOCKS
    cp.TC_BLOCKS = 2  # one segment per (b, h) up to 256 tokens (ViG@224's plan at this small B * H)
    try:
        bad = sum(not check(c) for c in cases)
    finally:
        cp.TC_BLOCKS = blocks
    cp.TC_MAX_SEG = 64
    seg = [C(1, L, 1, 32, 64, dt, rg, "fused", "float32", L)
           for L, dt, rg in ((65, "bfloat16", "model"), (130, "float16", "neg_inf"),
                             (200, "bfloat16", "strong"), (200, "float16", "mixed"))]
    bad += sum(not check(c) for c in seg)
    n = len(cases) + len(seg)
    print(f"{n - bad} ok, {bad} fail")
    return bad == 0


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "fwd30":
        sys.exit(0 if check_fwd30() else 1)
    if len(sys.argv) > 1 and sys.argv[1] == "fwd0":
        sys.exit(0 if check_fwd0() else 1)
    if len(sys.argv) > 1 and sys.argv[1] == "dgfix":
        sys.exit(0 if check_dgfix() else 1)
    if len(sys.argv) > 1 and sys.argv[1] == "scan":
        check_scan()
        sys.exit(0)
    if len(sys.argv) > 1 and sys.argv[1] == "plan":
        cases = [(Case(1, 20, 1, 32, 64, "bfloat16", "model", "fused", "float32", 1), None),
                 (Case(2, 33, 1, 32, 64, "float16", "mixed", "contiguous", "float32", 2), None),
                 (Case(1, 130, 1, 32, 64, "bfloat16", "strong", "fused", "float32", 3), 64),
                 (Case(1, 65, 2, 32, 64, "float16", "neg_inf", "fused", "float32", 4), 64),
                 (Case(2, 40, 1, 16, 16, "bfloat16", "mixed", "contiguous", "float32", 5), None),
                 (Case(1, 40, 2, 64, 128, "float16", "model", "contiguous", "float32", 6), None),
                 (Case(1, 70, 2, 32, 20, "bfloat16", "model", "fused", "float32", 7), None)]
        bad = sum(not check_plan(c, seg) for c, seg in cases)
        print(f"{len(cases) - bad} ok, {bad} fail")
        sys.exit(0)
    if len(sys.argv) > 1 and sys.argv[1].startswith("bwd"):
        cases = []
        if sys.argv[1] == "bwdquick":
            cases.append(Case(1, 20, 1, 32, 64, "bfloat16", "model", "fused", "float32", 1))
        elif sys.argv[1] == "bwdsave":  # 64-token segments, the forward's states reused
            cp.TC_MAX_SEG = cp.TC_BWD_SEG = 64
            for L in (65, 130, 200):
                for dt in ("bfloat16", "float16"):
                    for rg in ("model", "strong", "neg_inf", "mixed"):
                        cases.append(Case(1, L, 1, 32, 64, dt, rg, "fused", "float32", L))
            bad = sum(not check_bwd(c, save=True) for c in cases)
            print(f"{len(cases) - bad} ok, {bad} fail")
            sys.exit(0)
        elif sys.argv[1] == "bwdlong":  # one segment of 13 / 16 chunks (ViG@224's L; the 256 cap)
            cases += [Case(1, 196, 1, 32, 64, "bfloat16", "model", "fused", "float32", 11),
                      Case(1, 256, 1, 32, 64, "float16", "mixed", "fused", "float32", 12),
                      Case(1, 256, 1, 32, 64, "bfloat16", "strong", "fused", "float32", 13),
                      Case(1, 241, 1, 32, 64, "bfloat16", "neg_inf", "fused", "float32", 14),
                      Case(1, 256, 1, 16, 16, "bfloat16", "model", "contiguous", "float32", 15)]
        elif sys.argv[1] == "bwdseg":  # the segmented backward, with 64-token segments
            cp.TC_MAX_SEG = cp.TC_BWD_SEG = 64
            for L in (65, 130, 200):
                for dt in ("bfloat16", "float16"):
                    for rg in ("model", "strong", "zero", "neg_inf", "mixed"):
                        cases.append(Case(1, L, 1, 32, 64, dt, rg, "fused", "float32", L))
            cases.append(Case(2, 100, 1, 16, 16, "bfloat16", "mixed", "contiguous", "float32", 3))
        else:
            cases += _grid((1, 7, 17, 33, 65))
            cases.append(Case(2, 40, 1, 16, 16, "bfloat16", "mixed", "contiguous", "float32", 3))
            cases.append(Case(1, 50, 2, 32, 64, "float16", "model", "contiguous", "float32", 4))
        bad = sum(not check_bwd(c) for c in cases)
        print(f"{len(cases) - bad} ok, {bad} fail")
        sys.exit(0)
    quick = len(sys.argv) > 1 and sys.argv[1] == "quick"
    cases = []
    if quick:
        cases.append(Case(1, 20, 1, 32, 64, "bfloat16", "model", "fused", "float32", 1))
    else:
        cases += _grid((1, 7, 17, 65, 130))
        cases.append(Case(1, 40, 2, 16, 16, "bfloat16", "mixed", "contiguous", "float32", 3))
        cases.append(Case(1, 40, 1, 64, 128, "float16", "model", "contiguous", "float32", 4))
        cases.append(Case(1, 33, 1, 128, 80, "bfloat16", "neg_inf", "contiguous", "float32", 5))
        cases.append(Case(2, 50, 1, 20, 24, "float16", "mixed", "contiguous", "float32", 6))   # VEC=0
        cases.append(Case(1, 70, 2, 32, 20, "bfloat16", "model", "fused", "float32", 7))      # VEC=0
        cases.append(Case(1, 300, 1, 32, 64, "bfloat16", "zero", "fused", "float32", 8))
    bad = sum(not check(c) for c in cases)
    print(f"{len(cases) - bad} ok, {bad} fail")


if __name__ == "__main__":
    with dev_mock.host_plans(cp, emu) as REC:
        main()
