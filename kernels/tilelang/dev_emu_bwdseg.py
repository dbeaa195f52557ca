"""CPU emulation (float64, numpy) of VIG_TILELANG_BWD_SEG's decomposition (session 9): the states entering
each chunk as bwd_states computes them walking the whole sequence (the reference), against
bwd_segst (each segment's four totals from zero, DW = [gf; gb], DW2 = [gb; gf] decay products) ->
fwd_scan's recurrence over the segments (rows 0..K-1 from the left, K..2K-1 from the right: out = s,
s = s * e + u) -> bwd_states_seg (the walkers from the scanned entering states). Same chunk step as
kernels._bwd_states_seg / bwd_states:m3 (decay, then add x^T v). Ragged last chunk / segment included.
(Strong / model gates hide cross-segment terms (decays ~0 over a segment): bench, weak and mixed gates
test them; with DW2 = DW instead of [gb; gf] the worst error is ~0.7.)

    .venv/bin/python kernels/tilelang/dev_emu_bwdseg.py
"""
import numpy as np

C, K, V = 32, 32, 64
rng = np.random.default_rng(0)


def step_l(sf, dsb, k, q, v, do, gf, gb, s):  # the left walker: S_f, dS_b
    Gf, Gb = np.cumsum(gf, 0), np.cumsum(gb[::-1], 0)[::-1]
    sf = sf * np.exp(Gf[-1])[:, None] + (k * np.exp(Gf[-1] - Gf)).T @ v
    dsb = dsb * np.exp(Gb[0])[:, None] + (s * q * np.exp(Gb)).T @ do
    return sf, dsb


def step_r(sb, dsf, k, q, v, do, gf, gb, s):  # the right walker: S_b, dS_f
    Gf, Gb = np.cumsum(gf, 0), np.cumsum(gb[::-1], 0)[::-1]
    sb = sb * np.exp(Gb[0])[:, None] + (k * np.exp(Gb[0] - Gb)).T @ v
    dsf = dsf * np.exp(Gf[-1])[:, None] + (s * q * np.exp(Gf)).T @ do
    return sb, dsf


def walk(ch, lo, hi, init):  # chunks lo..hi-1 from entering states; returns per-chunk entering states, totals
    sf, dsb, sb, dsf = init
    ws = {}
    for it in range(hi - lo):
        cl, cr = lo + it, hi - 1 - it
        ws.setdefault(cl, {})["sf"], ws[cl]["dsb"] = sf, dsb
        ws.setdefault(cr, {})["sb"], ws[cr]["dsf"] = sb, dsf
        sf, dsb = step_l(sf, dsb, *ch[cl])
        sb, dsf = step_r(sb, dsf, *ch[cr])
    return ws, (sf, dsb, sb, dsf)


worst = 0.0
for L, SEG, regime in ((300, 128, "bench"), (4096, 128, "bench"), (1000, 224, "weak"), (257, 96, "mixed"),
                       (449, 32, "mixed"), (1000, 128, "strong"), (700, 128, "model")):
    nt = -(-L // C)
    pad = nt * C - L
    g = lambda: np.log(1 / (1 + np.exp(-rng.standard_normal((L, K)))))  # noqa: E731
    gf, gb = g(), g()
    if regime == "bench":
        gf, gb = gf / 16, gb / 16
    elif regime == "weak":  # cross-segment terms large
        gf, gb = -0.01 * rng.random((L, K)), -0.01 * rng.random((L, K))
    elif regime == "strong":
        gf, gb = -5 * rng.random((L, K)), -5 * rng.random((L, K))
    elif regime == "mixed":
        gf = -rng.random((L, K)) * np.where(rng.random(K) < 0.5, 0.05, 8.0)
        gb = -rng.random((L, K)) * np.where(rng.random(K) < 0.5, 0.05, 8.0)
    k, q = rng.standard_normal((L, K)), rng.standard_normal((L, K))
    v, do = rng.standard_normal((L, V)), rng.standard_normal((L, V))
    P = lambda x: np.concatenate([x, np.zeros((pad, x.shape[1]))])  # noqa: E731 (rows past L: 0, gates 0)
    k, q, v, do, gf, gb = map(P, (k, q, v, do, gf, gb))
    s = 0.0884
    ch = [tuple(x[c * C:(c + 1) * C] for x in (k, q, v, do, gf, gb)) + (s,) for c in range(nt)]
    z = [np.zeros((K, V))] * 4
    ref, _ = walk(ch, 0, nt, z)
    ncm = SEG // C
    nseg = -(-L // SEG)
    assert nseg == -(-nt // ncm)
    tot, dw = [], []
    for sg in range(nseg):  # bwd_segst
        lo, hi = sg * ncm, min(nt, sg * ncm + ncm)
        _, t = walk(ch, lo, hi, z)
        tot.append(t)
        df = np.exp(sum(np.sum(ch[c][4], 0) for c in range(lo, hi)))
        db = np.exp(sum(np.sum(ch[c][5], 0) for c in range(lo, hi)))
        dw.append((np.concatenate([df, db]), np.concatenate([db, df])))  # DW, DW2
    WSS = [np.concatenate([t[0], t[2]]) for t in tot]   # [S_f; S_b]
    WSS2 = [np.concatenate([t[1], t[3]]) for t in tot]  # [dS_b; dS_f]

    def scan(W, E):  # fwd_scan, in place: rows 0..K-1 from the left, K..2K-1 from the right
        out = [w.copy() for w in W]
        st = np.zeros((K, V))
        for sg in range(nseg):
            out[sg][:K], st = st, st * E[sg][:K, None] + W[sg][:K]
        st = np.zeros((K, V))
        for sg in reversed(range(nseg)):
            out[sg][K:], st = st, st * E[sg][K:, None] + W[sg][K:]
        return out
    IN = scan(WSS, [d[0] for d in dw])
    IN2 = scan(WSS2, [d[1] for d in dw])
    err = 0.0
    for sg in range(nseg):  # bwd_states_seg
        lo, hi = sg * ncm, min(nt, sg * ncm + ncm)
        got, _ = walk(ch, lo, hi, (IN[sg][:K], IN2[sg][:K], IN[sg][K:], IN2[sg][K:]))
        for c in range(lo, hi):
            for key in ("sf", "dsb", "sb", "dsf"):
                a, b = got[c][key], ref[c][key]
                err = max(err, np.abs(a - b).max() / max(np.abs(b).max(), 1e-300) if np.abs(b).max() > 0 else np.abs(a).max())
    worst = max(worst, err)
    print(f"L {L:5d} segments of {SEG:3d} ({nseg:2d}) {regime:<7}: max rel diff of the entering states vs the "
          f"whole-sequence walk {err:.2e}")
print(f"dev_emu_bwdseg: worst {worst:.2e} -> {'OK' if worst < 1e-9 else 'WRONG'}")
