"""Dev script (Triton backend): parity of the kernels on a few shapes/regimes with the shared
harness (tests/parity.py, tests/strategies.py), then (GPU only) timing of kernel variants at the
contract's five shapes with vig/bench.py (median_ms, floor_ms, peak_extra_bytes), in ONE call:

    python kernels/triton/dev_bench.py --parity-variants new --lengths 65,196 \
        --variants old,new,new_wf8_wb8 --choose knobs.sh

Variant names set the backend's environment knobs (see variant_env); "new" alone is the default
configuration, "old" a copy of an earlier backend under dev_old/ (make it with
`mkdir kernels/triton/dev_old; for f in __init__ kernels; do git show COMMIT:kernels/triton/$f.py
> kernels/triton/dev_old/$f.py; done`; ddf2e73 = v2.1). The "patchy"
regime puts fast and slow (strong, -inf) chunks in one sequence. On the CPU it runs under
TRITON_INTERPRET=1 with small cases (parity only).
"""
import argparse
import os
import sys
import time

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
sys.path.insert(0, ROOT)
if not os.path.exists("/dev/nvidia0"):
    os.environ.setdefault("TRITON_INTERPRET", "1")

import torch  # noqa: E402

from tests.parity import oracle, parity_report, plain_pytorch, run_with_grads  # noqa: E402
from tests.strategies import Case, make_inputs  # noqa: E402
import vig  # noqa: E402
from vig import bench  # noqa: E402

DEV = "cuda" if torch.cuda.is_available() else "cpu"
REP_MS = 200  # do_bench's rep (ms) per timing; --rep-ms
WARM_N = 4096
REPEAT = 1  # calls per parity case (--repeat)  # the clock warm-up's matrix size


KNOBS = {"wf": "VIG_TRITON_WARPS_FWD", "wb": "VIG_TRITON_WARPS_BWD",
         "f": "VIG_TRITON_NREG_FWD", "b": "VIG_TRITON_NREG_BWD",
         "ns": "VIG_TRITON_SEGMENT", "sm": "VIG_TRITON_SEG_MIN_L", "fp": "VIG_TRITON_FPIPE",
         "bsm": "VIG_TRITON_SEG_MIN_L_BWD", "stb": "VIG_TRITON_STAGES_BWD",
         "stf": "VIG_TRITON_STAGES_FWD", "cb": "VIG_TRITON_CHUNK_BWD",
         "wsp": "VIG_TRITON_WARPS_SPLIT", "nsp": "VIG_TRITON_NREG_SPLIT", "sms": "VIG_TRITON_SPLIT_SMS"}


def variant_env(name):
    """"new" (the tree's defaults), then "_wfN" / "_wbN" (warps of the forward / backward
    kernel), "_fN" / "_bN" (their register caps, 0 = none), "_dbf" / "_dbb" ("_dtf" / "_dtb"):
    bf16 (tf32) dot operands in the forward / backward kernel for bf16 inputs (VIG_TRITON_DOT_*),
    "_v26" /
    "_s22": the backward's segment machinery v2.6 / v2.2 (VIG_TRITON_BSEG), "_nsN": N segments
    (VIG_TRITON_SEGMENT), "_smN": segments above L = N (VIG_TRITON_SEG_MIN_L), "_fpN": the
    forward's segment assembly pipelined N deep (VIG_TRITON_FPIPE), "_bsmN": segments in the
    backward only above L = N (VIG_TRITON_SEG_MIN_L_BWD), "_fsc": the forward's
    entering segment states by a scan launch (VIG_TRITON_FSCAN=1), "_dl" / "_jit": the cached
    direct launch (VIG_TRITON_LAUNCH=direct, the default since v2.7) / the normal JITFunction.run
    launch, "_gb" / "_gb0": one allocation per gradient pair (VIG_TRITON_GRADBUF=1, the default
    since v2.7) / six. The previous (session 4) defaults: "new_jit_gb0_dtf".
    v2.8 (session 6): "_stbN" / "_stfN": num_stages N of the backward / forward kernel
    (VIG_TRITON_STAGES_BWD / _FWD); the derived-exp kernels are the only ones since session 9
    ("_dx*" removed with v2.2's kernels).
    v2.9 (session 6 round 2): "_fo" / "_fof" / "_fob": the fast-only / exact split of the
    derived-exp kernels, both / forward only / backward only (VIG_TRITON_FO_FWD, _BWD = 1;
    "_fo0": both 0).
    Session 7: "_cs" / "_cs0": compact scratch in the derived-exp backward on / off
    (VIG_TRITON_CS_BWD = 1 / 0); "_cbN": the derived-exp backward on N-token chunks
    (VIG_TRITON_CHUNK_BWD, 16 or 32), e.g. "new_fo_cb32_wb8".
    Session 8: "_sp" / "_sp0": the backward split by direction on / off (VIG_TRITON_SPLIT_BWD),
    "_wspN" / "_nspN": its warps / register cap (VIG_TRITON_WARPS_SPLIT / VIG_TRITON_NREG_SPLIT).
    Session 9: "_spa": VIG_TRITON_SPLIT_BWD=auto (the split + FO + cap 168 where the rule says it
    wins, else DX + CS), "_smsN": the SM count the rule assumes (VIG_TRITON_SPLIT_SMS); its "_dv" /
    "_dv0" (VIG_TRITON_DV_SPLIT, the split's dv sweep apart) were removed with the variant (slower).
    Session 10: "_ks" / "_ks0": the forward's segment states kept for the backward on / off
    (VIG_TRITON_KEEP_STATES = 1 / 0); its "_scN" (VIG_TRITON_STATE_CHUNK) was removed with the variant (slower).
    Session 11: "_ftz" / "_ftz0": every kernel's exp as ex2.approx.ftz.f32 on / off (VIG_TRITON_FTZ = 1 / 0;
    forward and backward), e.g. --variants new,new_ftz,new.
    An unknown part raises (a removed variant must not run as the defaults).
    "old" is HEAD's backend as copied to
    dev_old/ (v2.1), if present."""
    env = {}
    for part in name.split("_")[1:]:
        if part == "dl":  # v2.7: the cached direct launch (VIG_TRITON_LAUNCH=direct)
            env["VIG_TRITON_LAUNCH"] = "direct"
            continue
        if part == "jit":  # the normal launch through JITFunction.run (the default before v2.7)
            env["VIG_TRITON_LAUNCH"] = "jit"
            continue
        if part in ("gb", "gb0"):  # v2.7: the backward's gradient pairs one allocation each (or not)
            env["VIG_TRITON_GRADBUF"] = "0" if part == "gb0" else "1"
            continue
        if part in ("fo", "fof", "fob", "fo0"):  # v2.9: fast-only / exact split (forward / backward)
            if part in ("fo", "fof", "fo0"):
                env["VIG_TRITON_FO_FWD"] = "0" if part == "fo0" else "1"
            if part in ("fo", "fob", "fo0"):
                env["VIG_TRITON_FO_BWD"] = "0" if part == "fo0" else "1"
            continue
        if part in ("sp", "sp0", "spa"):  # session 8: the backward split by direction (two launches);
            # session 9: "spa" = auto (the rule)
            env["VIG_TRITON_SPLIT_BWD"] = {"sp": "1", "sp0": "0", "spa": "auto"}[part]
            continue
        if part in ("ks", "ks0"):  # session 10: the forward's segment states kept for the backward
            env["VIG_TRITON_KEEP_STATES"] = "0" if part == "ks0" else "1"
            continue
        if part in ("ftz", "ftz0"):  # session 11: the ftz exp in every kernel (forward and backward)
            env["VIG_TRITON_FTZ"] = "0" if part == "ftz0" else "1"
            continue
        if part in ("cs", "cs0"):  # session 7: compact scratch in the derived-exp backward
            env["VIG_TRITON_CS_BWD"] = "0" if part == "cs0" else "1"
            continue
        if part == "fsc":  # the forward's entering segment states by a scan launch
            env["VIG_TRITON_FSCAN"] = "1"
            continue
        if part in ("v26", "s22"):  # segment machinery of the backward (VIG_TRITON_BSEG)
            env["VIG_TRITON_BSEG"] = "v22" if part == "s22" else part
            continue
        if part in ("dbf", "dbb", "dtf", "dtb"):  # dot operands of bf16 inputs: bf16 / tf32,
            env["VIG_TRITON_DOT_" + ("FWD" if part[2] == "f" else "BWD")] = \
                "bf16" if part[1] == "b" else "tf32"  # forward (f) or backward (b) kernel
            continue
        for key in sorted(KNOBS, key=len, reverse=True):
            if part.startswith(key) and part[len(key):].isdigit():
                env[KNOBS[key]] = part[len(key):]
                break
        else:
            raise ValueError(f"variant {name!r}: unknown part {part!r}")
    return env


def set_env(env):
    for k in (*KNOBS.values(), "VIG_TRITON_DOT_FWD", "VIG_TRITON_DOT_BWD", "VIG_TRITON_BSEG",
              "VIG_TRITON_FSCAN", "VIG_TRITON_LAUNCH", "VIG_TRITON_GRADBUF", "VIG_TRITON_DX_FWD",
              "VIG_TRITON_DX_BWD", "VIG_TRITON_FO_FWD", "VIG_TRITON_FO_BWD", "VIG_TRITON_CS_BWD",
              "VIG_TRITON_SPLIT_BWD", "VIG_TRITON_KEEP_STATES", "VIG_TRITON_FTZ"):
        os.environ.pop(k, None)
    os.environ.update(env)
    from vig_kernels import triton as tb  # the backend reads its knobs once: re-read them

    tb.reload_knobs()


def op_for(var):
    if var == "old":
        from vig_kernels.triton.dev_old import TritonBackend as Old
        be = Old()
        return lambda q, k, v, gf, gb: be.apply(q, k, v, gf, gb, q.shape[-1] ** -0.5)
    return lambda *a: vig.bidirectional_gla(*a, backend="triton", check_gates=False)


def patchy(inputs, L):
    """Model gates with a few -inf and strong entries: fast and slow chunks in one sequence."""
    q, k, v, gf, gb, do = inputs
    gf = gf.clone()
    gb = gb.clone()
    if L > 70:
        gf[:, 70, :, 3] = float("-inf")
        gb[:, L // 2, 0, :] = -40.0
    return q, k, v, gf, gb, do


def parity(lengths, regimes, dtypes, H=3, B=2, K=32, V=64, label=""):
    n_ok = n = 0
    worst = 0.0
    for L in lengths:
        for dtype in dtypes:
            for regime in regimes:
                base_regime = "model" if regime == "patchy" else regime
                case = Case(B=B, L=L, H=H, K=K, V=V, dtype=dtype, regime=base_regime,
                            layout="fused", gate_dtype="float32", seed=L + 7)
                ins = make_inputs(case, DEV)
                if regime == "patchy":
                    ins = patchy(ins, L)
                q, k, v, gf, gb, do = ins
                t0 = time.time()
                for _ in range(REPEAT):  # --repeat 2: the second call's results (the direct
                    # launch's cache hits, VIG_TRITON_LAUNCH=direct) are the ones checked
                    got = run_with_grads(lambda *a: vig.bidirectional_gla(*a, backend="triton"),
                                         (q, k, v, gf, gb), do)
                dt = time.time() - t0
                ref = oracle((q, k, v, gf, gb), do, naive=L <= 300)
                base = plain_pytorch((q, k, v, gf, gb), do)
                rep = parity_report(got, ref, base, q.dtype)
                w = max(e / b for _, e, b in rep)
                ok = all(e <= b for _, e, b in rep)
                n += 1
                n_ok += ok
                worst = max(worst, w)
                bad = "" if ok else "  " + "; ".join(f"{nm} {e:.2e}>{b:.2e}" for nm, e, b in rep if not e <= b)
                print(f"{'ok  ' if ok else 'FAIL'} {w:7.3f} L={L} {dtype} {regime} K={K} V={V} ({dt:.1f}s){bad}",
                      flush=True)
    # one grep-able line per run: "parity: N/M LABEL" (the lead's gpu-run.sh greps it)
    print(f"parity: {n_ok}/{n} {label or 'dev_bench'} pass, worst err/bound {worst:.3f}", flush=True)
    return n_ok == n


FWD_KEYS = ("VIG_TRITON_FPIPE", "VIG_TRITON_FSCAN", "VIG_TRITON_SEGMENT", "VIG_TRITON_SEG_MIN_L",
            "VIG_TRITON_LAUNCH", "VIG_TRITON_FTZ")  # + "*FWD*" (FTZ: both passes; the forward timed apart)


def _fkey(var):
    return tuple(sorted((k, v) for k, v in variant_env(var).items() if "FWD" in k or k in FWD_KEYS))


def split_rule(shape_name, q):
    """Session 9: what VIG_TRITON_SPLIT_BWD=auto takes at this shape (the launcher's own functions)."""
    from vig_kernels import triton as tb

    set_env({})
    B, L, H, _ = q.shape
    NS, _ = tb._segments(B * H, L, unit=tb._chunk_bwd(), bwd=True)
    nsm = tb._sms(q.device)
    rd, rs = tb._split_rounds(B * H * NS, nsm)
    print(f"  split rule (VIG_TRITON_SPLIT_BWD=auto) at {shape_name}: P {B * H * NS} programs (NS {NS}), "
          f"{nsm} SMs: DX {rd} rounds, split {rs} x {tb.SPLIT_ROUND} = {rs * tb.SPLIT_ROUND:.2f} -> "
          f"{'split + FO + cap 168' if tb._split_auto(B * H * NS, nsm) else 'DX + CS'}", flush=True)


def timing(variants, shapes=None, graph=True):
    """Per shape, every variant in turn (one process): forward eager (once per forward
    configuration), fwd+bwd eager, peak extra memory, and with ``graph`` the CUDA-graphed
    forward and fwd+bwd (bench.graphed: the kernels' own time without the host's work)."""
    rows = []
    bench.copy_bandwidth()
    # warm the GPU up (clocks) before the first shape: ViG-T@224, timed first, read high before
    a = torch.randn(WARM_N, WARM_N, device=DEV, dtype=torch.bfloat16)
    t0 = time.time()
    while time.time() - t0 < 1.5:
        for _ in range(20):
            a @ a
        torch.cuda.synchronize()
    for shape_name in (shapes or list(bench.SHAPES)):  # in the order given
        dims = bench.SHAPES[shape_name]
        shape = bench.OpShape(*dims)
        (q, k, v, gf, gb), _ = bench.make_inputs(shape, DEV)
        leaves = [t.detach().requires_grad_() for t in (q, k, v, gf, gb)]
        do = torch.randn_like(leaves[2])
        ff, fb = bench.floor_ms(shape), bench.floor_ms(shape, True)
        fwd_ms = {}
        split_rule(shape_name, q)
        for var in variants:
            set_env(variant_env(var))
            op = op_for(var)
            fwd = lambda: op(*(t.detach() for t in leaves))  # noqa: E731
            fwb = lambda: torch.autograd.grad(op(*leaves), leaves, do)  # noqa: E731
            t0 = time.time()
            fwb()
            torch.cuda.synchronize()
            print(f"  first call (JIT) {var} {shape_name}: {time.time() - t0:.1f}s", flush=True)
            # the forward is timed once per shape and forward configuration (backward-only
            # variants share it)
            fkey = _fkey(var) if var != "old" else "old"
            if fkey not in fwd_ms:
                fg = float("nan")
                if graph:
                    try:
                        fg = bench.median_ms(bench.graphed(fwd), rep_ms=REP_MS)
                    except Exception as exc:  # capture failure: say so, keep going
                        print(f"  graph capture failed (fwd {var}): {type(exc).__name__}: {exc}", flush=True)
                fwd_ms[fkey] = (bench.median_ms(fwd, rep_ms=REP_MS), fg)
            a, ag = fwd_ms[fkey]
            c = bench.median_ms(fwb, rep_ms=REP_MS)
            cg = float("nan")
            if graph:
                try:
                    cg = bench.median_ms(bench.graphed(fwb), rep_ms=REP_MS)
                except Exception as exc:
                    print(f"  graph capture failed (fwd+bwd {var}): {type(exc).__name__}: {exc}", flush=True)
            mem = bench.peak_extra_bytes(fwb) / 2**20
            rows.append((shape_name, var, a, c, ff, fb, mem, ag, cg))
            print(f"{shape_name:>11} {var:>14} fwd {a:.3f} ({a / ff:5.1f}x)  fwd+bwd {c:.3f} ({c / fb:5.1f}x)"
                  f"  graphed fwd {ag:.3f} ({ag / ff:5.1f}x) fwd+bwd {cg:.3f} ({cg / fb:5.1f}x)"
                  f"  peak {mem:.0f} MiB", flush=True)
    set_env({})
    print("\n| shape | variant | fwd ms | x floor | fwd+bwd ms | x floor | graphed fwd | graphed fwd+bwd "
          "| x floor | peak MiB |\n|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]:.3f} | {r[2] / r[4]:.1f} | {r[3]:.3f} | {r[3] / r[5]:.1f} "
              f"| {r[7]:.3f} | {r[8]:.3f} | {r[8] / r[5]:.1f} | {r[6]:.0f} |")
    return rows


def host(variants, shapes, n=200, rounds=2, profile=False):
    """Host time of eager calls (v2.7): per shape, per variant (interleaved, ``rounds`` times),
    n fwd+bwd calls back to back with one torch.cuda.synchronize at the end (ms per call; when
    the host is slower than the GPU this is the host's time per call), the same for n forwards;
    then a bit-identity check of every variant's outputs and gradients against the first
    variant's on the same inputs."""
    sync = torch.cuda.synchronize if DEV == "cuda" else (lambda: None)
    import triton
    print(f"host(): triton {triton.__version__}, torch {torch.__version__}, {DEV}", flush=True)
    for shape_name in shapes:
        shape = bench.OpShape(*{**bench.SHAPES, **bench.CPU_SHAPES}[shape_name])
        (q, k, v, gf, gb), _ = bench.make_inputs(shape, DEV)
        leaves = [t.detach().requires_grad_() for t in (q, k, v, gf, gb)]
        do = torch.randn_like(leaves[2])
        res = {var: ([], []) for var in variants}
        outs = {}
        for r in range(rounds):
            for var in variants:
                set_env(variant_env(var))
                op = op_for(var)
                fwd = lambda: op(*(t.detach() for t in leaves))  # noqa: E731
                fwb = lambda: torch.autograd.grad(op(*leaves), leaves, do)  # noqa: E731
                for _ in range(3):
                    fwb()
                sync()
                t0 = time.perf_counter()
                for _ in range(n):
                    fwb()
                sync()
                res[var][1].append((time.perf_counter() - t0) / n * 1e3)
                t0 = time.perf_counter()
                for _ in range(n):
                    fwd()
                sync()
                res[var][0].append((time.perf_counter() - t0) / n * 1e3)
                if r == 0:
                    outs[var] = [fwd().clone()] + [t.clone() for t in fwb()]
        for var in variants:
            f, fb = res[var]
            same = all(torch.equal(a, b) for a, b in zip(outs[var], outs[variants[0]]))
            print(f"host {shape_name:>11} {var:>14} {n} eager calls: fwd {min(f):.3f} ms/call "
                  f"(rounds {', '.join(f'{x:.3f}' for x in f)})  fwd+bwd {min(fb):.3f} ms/call "
                  f"(rounds {', '.join(f'{x:.3f}' for x in fb)})  outputs+grads bit-identical to "
                  f"{variants[0]}: {same}", flush=True)
    if profile:  # where the host time of the last variant's eager fwd+bwd goes (last shape)
        import cProfile
        import io
        import pstats
        pr = cProfile.Profile()
        pr.enable()
        for _ in range(50):
            fwb()
        sync()
        pr.disable()
        buf = io.StringIO()
        pstats.Stats(pr, stream=buf).sort_stats("tottime").print_stats(18)
        print(f"cProfile of 50 eager fwd+bwd, {variants[-1]} at {shapes[-1]}:\n{buf.getvalue()}", flush=True)
    try:
        from vig_kernels.triton import launch as la
        print(f"direct launch stats: {la.stats}", flush=True)
    except Exception:
        pass
    set_env({})


def choose(rows, path):
    """Pick the forward knobs by the summed forward time and the backward knobs by the summed
    backward time (fwd+bwd - fwd) over the shapes, among the "new" variants; write them to
    ``path`` as shell exports."""
    fwd, bwd = {}, {}
    for _, var, a, c, *_ in rows:
        if var == "old":
            continue
        fwd[var] = fwd.get(var, 0.0) + a
        bwd[var] = bwd.get(var, 0.0) + c - a
    bf, bb = min(fwd, key=fwd.get), min(bwd, key=bwd.get)
    env = {k: v for k, v in variant_env(bf).items() if "FWD" in k or k in FWD_KEYS}
    env.update({k: v for k, v in variant_env(bb).items() if "BWD" in k})
    print(f"sum fwd {fwd}\nsum bwd {bwd}\nchosen: forward of {bf}, backward of {bb}: {env}", flush=True)
    with open(path, "w") as f:
        f.write("".join(f"export {k}={v}\n" for k, v in env.items()))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--parity-only", action="store_true")
    p.add_argument("--variants", default="old,new")
    p.add_argument("--parity-variants", default="new")
    p.add_argument("--choose", default="", help="write the best knobs as shell exports here")
    p.add_argument("--lengths", default="")
    p.add_argument("--regimes", default="model,zero,mixed,strong,neg_inf,patchy")
    p.add_argument("--dtypes", default="float32,bfloat16")
    p.add_argument("--rep-ms", type=int, default=REP_MS)
    p.add_argument("--shapes", default="", help="comma-separated bench.SHAPES names (default: all)")
    p.add_argument("--no-graph", action="store_true", help="eager timings only")
    p.add_argument("--host", default="", help="variants for host() (eager host time + bit identity) "
                   "at --host-shapes, before the timing of --variants (none: exit after it)")
    p.add_argument("--host-shapes", default="ViG-T@224,ViG-T@1024")
    p.add_argument("--host-n", type=int, default=200)
    p.add_argument("--host-profile", action="store_true", help="+ a cProfile of 50 eager fwd+bwd calls")
    p.add_argument("--repeat", type=int, default=1, help="calls per parity case, the last checked")
    a = p.parse_args()
    globals()["REP_MS"] = a.rep_ms
    globals()["REPEAT"] = a.repeat
    if a.lengths:
        lengths = [int(x) for x in a.lengths.split(",")]
    else:
        lengths = (1, 63, 64, 65, 196, 300, 1000) if DEV == "cuda" else (17, 65, 200)
    if a.host:
        host(a.host.split(","), [x for x in a.host_shapes.split(",") if x], a.host_n, profile=a.host_profile)
        if not a.variants:
            return
    ok = True
    for var in [x for x in a.parity_variants.split(",") if x]:
        set_env(variant_env(var))
        print(f"--- parity {var} {variant_env(var)}", flush=True)
        ok &= parity(lengths, a.regimes.split(","), a.dtypes.split(","), label=var)
    if DEV == "cuda" and not a.parity_only and a.variants:
        rows = timing(a.variants.split(","), [x for x in a.shapes.split(",") if x], not a.no_graph)
        if a.choose:
            choose(rows, a.choose)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
