"""CPU check of VIG_TILELANG_SEGW's routing (session 10 round 2; no GPU, no compilation: compile_kernel mocked,
CPU tensors, through vig.ops' autograd function, dev_route_common.py's harness): with SEGW=1 the FWD_VIEWS=2
segment forward launches SEGW_KIND[:g<n>] where it launched fwd_segst:s2[:g<n>], with the same arguments (int64
views of k, v, gf, gb; the same WS / DW that fwd_scan then scans and fwd_fused_seg reads, and with SEG_SAVE the
backward's saved WS), nothing else changes (forward and backward kinds, argument shapes, copies, what is saved);
where the segment forward does not run on views (L <= 224, FWD_VIEWS=1, fp16, fp32, FWD=v5, wide heads) nothing
changes at all; bad values raise. Session 10 round 4: every row names its whole configuration (dev_route_common's S9,
i.e. SEGW=0 SEG_SAVE=0 SCAN_VEC=0 SEG_L=224 BWD_SEG=128 ..., with changes); the shipped defaults (SEGW "1" since
session 10's flips) are checked by literal rows with nothing set: fwd_segw:m6:g128 -> fwd_scan:v1 ->
fwd_fused_seg:s2:m3:x4:g128 and SEG_SAVE's backward reading fwd_segw's WS; SEGW=0 alone gives back fwd_segst:s2:g128.

    python kernels/tilelang/dev_segw_cpu.py
"""
import torch

import dev_route_common as rc  # the mocks (compile_kernel, _arch, Tensor.contiguous counted)
from dev_route_common import kinds, sig, tlb

S9 = rc.S9  # every switch written out (dev_route_common): SEGW=0, SEG_SAVE=0, SCAN_VEC=0, SEG_L=224, BWD_SEG=128, ...
check = rc.Checks()


def setenv(env):
    rc.setenv(env)


def name(env):  # a row's name: the shipped defaults, or its differences from S9
    if env is rc.SHIPPED:
        return "shipped defaults"
    if not set(S9) <= set(env):
        return "shipped defaults +" + "".join(f" {k[13:]}={v}" for k, v in env.items())
    return "S9" + "".join(f" {k[13:]}={v}" for k, v in env.items() if S9.get(k) != v)


def run(env, L, **kw):
    """(forward launches, saved, backward launches, contiguous copies of both)"""
    flog, saved, blog, fcp, bcp = rc.run(env, L, **kw)
    return flog, saved, blog, fcp + bcp


W = {"VIG_TILELANG_SEGW": "1"}
SAVE = {"VIG_TILELANG_SEG_SAVE": "1", "VIG_TILELANG_SEG_L": "128", "VIG_TILELANG_BWD_SEG": "128"}
for env, sl in ((S9, 224), ({**S9, "VIG_TILELANG_SEG_L": "128"}, 128), ({**S9, **SAVE}, 128),
                ({**S9, **SAVE, "VIG_TILELANG_SCAN_VEC": "1"}, 128), ({**S9, "VIG_TILELANG_SEG_L": "96"}, 96),
                ({**S9, "VIG_TILELANG_SEG_L": "32"}, 32), ({**rc.S10, "VIG_TILELANG_SEGW": "0"}, 128)):
    for L in (225, 257, 449, 1000, 4096):
        f0, s0, b0, c0 = run(env, L)
        f1, s1, b1, c1 = run({**env, **W}, L)
        g = f":g{sl}" if sl != 224 else ""
        old, new = "fwd_segst:s2" + g, tlb.SEGW_KIND + g
        a = {kd: ts for kd, ts in f1}
        scan = [kd for kd in kinds(f1) if kd.startswith("fwd_scan")]
        fused = [kd for kd in kinds(f1) if kd.startswith("fwd_fused_seg")]
        ok = (kinds(f1) == [new if k_ == old else k_ for k_ in kinds(f0)] and old in kinds(f0) and new in a
              and sig(f1) == sig(f0) and kinds(b1) == kinds(b0) and sig(b1) == sig(b0) and c1 == c0 == 0
              and len(s1) == len(s0) and all(t.dtype == torch.int64 for t in a[new][:4])
              and len(scan) == 1 and len(fused) == 1
              and a[new][4].data_ptr() == a[scan[0]][0].data_ptr() == a[fused[0]][5].data_ptr()
              and a[new][5].data_ptr() == a[scan[0]][1].data_ptr()
              and [tuple(t.shape) for t in a[new][4:]] == [(2, 3, -(-L // sl), 64, 64), (2, 3, -(-L // sl), 64)]
              and (not s1 or s1[0].data_ptr() == a[new][4].data_ptr()))
        check(f"SEGW=1 {name(env)} L {L}: fwd {kinds(f1)}", ok, f"without: {kinds(f0)}; copies {c0} {c1}")
# where the segment forward is not on views: nothing changes
for env in ({**S9, "VIG_TILELANG_FWD_VIEWS": "1"}, {**S9, "VIG_TILELANG_FWD": "v5"},
            {**S9, "VIG_TILELANG_FWD_VIEWS": "0"}, S9):
    for L in ((196, 300, 4096) if env is not S9 else (196,)):
        f0, s0, b0, c0 = run(env, L)
        f1, s1, b1, c1 = run({**env, **W}, L)
        check(f"SEGW=1 {name(env)} L {L}: unchanged {kinds(f1)}", kinds(f1) == kinds(f0) and kinds(b1) == kinds(b0)
              and sig(f1) == sig(f0) and c1 == c0 and "fwd_segw" not in " ".join(kinds(f1)))
for dt in (torch.float16, torch.float32):
    f0, _, b0, _ = run(S9, 300, dt=dt)
    f1, _, b1, _ = run({**S9, **W}, 300, dt=dt)
    check(f"SEGW=1 {str(dt).split('.')[-1]} L 300: unchanged", kinds(f1) == kinds(f0) and kinds(b1) == kinds(b0)
          and "fwd_segw" not in " ".join(kinds(f1)))
f0, _, _, _ = run(S9, 300, Kd=64, Vd=128)
f1, _, _, _ = run({**S9, **W}, 300, Kd=64, Vd=128)
check("SEGW=1 K 64, V 128 (tiles): unchanged", kinds(f1) == kinds(f0) and "fwd_segw" not in " ".join(kinds(f1)))
f0, _, _, _ = run({**S9, "VIG_TILELANG_SEGW": ""}, 4096)
f1, _, _, _ = run(S9, 4096)
check("SEGW=\"\" = SEGW=0", kinds(f0) == kinds(f1) and "fwd_segw" not in " ".join(kinds(f0)))
# the shipped defaults (nothing set; literal, session 10's flips: SEGW 1, SEG_L 128, SCAN_VEC 1, SEG_SAVE 1) and the
# previous forward still selectable with SEGW=0 alone
for env, seg in ((rc.SHIPPED, "fwd_segw:m6:g128"), ({"VIG_TILELANG_SEGW": "0"}, "fwd_segst:s2:g128")):
    for L in (300, 4096):
        f1, s1, b1, c1 = run(env, L)
        a = {kd: ts for kd, ts in f1}
        ok = (kinds(f1) == [seg, "fwd_scan:v1", "fwd_fused_seg:s2:m3:x4:g128"] and c1 == 0
              and kinds(b1) == ["bwd_segr:m6:g128", "fwd_scan:v1", "bwd_states_seg:g128", "bwd_out2:t256:x4:s2:w1"]
              and len(s1) == 2 and s1[0].data_ptr() == a[seg][4].data_ptr()
              and tuple(a[seg][4].shape) == (2, 3, -(-L // 128), 64, 64))
        check(f"{name(env)} L {L}: fwd {kinds(f1)}, bwd {kinds(b1)}", ok, f"copies {c1}, saved {len(s1)}")
for val in ("2", "x", "m6", "true"):
    setenv({**S9, "VIG_TILELANG_SEGW": val})
    check.raises(f"SEGW={val} raises", "VIG_TILELANG_SEGW", lambda: run({**S9, "VIG_TILELANG_SEGW": val}, 300))
setenv({**S9, "VIG_TILELANG_SEGST": "m3", **W})
check.raises("removed SEGST=m3 still raises with SEGW=1", "VIG_TILELANG_SEGST",
             lambda: run({**S9, "VIG_TILELANG_SEGST": "m3", **W}, 300))
setenv({})
check.done("dev_segw_cpu")
