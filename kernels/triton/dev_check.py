"""GPU dev check of the Triton backend: parity against the float64 oracle, then timings.

    python -m vig_kernels.triton.dev_check [--quick] [--no-parity] [--no-bench] [--sanitize]

Parity: outputs and all five gradients, fresh random inputs (never zeros), gate regimes
model (logsigmoid(x)/16), strong (<= -10), zero, neg_inf (model with 5% -inf), mixed; L = 1, 7,
63, 64, 65, 196, 300, 4096; fp32 / fp16 / bf16; strided (fused-projection) views. Judged by the
contract's rule: error <= 2 x (plain PyTorch error in that dtype) + 4 eps max|ref|.

Bench (bf16 q/k/v, fp32 gates): forward and forward+backward medians (triton.testing.do_bench)
at the contract's 5 shapes against the memory floor (bytes / measured copy bandwidth) and fla
0.6 chunk_gla run the official ViG way (flip, concat on batch, chunk_gla, unflip, average),
eager and CUDA-graphed; peak extra memory of forward+backward. Writes JSON + markdown under
$OUT (or ./dev_check_out) and prints the table.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

from vig_reference import chunked_bidirectional_gla, naive_bidirectional_gla

from . import TritonBackend

BE = TritonBackend()
DEVICE = "cuda"
EPS = {torch.float32: 2.0 ** -23, torch.float16: 2.0 ** -10, torch.bfloat16: 2.0 ** -7}
SHAPES = [  # name, B, H, L, K, V
    ("ViG-T@224", 128, 3, 196, 32, 64),
    ("ViG-S@224", 128, 6, 196, 32, 64),
    ("ViG-B@224", 128, 12, 196, 32, 64),
    ("ViG-T@1024", 8, 3, 4096, 32, 64),
    ("ViG-S@1024", 8, 6, 4096, 32, 64),
]


class _Fn(torch.autograd.Function):
    """Local copy of the shared wiring (vig.ops) so this script stands alone."""

    @staticmethod
    def forward(ctx, scale, q, k, v, gf, gb):
        gf32, gb32 = gf.float(), gb.float()
        o, saved = BE.forward(q, k, v, gf32, gb32, scale)
        ctx.scale = scale
        ctx.save_for_backward(q, k, v, gf32, gb32, *saved)
        ctx.gdt = (gf.dtype, gb.dtype)
        return o

    @staticmethod
    def backward(ctx, do):
        q, k, v, gf, gb, *saved = ctx.saved_tensors
        dq, dk, dv, dgf, dgb = BE.backward(q, k, v, gf, gb, ctx.scale, do.contiguous(), tuple(saved))
        return None, dq.to(q.dtype), dk.to(k.dtype), dv.to(v.dtype), dgf.to(ctx.gdt[0]), dgb.to(ctx.gdt[1])


def triton_op(q, k, v, gf, gb, scale=None):
    s = q.shape[-1] ** -0.5 if scale is None else scale
    return _Fn.apply(float(s), q, k, v, gf, gb)


def gates(shape, regime, gen, device):
    x = torch.randn(shape, generator=gen, device=device, dtype=torch.float64)
    u = torch.rand(shape, generator=gen, device=device, dtype=torch.float64)
    if regime == "model":
        return F.logsigmoid(x) / 16
    if regime == "strong":
        return -10 - 20 * u
    if regime == "zero":
        return torch.zeros(shape, device=device, dtype=torch.float64)
    if regime == "neg_inf":
        return (F.logsigmoid(x) / 16).masked_fill(u < 0.05, float("-inf"))
    if regime == "mixed":
        pick = torch.randint(0, 4, shape, generator=gen, device=device)
        g = torch.where(pick == 0, F.logsigmoid(3 * x), torch.where(pick == 1, -12 * x.abs(), 0 * x))
        return g.masked_fill(pick == 3, float("-inf"))
    raise ValueError(regime)


def make(B, L, H, K, V, dtype, regime, seed, device=None, fused=True):
    device = device or DEVICE
    gen = torch.Generator(device=device).manual_seed(seed)
    if fused:  # q, k, v and both gates as views of projections, as in the model
        qkv = torch.randn(B, L, H * (2 * K + V), generator=gen, device=device, dtype=torch.float64).to(dtype)
        q, k, v = qkv.split([H * K, H * K, H * V], -1)
        q, k, v = q.view(B, L, H, K), k.view(B, L, H, K), v.view(B, L, H, V)
        g = gates((B, L, 2 * H * K), regime, gen, device).float()
        gf, gb = (x.view(B, L, H, K) for x in g.chunk(2, -1))
    else:
        q, k = (torch.randn(B, L, H, K, generator=gen, device=device, dtype=torch.float64).to(dtype) for _ in range(2))
        v = torch.randn(B, L, H, V, generator=gen, device=device, dtype=torch.float64).to(dtype)
        gf, gb = (gates((B, L, H, K), regime, gen, device).float() for _ in range(2))
    do = torch.randn(B, L, H, V, generator=gen, device=device, dtype=torch.float64).to(dtype)
    return q, k, v, gf, gb, do


def grads(fn, inputs, do):
    xs = [x.detach().clone().requires_grad_(True) for x in inputs]
    o = fn(*xs)
    o.backward(do)
    return [o.detach()] + [x.grad for x in xs]


NAMES = ("o", "dq", "dk", "dv", "dg_fwd", "dg_bwd")


def parity_case(B, L, H, K, V, dtype, regime, seed):
    q, k, v, gf, gb, do = make(B, L, H, K, V, dtype, regime, seed)
    ins = (q, k, v, gf, gb)
    got = grads(triton_op, ins, do)
    oracle = naive_bidirectional_gla if L <= 512 else chunked_bidirectional_gla
    ref = grads(lambda *a: oracle(*a), [x.double() for x in ins], do.double())
    base = grads(lambda *a: chunked_bidirectional_gla(*a, compute_dtype=dtype), ins, do)
    rows, ok = [], True
    for n, g, r, b in zip(NAMES, got, ref, base):
        sc = r.abs().max().item()
        err = (g.double() - r).abs().max().item()
        berr = (b.double() - r).abs().max().item()
        bound = 2 * berr + 4 * EPS[dtype] * sc + 1e-12
        good = err <= bound and bool(torch.isfinite(g).all())
        ok &= good
        rows.append(dict(name=n, err=err, bound=bound, base=berr, ok=good))
    return ok, rows


def run_parity(quick):
    Ls = [1, 7, 63, 64, 65, 196, 300, 4096]
    regimes = ["model", "strong", "zero", "neg_inf", "mixed"]
    dtypes = [torch.bfloat16, torch.float16, torch.float32]
    results, n_fail, worst = [], 0, 0.0
    seed = 0
    for L in Ls:
        for regime in regimes:
            for dt in dtypes:
                if quick and dt == torch.float16 and L not in (65, 196):
                    continue
                seed += 1
                B, H = (1, 2) if L >= 4096 else (2, 2)
                ok, rows = parity_case(B, L, H, 32, 64, dt, regime, seed)
                ratio = max(r["err"] / r["bound"] for r in rows)
                worst = max(worst, ratio)
                n_fail += not ok
                results.append(dict(L=L, regime=regime, dtype=str(dt), ok=ok, rows=rows, worst_ratio=ratio))
                print(f"parity L={L:5d} {regime:8s} {str(dt):15s} {'ok  ' if ok else 'FAIL'} "
                      + " ".join(f"{r['name']}={r['err']:.1e}/{r['bound']:.1e}" for r in rows), flush=True)
    # other head sizes, one regime each
    for (K, V) in [(16, 16), (64, 128), (128, 128), (128, 32)]:
        for dt in ((torch.bfloat16, torch.float32) if K == V == 128 else (torch.bfloat16,)):
            seed += 1
            ok, rows = parity_case(2, 77, 2, K, V, dt, "mixed", seed)
            ratio = max(r["err"] / r["bound"] for r in rows)
            worst = max(worst, ratio)
            n_fail += not ok
            results.append(dict(L=77, K=K, V=V, regime="mixed", dtype=str(dt), ok=ok, rows=rows, worst_ratio=ratio))
            print(f"parity K={K} V={V} L=77 mixed {str(dt):15s} {'ok  ' if ok else 'FAIL'} "
                  + " ".join(f"{r['name']}={r['err']:.1e}/{r['bound']:.1e}" for r in rows), flush=True)
    print(f"parity: {len(results) - n_fail}/{len(results)} cases pass; worst err/bound = {worst:.3f}", flush=True)
    return dict(cases=results, n=len(results), failures=n_fail, worst_ratio=worst)


def copy_bandwidth():
    from triton.testing import do_bench
    x = torch.empty(512 * 2 ** 20, dtype=torch.uint8, device="cuda").random_()
    y = torch.empty_like(x)
    t = do_bench(lambda: y.copy_(x), warmup=50, rep=300, return_mode="median")
    return 2 * x.numel() / (t * 1e-3)  # bytes read + written per second


def fla_path():
    try:
        from fla.ops.gla import chunk_gla
    except Exception as exc:  # noqa: BLE001
        print("fla unavailable:", exc)
        return None

    def run(q, k, v, gf, gb, scale):
        B = q.shape[0]
        q2 = torch.cat([q, q.flip(1)], 0)
        k2 = torch.cat([k, k.flip(1)], 0)
        v2 = torch.cat([v, v.flip(1)], 0)
        g2 = torch.cat([gf, gb.flip(1)], 0)
        o2, _ = chunk_gla(q2, k2, v2, g2, scale=scale)
        return (o2[:B] + o2[B:].flip(1)) * 0.5

    return run


def bench_shape(name, B, H, L, K, V, bw, fla):
    from triton.testing import do_bench
    dt = torch.bfloat16
    q, k, v, gf, gb, do = make(B, L, H, K, V, dt, "model", 1234, fused=False)
    scale = K ** -0.5
    res = dict(name=name, B=B, H=H, L=L, K=K, V=V)
    n_qk, n_v = B * L * H * K, B * L * H * V
    fwd_bytes = 2 * n_qk * 2 + n_v * 2 + 2 * n_qk * 4 + n_v * 2
    # forward + a backward that reads q, k, v, both gates and dO and writes the five gradients
    # (the contract's floor: 0.089 ms at ViG-S@224 on an H100)
    bwd_bytes = fwd_bytes + (fwd_bytes - n_v * 2) + n_v * 2 + 2 * n_qk * 2 + n_v * 2 + 2 * n_qk * 4
    res["floor_fwd_ms"] = fwd_bytes / bw * 1e3
    res["floor_fwdbwd_ms"] = bwd_bytes / bw * 1e3

    def fwd():
        return BE.forward(q, k, v, gf, gb, scale)[0]

    def fwdbwd():
        o, saved = BE.forward(q, k, v, gf, gb, scale)
        return BE.backward(q, k, v, gf, gb, scale, do, saved)

    res["fwd_ms"] = do_bench(fwd, warmup=25, rep=200, return_mode="median")
    res["fwdbwd_ms"] = do_bench(fwdbwd, warmup=25, rep=200, return_mode="median")
    # through autograd, as a model sees it
    xs = [x.detach().clone().requires_grad_(True) for x in (q, k, v, gf, gb)]

    def ag():
        for x in xs:
            x.grad = None
        triton_op(*xs, scale).backward(do)

    res["fwdbwd_autograd_ms"] = do_bench(ag, warmup=25, rep=200, return_mode="median")
    torch.cuda.synchronize()
    for x in xs:
        x.grad = None
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    triton_op(*xs, scale).backward(do)
    torch.cuda.synchronize()
    res["peak_extra_mb"] = (torch.cuda.max_memory_allocated() - base) / 2 ** 20
    for x in xs:
        x.grad = None
    if fla is not None:
        try:
            res["fla_fwd_ms"] = do_bench(lambda: fla(q, k, v, gf, gb, scale), warmup=25, rep=200,
                                         return_mode="median")

            def fla_ag():
                for x in xs:
                    x.grad = None
                fla(*xs, scale).backward(do)

            res["fla_fwdbwd_ms"] = do_bench(fla_ag, warmup=25, rep=200, return_mode="median")
            for x in xs:
                x.grad = None
            torch.cuda.synchronize()
            base = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
            fla(*xs, scale).backward(do)
            torch.cuda.synchronize()
            res["fla_peak_extra_mb"] = (torch.cuda.max_memory_allocated() - base) / 2 ** 20
            for x in xs:
                x.grad = None
            # CUDA-graphed forward
            s = torch.cuda.Stream()
            s.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(s):
                for _ in range(3):
                    fla(q, k, v, gf, gb, scale)
            torch.cuda.current_stream().wait_stream(s)
            gph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(gph):
                fla(q, k, v, gf, gb, scale)
            res["fla_fwd_graph_ms"] = do_bench(gph.replay, warmup=25, rep=200, return_mode="median")
            # CUDA-graphed forward + backward
            with torch.cuda.stream(s):
                for _ in range(3):
                    fla_ag()
            torch.cuda.current_stream().wait_stream(s)
            gph2 = torch.cuda.CUDAGraph()
            for x in xs:
                x.grad = None
            with torch.cuda.graph(gph2):
                fla(*xs, scale).backward(do)
            res["fla_fwdbwd_graph_ms"] = do_bench(gph2.replay, warmup=25, rep=200, return_mode="median")
            # ours graphed too (launch overhead out)
            with torch.cuda.stream(s):
                for _ in range(3):
                    fwd()
                    fwdbwd()
            torch.cuda.current_stream().wait_stream(s)
            g3 = torch.cuda.CUDAGraph()
            with torch.cuda.graph(g3):
                fwd()
            res["fwd_graph_ms"] = do_bench(g3.replay, warmup=25, rep=200, return_mode="median")
            g4 = torch.cuda.CUDAGraph()
            with torch.cuda.graph(g4):
                fwdbwd()
            res["fwdbwd_graph_ms"] = do_bench(g4.replay, warmup=25, rep=200, return_mode="median")
        except Exception as exc:  # noqa: BLE001
            print(f"fla/graph bench failed at {name}: {type(exc).__name__}: {exc}")
    for x in xs:
        x.grad = None
    return res


def table(rows, dev, bw):
    lines = [f"device: {dev}; copy bandwidth {bw / 1e12:.2f} TB/s (read+write); bf16 q/k/v, fp32 gates; "
             "medians (ms) of triton.testing.do_bench", "",
             "| shape | fwd | floor | x floor | fla fwd | fla fwd graphed | fwd+bwd | floor | x floor | "
             "fla fwd+bwd | fla fwd+bwd graphed | peak extra MB (ours / fla) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    f = lambda x: "-" if x is None else f"{x:.4f}"  # noqa: E731
    for r in rows:
        lines.append(
            f"| {r['name']} | {f(r['fwd_ms'])} | {f(r['floor_fwd_ms'])} | {r['fwd_ms'] / r['floor_fwd_ms']:.1f} | "
            f"{f(r.get('fla_fwd_ms'))} | {f(r.get('fla_fwd_graph_ms'))} | {f(r['fwdbwd_ms'])} | "
            f"{f(r['floor_fwdbwd_ms'])} | {r['fwdbwd_ms'] / r['floor_fwdbwd_ms']:.1f} | "
            f"{f(r.get('fla_fwdbwd_ms'))} | {f(r.get('fla_fwdbwd_graph_ms'))} | "
            f"{r['peak_extra_mb']:.0f} / {r.get('fla_peak_extra_mb', float('nan')):.0f} |")
    return "\n".join(lines)


def sanitize_case():
    """A small representative run (for compute-sanitizer): fwd + bwd, bf16 and fp32."""
    for dt in (torch.bfloat16, torch.float32):
        for L in (65, 196):
            q, k, v, gf, gb, do = make(2, L, 3, 32, 64, dt, "neg_inf", 7)
            got = grads(triton_op, (q, k, v, gf, gb), do)
            torch.cuda.synchronize()
            assert all(bool(torch.isfinite(g).all()) for g in got)
    print("sanitize case done")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-parity", action="store_true")
    ap.add_argument("--no-bench", action="store_true")
    ap.add_argument("--sanitize", action="store_true")
    ap.add_argument("--shapes", default="")
    a = ap.parse_args()
    if a.sanitize:
        sanitize_case()
        return
    out = os.environ.get("OUT") or "dev_check_out"
    os.makedirs(out, exist_ok=True)
    dev = torch.cuda.get_device_name(0)
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    except Exception:  # noqa: BLE001
        commit = ""
    import triton
    report = dict(device=dev, torch=torch.__version__, triton=triton.__version__, commit=commit,
                  date=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()))
    t0 = time.time()
    if not a.no_parity:
        report["parity"] = run_parity(a.quick)
        print(f"parity took {time.time() - t0:.0f} s", flush=True)
    if not a.no_bench:
        bw = copy_bandwidth()
        report["copy_bandwidth_Bps"] = bw
        fla = fla_path()
        rows = []
        for s in SHAPES:
            if a.shapes and s[0] not in a.shapes.split(","):
                continue
            r = bench_shape(*s, bw, fla)
            rows.append(r)
            print(json.dumps(r), flush=True)
        report["bench"] = rows
        md = table(rows, dev, bw)
        with open(os.path.join(out, "triton-dev-check.md"), "w") as fh:
            fh.write(md + "\n")
        print(md)
    with open(os.path.join(out, "triton-dev-check.json"), "w") as fh:
        json.dump(report, fh, indent=1)


if __name__ == "__main__":
    main()
