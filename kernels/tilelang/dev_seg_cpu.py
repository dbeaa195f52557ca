"""CPU check of session 9's switches (no GPU, no compilation; compile_kernel mocked, CPU tensors):
VIG_TILELANG_SEG_L (segment length of the FWD_VIEWS=2 segment forward) and VIG_TILELANG_BWD_SEG
(the backward's states on segments at L > 224: kinds,
int64 views, workspace shapes, one scan over both workspaces, no contiguous copies; the old paths where
it does not apply). For each configuration and length: which kinds the forward runs, the workspace's
segment count (must be ceil(L / SEG_L), the kernels' grid ceil(ceil(L / 32) / (SEG_L / 32))), and that
only the FWD_VIEWS=2 path (bf16, FUSED_EXP ref2 / ref3) takes the switches; bad values must raise, and so
must the removed VIG_TILELANG_SEGST (session 9's fwd_segst:s2:m3; git history at fdf897e).
Session 10 round 4: every row names its whole configuration (dev_route_common's S9 / S10 with changes; nothing is
inherited from the *_DEFAULT lines or the shell) except the "shipped defaults" rows (nothing set), whose expectations
are literal: the forward fwd_segw:m6:g128 -> fwd_scan:v1 -> fwd_fused_seg:s2:m3:x4:g128, the backward
bwd_segr:m6:g128 -> fwd_scan:v1 over B (half of BWD_SEG's 2B) -> bwd_states_seg:g128 (reading the forward's saved
WS) -> bwd_out2:t256:x4:s2:w1. S10 rows also check SEGW with other segment lengths and SEG_SAVE=0's 2B scan.

    python kernels/tilelang/dev_seg_cpu.py
"""
import os
import sys

import torch

import dev_route_common as rc  # the mocks (compile_kernel, _arch, Tensor.contiguous counted)
from dev_route_common import _KernelFunction, bench, log, tlb

SL, SW, SV, SS, BS = ("VIG_TILELANG_SEG_L", "VIG_TILELANG_SEGW", "VIG_TILELANG_SCAN_VEC", "VIG_TILELANG_SEG_SAVE",
                      "VIG_TILELANG_BWD_SEG")
S9, S10 = rc.S9, rc.S10  # every switch written out (dev_route_common): session 9's 1024-px path / session 10's
bad = n = 0
CFG = [  # env, dtype, expected (segment length, the segment-totals kind on the views path / None: not the views
    # path, the scan kind)
    (rc.SHIPPED, torch.bfloat16, (128, "fwd_segw:m6", "fwd_scan:v1")),  # the shipped defaults (session 10's flips)
    (S9, torch.bfloat16, (224, "fwd_segst:s2", "fwd_scan")),
    ({**S9, SL: "128"}, torch.bfloat16, (128, "fwd_segst:s2", "fwd_scan")),
    ({**S9, SL: "96"}, torch.bfloat16, (96, "fwd_segst:s2", "fwd_scan")),
    ({**S9, SL: "128", "VIG_TILELANG_FWD_VIEWS": "1"}, torch.bfloat16, (224, None, "fwd_scan")),
    ({**S9, SL: "128", "VIG_TILELANG_FUSED_EXP": "ref"}, torch.bfloat16, (224, None, "fwd_scan")),
    ({**S9, SL: "128"}, torch.float16, (224, None, "fwd_scan")),
    (S10, torch.bfloat16, (128, "fwd_segw:m6", "fwd_scan:v1")),
    ({**S10, SL: "224"}, torch.bfloat16, (224, "fwd_segw:m6", "fwd_scan:v1")),
    ({**S10, SL: "96", SW: "0"}, torch.bfloat16, (96, "fwd_segst:s2", "fwd_scan:v1")),
    ({**S10, "VIG_TILELANG_FWD_VIEWS": "1"}, torch.bfloat16, (224, None, "fwd_scan:v1")),
]


def short(env):  # a row's name: "shipped" or its differences from S9 / S10
    if env is rc.SHIPPED:
        return "shipped defaults"
    base, name = (S10, "S10") if env.get(SW) == "1" or env.get(SV) == "1" else (S9, "S9")
    return name + "".join(f" {k[13:]}={v}" for k, v in env.items() if base.get(k) != v)


for env, dt, (sl, st, sc) in CFG:
    rc.setenv(env)
    for L in (225, 256, 257, 300, 449, 1000, 4096):
        shape = bench.OpShape(2, 3, L, 32, 64)
        (q, k, v, gf, gb), _ = bench.make_inputs(shape, "cpu", dtype=dt)
        log.clear()
        _KernelFunction.apply(tlb.TileLangBackend(), 32 ** -0.5, q, k, v, gf, gb)
        kinds = [kd for kd, _ in log]
        nseg = log[0][1][-2].shape[2] if log and kinds[0].startswith(("fwd_segst", "fwd_segw")) else None  # WS
        g = f":g{sl}" if sl != 224 else ""
        if st is None:  # not the views path: the copy kinds, 224-token segments
            want = ["fwd_segst", sc, "fwd_fused_seg" + (":m3:x4" if dt == torch.bfloat16 and
                                                        env.get("VIG_TILELANG_FUSED_EXP") != "ref" else
                                                        ":m3:x3" if dt == torch.bfloat16 else "")]
        else:
            want = [st + g, sc, "fwd_fused_seg:s2:m3:x4" + g]
        ok = kinds == want and nseg == -(-L // sl) == -(-(-(-L // 32)) // (sl // 32))
        n += 1
        bad += not ok
        if not ok or L in (300, 4096):
            print(f"{'ok ' if ok else 'BAD'} {short(env)} {str(dt).split('.')[-1]} L {L}: {kinds} NSEG {nseg}"
                  + ("" if ok else f" <- want {want}, NSEG {-(-L // sl)}"))


# VIG_TILELANG_BWD_SEG: the backward's kinds, argument layouts and workspace shapes; no contiguous copies
def bwd_run(env, L, B=2, H=3):
    _, saved, blog, _, bcp = rc.run(env, L, B=B, H=H)
    return rc.kinds(blog), blog, bcp, saved


BCFG = [  # env, expected: segment length of the bwd_segst path (None: the v5 states on copies at L > 224; "v6s":
    # bwd_states at every length; "save": the shipped defaults' SEG_SAVE path)
    ({**S9, BS: "128"}, 128),
    ({**S9, BS: "224"}, 224),
    ({**S9, BS: "128", SL: "128"}, 128),
    ({**S9, BS: ""}, None),
    ({**S9, BS: "128", "VIG_TILELANG_BWD": "v6s"}, "v6s"),
    ({**S9, BS: "128", "VIG_TILELANG_BWD_OUT": "ref"}, None),
    ({**S9, BS: "128", "VIG_TILELANG_BWD_VIEWS": "0"}, 128),
    ({**S9, BS: "128", "VIG_TILELANG_BWD_STATES": "m3"}, 128),
    ({**S9, BS: "128", "VIG_TILELANG_STRIDED": "1"}, None),
    ({**S10, SS: "0"}, 128),  # session 10's forward, the backward recomputing both sides (fwd_scan:v1 over 2B)
    (rc.SHIPPED, "save"),  # the shipped defaults: bwd_segr:m6:g128 and the half-size scan (B, not 2B)
]
for env, sl in BCFG:
    for L in (196, 225, 300, 1000, 4096):
        B, H = 2, 3
        kinds, lg, ncp, saved = bwd_run(env, L, B, H)
        nc, ok = -(-L // 32), True
        sc = "fwd_scan:v1" if env is rc.SHIPPED or env.get(SV) == "1" else "fwd_scan"
        if L <= 224 or sl in (None, "v6s"):  # BWD_SEG does not apply: the same as with it off
            k0, _, n0, _ = bwd_run({**env, BS: ""}, L, B, H)
            ok = kinds == k0 and ncp == n0 and (L <= 224 or not any(k_.startswith("bwd_seg") for k_ in kinds))
        elif sl == "save":  # literal: what the shipped defaults run (session 10)
            nseg = -(-L // 128)
            want = ["bwd_segr:m6:g128", "fwd_scan:v1", "bwd_states_seg:g128", "bwd_out2:t256:x4:s2:w1"]
            a = {kd: ts for kd, ts in lg}
            ok = (kinds == want and not ncp and len(saved) == 2 and int(saved[1]) == 128
                  and all(t.dtype == torch.int64 for t in a[want[0]][:4])
                  and [tuple(t.shape) for t in a["fwd_scan:v1"]] == [(B, H, nseg, 64, 64), (B, H, nseg, 64)]
                  and a[want[2]][6].data_ptr() == saved[0].data_ptr()
                  and a[want[0]][4].data_ptr() == a["fwd_scan:v1"][0].data_ptr() == a[want[2]][7].data_ptr())
        else:
            g = f":g{sl}" if sl != 224 else ""
            nseg = -(-L // sl)
            want = ["bwd_segst" + g, sc, "bwd_states_seg" + g, "bwd_out2:t256:x4:s2:w1"]
            a = {kd: ts for kd, ts in lg}
            ok = (kinds == want and not ncp
                  and all(t.dtype == torch.int64 for kd in (want[0], want[2], want[3]) for t in a[kd][:6])
                  and [tuple(t.shape) for t in a[want[0]][6:]] == [(B, H, nseg, 64, 64)] * 2 + [(B, H, nseg, 64)] * 2
                  and [tuple(t.shape) for t in a[sc]] == [(2 * B, H, nseg, 64, 64), (2 * B, H, nseg, 64)]
                  and [tuple(t.shape) for t in a[want[2]][6:]] == [(B, H, nseg, 64, 64)] * 2 + [(B, H, nc, 64, 64)] * 2
                  and [t.dtype for t in a[want[2]][8:]] == [torch.bfloat16] * 2
                  and a[want[0]][6].data_ptr() == a[sc][0].data_ptr() == a[want[2]][6].data_ptr())
        n += 1
        bad += not ok
        if not ok or L in (300, 4096):
            print(f"{'ok ' if ok else 'BAD'} bwd {short(env)} L {L}: {kinds}, {ncp} contiguous copies")
rc.setenv(S10)
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
for base, val in ((S9, "m3"), (S9, "m2"), (S9, "1"), (S10, "m3")):
    rc.setenv({**base, "VIG_TILELANG_SEGST": val})
    try:
        _KernelFunction.apply(tlb.TileLangBackend(), 32 ** -0.5, q, k, v, gf, gb)
        print(f"BAD SEGST={val} accepted ({short(base)})")
        bad += 1
    except ValueError as e:
        bad += "VIG_TILELANG_SEGST" not in str(e)
        if val == "m3":
            print(f"ok SEGST=m3 raises ({short(base)}): {e}")
    n += 1
rc.setenv({})
print(f"dev_seg_cpu: {n - bad}/{n} ok")
sys.exit(1 if bad else 0)
