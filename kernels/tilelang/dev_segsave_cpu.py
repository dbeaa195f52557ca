"""CPU check of VIG_TILELANG_SEG_SAVE's routing (session 10; no GPU, no compilation: compile_kernel mocked,
CPU tensors, through vig.ops' autograd function): where the forward saves its segment states and the backward
reads them (bwd_segr -> fwd_scan over WSS2 alone -> bwd_states_seg with the forward's WS as WSS), argument
kinds / shapes / storage, no contiguous copies; where it must not (SEG_L != BWD_SEG, BWD_SEG off, BWD=v6s,
fp16, L <= 224, the switch unset, wide heads through the shared layer's tiles) the saved tuple is empty and
the backward runs exactly the kinds it runs without the switch; a forward saved under one segmentation and a
backward under another with the same segment count (L 449: 224 vs 160, NSEG 3 both) recomputes instead of
reading the wrong states; bad values raise. VIG_TILELANG_SCAN_VEC=1 (session 10): every in-place fwd_scan launch
becomes fwd_scan:v1 (same arguments), alone and with SEG_SAVE, nothing else changes; fwd_scan:w1 stays.
Session 10 round 4: every row names its whole configuration (dev_route_common's S9 - SEG_SAVE=0 SEGW=0 SCAN_VEC=0
SEG_L=224 BWD_SEG=128 ... - with changes), so the rows no longer follow the *_DEFAULT lines; SEG_SAVE with SEGW=1 +
SCAN_VEC=1 (fwd_segw's WS saved, fwd_scan:v1 over B) is checked explicitly and, literally, as the shipped defaults
(nothing set; session 10's flips); "SEG_SAVE unset" became "SEG_SAVE empty" and "shipped defaults + SEG_SAVE=0".

    python kernels/tilelang/dev_segsave_cpu.py
"""
import torch

import dev_route_common as rc  # the mocks (compile_kernel, _arch, Tensor.contiguous counted)
from dev_route_common import kinds, tlb

S9 = rc.S9  # every switch written out (dev_route_common): SEG_SAVE=0, SEGW=0, SCAN_VEC=0, SEG_L=224, BWD_SEG=128, ...
check = rc.Checks()


def setenv(env):
    rc.setenv(env)


def run(env, L, **kw):
    """(forward launches, saved, backward launches, the backward's contiguous copies)"""
    flog, saved, blog, _, bcp = rc.run(env, L, **kw)
    return flog, saved, blog, bcp


def name(env):  # a row's name: the shipped defaults, or its differences from S9
    if env is rc.SHIPPED:
        return "shipped defaults"
    return "S9" + "".join(f" {k[13:]}={v}" for k, v in env.items() if S9.get(k) != v)


ON = {**S9, "VIG_TILELANG_SEG_SAVE": "1", "VIG_TILELANG_SEG_L": "128", "VIG_TILELANG_BWD_SEG": "128"}
SW = {"VIG_TILELANG_SEGW": "1", "VIG_TILELANG_SCAN_VEC": "1"}
for L in (225, 257, 300, 449, 1000, 2049, 4096):
    for sl, env in ((128, ON), (224, {**S9, "VIG_TILELANG_SEG_SAVE": "1", "VIG_TILELANG_BWD_SEG": "224"}),
                    (96, {**S9, "VIG_TILELANG_SEG_SAVE": "1", "VIG_TILELANG_SEG_L": "96",
                          "VIG_TILELANG_BWD_SEG": "96"}),
                    (128, {**ON, **SW}), (128, rc.SHIPPED)):
        B, H = 2, 3
        flog, saved, blog, ncp = run(env, L, B=B, H=H)
        g = f":g{sl}" if sl != 224 else ""
        nseg, nc = -(-L // sl), -(-L // 32)
        # the shipped defaults: literal (session 10's flips: SEGW, SCAN_VEC, SEG_L 128, SEG_SAVE all on)
        on = env is rc.SHIPPED or env.get("VIG_TILELANG_SEGW") == "1"
        seg = ("fwd_segw:m6" if on else "fwd_segst:s2") + g
        sc = "fwd_scan:v1" if env is rc.SHIPPED or env.get("VIG_TILELANG_SCAN_VEC") == "1" else "fwd_scan"
        fa = {kd: ts for kd, ts in flog}
        want_f = [seg, sc, "fwd_fused_seg:s2:m3:x4" + g]
        ws = fa[seg][4] if seg in fa else None
        want = [tlb.SEGR_KIND + g, sc, "bwd_states_seg" + g, "bwd_out2:t256:x4:s2:w1"]
        a = {kd: ts for kd, ts in blog}
        ok = (rc.kinds(flog) == want_f and kinds(blog) == want and len(saved) == 2
              and saved[0].data_ptr() == ws.data_ptr() == fa[sc][0].data_ptr()
              == fa["fwd_fused_seg:s2:m3:x4" + g][5].data_ptr() and tuple(saved[0].shape) == (B, H, nseg, 64, 64)
              and saved[0].dtype == torch.float32 and int(saved[1]) == sl and saved[1].device.type == "cpu"
              and not ncp
              and all(t.dtype == torch.int64 for t in a[want[0]][:4]) and len(a[want[0]]) == 6
              and [tuple(t.shape) for t in a[want[0]][4:]] == [(B, H, nseg, 64, 64), (B, H, nseg, 64)]
              and [tuple(t.shape) for t in a[sc]] == [(B, H, nseg, 64, 64), (B, H, nseg, 64)]
              and a[sc][0].data_ptr() == a[want[0]][4].data_ptr() == a[want[2]][7].data_ptr()
              and a[sc][1].data_ptr() == a[want[0]][5].data_ptr()
              and a[want[2]][6].data_ptr() == ws.data_ptr()
              and [tuple(t.shape) for t in a[want[2]][6:]] == [(B, H, nseg, 64, 64)] * 2 + [(B, H, nc, 64, 64)] * 2
              and all(t.dtype == torch.int64 for t in a[want[2]][:6]))
        check(f"SEG_SAVE {name(env)} seg {sl} L {L}: saved WS {tuple(saved[0].shape) if saved else None}, "
              f"bwd {kinds(blog)}", ok, f"fwd {kinds(flog)}")
# where it must not apply: nothing saved, the backward as without the switch
NO = [({**S9, "VIG_TILELANG_SEG_SAVE": "1"}, "SEG_L 224 vs BWD_SEG 128"),
      ({**S9, "VIG_TILELANG_SEG_SAVE": "1", "VIG_TILELANG_SEG_L": "128", "VIG_TILELANG_BWD_SEG": ""}, "BWD_SEG off"),
      ({**ON, "VIG_TILELANG_BWD": "v6s"}, "BWD=v6s"),
      ({**ON, "VIG_TILELANG_BWD_OUT": "ref"}, "BWD_OUT=ref"),
      ({**ON, "VIG_TILELANG_FWD_VIEWS": "1"}, "FWD_VIEWS=1"),
      ({**ON, "VIG_TILELANG_SEG_SAVE": "0"}, "SEG_SAVE=0"),
      ({**ON, "VIG_TILELANG_SEG_SAVE": ""}, "SEG_SAVE empty"),
      ({**rc.S10, "VIG_TILELANG_SEG_SAVE": "0"}, "S10 with SEG_SAVE=0"),
      ({"VIG_TILELANG_SEG_SAVE": "0"}, "shipped defaults + SEG_SAVE=0")]
for env, nm in NO:
    for L in (196, 300, 4096):
        _, saved, blog, ncp = run(env, L)
        _, s0, b0, n0 = run({**env, "VIG_TILELANG_SEG_SAVE": "0"}, L)
        check(f"{nm} L {L}: nothing saved, bwd {kinds(blog)}", saved == () and kinds(blog) == kinds(b0)
              and ncp == n0 and tlb.SEGR_KIND not in " ".join(kinds(blog)), f"saved {len(saved)}")
for dt in (torch.float16, torch.float32):
    _, saved, blog, _ = run(ON, 300, dt=dt)
    check(f"{str(dt).split('.')[-1]} L 300: nothing saved", saved == () and "bwd_segr" not in " ".join(kinds(blog)))
_, saved, blog, _ = run(ON, 300, Kd=64, Vd=128)  # the shared layer's float32 tiles (asserts saved == ())
check("K 64, V 128 (tiles): nothing saved", saved == () and "bwd_segr" not in " ".join(kinds(blog)))
# saved under 224-token segments, backward under 160 (L 449: NSEG 3 both): must recompute (bwd_segst:g160)
E224 = {**S9, "VIG_TILELANG_SEG_SAVE": "1", "VIG_TILELANG_BWD_SEG": "224"}
E160 = {**S9, "VIG_TILELANG_SEG_SAVE": "1", "VIG_TILELANG_SEG_L": "160", "VIG_TILELANG_BWD_SEG": "160"}
_, saved, blog, _ = run(E224, 449, env_bwd=E160)
check(f"saved at 224, backward at 160 (NSEG {-(-449 // 224)} / {-(-449 // 160)}): {kinds(blog)}",
      len(saved) == 2 and kinds(blog)[:1] == ["bwd_segst:g160"])
_, saved, blog, _ = run(ON, 4096, env_bwd={**ON, "VIG_TILELANG_SEG_SAVE": "0"})
check(f"saved, switch off before the backward: {kinds(blog)}", len(saved) == 2 and kinds(blog)[:1] == ["bwd_segst:g128"])
# SCAN_VEC: the same launches with fwd_scan -> fwd_scan:v1 (same arguments), nothing else
for env in (S9, ON, {**S9, "VIG_TILELANG_SEG_L": "128"}, {**S9, "VIG_TILELANG_BWD_SEG": ""},
            {**S9, "VIG_TILELANG_FWD": "v5"}, {**ON, "VIG_TILELANG_SEGW": "1"}):
    for L in (196, 300, 4096):
        f0, s0, b0, _ = run(env, L)
        f1, s1, b1, _ = run({**env, "VIG_TILELANG_SCAN_VEC": "1"}, L)
        sub = lambda ks: [("fwd_scan:v1" if k_ == "fwd_scan" else k_) for k_ in ks]  # noqa: E731
        same_args = all([t.shape for t in a0] == [t.shape for t in a1] for (_, a0), (_, a1) in zip(f0 + b0, f1 + b1))
        check(f"SCAN_VEC=1 {name(env)} L {L}: fwd {kinds(f1)}, bwd {kinds(b1)}",
              kinds(f1) == sub(kinds(f0)) and kinds(b1) == sub(kinds(b0)) and same_args and len(s1) == len(s0)
              and (L <= 224 or "fwd_scan:v1" in kinds(f1) + kinds(b1)), f"without: {kinds(f0)} {kinds(b0)}")
for var, fn, vals in (("VIG_TILELANG_SCAN_VEC", tlb._scan_kind, ("2", "x")),
                      ("VIG_TILELANG_SEG_SAVE", tlb._seg_save, ("2", "x", "true"))):
    for val in vals:
        setenv({**S9, var: val})
        check.raises(f"{var[len('VIG_TILELANG_'):]}={val} raises", var, fn)
setenv({})
check.done("dev_segsave_cpu")
