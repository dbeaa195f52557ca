"""CPU check of session 9's switches (no GPU, no compilation; compile_kernel mocked, CPU tensors):
VIG_TILELANG_SEG_L (segment length of the FWD_VIEWS=2 segment forward) and VIG_TILELANG_BWD_SEG
(the backward's states on segments at L > 224: kinds,
int64 views, workspace shapes, one scan over both workspaces, no contiguous copies; the old paths where
it does not apply). For each configuration and length: which kinds the forward runs, the workspace's
segment count (must be ceil(L / SEG_L), the kernels' grid ceil(ceil(L / 32) / (SEG_L / 32))), and that
only the FWD_VIEWS=2 path (bf16, FUSED_EXP ref2 / ref3) takes the switches; bad values must raise, and so
must the removed VIG_TILELANG_SEGST (session 9's fwd_segst:s2:m3; git history at fdf897e).

    python kernels/tilelang/dev_seg_cpu.py
"""
import os
import sys

import torch

import dev_route_common as rc  # the mocks (compile_kernel, _arch, Tensor.contiguous counted)
from dev_route_common import _KernelFunction, bench, log, tlb

KEYS = ("VIG_TILELANG_FWD_VIEWS", "VIG_TILELANG_FUSED_EXP", "VIG_TILELANG_SEG_L", "VIG_TILELANG_SEGST")
bad = n = 0
CFG = [  # env, dtype, expected (segment length, "" on the views path / None: not the views path)
    ({}, torch.bfloat16, (224, "")),
    ({"VIG_TILELANG_SEG_L": "128"}, torch.bfloat16, (128, "")),
    ({"VIG_TILELANG_SEG_L": "96"}, torch.bfloat16, (96, "")),
    ({"VIG_TILELANG_SEG_L": "224"}, torch.bfloat16, (224, "")),
    ({"VIG_TILELANG_SEG_L": "128", "VIG_TILELANG_FWD_VIEWS": "1"}, torch.bfloat16, (224, None)),
    ({"VIG_TILELANG_SEG_L": "128", "VIG_TILELANG_FUSED_EXP": "ref"}, torch.bfloat16, (224, None)),
    ({"VIG_TILELANG_SEG_L": "128"}, torch.float16, (224, None)),
]
for env, dt, (sl, st) in CFG:
    rc.setenv(KEYS, env)
    for L in (225, 256, 257, 300, 449, 1000, 4096):
        shape = bench.OpShape(2, 3, L, 32, 64)
        (q, k, v, gf, gb), _ = bench.make_inputs(shape, "cpu", dtype=dt)
        log.clear()
        _KernelFunction.apply(tlb.TileLangBackend(), 32 ** -0.5, q, k, v, gf, gb)
        kinds = [kd for kd, _ in log]
        seg = [(kd, ts) for kd, ts in log if kd.startswith("fwd_segst")]
        nseg = seg[0][1][-2].shape[2] if seg else None  # WS [B, H, NSEG, 2K, V]
        g = f":g{sl}" if sl != 224 else ""
        if st is None:  # not the views path: the shipped kinds, 224-token segments
            want = ["fwd_segst", "fwd_scan", "fwd_fused_seg" + (":m3:x4" if dt == torch.bfloat16 and
                                                                  env.get("VIG_TILELANG_FUSED_EXP") != "ref" else
                                                                  ":m3:x3" if dt == torch.bfloat16 else "")]
        else:
            want = ["fwd_segst:s2" + st + g, "fwd_scan", "fwd_fused_seg:s2:m3:x4" + g]
        ok = kinds == want and nseg == -(-L // sl) == -(-(-(-L // 32)) // (sl // 32))
        n += 1
        bad += not ok
        if not ok or L in (300, 4096):
            print(f"{'ok ' if ok else 'BAD'} {env} {str(dt).split('.')[-1]} L {L}: {kinds} NSEG {nseg}"
                  + ("" if ok else f" <- want {want}, NSEG {-(-L // sl)}"))
# VIG_TILELANG_BWD_SEG: the backward's kinds, argument layouts and workspace shapes; no contiguous copies
BCFG = [  # env, lengths, expected backward kinds (None: the shipped v5 states on copies at L > 224)
    ({"VIG_TILELANG_BWD_SEG": "128"}, 128),
    ({"VIG_TILELANG_BWD_SEG": "224"}, 224),
    ({"VIG_TILELANG_BWD_SEG": "128", "VIG_TILELANG_SEG_L": "128"}, 128),
    ({}, None),
    ({"VIG_TILELANG_BWD_SEG": "128", "VIG_TILELANG_BWD_VIEWS": "0"}, None),
    ({"VIG_TILELANG_BWD_SEG": "128", "VIG_TILELANG_BWD": "v6s"}, "v6s"),
    ({"VIG_TILELANG_BWD_SEG": "128", "VIG_TILELANG_BWD_OUT": "ref"}, None),
]
BKEYS = KEYS + ("VIG_TILELANG_BWD_SEG", "VIG_TILELANG_BWD_VIEWS", "VIG_TILELANG_BWD", "VIG_TILELANG_BWD_OUT",
                "VIG_TILELANG_BWD_STATES", "VIG_TILELANG_STRIDED")


def bwd_run(env, L, B=2, H=3):
    _, _, blog, _, bcp = rc.run(BKEYS, env, L, B=B, H=H)
    return rc.kinds(blog), blog, bcp


BCFG += [({"VIG_TILELANG_BWD_SEG": "128", "VIG_TILELANG_BWD_VIEWS": "0"}, 128),
         ({"VIG_TILELANG_BWD_SEG": "128", "VIG_TILELANG_BWD_STATES": "m3"}, 128),
         ({"VIG_TILELANG_BWD_SEG": "128", "VIG_TILELANG_STRIDED": "1"}, None)]
BCFG = [c for c in BCFG if c[0] != {"VIG_TILELANG_BWD_SEG": "128", "VIG_TILELANG_BWD_VIEWS": "0"} or c[1] == 128]
for env, sl in BCFG:
    for L in (196, 225, 300, 1000, 4096):
        B, H = 2, 3
        kinds, lg, ncp = bwd_run(env, L, B, H)
        nc, ok = -(-L // 32), True
        if L <= 224 or sl in (None, "v6s"):  # BWD_SEG does not apply: the same as without it
            k0, _, n0 = bwd_run({k_: v_ for k_, v_ in env.items() if k_ != "VIG_TILELANG_BWD_SEG"}, L, B, H)
            ok = kinds == k0 and ncp == n0 and (L <= 224 or "bwd_segst" not in kinds)
        else:
            g = f":g{sl}" if sl != 224 else ""
            nseg = -(-L // sl)
            want = ["bwd_segst" + g, "fwd_scan", "bwd_states_seg" + g, "bwd_out2:t256:x4:s2:w1"]
            a = {kd: ts for kd, ts in lg}
            ok = (kinds == want and not ncp
                  and all(t.dtype == torch.int64 for kd in (want[0], want[2], want[3]) for t in a[kd][:6])
                  and [tuple(t.shape) for t in a[want[0]][6:]] == [(B, H, nseg, 64, 64)] * 2 + [(B, H, nseg, 64)] * 2
                  and [tuple(t.shape) for t in a["fwd_scan"]] == [(2 * B, H, nseg, 64, 64), (2 * B, H, nseg, 64)]
                  and [tuple(t.shape) for t in a[want[2]][6:]] == [(B, H, nseg, 64, 64)] * 2 + [(B, H, nc, 64, 64)] * 2
                  and [t.dtype for t in a[want[2]][8:]] == [torch.bfloat16] * 2
                  and a[want[0]][6].data_ptr() == a["fwd_scan"][0].data_ptr() == a[want[2]][6].data_ptr())
        n += 1
        bad += not ok
        if not ok or L in (300, 4096):
            print(f"{'ok ' if ok else 'BAD'} bwd {env} L {L}: {kinds}, {ncp} contiguous copies")
for val in ("100", "256", "0", "x"):
    os.environ["VIG_TILELANG_SEG_L"] = val
    tlb.reload_env()
    try:
        tlb._seg_len()
        print(f"BAD SEG_L={val} accepted")
        bad += 1
    except ValueError:
        pass
    n += 1
os.environ.pop("VIG_TILELANG_SEG_L")
for val in ("100", "256", "0", "x", "-32"):
    os.environ["VIG_TILELANG_BWD_SEG"] = val
    tlb.reload_env()
    try:
        tlb._bwd_seg_len()
        print(f"BAD BWD_SEG={val} accepted")
        bad += 1
    except ValueError:
        pass
    n += 1
os.environ.pop("VIG_TILELANG_BWD_SEG")
# the removed SEGST: any value raises a ValueError naming the switch, on the forward that read it (bf16, L > 224)
(q, k, v, gf, gb), _ = bench.make_inputs(bench.OpShape(2, 3, 300, 32, 64), "cpu")
for val in ("m3", "m2", "1"):
    os.environ["VIG_TILELANG_SEGST"] = val
    tlb.reload_env()
    try:
        _KernelFunction.apply(tlb.TileLangBackend(), 32 ** -0.5, q, k, v, gf, gb)
        print(f"BAD SEGST={val} accepted")
        bad += 1
    except ValueError as e:
        bad += "VIG_TILELANG_SEGST" not in str(e)
        if val == "m3":
            print(f"ok SEGST=m3 raises: {e}")
    n += 1
os.environ.pop("VIG_TILELANG_SEGST")
print(f"dev_seg_cpu: {n - bad}/{n} ok")
sys.exit(1 if bad else 0)
