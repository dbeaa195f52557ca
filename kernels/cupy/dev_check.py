"""GPU dev check of the CuPy backend: parity (output and five gradients vs the float64 oracle,
judged by the contract's rule), timing at the contract's benchmark shapes against the memory
floor and fla 0.6's official path (eager and CUDA-graphed), and a small shape for
compute-sanitizer. Run on the GPU machine from the repo root:

    python3 -m vig_kernels.cupy.dev_check [--parity] [--bench] [--sanitize-shape]

Writes cupy-dev.json and cupy-dev.md under $OUT (or ./results-dev) and prints the tables.
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

from vig_kernels.cupy import CuPyBackend

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
from tests.parity import oracle, parity_report, plain_pytorch, run_with_grads  # noqa: E402

BE = CuPyBackend()
SHAPES = [  # name, B, H, L, K, V
    ("ViG-T@224", 128, 3, 196, 32, 64),
    ("ViG-S@224", 128, 6, 196, 32, 64),
    ("ViG-B@224", 128, 12, 196, 32, 64),
    ("ViG-T@1024", 8, 3, 4096, 32, 64),
    ("ViG-S@1024", 8, 6, 4096, 32, 64),
]


def op(q, k, v, gf, gb, scale=None):
    s = q.shape[-1] ** -0.5 if scale is None else scale
    return BE.apply(q, k, v, gf, gb, float(s))


def gates(regime, shape, gen, dev):
    x = torch.randn(shape, generator=gen, device=dev)
    if regime == "logsig16":
        return F.logsigmoid(x) / 16
    if regime == "strong":
        return -10.0 - 5 * torch.rand(shape, generator=gen, device=dev)
    if regime == "zero":
        return torch.zeros(shape, device=dev)
    if regime == "neginf":
        g = F.logsigmoid(x)
        mask = torch.rand(shape, generator=gen, device=dev) < 0.1
        return g.masked_fill(mask, float("-inf"))
    raise ValueError(regime)


def make_inputs(B, L, H, K, V, dtype, regime, seed, views=False):
    dev = "cuda"
    gen = torch.Generator(device=dev).manual_seed(seed)
    if views:  # q, k as slices of one projection, gates as two halves of another
        qk = torch.randn(B, L, H, 2 * K + 3, generator=gen, device=dev).to(dtype)
        q, k = qk[..., :K], qk[..., K + 1:2 * K + 1]
        gg = torch.cat([gates(regime, (B, L, H, K), gen, dev)] * 2, -1)
        gg[..., K:] = gates(regime, (B, L, H, K), gen, dev)
        gf, gb = gg[..., :K], gg[..., K:]
    else:
        q = torch.randn(B, L, H, K, generator=gen, device=dev).to(dtype)
        k = torch.randn(B, L, H, K, generator=gen, device=dev).to(dtype)
        gf = gates(regime, (B, L, H, K), gen, dev)
        gb = gates(regime, (B, L, H, K), gen, dev)
    v = torch.randn(B, L, H, V, generator=gen, device=dev).to(dtype)
    do = torch.randn(B, L, H, V, generator=gen, device=dev).to(dtype)
    return [q, k, v, gf, gb], do


def parity(out):
    rows = []
    cases = []
    for L in (1, 7, 63, 64, 65, 196, 300, 4096):
        for dtype in (torch.float32, torch.float16, torch.bfloat16):
            for regime in ("logsig16", "strong", "zero", "neginf"):
                B, H = (1, 2) if L == 4096 else (2, 3)
                cases.append((B, L, H, 32, 64, dtype, regime, False))
    cases += [(2, 37, 2, 20, 40, dt, "logsig16", True) for dt in (torch.float32, torch.bfloat16)]
    cases += [(1, 130, 2, 128, 128, dt, "neginf", False) for dt in (torch.float32, torch.bfloat16)]
    cases += [(1, 100, 2, 64, 96, torch.float16, "strong", True)]
    ok_all = True
    t0 = time.time()
    for i, (B, L, H, K, V, dtype, regime, views) in enumerate(cases):
        inputs, do = make_inputs(B, L, H, K, V, dtype, regime, seed=1000 + i, views=views)
        try:
            got = run_with_grads(op, inputs, do)
            torch.cuda.synchronize()
            ref = oracle(inputs, do, naive=L <= 65)
            base = plain_pytorch(inputs, do)
            rep = parity_report(got, ref, base, dtype)
            err = None
        except Exception as exc:  # report, keep going
            rep, err = [], f"{type(exc).__name__}: {exc}"
        ok = err is None and all(e <= b for _, e, b in rep)
        ok_all &= ok
        row = dict(B=B, L=L, H=H, K=K, V=V, dtype=str(dtype).split(".")[-1], regime=regime,
                   views=views, ok=ok, error=err,
                   errs={n: [e, b] for n, e, b in rep})
        rows.append(row)
        worst = max((e / b if b > 0 else math.inf) for _, e, b in rep) if rep else math.nan
        print(f"parity {'OK ' if ok else 'BAD'} L={L:5d} B={B} H={H} K={K} V={V} "
              f"{row['dtype']:8s} {regime:8s} views={int(views)} worst err/bound={worst:.3f}"
              + ("" if ok else "  " + (err or "; ".join(f"{n}:{e:.2e}>{b:.2e}" for n, e, b in rep if not e <= b))),
              flush=True)
    print(f"parity: {sum(r['ok'] for r in rows)}/{len(rows)} cases pass ({time.time() - t0:.0f} s)")
    # CUDA graphs and a side stream: replaying a captured forward gives the eager result.
    inputs, _ = make_inputs(2, 100, 3, 32, 64, torch.bfloat16, "logsig16", seed=5)
    eager = op(*inputs)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        o_side = op(*inputs)
    torch.cuda.current_stream().wait_stream(side)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        o_graph = op(*inputs)
    g.replay()
    torch.cuda.synchronize()
    out["graph_ok"] = bool(torch.equal(eager, o_side)) and bool(torch.equal(eager, o_graph))
    print("side-stream and CUDA-graph results equal eager:", out["graph_ok"])
    out["parity"] = rows
    out["parity_ok"] = ok_all
    return ok_all


def copy_bandwidth():
    from triton.testing import do_bench

    n = 1 << 28  # 1 GiB of fp32
    a = torch.empty(n, device="cuda")
    b = torch.empty_like(a)
    a.uniform_()
    ms = do_bench(lambda: b.copy_(a), warmup=50, rep=300, return_mode="median")
    return 2 * a.numel() * 4 / (ms * 1e-3)


def fla_official():
    from fla.ops.gla import chunk_gla

    def f(q, k, v, gf, gb):
        B = q.shape[0]
        cat = lambda x, y: torch.cat([x, y.flip(1)], 0)  # noqa: E731
        o, _ = chunk_gla(cat(q, q), cat(k, k), cat(v, v), cat(gf, gb))
        return (o[:B] + o[B:].flip(1)) / 2

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


def bench(out):
    from triton.testing import do_bench

    bw = copy_bandwidth()
    out["copy_bandwidth_TBps"] = bw / 1e12
    print(f"copy bandwidth {bw / 1e12:.2f} TB/s")
    try:
        fla = fla_official()
    except Exception as exc:
        fla = None
        out["fla_error"] = f"{type(exc).__name__}: {exc}"
        print("fla unavailable:", out["fla_error"])
    rows = []
    out["bench"] = rows
    data = {}
    for name, B, H, L, K, V in SHAPES:
        inputs, do = make_inputs(B, L, H, K, V, torch.bfloat16, "logsig16", seed=7)
        data[name] = (inputs, do)
        N = B * L * H
        fwd_bytes = N * (2 * K * 2 + V * 2 + 2 * K * 4 + V * 2)
        bwd_bytes = N * (2 * K * 2 + V * 2 + 2 * K * 4 + V * 2 + 2 * K * 2 + V * 2 + 2 * K * 4)
        row = dict(name=name, B=B, H=H, L=L, K=K, V=V,
                   floor_fwd_ms=fwd_bytes / bw * 1e3, floor_fb_ms=(fwd_bytes + bwd_bytes) / bw * 1e3)
        q, k, v, gf, gb = inputs
        with torch.no_grad():
            row["cupy_fwd_ms"] = do_bench(lambda: op(q, k, v, gf, gb), warmup=25, rep=100,
                                          return_mode="median")
            try:
                row["cupy_fwd_graph_ms"] = do_bench(graphed(op, inputs), warmup=25, rep=100,
                                                    return_mode="median")
            except Exception as exc:
                row["cupy_graph_error"] = f"{type(exc).__name__}: {exc}"
        xs = [x.detach().clone().requires_grad_(True) for x in inputs]
        row["cupy_fb_ms"] = do_bench(lambda: op(*xs).backward(do), warmup=25, rep=100,
                                     grad_to_none=xs, return_mode="median")
        rows.append(row)
        print(json.dumps(row), flush=True)
    for row in rows:
        if fla is None:
            break
        inputs, do = data[row["name"]]
        q, k, v, gf, gb = inputs
        t0 = time.time()
        try:
            with torch.no_grad():
                row["fla_fwd_ms"] = do_bench(lambda: fla(q, k, v, gf, gb), warmup=25, rep=100,
                                             return_mode="median")
                row["fla_fwd_graph_ms"] = do_bench(graphed(fla, inputs), warmup=25, rep=100,
                                                   return_mode="median")
            xs = [x.detach().clone().requires_grad_(True) for x in inputs]
            row["fla_fb_ms"] = do_bench(lambda: fla(*xs).backward(do), warmup=25, rep=100,
                                        grad_to_none=xs, return_mode="median")
        except Exception as exc:
            row["fla_error"] = f"{type(exc).__name__}: {exc}"
        print(row["name"], "fla", {k_: v_ for k_, v_ in row.items() if k_.startswith("fla")},
              f"({time.time() - t0:.0f} s)", flush=True)


def markdown(out):
    lines = [f"# CuPy backend on {out['device']}", "",
             f"commit {out['commit']}, {out['date']}, torch {out['torch']}, cupy {out['cupy']}", ""]
    if "parity" in out:
        n = sum(r["ok"] for r in out["parity"])
        lines += [f"Parity: {n}/{len(out['parity'])} cases pass (outputs and five gradients "
                  "vs float64, bound = 2x plain-PyTorch error in the same dtype + 4 eps |ref|).", ""]
        bad = [r for r in out["parity"] if not r["ok"]]
        for r in bad:
            lines.append(f"- FAIL {r}")
    if "bench" in out:
        lines += ["", f"Copy bandwidth {out['copy_bandwidth_TBps']:.2f} TB/s. Medians (ms), bf16 "
                  "q/k/v, fp32 gates.", "",
                  "| shape | floor fwd | cupy fwd | cupy fwd graphed | x floor | fla fwd | fla fwd graphed "
                  "| floor f+b | cupy f+b | x floor | fla f+b |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        f = lambda x: "n/a" if x is None else f"{x:.3f}"  # noqa: E731
        for r in out["bench"]:
            lines.append(
                f"| {r['name']} | {f(r['floor_fwd_ms'])} | {f(r['cupy_fwd_ms'])} | "
                f"{f(r.get('cupy_fwd_graph_ms'))} | {r['cupy_fwd_ms'] / r['floor_fwd_ms']:.1f} | "
                f"{f(r.get('fla_fwd_ms'))} | {f(r.get('fla_fwd_graph_ms'))} | {f(r['floor_fb_ms'])} | "
                f"{f(r.get('cupy_fb_ms'))} | {r.get('cupy_fb_ms', math.nan) / r['floor_fb_ms']:.1f} | "
                f"{f(r.get('fla_fb_ms'))} |")
    return "\n".join(lines) + "\n"


def sanitize_shape():
    inputs, do = make_inputs(1, 70, 2, 32, 64, torch.bfloat16, "neginf", seed=3)
    got = run_with_grads(op, inputs, do)
    inputs, do = make_inputs(1, 40, 2, 20, 40, torch.float32, "logsig16", seed=4, views=True)
    got += run_with_grads(op, inputs, do)
    inputs, do = make_inputs(1, 40, 1, 128, 128, torch.bfloat16, "strong", seed=6)
    got += run_with_grads(op, inputs, do)  # > 48 KiB of dynamic shared memory
    torch.cuda.synchronize()
    print("sanitize shape ran; finite:", all(bool(torch.isfinite(g).all()) for g in got))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--parity", action="store_true")
    ap.add_argument("--bench", action="store_true")
    ap.add_argument("--sanitize-shape", action="store_true")
    a = ap.parse_args()
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(3))  # `timeout` still writes the results
    if a.sanitize_shape:
        sanitize_shape()
        return
    import cupy

    outdir = os.environ.get("OUT") or os.path.join(ROOT, "results-dev")
    os.makedirs(outdir, exist_ok=True)
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True).stdout.strip() or "uncommitted"
    except Exception:
        commit = "unknown"
    out = dict(device=torch.cuda.get_device_name(0), capability=torch.cuda.get_device_capability(0),
               commit=commit, date=datetime.datetime.now(datetime.timezone.utc).isoformat(),
               torch=torch.__version__, cupy=cupy.__version__)
    try:
        if a.parity:
            parity(out)
        if a.bench:
            bench(out)
    finally:
        _write(out, outdir)


def _write(out, outdir):
    with open(os.path.join(outdir, "cupy-dev.json"), "w") as fh:
        json.dump(out, fh, indent=1)
    md = markdown(out)
    with open(os.path.join(outdir, "cupy-dev.md"), "w") as fh:
        fh.write(md)
    print(md)


if __name__ == "__main__":
    main()
