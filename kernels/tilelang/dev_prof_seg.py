"""Per-kernel timings (CUDA-event medians through bench.median_ms, ms) of the 1024 px path (session 9):
the FWD_VIEWS=2 segment forward (fwd_segst:s2[:g<n>] -> fwd_scan -> fwd_fused_seg:s2:m3:x4[:g<n>])
at each segment configuration, on bench.make_inputs' views packed as the backend packs them, plus
max |o - o_shipped| / max |o_shipped| (the configurations sum the segments in another order: close,
not bit-identical); and the shipped bf16 LOWMEM backward at L = 4096 (v5 states: the five contiguous
copies the backend makes, fwd_st -> fwd_scan:w1, bwd_st -> fwd_scan:w1, bwd_out2:t256:x4:w1).
Every kernel is the shipped one or a session-9 cache entry; a missing one compiles (~10-30 s).

    python kernels/tilelang/dev_prof_seg.py [SHAPE ...]     (default: ViG-T@1024 ViG-S@1024)
    DEV_PROF_SEG="224,128"  (segment lengths) overrides the configurations
    (session 9's "128:m3", fwd_segst:s2:m3 for VIG_TILELANG_SEGST=m3, was removed: git history at fdf897e)

Also the backward's states on 128-token segments (VIG_TILELANG_BWD_SEG=128): bwd_segst:g128, the one fwd_scan
over both workspaces, bwd_states_seg:g128, and max |states_seg - states_v5| / max |states_v5| of the bf16 WS /
WS2 both paths produce (close, not equal: another summation order, both rounded to bf16).

    python kernels/tilelang/dev_prof_seg.py --san     (for compute-sanitizer: one fwd+bwd through the backend
    at L = 225 and 449, bf16, B 2, H 3, with whatever VIG_TILELANG_* the environment sets)
    python kernels/tilelang/dev_prof_seg.py --san-seg (for racecheck: session 9's four kernels and fwd_scan
    once each, L = 449, no other kernel)

Session 10 (VIG_TILELANG_SEG_SAVE=1): per shape one more line, the backward's states from the forward's saved
segment states: bwd_segr:m6:g128 (SEG_SAVE's kind; also :m3 / :m4 for the blocks-per-SM choice) -> fwd_scan over
WSS2 alone (B) -> bwd_states_seg:g128 with the forward's WS (fwd_segst:s2:g128 -> fwd_scan) as WSS, and the bf16
states' distance to BWD_SEG=128's; plus fwd_scan timed alone (in place, repeated: no copy subtracted) at B and 2B,
and VIG_TILELANG_SCAN_VEC's fwd_scan:v1 the same way, with whether its states equal fwd_scan's bit for bit.

    python kernels/tilelang/dev_prof_seg.py --san-segr (for racecheck / memcheck: fwd_segst:s2:g128 -> fwd_scan ->
    bwd_segr:m6:g128 -> fwd_scan -> bwd_states_seg:g128 once each, L = 449, B 2, H 3)

Session 10 round 2 (VIG_TILELANG_SEGW=1): per shape and segment length one more line, "SEGW": SEGW_KIND[:g<n>]
(fwd_segw: one walker, each chunk loaded once; also :m4 at 128) timed beside fwd_segst:s2[:g<n>] on the same views,
max |WS - WS_segst| / max |WS_segst| (and DW) of the per-segment totals, and of o after fwd_scan + fwd_fused_seg
from either (close, not equal: S_b summed in the other order, x rounded to bf16 with the decay folded in).

    python kernels/tilelang/dev_prof_seg.py --san-segw (for racecheck / memcheck: fwd_segw:m6:g128 and
    fwd_segw:m6 (224) once each at L = 449 and 300, then fwd_scan + fwd_fused_seg:s2:m3:x4:g128 from its WS, and
    fwd_segst:s2:g128 on the same inputs: the rel diff of WS, DW and o; session 10 round 4: the scan is the
    backend's (_scan_kind: fwd_scan:v1 with SCAN_VEC "1", the default), and a line per L names the kinds run,
    after VIG_TILELANG_RACEFIX's mapping (":r1" twins of fwd_fused_seg with RACEFIX=1))
"""
import os
import sys

import torch

from vig import bench
from vig_kernels import tilelang as tlb
from vig_kernels.tilelang import compile_kernel

A = "sm_90a"
CFGS = [int(c) for c in os.environ.get("DEV_PROF_SEG", "224,128").split(",")]
if "--san" in sys.argv:
    import vig

    for L in (225, 449):
        (q, k, v, gf, gb), _ = bench.make_inputs(bench.OpShape(2, 3, L, 32, 64), "cuda")
        leaves = [x.detach().requires_grad_() for x in (q, k, v, gf, gb)]
        o = vig.bidirectional_gla(*leaves, backend="tilelang")
        gr = torch.autograd.grad(o, leaves, torch.randn_like(o))
        torch.cuda.synchronize()
        print(f"san L {L}: finite {all(bool(torch.isfinite(t).all()) for t in (o, *gr))}", flush=True)
    sys.exit(0)


def kk(n):
    return compile_kernel(n, 32, 64, "bfloat16", A)


if "--san-segr" in sys.argv:  # SEG_SAVE's data flow, once each (L = 449, B 2, H 3)
    (q, k, v, gf, gb), _ = bench.make_inputs(bench.OpShape(2, 3, 449, 32, 64), "cuda")
    pq, pk, pv, pf, pb = tlb._packed_all(q, k, v, gf, gb)
    pdo = torch.randn(2, 449, 3, 64, device="cuda", dtype=torch.bfloat16).view(torch.int64)
    f32 = dict(device="cuda", dtype=torch.float32)
    nseg, nc = -(-449 // 128), -(-449 // 32)
    scan = compile_kernel("fwd_scan", 32, 64, "float32", A)
    ws, dw = torch.zeros(2, 3, nseg, 64, 64, **f32), torch.zeros(2, 3, nseg, 64, **f32)
    kk("fwd_segst:s2:g128")(pk, pv, pf, pb, ws, dw)
    scan(ws, dw)
    w2, d2 = torch.zeros(2, 3, nseg, 64, 64, **f32), torch.zeros(2, 3, nseg, 64, **f32)
    kk(tlb.SEGR_KIND + ":g128")(pq, pf, pb, pdo, w2, d2, 0.0884)
    scan(w2, d2)
    w, w_2 = torch.empty(2, 2, 3, nc, 64, 64, device="cuda", dtype=torch.bfloat16)
    kk("bwd_states_seg:g128")(pq, pk, pv, pf, pb, pdo, ws, w2, w, w_2, 0.0884)
    torch.cuda.synchronize()
    print(f"san-segr: finite {all(bool(torch.isfinite(t.float()).all()) for t in (w, w_2))}", flush=True)
    sys.exit(0)


if "--san-segw" in sys.argv:  # SEGW's kernel once per segment length, then the rest of the forward (B 2, H 3)
    f32 = dict(device="cuda", dtype=torch.float32)
    for L, g in ((449, ":g128"), (300, "")):
        (q, k, v, gf, gb), _ = bench.make_inputs(bench.OpShape(2, 3, L, 32, 64), "cuda")
        pq, pk, pv, pf, pb = tlb._packed_all(q, k, v, gf, gb)
        nseg = -(-L // (128 if g else 224))
        ws, dw = torch.full((2, 3, nseg, 64, 64), 7.0, **f32), torch.full((2, 3, nseg, 64), 7.0, **f32)
        kk(tlb.SEGW_KIND + g)(pk, pv, pf, pb, ws, dw)
        ws0, dw0 = torch.zeros_like(ws), torch.zeros_like(dw)
        kk("fwd_segst:s2" + g)(pk, pv, pf, pb, ws0, dw0)
        scan = compile_kernel(tlb._scan_kind(), 32, 64, "float32", A)  # the backend's (SCAN_VEC "1": fwd_scan:v1)
        o, o0 = torch.empty(2, 2, L, 3, 64, device="cuda", dtype=torch.bfloat16)
        fu = kk("fwd_fused_seg:s2:m3:x4" + g)
        print(f"san-segw L {L} kinds: " + ", ".join(tlb._racefix(k_) for k_ in (
            tlb.SEGW_KIND + g, "fwd_segst:s2" + g, tlb._scan_kind(), "fwd_fused_seg:s2:m3:x4" + g)), flush=True)
        rw, rd = (float((a - b).abs().max() / b.abs().max()) for a, b in ((ws, ws0), (dw, dw0)))
        scan(ws, dw), scan(ws0, dw0)
        fu(pq, pk, pv, pf, pb, ws, o, 0.0884)
        fu(pq, pk, pv, pf, pb, ws0, o0, 0.0884)
        torch.cuda.synchronize()
        ro = float((o.float() - o0.float()).abs().max() / o0.float().abs().max())
        print(f"san-segw L {L} {tlb.SEGW_KIND + g}: finite {bool(torch.isfinite(ws).all() and torch.isfinite(o.float()).all())}"
              f" | vs fwd_segst:s2{g}: rel diff WS {rw:.2e}, DW {rd:.2e}, o {ro:.2e}", flush=True)
    sys.exit(0)


if "--san-seg" in sys.argv:  # only session 9's kernels, once each (L = 449, B 2, H 3): for racecheck
    (q, k, v, gf, gb), _ = bench.make_inputs(bench.OpShape(2, 3, 449, 32, 64), "cuda")
    pq, pk, pv, pf, pb = tlb._packed_all(q, k, v, gf, gb)
    pdo = torch.randn(2, 449, 3, 64, device="cuda", dtype=torch.bfloat16).view(torch.int64)
    f32 = dict(device="cuda", dtype=torch.float32)
    nseg, nc = -(-449 // 128), -(-449 // 32)
    ws, dw = torch.zeros(2, 3, nseg, 64, 64, **f32), torch.zeros(2, 3, nseg, 64, **f32)
    o = torch.empty(2, 449, 3, 64, device="cuda", dtype=torch.bfloat16)
    kk("fwd_segst:s2:g128")(pk, pv, pf, pb, ws, dw)
    compile_kernel("fwd_scan", 32, 64, "float32", A)(ws, dw)
    kk("fwd_fused_seg:s2:m3:x4:g128")(pq, pk, pv, pf, pb, ws, o, 0.0884)
    wss, dws = torch.zeros(2, 2, 3, nseg, 64, 64, **f32), torch.zeros(2, 2, 3, nseg, 64, **f32)
    kk("bwd_segst:g128")(pq, pk, pv, pf, pb, pdo, wss[0], wss[1], dws[0], dws[1], 0.0884)
    compile_kernel("fwd_scan", 32, 64, "float32", A)(wss.view(4, 3, nseg, 64, 64), dws.view(4, 3, nseg, 64))
    w, w2 = torch.empty(2, 2, 3, nc, 64, 64, device="cuda", dtype=torch.bfloat16)
    kk("bwd_states_seg:g128")(pq, pk, pv, pf, pb, pdo, wss[0], wss[1], w, w2, 0.0884)
    torch.cuda.synchronize()
    print(f"san-seg: finite {all(bool(torch.isfinite(t.float()).all()) for t in (o, w, w2))}", flush=True)
    sys.exit(0)


def med(fn):  # shorter than the bench's 25 + 200 ms: 13 medians per shape inside the timing box
    return bench.median_ms(fn, warmup_ms=10, rep_ms=80)


def rel(a, b):
    return float((a.float() - b.float()).abs().max() / b.float().abs().max().clamp_min(1e-30))


scan = compile_kernel("fwd_scan", 32, 64, "float32", A)
for shape_name in [a for a in sys.argv[1:] if not a.startswith("-")] or ("ViG-T@1024", "ViG-S@1024"):
    shape = bench.OpShape(*bench.SHAPES[shape_name])
    (q, k, v, gf, gb), _ = bench.make_inputs(shape, "cuda")
    B, L, H, _ = q.shape
    pq, pk, pv, pf, pb = tlb._packed_all(q, k, v, gf, gb)
    o_ref = None
    for sl in CFGS:
        g = f":g{sl}" if sl != tlb.V6_MAX_L else ""
        st, fu = kk("fwd_segst:s2" + g), kk("fwd_fused_seg:s2:m3:x4" + g)
        nseg = -(-L // sl)
        ws = torch.empty(B, H, nseg, 64, 64, device="cuda", dtype=torch.float32)
        dw = torch.empty(B, H, nseg, 64, device="cuda", dtype=torch.float32)
        o = torch.empty_like(v, memory_format=torch.contiguous_format)
        t_st = med(lambda: st(pk, pv, pf, pb, ws, dw))
        st(pk, pv, pf, pb, ws, dw)
        ws0, dw0 = ws.clone(), dw.clone()
        t_cp = med(lambda: (ws.copy_(ws0), dw.copy_(dw0)))
        t_sc = med(lambda: (ws.copy_(ws0), dw.copy_(dw0), scan(ws, dw))) - t_cp  # scan works in place
        ws.copy_(ws0), dw.copy_(dw0), scan(ws, dw)
        t_fu = med(lambda: fu(pq, pk, pv, pf, pb, ws, o, 0.0884))
        torch.cuda.synchronize()
        if o_ref is None:
            o_ref = o.clone()
        print(f"{shape_name} seg {sl:3d}: fwd_segst {t_st:.4f} | fwd_scan {t_sc:.4f} "
              f"({nseg} segs) | fwd_fused_seg {t_fu:.4f} | sum {t_st + t_sc + t_fu:.4f} ms | "
              f"rel diff o vs first {rel(o, o_ref):.2e}", flush=True)
        # SEGW (session 10 round 2): the same totals from one walker, beside fwd_segst on the same views
        sw = kk(tlb.SEGW_KIND + g)
        w1, d1 = torch.empty_like(ws), torch.empty_like(dw)
        t_w = {tlb.SEGW_KIND: med(lambda: sw(pk, pv, pf, pb, w1, d1))}
        if sl == 128 and tlb.SEGW_KIND != "fwd_segw:m4":
            sw4 = kk("fwd_segw:m4:g128")
            t_w["m4"] = med(lambda: sw4(pk, pv, pf, pb, w1, d1))
        t_st2 = med(lambda: st(pk, pv, pf, pb, ws, dw))  # again, beside
        sw(pk, pv, pf, pb, w1, d1)
        torch.cuda.synchronize()
        r_ws, r_dw = rel(w1, ws0), rel(d1, dw0)
        scan(w1, d1)
        o1 = torch.empty_like(o)
        fu(pq, pk, pv, pf, pb, w1, o1, 0.0884)
        torch.cuda.synchronize()
        tw = t_w[tlb.SEGW_KIND]
        print(f"{shape_name} seg {sl:3d} SEGW: {tlb.SEGW_KIND}{g} {tw:.4f}"
              + "".join(f" ({m_} {t_:.4f})" for m_, t_ in t_w.items() if m_ != tlb.SEGW_KIND)
              + f" | fwd_segst:s2{g} {t_st2:.4f} | forward sum with it {tw + t_sc + t_fu:.4f} ms "
              f"(fwd_segst: {t_st + t_sc + t_fu:.4f}) | rel diff vs fwd_segst: WS {r_ws:.2e}, DW {r_dw:.2e}, "
              f"o {rel(o1, o):.2e}", flush=True)
    # the shipped backward at L = 4096 (bf16 LOWMEM, v5 states)
    do = torch.randn_like(v, memory_format=torch.contiguous_format)
    t_copy = med(lambda: [x.contiguous() for x in (q, k, v, gf, gb)])
    q, k, v, gf, gb = (x.contiguous() for x in (q, k, v, gf, gb))
    nc = -(-L // 32)
    f32 = dict(device="cuda", dtype=torch.float32)
    ws, ws2 = torch.empty(2, B, H, nc, 64, 64, **f32)
    dw, dw2 = torch.empty(2, B, H, nc, 64, **f32)
    wsb, wsb2 = torch.empty(2, B, H, nc, 64, 64, device="cuda", dtype=torch.bfloat16)
    fst, bst, sw1 = kk("fwd_st"), kk("bwd_st"), compile_kernel("fwd_scan:w1", 32, 64, "float32", A)
    bo = kk("bwd_out2:t256:x4:w1")
    t_fst = med(lambda: fst(k, v, gf, gb, ws, dw))
    t_bst = med(lambda: bst(q, do, gf, gb, ws2, dw2, 0.0884))
    t_sw = med(lambda: sw1(ws, dw, wsb))  # the scan reads ws / dw, writes wsb: repeatable
    sw1(ws2, dw2, wsb2)
    gq = [torch.empty(B, L, H, 32, device="cuda", dtype=torch.bfloat16) for _ in range(2)]
    gv = torch.empty(B, L, H, 64, device="cuda", dtype=torch.bfloat16)
    gg = [torch.empty(B, L, H, 32, **f32) for _ in range(2)]
    t_bo = med(lambda: bo(q, k, v, gf, gb, do, wsb, wsb2, gq[0], gq[1], gv, gg[0], gg[1], 0.0884))
    print(f"{shape_name} bwd (shipped, L {L}): 5 copies {t_copy:.4f} | fwd_st {t_fst:.4f} | fwd_scan:w1 {t_sw:.4f} (x2) | "
          f"bwd_st {t_bst:.4f} | bwd_out2:t256:x4:w1 {t_bo:.4f} | sum {t_copy + t_fst + 2 * t_sw + t_bst + t_bo:.4f} ms",
          flush=True)
    # BWD_SEG=128: the states on segments, on the packed views (as the backend runs them)
    fst(k, v, gf, gb, ws, dw)
    sw1(ws, dw, wsb)
    bst(q, do, gf, gb, ws2, dw2, 0.0884)
    sw1(ws2, dw2, wsb2)
    pdo = do.view(torch.int64)
    nseg = -(-L // 128)
    wss = torch.empty(2, B, H, nseg, 64, 64, **f32)
    dws = torch.empty(2, B, H, nseg, 64, **f32)
    sgst, sgs = kk("bwd_segst:g128"), kk("bwd_states_seg:g128")
    sws, sws2 = torch.empty(2, B, H, nc, 64, 64, device="cuda", dtype=torch.bfloat16)
    t_sst = med(lambda: sgst(pq, pk, pv, pf, pb, pdo, wss[0], wss[1], dws[0], dws[1], 0.0884))
    sgst(pq, pk, pv, pf, pb, pdo, wss[0], wss[1], dws[0], dws[1], 0.0884)
    w0, d0 = wss.clone(), dws.clone()
    wv, dv_ = wss.view(2 * B, H, nseg, 64, 64), dws.view(2 * B, H, nseg, 64)
    t_cp = med(lambda: (wss.copy_(w0), dws.copy_(d0)))
    t_ssc = med(lambda: (wss.copy_(w0), dws.copy_(d0), scan(wv, dv_))) - t_cp
    wss.copy_(w0), dws.copy_(d0), scan(wv, dv_)
    t_sss = med(lambda: sgs(pq, pk, pv, pf, pb, pdo, wss[0], wss[1], sws, sws2, 0.0884))
    torch.cuda.synchronize()
    print(f"{shape_name} bwd states BWD_SEG=128 ({nseg} segs): bwd_segst {t_sst:.4f} | fwd_scan (both) {t_ssc:.4f} | "
          f"bwd_states_seg {t_sss:.4f} | sum {t_sst + t_ssc + t_sss:.4f} ms (v5 + copies: "
          f"{t_copy + t_fst + 2 * t_sw + t_bst:.4f}) | rel diff WS {rel(sws, wsb):.2e}, WS2 {rel(sws2, wsb2):.2e}",
          flush=True)
    # SEG_SAVE (session 10): the S side from the forward's saved states, the R side from bwd_segr
    fws = torch.empty(B, H, nseg, 64, 64, **f32)
    fdw = torch.empty(B, H, nseg, 64, **f32)
    kk("fwd_segst:s2:g128")(pk, pv, pf, pb, fws, fdw)
    scan(fws, fdw)
    w2, d2 = torch.empty(B, H, nseg, 64, 64, **f32), torch.empty(B, H, nseg, 64, **f32)
    t_r = {}
    for m in ("m6", "m4", "m3"):
        kr = kk(f"bwd_segr:{m}:g128" if m != "m3" else "bwd_segr:g128")
        t_r[m] = med(lambda: kr(pq, pf, pb, pdo, w2, d2, 0.0884))
    kk(tlb.SEGR_KIND + ":g128")(pq, pf, pb, pdo, w2, d2, 0.0884)
    w20, d20 = w2.clone(), d2.clone()
    t_cp = med(lambda: (w2.copy_(w20), d2.copy_(d20)))
    t_rsc = med(lambda: (w2.copy_(w20), d2.copy_(d20), scan(w2, d2))) - t_cp
    w2.copy_(w20), d2.copy_(d20), scan(w2, d2)
    rws, rws2 = torch.empty(2, B, H, nc, 64, 64, device="cuda", dtype=torch.bfloat16)
    t_rss = med(lambda: sgs(pq, pk, pv, pf, pb, pdo, fws, w2, rws, rws2, 0.0884))
    # fwd_scan alone, in place and repeated (no copy subtracted; the values shift towards zero, the time does not care)
    xs, xd = w20.clone(), d20.clone()
    t_s1 = med(lambda: scan(xs, xd))
    xs2, xd2 = w0.clone().view(2 * B, H, nseg, 64, 64), d0.clone().view(2 * B, H, nseg, 64)
    t_s2 = med(lambda: scan(xs2, xd2))
    scv = compile_kernel("fwd_scan:v1", 32, 64, "float32", A)  # SCAN_VEC
    t_v1 = med(lambda: scv(xs, xd))
    t_v2 = med(lambda: scv(xs2, xd2))
    a_, b_ = w0.clone().view(2 * B, H, nseg, 64, 64), w0.clone().view(2 * B, H, nseg, 64, 64)
    scan(a_, d0.view(2 * B, H, nseg, 64))
    scv(b_, d0.view(2 * B, H, nseg, 64))
    torch.cuda.synchronize()
    same_v = bool(torch.equal(a_, b_))
    ts = t_r[(tlb.SEGR_KIND.split(":") + ["m3"])[1]]
    print(f"{shape_name} bwd states SEG_SAVE=1 ({nseg} segs): {tlb.SEGR_KIND}:g128 {ts:.4f} (m3 {t_r['m3']:.4f}, "
          f"m4 {t_r['m4']:.4f}, m6 {t_r['m6']:.4f}) | fwd_scan (B) {t_rsc:.4f} | bwd_states_seg {t_rss:.4f} | sum "
          f"{ts + t_rsc + t_rss:.4f} ms (BWD_SEG=128: {t_sst + t_ssc + t_sss:.4f}) | rel diff vs BWD_SEG=128's WS "
          f"{rel(rws, sws):.2e}, WS2 {rel(rws2, sws2):.2e} | fwd_scan alone in place: B {t_s1:.4f}, 2B {t_s2:.4f}; "
          f"fwd_scan:v1 (SCAN_VEC) B {t_v1:.4f}, 2B {t_v2:.4f}, bit-identical {same_v}",
          flush=True)
