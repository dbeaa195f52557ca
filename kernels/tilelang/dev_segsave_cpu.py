"""CPU check of VIG_TILELANG_SEG_SAVE's routing (session 10; no GPU, no compilation: compile_kernel mocked,
CPU tensors, through vig.ops' autograd function): where the forward saves its segment states and the backward
reads them (bwd_segr -> fwd_scan over WSS2 alone -> bwd_states_seg with the forward's WS as WSS), argument
kinds / shapes / storage, no contiguous copies; where it must not (SEG_L != BWD_SEG, BWD_SEG off, BWD=v6s,
fp16, L <= 224, the switch unset, wide heads through the shared layer's tiles) the saved tuple is empty and
the backward runs exactly the kinds it runs without the switch; a forward saved under one segmentation and a
backward under another with the same segment count (L 449: 224 vs 160, NSEG 3 both) recomputes instead of
reading the wrong states; bad values raise. VIG_TILELANG_SCAN_VEC=1 (session 10): every in-place fwd_scan launch
becomes fwd_scan:v1 (same arguments), alone and with SEG_SAVE, nothing else changes; fwd_scan:w1 stays.

    python kernels/tilelang/dev_segsave_cpu.py
"""
import torch

import dev_route_common as rc  # the mocks (compile_kernel, _arch, Tensor.contiguous counted)
from dev_route_common import kinds, tlb

KEYS = ("VIG_TILELANG_SEG_SAVE", "VIG_TILELANG_SEG_L", "VIG_TILELANG_BWD_SEG", "VIG_TILELANG_BWD",
        "VIG_TILELANG_FWD_VIEWS", "VIG_TILELANG_BWD_OUT", "VIG_TILELANG_STRIDED", "VIG_TILELANG_SCAN_VEC")
check = rc.Checks()


def setenv(env):
    rc.setenv(KEYS, env)


def run(env, L, **kw):
    """(forward launches, saved, backward launches, the backward's contiguous copies)"""
    flog, saved, blog, _, bcp = rc.run(KEYS, env, L, **kw)
    return flog, saved, blog, bcp


ON = {"VIG_TILELANG_SEG_SAVE": "1", "VIG_TILELANG_SEG_L": "128", "VIG_TILELANG_BWD_SEG": "128"}
for L in (225, 257, 300, 449, 1000, 2049, 4096):
    for sl, env in ((128, ON), (224, {"VIG_TILELANG_SEG_SAVE": "1", "VIG_TILELANG_BWD_SEG": "224"}),
                    (96, {"VIG_TILELANG_SEG_SAVE": "1", "VIG_TILELANG_SEG_L": "96", "VIG_TILELANG_BWD_SEG": "96"})):
        B, H = 2, 3
        flog, saved, blog, ncp = run(env, L, B=B, H=H)
        g = f":g{sl}" if sl != 224 else ""
        nseg, nc = -(-L // sl), -(-L // 32)
        fa = {kd: ts for kd, ts in flog}
        ws = fa["fwd_segst:s2" + g][4]
        want = [tlb.SEGR_KIND + g, "fwd_scan", "bwd_states_seg" + g, "bwd_out2:t256:x4:s2:w1"]
        a = {kd: ts for kd, ts in blog}
        ok = (len(saved) == 2 and saved[0].data_ptr() == ws.data_ptr() == fa["fwd_scan"][0].data_ptr()
              == fa["fwd_fused_seg:s2:m3:x4" + g][5].data_ptr() and tuple(saved[0].shape) == (B, H, nseg, 64, 64)
              and saved[0].dtype == torch.float32 and int(saved[1]) == sl and saved[1].device.type == "cpu"
              and kinds(blog) == want and not ncp
              and all(t.dtype == torch.int64 for t in a[want[0]][:4]) and len(a[want[0]]) == 6
              and [tuple(t.shape) for t in a[want[0]][4:]] == [(B, H, nseg, 64, 64), (B, H, nseg, 64)]
              and [tuple(t.shape) for t in a["fwd_scan"]] == [(B, H, nseg, 64, 64), (B, H, nseg, 64)]
              and a["fwd_scan"][0].data_ptr() == a[want[0]][4].data_ptr() == a[want[2]][7].data_ptr()
              and a["fwd_scan"][1].data_ptr() == a[want[0]][5].data_ptr()
              and a[want[2]][6].data_ptr() == ws.data_ptr()
              and [tuple(t.shape) for t in a[want[2]][6:]] == [(B, H, nseg, 64, 64)] * 2 + [(B, H, nc, 64, 64)] * 2
              and all(t.dtype == torch.int64 for t in a[want[2]][:6]))
        check(f"SEG_SAVE seg {sl} L {L}: saved WS {tuple(saved[0].shape) if saved else None}, bwd {kinds(blog)}", ok,
              f"fwd {kinds(flog)}")
# where it must not apply: nothing saved, the backward as without the switch
NO = [({"VIG_TILELANG_SEG_SAVE": "1"}, "SEG_L 224 vs BWD_SEG 128 (shipped BWD_SEG)"),
      ({"VIG_TILELANG_SEG_SAVE": "1", "VIG_TILELANG_SEG_L": "128", "VIG_TILELANG_BWD_SEG": ""}, "BWD_SEG off"),
      ({**ON, "VIG_TILELANG_BWD": "v6s"}, "BWD=v6s"),
      ({**ON, "VIG_TILELANG_BWD_OUT": "ref"}, "BWD_OUT=ref"),
      ({**ON, "VIG_TILELANG_FWD_VIEWS": "1"}, "FWD_VIEWS=1"),
      ({**ON, "VIG_TILELANG_SEG_SAVE": "0"}, "SEG_SAVE=0"),
      ({k_: v_ for k_, v_ in ON.items() if k_ != "VIG_TILELANG_SEG_SAVE"}, "SEG_SAVE unset")]
for env, name in NO:
    for L in (196, 300, 4096):
        _, saved, blog, ncp = run(env, L)
        _, s0, b0, n0 = run({k_: v_ for k_, v_ in env.items() if k_ != "VIG_TILELANG_SEG_SAVE"}, L)
        check(f"{name} L {L}: nothing saved, bwd {kinds(blog)}", saved == () and kinds(blog) == kinds(b0)
              and ncp == n0 and tlb.SEGR_KIND not in " ".join(kinds(blog)), f"saved {len(saved)}")
for dt in (torch.float16, torch.float32):
    _, saved, blog, _ = run(ON, 300, dt=dt)
    check(f"{str(dt).split('.')[-1]} L 300: nothing saved", saved == () and "bwd_segr" not in " ".join(kinds(blog)))
_, saved, blog, _ = run(ON, 300, Kd=64, Vd=128)  # the shared layer's float32 tiles (asserts saved == ())
check("K 64, V 128 (tiles): nothing saved", saved == () and "bwd_segr" not in " ".join(kinds(blog)))
# saved under 224-token segments, backward under 160 (L 449: NSEG 3 both): must recompute (bwd_segst:g160)
E224 = {"VIG_TILELANG_SEG_SAVE": "1", "VIG_TILELANG_BWD_SEG": "224"}
E160 = {"VIG_TILELANG_SEG_SAVE": "1", "VIG_TILELANG_SEG_L": "160", "VIG_TILELANG_BWD_SEG": "160"}
_, saved, blog, _ = run(E224, 449, env_bwd=E160)
check(f"saved at 224, backward at 160 (NSEG {-(-449 // 224)} / {-(-449 // 160)}): {kinds(blog)}",
      len(saved) == 2 and kinds(blog)[:1] == ["bwd_segst:g160"])
_, saved, blog, _ = run(ON, 4096, env_bwd={k_: v_ for k_, v_ in ON.items() if k_ != "VIG_TILELANG_SEG_SAVE"})
check(f"saved, switch off before the backward: {kinds(blog)}", len(saved) == 2 and kinds(blog)[:1] == ["bwd_segst:g128"])
# SCAN_VEC: the same launches with fwd_scan -> fwd_scan:v1 (same arguments), nothing else
for env in ({}, ON, {"VIG_TILELANG_SEG_L": "128"}, {"VIG_TILELANG_BWD_SEG": ""}, {"VIG_TILELANG_FWD": "v5"}):
    for L in (196, 300, 4096):
        f0, s0, b0, _ = run(env, L)
        f1, s1, b1, _ = run({**env, "VIG_TILELANG_SCAN_VEC": "1"}, L)
        sub = lambda ks: [("fwd_scan:v1" if k_ == "fwd_scan" else k_) for k_ in ks]  # noqa: E731
        same_args = all([t.shape for t in a0] == [t.shape for t in a1] for (_, a0), (_, a1) in zip(f0 + b0, f1 + b1))
        check(f"SCAN_VEC=1 {env} L {L}: fwd {kinds(f1)}, bwd {kinds(b1)}",
              kinds(f1) == sub(kinds(f0)) and kinds(b1) == sub(kinds(b0)) and same_args and len(s1) == len(s0)
              and (L <= 224 or "fwd_scan:v1" in kinds(f1) + kinds(b1)), f"without: {kinds(f0)} {kinds(b0)}")
for var, fn, vals in (("VIG_TILELANG_SCAN_VEC", tlb._scan_kind, ("2", "x")),
                      ("VIG_TILELANG_SEG_SAVE", tlb._seg_save, ("2", "x", "true"))):
    for val in vals:
        setenv({var: val})
        check.raises(f"{var[len('VIG_TILELANG_'):]}={val} raises", var, fn)
setenv({})
check.done("dev_segsave_cpu")
