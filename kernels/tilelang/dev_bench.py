"""Time the tilelang backend at the contract's shapes without fla (its autotune costs minutes):
fwd, fwd graphed, fwd+bwd, peak extra memory of fwd+bwd; several kernel versions in one process
(same inputs, same warm GPU).

    python kernels/tilelang/dev_bench.py [--versions v5,v6,v6/f128/o256] [SHAPE ...]

A version sets both VIG_TILELANG_FWD and VIG_TILELANG_BWD (v6 falls back to v5 where it does not
apply: L > 224 / 256 or head dims other than 32 / 64); /fN, /oN: thread-count variants of the
bf16 fwd_fused / bwd_out; /c16: the bf16 v6 backward on 16-token chunks; /b2: bwd_out2
(VIG_TILELANG_BWD_OUT=v2, bf16, at every L), /b1: bwd_out; /m3, /m2: fwd_fused with the lane-pass
diagonal (VIG_TILELANG_FUSED_DIAG); /e1: gradients not zero-filled (VIG_TILELANG_GRAD_EMPTY=1);
/s1: the bf16 v6 forward reads q, k, v, gates as views (VIG_TILELANG_STRIDED=1); /w1: the bf16
backward with bf16 workspaces and gradients (VIG_TILELANG_LOWMEM=1, the default since session 5;
/w0: float32); /x1: the bf16 fwd_fused with __expf (VIG_TILELANG_FUSED_EXP=fast, fwd_fused:m3:x1),
/x2: and its diagonal sub-blocks pair by pair (VIG_TILELANG_FUSED_EXP=pairs, fwd_fused:m3:x2, the
default since session 5), /x0: expf and the per-element loop (VIG_TILELANG_FUSED_EXP=""); /x3: the diagonal sub-blocks through a
per-channel midpoint on the tensor cores (VIG_TILELANG_FUSED_EXP=ref, fwd_fused:m3:x3 and, under a v6s
forward at L > 224, fwd_fused_seg:m3:x3; session 6); /x4: and the gate cumsums by all threads
(VIG_TILELANG_FUSED_EXP=ref2, the :x4 kinds); /x5: and vector loads, no compensation tiles
(VIG_TILELANG_FUSED_EXP=ref3, fwd_fused:m3:x5; session 7); /v1: the bf16 v6 forward at L <= 224 reads
the views (VIG_TILELANG_FWD_VIEWS=1, fwd_fused:s2:m3:x5; session 7; /v1/s1: and the backward too,
bwd_states:s1:w1 + bwd_out2:t256:x3:s1:w1; /x, /v, /s are skipped at L > 224: same kernels; /v2: also the
v6s forward at L > 224 on views, fwd_segst:s2 + fwd_fused_seg:s2:m3:x4, session 8 round 2, skipped at L <= 224);
/r1: with /b4/q3, the backward at L <= 224 on views (VIG_TILELANG_BWD_VIEWS=1, bwd_states:m3:s2:w1 +
bwd_out2:t256:x4:s2:w1; session 8 round 2; skipped at L > 224); /r2: the backward at L <= 224 on views with
either states kind (VIG_TILELANG_BWD_VIEWS=2; with the default w1 states bwd_states:s2:w1 + bwd_out2:t256:x4:s2:w1;
session 9 round 2; skipped at L > 224); /g<n>: the FWD_VIEWS=2 segment forward at
L > 224 on n-token segments (VIG_TILELANG_SEG_L=n, fwd_segst:s2:g<n> + fwd_fused_seg:s2:m3:x4:g<n>; session 9),
/z<n>: the backward's states at L > 224 on n-token segments (VIG_TILELANG_BWD_SEG=n: bwd_segst + fwd_scan +
bwd_states_seg on views, no copies; session 9); /p1: the backward's states from the forward's saved segment
states (VIG_TILELANG_SEG_SAVE=1: bwd_segr + fwd_scan over the adjoint side + bwd_states_seg; session 10; with /g<n>
equal to BWD_SEG's length); /u1: every in-place fwd_scan as fwd_scan:v1 (VIG_TILELANG_SCAN_VEC=1, vector stores, the
same states bit for bit; session 10); /y1: the segment forward's totals from one walker (VIG_TILELANG_SEGW=1,
fwd_segw:m6[:g<n>] instead of fwd_segst:s2[:g<n>]; session 10 round 2); all five skipped at L <= 224; /b3: bwd_out2 with its diagonal sub-blocks through
the same per-channel midpoint (VIG_TILELANG_BWD_OUT=ref, bwd_out2:t256:x3[:w1]; session 6); /b4: that at
three blocks per SM (VIG_TILELANG_BWD_OUT=ref2, bwd_out2:t256:x4[:w1]; session 8); /q3: bwd_states at three
blocks per SM (VIG_TILELANG_BWD_STATES=m3, bwd_states:m3:w1; session 8). (Session 9's /n3, SEGST=m3, and /k2,
FWD_WALK=2, were removed with their switches; git history at fdf897e.) /t1: the views forward at L <= 224 with
four exps per operand-tile element in chunks with no slow channel (VIG_TILELANG_FWD_TILE=1, fwd_fused:s2:m3:x5:e1;
session 10 round 5, the default since session 11; /t0: FWD_TILE=0; skipped at L > 224: same kernels). /h1: every
16-bit-data kernel compiled with nvcc -ftz=true (VIG_TILELANG_FTZ=1), /h2: with --use_fast_math (FTZ=2; session 11). /a1: the
224-px forward also writes the chunk states and the backward computes only the adjoint side (VIG_TILELANG_SAVE224=1,
fwd_fused:...:a1 + bwd_adj:m6 instead of bwd_states:s2:w1; session 19; skipped at L > 224). "F+B" as the base sets the
forward and the backward apart (e.g. v6s+v6: the segmented forward at L > 224, the default
backward). Prints fwd eager (graphed) and fwd+bwd eager (graphed)."""
import argparse
import os
import time

import torch

import vig
from vig import bench
from vig_kernels import tilelang as tlb

p = argparse.ArgumentParser()
p.add_argument("--versions", default="v5")
p.add_argument("shapes", nargs="*")
a = p.parse_args()
t = time.perf_counter()
bw = bench.copy_bandwidth()
print(f"device {bench.device_name()}  copy {bw / 1e9:.0f} GB/s", flush=True)
names = a.shapes or list(bench.SHAPES)
for shape_name in names:
    shape = bench.OpShape(*bench.SHAPES[shape_name])
    (q, k, v, gf, gb), _ = bench.make_inputs(shape, "cuda")
    leaves = [x.detach().requires_grad_() for x in (q, k, v, gf, gb)]
    do = torch.randn_like(leaves[2])
    op = lambda *a: vig.bidirectional_gla(*a, backend="tilelang", check_gates=False)  # noqa: E731
    fwd = lambda: op(*(x.detach() for x in leaves))  # noqa: E731
    fb = lambda: torch.autograd.grad(op(*leaves), leaves, do)  # noqa: E731
    ff, fbf = bench.floor_ms(shape, bandwidth=bw), bench.floor_ms(shape, True, bandwidth=bw)
    for ver in a.versions.split(","):
        base, *opts = ver.split("/")  # e.g. v6/f128/o256: fwd_fused 128 threads, bwd_out 256
        if any(o[:1] in ("n", "k") for o in opts):
            raise SystemExit(f"{ver}: /n (SEGST) and /k (FWD_WALK) were removed in session 9")
        # /x changes fwd_fused only: where it does not run, a version with no other option is its base
        # (/x3, /x4 also change fwd_fused_seg: it runs at L > 224 under a v6s forward)
        if opts and all(o[0] in "xvsqta" for o in opts) and shape.L > tlb.V6_MAX_L and not (
                (opts in (["x3"], ["x4"]) or "v2" in opts) and base.split("+")[0] == "v6s"):
            print(f"{shape_name:>11} {ver} skipped: at L {shape.L} fwd_fused (/x) does not "
                  f"run (same kernels as without)", flush=True)
            continue
        if "v2" in opts and shape.L <= tlb.V6_MAX_L:  # /v2 differs from /v1 (the default) at L > 224 only
            print(f"{shape_name:>11} {ver} skipped: /v2 = /v1 at L {shape.L}", flush=True)
            continue
        if any(o[0] in "gzpuy" for o in opts) and shape.L <= tlb.V6_MAX_L:  # the segment paths only
            print(f"{shape_name:>11} {ver} skipped: /g, /z, /p, /u, /y apply at L > {tlb.V6_MAX_L} only", flush=True)
            continue
        if ("r1" in opts or "r2" in opts) and shape.L > tlb.V6_BWD_MAX_L:  # /r1, /r2: the v6 backward only (L <= 224)
            print(f"{shape_name:>11} {ver} skipped: /r1, /r2 do not apply at L {shape.L}", flush=True)
            continue
        os.environ["VIG_TILELANG_FWD"], os.environ["VIG_TILELANG_BWD"] = (base.split("+") * 2)[:2]
        for var, pre in (("VIG_TILELANG_FUSED_THREADS", "f"), ("VIG_TILELANG_BWD_OUT_THREADS", "o"),
                         ("VIG_TILELANG_BWD_C", "c"), ("VIG_TILELANG_BWD_OUT", "b"),
                         ("VIG_TILELANG_FUSED_DIAG", "m"), ("VIG_TILELANG_GRAD_EMPTY", "e"),
                         ("VIG_TILELANG_STRIDED", "s"), ("VIG_TILELANG_LOWMEM", "w"),
                         ("VIG_TILELANG_FUSED_EXP", "x"), ("VIG_TILELANG_FWD_VIEWS", "v"),
                         ("VIG_TILELANG_BWD_STATES", "q"), ("VIG_TILELANG_BWD_VIEWS", "r"),
                         ("VIG_TILELANG_SEG_L", "g"), ("VIG_TILELANG_BWD_SEG", "z"), ("VIG_TILELANG_SEG_SAVE", "p"),
                         ("VIG_TILELANG_SCAN_VEC", "u"), ("VIG_TILELANG_SEGW", "y"), ("VIG_TILELANG_FWD_TILE", "t"),
                         ("VIG_TILELANG_FTZ", "h"), ("VIG_TILELANG_SAVE224", "a")):
            val = [("v" if pre == "b" else "m" if pre in "mq" else "") + o[1:] for o in opts if o.startswith(pre)]
            val = [{"0": "", "1": "fast", "2": "pairs", "3": "ref", "4": "ref2", "5": "ref3"}[v] if pre == "x" else v for v in val]
            val = [{"v3": "ref", "v4": "ref2"}.get(v, v) if pre == "b" else v for v in val]  # /b3, /b4: BWD_OUT=ref, ref2
            if val:
                os.environ[var] = val[0]
            else:
                os.environ.pop(var, None)
        tlb.reload_env()
        fwd()
        fb()
        torch.cuda.synchronize()
        f, b = bench.median_ms(fwd), bench.median_ms(fb)
        with torch.no_grad():
            g = bench.median_ms(bench.graphed(fwd))
        mem = bench.peak_extra_bytes(fb) / 2**20
        gb = bench.median_ms(bench.graphed(fb))
        print(f"{shape_name:>11} {ver} fwd {f:.3f} (graphed {g:.3f}) = {f / ff:.1f}x floor {ff:.3f} | "
              f"fwd+bwd {b:.3f} (graphed {gb:.3f}) = {b / fbf:.1f}x floor {fbf:.3f} | peak extra fwd+bwd {mem:.0f} MiB",
              flush=True)
print("compile log:", [(k[0], k[3], round(s, 2)) for k, s in tlb.compile_log], flush=True)
print(f"total {time.perf_counter() - t:.0f} s")
