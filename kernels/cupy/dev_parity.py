"""Development only (GPU): the contract's parity rule (tests/parity) at shapes where the
VIG_CUPY_SEG128 planner rule changes the segment plan (L > 256 and fewer than TC_BLOCKS blocks at
256-token segments): ViG-T@1024's B=8, H=3 at L = 4096 and L = 3000 (a partial last segment),
bf16 / fp16, every gate regime (tools/check_backend.py's cases have B=2, H=3, where the existing
"fewer than TC_BLOCKS / 2 blocks -> >= 64-token segments" rule decides instead).

    python kernels/cupy/dev_parity.py [--expect-seg 128]   (the rule is on by default since session 5)

--expect-seg N: fail unless the plan of every case has N-token segments (proves the rule ran).

    python kernels/cupy/dev_parity.py --lengths 1,17,33,196   (session 13)

--lengths: instead, B=96 H=3 (enough blocks for one segment per (b, h); a case whose plan has
segments fails) at each of these L, bf16 at even positions of the list and fp16 at odd ones, every
gate regime (the one-segment forward's chunk counts, odd and even, with partial chunks)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

import torch  # noqa: E402

from tests.parity import oracle, parity_report, plain_pytorch, run_with_grads  # noqa: E402
from tests.strategies import Case, make_inputs  # noqa: E402
import vig  # noqa: E402
import vig_kernels.cupy as cp  # noqa: E402


def main():
    expect = int(sys.argv[sys.argv.index("--expect-seg") + 1]) if "--expect-seg" in sys.argv else None
    if "--lengths" in sys.argv:
        lens = [int(x) for x in sys.argv[sys.argv.index("--lengths") + 1].split(",")]
        plan = [(96, L, ("bfloat16", "float16")[i % 2]) for i, L in enumerate(lens)]
    else:
        plan = [(8, L, dt) for L in (4096, 3000) for dt in ("bfloat16", "float16")]
    bad = n = 0
    for B, L, dtype in plan:
        for regime in ("model", "strong", "zero", "neg_inf", "mixed"):
            case = Case(B=B, L=L, H=3, K=32, V=64, dtype=dtype, regime=regime, layout="fused",
                        gate_dtype="float32", seed=L + 1)
            seg = cp.tc_plan(case.B, case.H, L, case.V)[1]
            q, k, v, gf, gb, do = make_inputs(case, "cuda")
            got = run_with_grads(lambda *a: vig.bidirectional_gla(*a, backend="cupy"),
                                 (q, k, v, gf, gb), do)
            ref = oracle((q, k, v, gf, gb), do, naive=False)
            base = plain_pytorch((q, k, v, gf, gb), do)
            rep = parity_report(got, ref, base, q.dtype)
            worst = max(err / bound for _, err, bound in rep)
            ok = all(err <= bound for _, err, bound in rep) and (expect is None or seg == expect)
            ok = ok and ("--lengths" not in sys.argv or seg == L)
            bad += not ok
            n += 1
            print(f"{'ok  ' if ok else 'FAIL'} {worst:8.3f}  seg {seg}  {case}", flush=True)
            del got, ref, base
            torch.cuda.empty_cache()
    print(f"cupy {'lengths' if '--lengths' in sys.argv else 'seg128'} parity: {n - bad} pass, {bad} fail "
          f"(seg128 rule {'on' if cp._ENV['seg128'] else 'off'})", flush=True)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
