"""Development only: timings of the CuPy backend's kernel variants at the contract's shapes, on one
card in one process (no fla), with output / gradient diffs between the variants and the peak extra
memory of forward + backward.

    python kernels/cupy/dev_bench.py [fwd kinds, comma-separated] [bwd kinds]

fwd kinds: "chunked" (v2.3 tiles, serial scan), "chunkedb" (v2.3 tiles, batched scan), "v26"
(v2.6 tiles + batched scan), "recurrent"; bwd kinds (each sets every switch, the forward included):
"chunked" (v2.3 backward), "recurrent", "chunked-short" (chunked for L <= 256 only,
VIG_CUPY_BWD_LONG=0), "v24" / "v25" (the v2.4 / v2.5 backward, v2.3 forward, serial scan), "v25s"
(v2.5 with VIG_CUPY_SAVE_STATES=1), "v25b" (v2.5 with the batched scan), "v26" / "v26p" (the v2.6
backwards with the v2.6 forward and the batched scan), "v26s" / "v26ps" (those with saved states).
(Session 5's "v27s" / "v28s" kinds went with the v2.7 / v2.8 backwards: commits 5167f70, cf18f0b.)
"v29" / "v29s" (session 6): the v29 backward (v26p with direction-local chunk-step barriers);
"v29q" / "v29qs": v29 with pass 2's yq loads at the top of the chunk step. "v29r" / "v29rs"
(session 7): v29q with 32-bit element offsets in the chunk loads and full-chunk epilogues without
per-element bounds (-DBW4=9).
DEV_BENCH_BWD=1 (session 6): each backward kind also times CuPyBackend.backward alone (one forward's
saved tensors, the same do; eager and CUDA-graphed: the backward's kernels, workspace and cast).
A kind "NAME@N" runs NAME with segments of at most N tokens (TC_MAX_SEG = TC_BWD_SEG = N, set in
this process for that kind only; 224-px shapes then take the segmented path too when N < 196).
Modifier (session 5), appended to a kind: "+Q" VIG_CUPY_SEG128=1 (the 128-token planner rule, the
default since session 5: "NAME+Q" is what ships, "NAME" the old plan). (Session 5's "+L", the plan
launcher, went with the legacy launcher in session 6, round 3: every kind runs the plan launcher.)
Each line also gives the host time to enqueue one call ("host", us: mean of 50 calls without
synchronization, as tools/profile_op.py).
Session 6, round 2: modifier "+D" VIG_CUPY_DGFIX=vec (the 16-byte dg fix-up, bigla_tc_dg_fix4;
without it "scalar", the shipped bigla_tc_dg_fix); it changes only segmented backwards, so a "+D"
kind is skipped at shapes without segments (L <= TC_BWD_SEG) and must match its kind without "+D"
bit for bit (its max diff against that kind is checked; exit status 1 on a mismatch).
Session 7: modifier "+E" VIG_CUPY_DGFIX=vec2 (bigla_tc_dg_fix4s: dg_fix4 with its segment-total sums
once per block); checked bit for bit against the same kind with "+D" when that ran (else as "+D").
DEV_BENCH_DGFIX=1: at segmented shapes, also the dg fix-up kernel
alone, scalar vs vec (CUDA-graphed median of one launch on random dg / segment totals, the backward's
launch parameters under the shipped segment plan), with a bit-identity check. Modifier "+M"
VIG_CUPY_FWD0=m0 (the segmented forward's state pass from its own module, -DFWM0=1 -DMINB=3; without
it "generic"): fwd and f+b kinds, skipped without segments; compared with the kind without "+M"
(printed BITEXACT / DIFF, not an error: ptxas may contract differently; parity decides).
Session 8: modifiers "+F" VIG_CUPY_FWD=v30 (the forward's chunk loads on loop-carried pointers with
32-bit products + direction-local chunk-step barriers) and "+G" VIG_CUPY_FWD=v30l (the loads alone),
for fwd and f+b kinds (after the kind's own switches); compared with the same kind without the
modifier (printed BITEXACT / DIFF, not an error; the emulator has them bit-identical, the GPU
script's verdict line checks it).
Session 9: kinds "v31" / "v31s" and "v31q" / "v31qs" (the v31 backwards: v29r / v29q whose pass-2
dg rows are stored off the (A) - (B) stretch, -DBW4=10 / 11), each checked bit for bit
against its base kind (v29r / v29rs / v29q / v29qs with the same modifiers) when that ran before it
(a mismatch is an error); modifier "+N": every switch the kind does not set at its shipped default (FWD,
FWD0, DGFIX, SEG128=1; not skipped at unsegmented shapes, so one kind list covers 224 and 1024 px).
(Session 9's kinds v32 / v33 / v34 and their q / s twins were removed with those backwards; in
git history at fdf897e.)
Session 10 round 2: kinds "v36" / "v36s" / "v36q" / "v36qs" (v31 / v31q whose kernel rounds every
dq, dk, dv row it wrote once into the inputs' dtype at its end, -DO16=1), each checked bit for bit
against v31 / v31s / v31q / v31qs with the same modifiers (v31's gradients are its fp32 values cast
once by the launcher: the same numbers the new kernel must round to). (Round 1's v35 kinds were
removed with the v35 backwards, last in 0dc6b40.)
Session 10 round 3: modifier "+R" VIG_CUPY_FWD=v37 (v30 with channel-major Qi / Qf / Kf / Ki tiles:
packed conversions and stores, ldmatrix fragments), for fwd and f+b kinds, applied after the kind's
own switches and after "+N" ("v26+N+R" = the v37 forward, every other switch shipped); compared
with the same kind without "+R" (BITEXACT / DIFF, not an error; the emulator has them bit-identical).
Session 13 round 2: modifier "+T" VIG_CUPY_FWD=v39 (v37 whose output pass runs 3 blocks per SM: -DFC3=1
-DMINB=3), after "+N" ("v26+N+T"); compared with the same kind without "+T" (BITEXACT / DIFF: v39 computes
v37's values in v37's order). (Round 1's "+S", v38, went with that forward: 2369e7f.)
(Session 14's "+U", VIG_CUPY_BWD_MINB=3, the backward at 3 blocks per SM, went with that switch: 6b39a5c.)
Optional third argument: the shapes to run, comma-separated, in that order (default: all)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

import torch  # noqa: E402

import vig  # noqa: E402
from vig import bench  # noqa: E402
import vig_kernels.cupy as cp  # noqa: E402

_OLDF = dict(VIG_CUPY_FWD="chunked", VIG_CUPY_SCAN="serial")
_NEWF = dict(VIG_CUPY_FWD="v26", VIG_CUPY_SCAN="batched")
FWD_ENV = {"chunked": _OLDF,
           "chunkedb": dict(VIG_CUPY_FWD="chunked", VIG_CUPY_SCAN="batched"),
           "v26": _NEWF,
           "recurrent": dict(VIG_CUPY_FWD="recurrent")}
_NS = dict(VIG_CUPY_SAVE_STATES="0")
_SS = dict(VIG_CUPY_SAVE_STATES="1")
BWD_ENV = {"chunked": dict(VIG_CUPY_BWD="chunked", VIG_CUPY_BWD_LONG="1", **_NS, **_OLDF),
           "recurrent": dict(VIG_CUPY_BWD="recurrent", VIG_CUPY_BWD_LONG="1", **_NS, **_OLDF),
           "chunked-short": dict(VIG_CUPY_BWD="chunked", VIG_CUPY_BWD_LONG="0", **_NS, **_OLDF),
           "v24": dict(VIG_CUPY_BWD="v24", VIG_CUPY_BWD_LONG="1", **_NS, **_OLDF),
           "v25": dict(VIG_CUPY_BWD="v25", VIG_CUPY_BWD_LONG="1", **_NS, **_OLDF),
           # v25 with the forward's segment states kept for the backward (1024 px: 2 launches less)
           "v25s": dict(VIG_CUPY_BWD="v25", VIG_CUPY_BWD_LONG="1", **_SS, **_OLDF),
           "v25b": dict(VIG_CUPY_BWD="v25", VIG_CUPY_BWD_LONG="1", **_NS,
                        VIG_CUPY_FWD="chunked", VIG_CUPY_SCAN="batched"),
           "v26": dict(VIG_CUPY_BWD="v26", VIG_CUPY_BWD_LONG="1", **_NS, **_NEWF),
           "v26p": dict(VIG_CUPY_BWD="v26p", VIG_CUPY_BWD_LONG="1", **_NS, **_NEWF),
           "v26s": dict(VIG_CUPY_BWD="v26", VIG_CUPY_BWD_LONG="1", **_SS, **_NEWF),
           "v26ps": dict(VIG_CUPY_BWD="v26p", VIG_CUPY_BWD_LONG="1", **_SS, **_NEWF),
           # session 6: v29 = v26p with direction-local chunk-step barriers (-DBW4=7)
           "v29": dict(VIG_CUPY_BWD="v29", VIG_CUPY_BWD_LONG="1", **_NS, **_NEWF),
           "v29s": dict(VIG_CUPY_BWD="v29", VIG_CUPY_BWD_LONG="1", **_SS, **_NEWF),
           "v29q": dict(VIG_CUPY_BWD="v29q", VIG_CUPY_BWD_LONG="1", **_NS, **_NEWF),
           "v29qs": dict(VIG_CUPY_BWD="v29q", VIG_CUPY_BWD_LONG="1", **_SS, **_NEWF),
           # session 7: v29r = v29q with 32-bit load offsets, full-chunk epilogues (-DBW4=9)
           "v29r": dict(VIG_CUPY_BWD="v29r", VIG_CUPY_BWD_LONG="1", **_NS, **_NEWF),
           "v29rs": dict(VIG_CUPY_BWD="v29r", VIG_CUPY_BWD_LONG="1", **_SS, **_NEWF),
           # session 9: v31 / v31q = v29r / v29q whose pass-2 dg rows leave the (A) - (B) stretch
           # (-DBW4=10 / 11); checked bit for bit against the base kind with the same modifiers
           "v31": dict(VIG_CUPY_BWD="v31", VIG_CUPY_BWD_LONG="1", **_NS, **_NEWF),
           "v31s": dict(VIG_CUPY_BWD="v31", VIG_CUPY_BWD_LONG="1", **_SS, **_NEWF),
           "v31q": dict(VIG_CUPY_BWD="v31q", VIG_CUPY_BWD_LONG="1", **_NS, **_NEWF),
           "v31qs": dict(VIG_CUPY_BWD="v31q", VIG_CUPY_BWD_LONG="1", **_SS, **_NEWF),
           # session 10 round 2: v36 / v36q = v31 / v31q rounding dq, dk, dv once into the inputs'
           # dtype at the kernel's end (-DO16=1): bit for bit v31's / v31q's gradients
           "v36": dict(VIG_CUPY_BWD="v36", VIG_CUPY_BWD_LONG="1", **_NS, **_NEWF),
           "v36s": dict(VIG_CUPY_BWD="v36", VIG_CUPY_BWD_LONG="1", **_SS, **_NEWF),
           "v36q": dict(VIG_CUPY_BWD="v36q", VIG_CUPY_BWD_LONG="1", **_NS, **_NEWF),
           "v36qs": dict(VIG_CUPY_BWD="v36q", VIG_CUPY_BWD_LONG="1", **_SS, **_NEWF)}
# the kind each session-9 / 10 kind must reproduce bit for bit (same modifiers)
_BASE = {"v31": "v29r", "v31s": "v29rs", "v31q": "v29q", "v31qs": "v29qs",
         "v36": "v31", "v36s": "v31s", "v36q": "v31q", "v36qs": "v31qs"}


_SEG0 = (cp.TC_MAX_SEG, cp.TC_BWD_SEG)


def setenv(d):
    """Switch kernels: the backend reads its VIG_CUPY_* switches once, reload_env() re-reads them."""
    os.environ.update(d)
    cp.reload_env()


_MODS = {"Q": dict(VIG_CUPY_SEG128="1"), "D": dict(VIG_CUPY_DGFIX="vec"),
         "M": dict(VIG_CUPY_FWD0="m0"), "E": dict(VIG_CUPY_DGFIX="vec2"),
         "F": dict(VIG_CUPY_FWD="v30"), "G": dict(VIG_CUPY_FWD="v30l"),
         "R": dict(VIG_CUPY_FWD="v37"),  # session 10 round 3
         "T": dict(VIG_CUPY_FWD="v39"),  # session 13 round 2
         # session 9: "+N" = the shipped defaults of every switch a bwd kind does not set itself
         # (forward, state-pass module, dg fix-up, 128-token rule; read from the backend, so a flip
         # follows); unlike +D / +E / +M it is not skipped at unsegmented shapes
         "N": dict(VIG_CUPY_FWD=cp.FWD_DEFAULT, VIG_CUPY_FWD0=cp.FWD0_DEFAULT,
                   VIG_CUPY_DGFIX=cp.DGFIX_DEFAULT, VIG_CUPY_SEG128="1")}


def use(table, kind):
    """Set the switches of ``kind`` ("NAME[+Q][+D][+M]" or "NAME@N": segments of at most N
    tokens)."""
    name, _, seg = kind.partition("@")
    name, *mods = name.split("+")
    env = dict(VIG_CUPY_SEG128="0", VIG_CUPY_DGFIX="scalar",
               VIG_CUPY_FWD0="generic", **table[name])
    for m in mods:
        env.update(_MODS[m])
    setenv(env)
    cp.TC_MAX_SEG, cp.TC_BWD_SEG = (int(seg), int(seg)) if seg else _SEG0


def op(*a):
    return vig.bidirectional_gla(*a, backend="cupy", check_gates=False)


def _diff(a, b):
    return (a.float() - b.float()).abs().max().item(), a.float().abs().max().item()


BAD = []


def _unsegmented(shape):
    """True when neither the forward nor the backward runs segments at this shape (the current
    switches' plan)."""
    return (shape.L <= cp.TC_BWD_SEG
            and cp.tc_plan(shape.B, shape.H, shape.L, shape.V)[2] == 1)


def _twin(kind, done):
    """The generic-state-pass twin of a "+M" kind (else the scalar-fix-up twin of a "+D" kind), when
    it ran already."""
    name, plus, mods = kind.partition("+")
    if name in _BASE and _BASE[name] + plus + mods in done:  # v31 / v31q against v29r / v29q
        return _BASE[name] + plus + mods
    for m in ("+F", "+G", "+R", "+T"):  # v30 / v30l against v26 (session 8), v37 against v30 (session
        # 10), v39 against the kind without it (session 13: v37 while "+N" ships v37)
        if m in kind and kind.replace(m, "") in done:
            return kind.replace(m, "")
    if "+E" in kind and kind.replace("+E", "+D") in done:  # vec2 against vec (session 7)
        return kind.replace("+E", "+D")
    for m in ("+M", "+D"):
        if m in kind and kind.replace(m, "") in done:
            return kind.replace(m, "")
    return None


def dgfix_bench(name, shape):
    """The dg fix-up alone at a segmented shape: scalar (bigla_tc_dg_fix) vs vec (bigla_tc_dg_fix4)."""
    B, H, L, K, V = shape.B, shape.H, shape.L, shape.K, shape.V
    setenv(dict(VIG_CUPY_SEG128="1", VIG_CUPY_DGFIX="scalar"))
    _, seglen, nseg = cp.tc_plan(B, H, L, V, cp.TC_BWD_SEG)
    if nseg == 1:
        return
    import numpy as np
    g = torch.Generator(device="cuda").manual_seed(1)
    dg = torch.randn(2, B, L, H, K, device="cuda", generator=g)
    yt = torch.randn(B * H, nseg, 2, 16 * cp.tc_kt(K), device="cuda", generator=g)
    dev = dg.get_device()
    defines = cp._tc_defines(torch.bfloat16, cp.tc_kt(K), 1) + (("BW4", 4),)
    res = {}
    for kind in cp.DGFIX_KINDS:  # scalar, vec, vec2 (session 7)
        setenv(dict(VIG_CUPY_DGFIX=kind))
        func, grid, block, consts = cp.dgfix_launch(B, L, H, K, seglen, nseg)
        smem = cp.dgfix_smem(func, H, K)
        x = dg.clone()
        args = (np.uint64(x[0].data_ptr()), np.uint64(x[1].data_ptr()), np.uint64(yt.data_ptr())) + consts
        kern = cp._MODULES.kernel_defs("bigla_tc.cu", func, dev, defines, smem)
        f = lambda: cp._launch(kern, dev, grid, block, args, smem)  # noqa: E731
        f()
        torch.cuda.synchronize()
        out = x.clone()
        ms = bench.median_ms(f)
        try:
            gms = bench.median_ms(bench.graphed(f))
        except Exception as exc:
            print(f"graphed dg fix-up {kind} failed: {type(exc).__name__}: {exc}", flush=True)
            gms = float("nan")
        res[kind] = out
        print(f"{name:>11} dgfix {kind:>6} {func} grid {grid} block {block[0]}: {1000 * ms:.1f} us "
              f"(graphed {1000 * gms:.1f} us)", flush=True)
    for kind in cp.DGFIX_KINDS[1:]:
        same = torch.equal(res["scalar"], res[kind]) and not torch.equal(res["scalar"], dg)
        print(f"{name:>11} dgfix {kind} vs scalar: {'BITEXACT' if same else 'MISMATCH'}", flush=True)
        if not same:
            BAD.append((name, "dgfix " + kind))


def main():
    fwd_kinds = (sys.argv[1] if len(sys.argv) > 1 else "chunked,recurrent").split(",")
    bwd_kinds = (sys.argv[2] if len(sys.argv) > 2 else "chunked,chunked-short").split(",")
    names = sys.argv[3].split(",") if len(sys.argv) > 3 else list(bench.SHAPES)
    print("device:", bench.device_name(), flush=True)
    for name in names:
        shape = bench.OpShape(*bench.SHAPES[name])
        inputs, _ = bench.make_inputs(shape, "cuda")
        fl, flb = bench.floor_ms(shape), bench.floor_ms(shape, True)
        outs = {}
        for kind in fwd_kinds:
            use(FWD_ENV, kind)
            if "+M" in kind and _unsegmented(shape):
                print(f"{name:>11} fwd {kind:>10}: skipped (no segments)", flush=True)
                continue
            f = lambda: op(*inputs)  # noqa: E731
            e = bench.median_ms(f)
            with torch.no_grad():
                g = bench.median_ms(bench.graphed(f))
            with torch.no_grad():
                h = bench.host_us(f)
            outs[kind] = f()
            d, m = _diff(outs[kind], outs[fwd_kinds[0]])
            tw = _twin(kind, outs)
            same = ""
            if tw is not None:
                dt = _diff(outs[kind], outs[tw])[0]
                same = f"  vs {tw}: {'BITEXACT' if dt == 0 else 'MISMATCH'} {dt:.1e}"
                if dt != 0 and ("+M" in kind or "+F" in kind or "+G" in kind or "+R" in kind):
                    same = same.replace("MISMATCH", "DIFF")
                elif dt != 0:
                    BAD.append((name, kind))
            print(f"{name:>11} fwd {kind:>10}: {e:.4f} ms (graphed {g:.4f}; host {h:.0f} us; "
                  f"{e / fl:.1f}x floor {fl:.4f})  max|o - o[{fwd_kinds[0]}]| {d:.2e} "
                  f"(|o| {m:.2f}){same}", flush=True)
        leaves = [t.detach().requires_grad_() for t in inputs]
        do = torch.randn_like(leaves[2])
        grads = {}
        for kind in bwd_kinds:
            use(BWD_ENV, kind)
            if ("+D" in kind or "+M" in kind or "+E" in kind) and _unsegmented(shape):
                print(f"{'':>11} f+b {kind:>13}: skipped (no segments: the same kernels as without "
                      f"+D / +M)", flush=True)
                continue
            fb = lambda: torch.autograd.grad(op(*leaves), leaves, do)  # noqa: E731
            ms = bench.median_ms(fb)
            try:
                gms = bench.median_ms(bench.graphed(fb))
            except Exception as exc:  # report, keep the eager figures
                print(f"graphed f+b of {kind} failed: {type(exc).__name__}: {exc}", flush=True)
                gms = float("nan")
            h = bench.host_us(fb)
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            grads[kind] = fb()
            torch.cuda.synchronize()
            peak = (torch.cuda.max_memory_allocated() - base) / 2**20
            diffs = " ".join(f"{n} {d:.1e}/{m:.1e}" for n, (d, m) in zip(
                ("dq", "dk", "dv", "dgf", "dgb"),
                (_diff(a, b) for a, b in zip(grads[kind], grads[bwd_kinds[0]]))))
            tw = _twin(kind, grads)
            same = ""
            if tw is not None:
                dt = max(_diff(a, b)[0] for a, b in zip(grads[kind], grads[tw]))
                same = f"; vs {tw}: {'BITEXACT' if dt == 0 else 'MISMATCH'} {dt:.1e}"
                if dt != 0 and ("+M" in kind or "+F" in kind or "+G" in kind or "+R" in kind):
                    same = same.replace("MISMATCH", "DIFF")
                elif dt != 0:
                    BAD.append((name, kind))
            print(f"{'':>11} f+b {kind:>13}: {ms:.4f} ms (graphed {gms:.4f}; host {h:.0f} us; "
                  f"{gms / flb:.1f}x floor {flb:.4f}), "
                  f"peak extra {peak:.0f} MiB; max diff/max vs {bwd_kinds[0]}: {diffs}{same}",
                  flush=True)
            if os.environ.get("DEV_BENCH_BWD") == "1":
                try:
                    be = cp.CuPyBackend()
                    scale = shape.K ** -0.5
                    with torch.no_grad():
                        _, saved = be.forward(*inputs, scale)
                        bo = lambda: be.backward(*inputs, scale, do, saved)  # noqa: E731
                        be_ms = bench.median_ms(bo)
                        bg_ms = bench.median_ms(bench.graphed(bo))
                    print(f"{'':>11} bwd {kind:>13}: {be_ms:.4f} ms (graphed {bg_ms:.4f})", flush=True)
                except Exception as exc:  # report, keep the rest
                    print(f"bwd-only timing of {kind} failed: {type(exc).__name__}: {exc}", flush=True)
        if os.environ.get("DEV_BENCH_DGFIX") == "1":
            try:
                dgfix_bench(name, shape)
            except Exception as exc:  # report, keep the rest
                print(f"dg fix-up timing failed: {type(exc).__name__}: {exc}", flush=True)
    use(BWD_ENV, "chunked")
    verdict = "MISMATCH " + str(BAD) if BAD else "every checked kind (and dg fix-up) BITEXACT"
    print(f"bit-identity: {verdict}",
          flush=True)
    if BAD:
        sys.exit(1)


if __name__ == "__main__":
    main()
