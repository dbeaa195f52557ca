"""GPU check (session 19, issue #5): VIG_TILELANG_SAVE224=2 (the chunk states stored through shared tiles as 16-byte
stores: fwd_fused:...:a2 + bwd_adj:m6:v1) against SAVE224=1 (fragment stores: :a1 + bwd_adj:m6), and both against
SAVE224=0 (bwd_states recomputing both sides), through the backend, same inputs. 2 vs 1 store the same bf16 values in
the same places: the output and the five gradients should be bit-identical; against 0 they differ by the bf16
rounding of the states (another arithmetic: max|diff| / max|grad| is printed). bf16, bench.make_inputs (views),
L = 1, 17, 33, 65, 196, 224, B 2, H 3, plus ViG-T@224. Prints one line per case and "same: N/M".

    python kernels/tilelang/dev_save_same.py
"""
import os
import sys

import torch

from vig import bench
from vig_kernels import tilelang as tlb

sys.path.insert(0, os.path.dirname(__file__))
from dev_racefix_same import run as _run  # noqa: E402


def run(x, do, mode: str):
    return _run(x, do, mode, "VIG_TILELANG_SAVE224")


def main():
    torch.manual_seed(0)
    cases = [(2, 3, L) for L in (1, 17, 33, 65, 196, 224)] + [(128, 3, 196)]
    same = 0
    for B, H, L in cases:
        x, _ = bench.make_inputs(bench.OpShape(B, H, L, 32, 64), "cuda")
        do = torch.randn(B, L, H, 64, device="cuda", dtype=x[0].dtype)
        a, b, z = run(x, do, "1"), run(x, do, "2"), run(x, do, "0")
        eq = [bool(torch.equal(u, w)) for u, w in zip(a, b)]
        rel = max(float((u.float() - w.float()).abs().max() / w.float().abs().max().clamp_min(1e-30))
                  for u, w in zip(b, z))
        ok = all(eq)
        same += ok
        print(f"{'ok  ' if ok else 'DIFF'} B {B} H {H} L {L}: 2 vs 1 o,dq,dk,dv,dgf,dgb equal {eq}; "
              f"2 vs 0 worst max|diff|/max|x| {rel:.2e}", flush=True)
    os.environ.pop("VIG_TILELANG_SAVE224")
    tlb.reload_env()
    print(f"kinds compiled: {', '.join(sorted({k[0] for k in tlb._cache}))}", flush=True)
    print(f"same: {same}/{len(cases)}", flush=True)


if __name__ == "__main__":
    main()
