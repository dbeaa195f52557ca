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

from dev_emu_common import C, K, V, scan, seg_chunks, walk

rng = np.random.default_rng(0)
worst = 0.0
for L, SEG, regime in ((300, 128, "bench"), (4096, 128, "bench"), (1000, 224, "weak"), (257, 96, "mixed"),
                       (449, 32, "mixed"), (1000, 128, "strong"), (700, 128, "model")):
    nt = -(-L // C)
    ch = seg_chunks(rng, L, regime)
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
raise SystemExit(0 if worst < 1e-9 else 1)
