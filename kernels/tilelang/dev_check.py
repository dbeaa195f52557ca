"""GPU dev check of the TileLang backend: compile times, parity, timings. Run on the GPU machine:

    python -m vig_kernels.tilelang.dev_check [--quick] [--no-bench] [--commit SHA]

Parity: outputs and all five gradients against the float64 oracle (the shared rule of
tests/parity.py: at most 2x plain PyTorch's error in the same dtype + 4 eps * max|ref|), random
inputs (never zeros), gate regimes model (logsigmoid/16), strong (<= -10), zero, -inf sprinkled,
mixed; L = 1, 7, 63, 64, 65, 196, 300, 4096. Timing: triton.testing.do_bench medians of forward
and forward+backward at the contract's benchmark shapes, against the memory floor (copy
bandwidth measured here) and fla 0.6 chunk_gla run the official ViG way (flipped copy
concatenated on the batch), eager and CUDA-graphed. Writes JSON + markdown under $OUT (or
./results) and prints the table last.
"""
import argparse
import datetime
import json
import os
import sys
import time
import traceback

import torch


def log(*a):
    print(*a, flush=True)


SHAPES = [  # name, B, H, L, K, V
    ("ViG-T@224", 128, 3, 196, 32, 64),
    ("ViG-S@224", 128, 6, 196, 32, 64),
    ("ViG-B@224", 128, 12, 196, 32, 64),
    ("ViG-T@1024", 8, 3, 4096, 32, 64),
    ("ViG-S@1024", 8, 6, 4096, 32, 64),
]


def op(be):
    def f(q, k, v, gf, gb, scale=None):
        s = q.shape[-1] ** -0.5 if scale is None else scale
        return be.apply(q, k, v, gf, gb, s)
    return f


def parity(be, quick=False):
    from tests.parity import oracle, parity_report, plain_pytorch
    from tests.strategies import Case, make_inputs

    f = op(be)
    rows, ok = [], True
    Ls = [1, 7, 63, 64, 65, 196, 300, 4096]
    regimes = ["model", "strong", "zero", "neg_inf", "mixed"]
    plan = []
    for dtype in ["bfloat16", "float32", "float16"]:
        for L in Ls:
            for regime in regimes:
                if L == 4096 and (dtype == "float16" or regime == "mixed"):
                    continue
                plan.append(Case(B=2, L=L, H=2, K=32, V=64, dtype=dtype, regime=regime,
                                 layout="fused" if L % 2 else "contiguous", gate_dtype="float32",
                                 seed=1000 + L))
    # other head dims (zero-padded tiles), a few
    for K, V in [(16, 16), (64, 128), (128, 128), (128, 32)]:
        for dtype in ["bfloat16", "float32"]:
            plan.append(Case(B=1, L=100, H=3, K=K, V=V, dtype=dtype, regime="mixed",
                             layout="fused", gate_dtype="float32", seed=K * V))
    if quick:  # the fast set: the cases that failed before the precision fixes, and a spread
        plan = [c for c in plan if c.K == 32 and (
            c.L in (1, 65) or (c.dtype == "float32" and c.regime in ("neg_inf", "mixed", "strong")
                               and c.L in (7, 196, 4096)) or (c.L == 196 and c.dtype != "float32"))]
    for case in plan:
        t = time.perf_counter()
        try:
            inputs = make_inputs(case, device="cuda")
            *x, do = inputs
            ref = oracle(x, do, naive=case.L <= 300)
            base = plain_pytorch(x, do)
            got = [g.float() if g is not None else None for g in _run(f, x, do)]
            rep = parity_report(got, ref, base, x[0].dtype)
            finite = all(torch.isfinite(g).all().item() for g in got)
            good = finite and all(err <= bound for _, err, bound in rep)
        except Exception as exc:
            traceback.print_exc()
            rep, good = [("exception", float("nan"), repr(exc))], False
        ok &= good
        rows.append({"case": str(case), "ok": good,
                     "errors": {n: [e, b] for n, e, b in rep}, "s": time.perf_counter() - t})
        worst = max(((e / b) if isinstance(b, float) and b > 0 else float("inf"))
                    for _, e, b in rep)
        log(f"{'PASS' if good else 'FAIL'} {case}  worst err/bound {worst:.3f}"
            + ("" if good else "  " + "; ".join(f"{n} {e:.2e}/{b}" for n, e, b in rep)))
    return ok, rows


def _run(f, x, do):
    xs = [t.detach().clone().requires_grad_(True) for t in x]
    o = f(*xs)
    o.backward(do)
    return [o.detach()] + [t.grad for t in xs]


def bandwidth():
    from triton.testing import do_bench

    n = 1 << 28  # 1 GiB of fp32
    a = torch.empty(n, device="cuda", dtype=torch.float32).uniform_()
    b = torch.empty_like(a)
    ms = do_bench(lambda: b.copy_(a), warmup=50, rep=300, return_mode="median")
    del a, b
    return 2 * n * 4 / (ms * 1e-3)


def fla_official():
    from fla.ops.gla import chunk_gla

    def f(q, k, v, gf, gb, scale):
        qq = torch.cat([q, q.flip(1)], 0)
        kk = torch.cat([k, k.flip(1)], 0)
        vv = torch.cat([v, v.flip(1)], 0)
        gg = torch.cat([gf, gb.flip(1)], 0)
        o, _ = chunk_gla(qq, kk, vv, gg, scale=scale, output_final_state=False)
        B = q.shape[0]
        return 0.5 * (o[:B] + o[B:].flip(1))
    return f


def graphed(fn, args):
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3):
            fn(*args)
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        fn(*args)
    return g.replay


def bench(be, bw, with_fla=True):
    from triton.testing import do_bench

    f = op(be)
    try:
        if not with_fla:
            raise RuntimeError("skipped (--no-fla)")
        fla = fla_official()
    except Exception as exc:
        log("fla unavailable:", exc)
        fla = None
    out = []
    for name, B, H, L, K, V in SHAPES:
        row = {"shape": name, "B": B, "H": H, "L": L, "K": K, "V": V}
        gen = torch.Generator(device="cuda").manual_seed(0)
        mk = lambda *s, dt=torch.bfloat16: torch.randn(*s, device="cuda", generator=gen).to(dt)
        q, k = mk(B, L, H, K), mk(B, L, H, K)
        v = mk(B, L, H, V)
        gf = torch.nn.functional.logsigmoid(mk(B, L, H, K, dt=torch.float32)) / 16
        gb = torch.nn.functional.logsigmoid(mk(B, L, H, K, dt=torch.float32)) / 16
        do = mk(B, L, H, V)
        s = K ** -0.5
        tok = B * L * H
        fwd_bytes = tok * (2 * K * 2 + V * 2 + 2 * K * 4 + V * 2)
        bwd_bytes = tok * (2 * K * 2 + V * 2 + 2 * K * 4 + V * 2 + 2 * K * 2 + V * 2 + 2 * K * 4)
        row["floor_fwd_ms"] = fwd_bytes / bw * 1e3
        row["floor_fwdbwd_ms"] = (fwd_bytes + bwd_bytes) / bw * 1e3
        xs = [t.detach().clone().requires_grad_(True) for t in (q, k, v, gf, gb)]

        def fb(fn):
            def run():
                for t in xs:
                    t.grad = None
                fn(*xs, s).backward(do)
            return run

        with torch.no_grad():
            row["tilelang_fwd_ms"] = do_bench(lambda: f(q, k, v, gf, gb, s), warmup=25, rep=200,
                                              return_mode="median")
            try:
                row["tilelang_fwd_graphed_ms"] = do_bench(graphed(f, (q, k, v, gf, gb, s)),
                                                          warmup=25, rep=200, return_mode="median")
            except Exception as exc:
                row["tilelang_fwd_graphed_ms"] = None
                log("graph capture failed:", exc)
        row["tilelang_fwdbwd_ms"] = do_bench(fb(f), warmup=25, rep=200, return_mode="median")
        if fla is not None:
            with torch.no_grad():
                row["fla_fwd_ms"] = do_bench(lambda: fla(q, k, v, gf, gb, s), warmup=25, rep=200,
                                             return_mode="median")
                try:
                    row["fla_fwd_graphed_ms"] = do_bench(graphed(fla, (q, k, v, gf, gb, s)),
                                                         warmup=25, rep=200, return_mode="median")
                except Exception as exc:
                    row["fla_fwd_graphed_ms"] = None
                    log("fla graph capture failed:", exc)
            row["fla_fwdbwd_ms"] = do_bench(fb(fla), warmup=25, rep=200, return_mode="median")
        log(json.dumps(row))
        out.append(row)
        del q, k, v, gf, gb, do, xs
        torch.cuda.empty_cache()
    return out


def markdown(meta, rows, parity_rows, compile_rows):
    def fm(x):
        return "-" if x is None else f"{x:.3f}"

    lines = [f"# TileLang backend on {meta['device']}", "",
             f"commit {meta['commit']}, {meta['date']}, torch {meta['torch']}, tilelang "
             f"{meta['tilelang']}, copy bandwidth {meta['bandwidth_TBps']:.2f} TB/s", "",
             "bf16 q, k, v, o; fp32 gates; medians (triton do_bench), ms.", "",
             "| shape | fwd | fwd graphed | floor fwd | x floor | fla fwd | fla fwd graphed | "
             "fwd+bwd | floor fwd+bwd | x floor | fla fwd+bwd |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['shape']} | {fm(r['tilelang_fwd_ms'])} | {fm(r.get('tilelang_fwd_graphed_ms'))} | "
            f"{fm(r['floor_fwd_ms'])} | {r['tilelang_fwd_ms'] / r['floor_fwd_ms']:.1f} | "
            f"{fm(r.get('fla_fwd_ms'))} | {fm(r.get('fla_fwd_graphed_ms'))} | "
            f"{fm(r['tilelang_fwdbwd_ms'])} | {fm(r['floor_fwdbwd_ms'])} | "
            f"{r['tilelang_fwdbwd_ms'] / r['floor_fwdbwd_ms']:.1f} | {fm(r.get('fla_fwdbwd_ms'))} |")
    lines += ["", "First-call compile times (s):", ""]
    lines += [f"- {k}: {v:.1f}" for k, v in compile_rows]
    n_ok = sum(r["ok"] for r in parity_rows)
    lines += ["", f"Parity: {n_ok}/{len(parity_rows)} cases pass."]
    lines += [f"- FAIL {r['case']}: {r['errors']}" for r in parity_rows if not r["ok"]]
    return "\n".join(lines) + "\n"


def _precompile(spec):
    from vig_kernels.tilelang import compile_kernel, compile_log

    compile_kernel(*spec)
    return spec, compile_log[-1][1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-bench", action="store_true")
    ap.add_argument("--no-parity", action="store_true")
    ap.add_argument("--no-fla", action="store_true")
    ap.add_argument("--parity-first", action="store_true")
    ap.add_argument("--commit", default=os.environ.get("VIG_COMMIT", "unknown"))
    args = ap.parse_args()
    out = os.environ.get("OUT") or "results"
    os.makedirs(out, exist_ok=True)
    import tilelang

    from vig_kernels.tilelang import TileLangBackend, compile_kernel, compile_log

    be = TileLangBackend()
    assert not be.not_supported_reasons(), be.not_supported_reasons()
    meta = {"device": torch.cuda.get_device_name(0), "commit": args.commit,
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "torch": torch.__version__, "tilelang": tilelang.__version__}
    log(meta)
    # first-call compile of the kernels ViG uses (K=32, V=64), timed
    arch = "sm_90a" if torch.cuda.get_device_capability() == (9, 0) else "sm_%d%d" % torch.cuda.get_device_capability()
    import concurrent.futures as cf
    import multiprocessing as mp

    specs = [(kind, 32, 64, dt, arch) for dt in ["bfloat16", "float32", "float16"]
             for kind in ["fwd_res", "fwd_ws", "bwd"]]
    # each kernel's first compile, timed in its own process (in parallel); this fills TileLang's
    # disk cache, so this process then loads them
    first = []
    t = time.perf_counter()
    with cf.ProcessPoolExecutor(len(specs), mp_context=mp.get_context("spawn")) as ex:
        for spec, sec in ex.map(_precompile, specs):
            first.append((spec, sec))
            log(f"first compile {spec}: {sec:.1f} s")
    log(f"all {len(specs)} compiled in {time.perf_counter() - t:.1f} s wall (parallel)")
    for spec in specs:
        compile_kernel(*spec)
    compile_rows = [("/".join(map(str, k)), s) for k, s in first]
    if args.parity_first and not args.no_parity:
        parity_ok, prow = parity(be, args.quick)
        log(f"PARITY {'OK' if parity_ok else 'FAILED'}: {sum(r['ok'] for r in prow)}/{len(prow)}")
        args.no_parity = True
        with open(os.path.join(out, "tilelang-parity.json"), "w") as fh:
            json.dump({"meta": meta, "parity_ok": parity_ok, "parity": prow}, fh, indent=1)
    else:
        parity_ok, prow = True, []
    rows = []
    if not args.no_bench:
        bw = bandwidth()
        meta["bandwidth_TBps"] = bw / 1e12
        rows = bench(be, bw, not args.no_fla)
        with open(os.path.join(out, "tilelang-bench.json"), "w") as fh:
            json.dump({"meta": meta, "compile_s": compile_rows, "timings": rows}, fh, indent=1)
    if not args.no_parity:
        parity_ok, prow = parity(be, args.quick)
    log(f"PARITY {'OK' if parity_ok else 'FAILED'}: {sum(r['ok'] for r in prow)}/{len(prow)}")
    res = {"meta": meta, "parity_ok": parity_ok, "parity": prow, "compile_s": compile_rows,
           "timings": rows}
    with open(os.path.join(out, "tilelang-dev.json"), "w") as fh:
        json.dump(res, fh, indent=1)
    if rows:
        md = markdown(meta, rows, prow, compile_rows)
        with open(os.path.join(out, "tilelang-dev.md"), "w") as fh:
            fh.write(md)
        log(md)
    return 0 if parity_ok else 1


if __name__ == "__main__":
    sys.exit(main())
