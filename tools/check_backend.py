"""Check one backend on the GPU, registered or not yet: parity against the float64 oracle over the
contract's gate regimes, dtypes and edge lengths, and timing at the contract's shapes beside the
floor and fla's official path. Everything it uses is the project's shared code (tests/strategies,
tests/parity, vig/bench); it only picks the cases.

    python tools/check_backend.py triton                                   # registered name
    python tools/check_backend.py tilelang=vig_kernels.tilelang:TileLangBackend --parity
    compute-sanitizer --tool memcheck python tools/check_backend.py NAME --small [--length L]

Writes NAME-check.json under $OUT (or the working directory) and prints a summary.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import torch  # noqa: E402

from tests.parity import oracle, parity_report, plain_pytorch, run_with_grads  # noqa: E402
from tests.strategies import Case, make_inputs  # noqa: E402
import vig  # noqa: E402
from vig import bench, registry  # noqa: E402

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"  # the CPU: Triton under TRITON_INTERPRET=1
LENGTHS = (1, 7, 63, 64, 65, 196, 300, 4096) if DEVICE == "cuda" else (1, 17)
REGIMES = ("model", "strong", "zero", "neg_inf", "mixed")


def parity(name, small=False, length=65):
    rows = []
    lengths = (length,) if small else LENGTHS
    regimes = REGIMES if DEVICE == "cuda" else ("mixed",)
    for L in lengths:
        for dtype in ("bfloat16", "float16", "float32"):
            for regime in (("neg_inf",) if small else regimes):
                case = Case(B=2, L=L, H=3, K=32, V=64, dtype=dtype, regime=regime, layout="fused",
                            gate_dtype="float32", seed=L)
                q, k, v, gf, gb, do = make_inputs(case, DEVICE)
                got = run_with_grads(lambda *a: vig.bidirectional_gla(*a, backend=name),
                                     (q, k, v, gf, gb), do)
                if small:
                    continue
                ref = oracle((q, k, v, gf, gb), do, naive=L <= 300)
                base = plain_pytorch((q, k, v, gf, gb), do)
                rep = parity_report(got, ref, base, q.dtype)
                worst = max(err / bound for _, err, bound in rep)
                rows.append({"case": str(case), "worst_err_over_bound": worst,
                             "pass": all(err <= bound for _, err, bound in rep)})
                print(f"{'ok  ' if rows[-1]['pass'] else 'FAIL'} {worst:8.3f}  {case}", flush=True)
    return rows


def timing(name):
    rows = []
    for shape_name, dims in bench.SHAPES.items():
        shape = bench.OpShape(*dims)
        (q, k, v, gf, gb), _ = bench.make_inputs(shape, DEVICE)
        leaves = [t.detach().requires_grad_() for t in (q, k, v, gf, gb)]
        do = torch.randn_like(leaves[2])
        ours = lambda *a: vig.bidirectional_gla(*a, backend=name, check_gates=False)  # noqa: E731
        for impl, op in ((name, ours), ("fla_official", bench.fla_official)):
            if impl == "fla_official" and bench.fla_available():
                continue
            fwd = lambda: op(*(t.detach() for t in leaves))  # noqa: E731
            fb = lambda: torch.autograd.grad(op(*leaves), leaves, do)  # noqa: E731
            r = {"impl": impl, "shape": shape_name,
                 "fwd_ms": bench.median_ms(fwd), "fwd_bwd_ms": bench.median_ms(fb),
                 "floor_fwd_ms": bench.floor_ms(shape), "floor_fwd_bwd_ms": bench.floor_ms(shape, True)}
            with torch.no_grad():
                r["fwd_graphed_ms"] = bench.median_ms(bench.graphed(fwd))
            try:
                r["fwd_bwd_graphed_ms"] = bench.median_ms(bench.graphed(fb))
            except Exception as exc:
                if impl != "fla_official":
                    raise  # the op promises to compose with CUDA graphs
                r["fwd_bwd_graphed_ms"] = float("nan")
                print(f"fla's fwd+bwd does not capture: {type(exc).__name__}: {exc}", flush=True)
            rows.append(r)
            print(f"{impl:>14} {shape_name:>11}  fwd {r['fwd_ms']:.3f} (graphed {r['fwd_graphed_ms']:.3f}, "
                  f"floor {r['floor_fwd_ms']:.3f})  fwd+bwd {r['fwd_bwd_ms']:.3f} "
                  f"(graphed {r['fwd_bwd_graphed_ms']:.3f}, floor {r['floor_fwd_bwd_ms']:.3f})", flush=True)
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("backend", help="a registered name, or NAME=module:Class for one not yet registered")
    p.add_argument("--parity", action="store_true", help="parity only")
    p.add_argument("--bench", action="store_true", help="timing only")
    p.add_argument("--small", action="store_true", help="one small fwd+bwd per dtype (for sanitizers)")
    p.add_argument("--length", type=int, help="--small's sequence length L (default 65)")
    a = p.parse_args()
    if a.length is not None and not a.small:
        p.error("--length goes with --small (the other modes run the contract's lengths)")
    if a.length is not None and a.length < 1:
        p.error(f"--length must be positive, got {a.length}")
    name, _, spec = a.backend.partition("=")
    if spec:
        registry._REGISTRY[name] = spec  # checked here before it is registered for real
    reason = registry.available_backends().get(name)
    if reason:
        sys.exit(f"{name}: {reason}")
    out = {"backend": name, "device": bench.device_name(), "torch": torch.__version__,
           "commit": os.environ.get("VIG_COMMIT", "unknown")}
    if not a.bench:
        out["parity"] = parity(name, a.small, a.length or 65)
    if not (a.parity or a.small):
        out["copy_bandwidth_GBps"] = bench.copy_bandwidth() / 1e9
        out["timing"] = timing(name)
    path = os.path.join(os.environ.get("OUT", "."), f"{name}-check.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
    fails = [r for r in out.get("parity", []) if not r["pass"]]
    print(f"{name}: {len(out.get('parity', [])) - len(fails)} parity cases pass, {len(fails)} fail; wrote {path}")
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main()
