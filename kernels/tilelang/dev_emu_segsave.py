"""CPU emulation (float64, numpy) of VIG_TILELANG_SEG_SAVE's data flow (session 10): the backward's states
entering each chunk built from the FORWARD's saved segment states plus bwd_segr's adjoint totals, against
bwd_states' whole-sequence walk (the reference, as in dev_emu_bwdseg.py).
  forward:  fwd_segst (per segment from zero, the left walker's S_f with its gf decays, the right walker's
            S_b with its gb decays: WS = [S_f; S_b], DW = [gf; gb]) -> fwd_scan -> WS = the S entering each
            segment (saved; fwd_fused_seg only reads it)
  backward: bwd_segr (per segment from zero, the left walker's dS_b with the left chunk's gb, the right
            walker's dS_f with the right chunk's gf; DW2 = [dw_b from the left walker; dw_f from the right
            walker], as kernels.build_bwd_segr orders them) -> fwd_scan over WSS2 only -> bwd_states_seg from
            (WS[:K], WSS2[:K], WS[K:], WSS2[K:]).
Negative controls (must report WRONG): the forward saved with another segment length than the backward's
(the same NSEG is impossible to tell from the shape at L = 449 with 224 vs 160: the launcher must refuse it,
see _seg_saved), and DW2's halves swapped.

    .venv/bin/python kernels/tilelang/dev_emu_segsave.py
"""
import numpy as np

from dev_emu_common import C, K, V, cums, fwd_segst, scan, seg_chunks, walk

rng = np.random.default_rng(1)


def bwd_segr(ch, lo, hi, swap=False):  # kernels.build_bwd_segr: WSS2 = [dS_b; dS_f], DW2 = [dw_b; dw_f]
    dsb, dsf, dwf, dwb = np.zeros((K, V)), np.zeros((K, V)), np.ones(K), np.ones(K)
    for it in range(hi - lo):
        cl, cr = lo + it, hi - 1 - it
        _, q, _, do, gf, gb, s = ch[cl]          # left chunk: q, dO, gb
        _, Gb = cums(gf, gb)
        dsb = dsb * np.exp(Gb[0])[:, None] + (s * q * np.exp(Gb)).T @ do
        dwb = dwb * np.exp(Gb[0])
        _, q, _, do, gf, gb, s = ch[cr]          # right chunk: q, dO, gf
        Gf, _ = cums(gf, gb)
        dsf = dsf * np.exp(Gf[-1])[:, None] + (s * q * np.exp(Gf)).T @ do
        dwf = dwf * np.exp(Gf[-1])
    dw2 = np.concatenate([dwf, dwb]) if swap else np.concatenate([dwb, dwf])
    return np.concatenate([dsb, dsf]), dw2


def run(L, SEG, regime, seg_f=None, swap=False):
    seg_f = seg_f or SEG
    nt = -(-L // C)
    ch = seg_chunks(rng, L, regime)
    ref, _ = walk(ch, 0, nt, [np.zeros((K, V))] * 4)  # bwd_states over the whole sequence
    # forward (segments of seg_f tokens): the saved entering states
    ncf = seg_f // C
    chf = [(k, v, gf, gb) for k, _, v, _, gf, gb, _ in ch]
    fw = [fwd_segst(chf, sg * ncf, min(nt, sg * ncf + ncf)) for sg in range(-(-nt // ncf))]
    WS = scan([w for w, _ in fw], [d for _, d in fw])
    # backward (segments of SEG tokens)
    ncm = SEG // C
    nseg = -(-nt // ncm)
    bw = [bwd_segr(ch, sg * ncm, min(nt, sg * ncm + ncm), swap) for sg in range(nseg)]
    WS2 = scan([w for w, _ in bw], [d for _, d in bw])
    err = 0.0
    for sg in range(nseg):
        lo, hi = sg * ncm, min(nt, sg * ncm + ncm)
        ws = WS[sg] if sg < len(WS) else np.zeros((2 * K, V))
        got, _ = walk(ch, lo, hi, (ws[:K], WS2[sg][:K], ws[K:], WS2[sg][K:]))  # bwd_states_seg
        for c in range(lo, hi):
            for key in ("sf", "dsb", "sb", "dsf"):
                a, b = got[c][key], ref[c][key]
                m = np.abs(b).max()
                err = max(err, np.abs(a - b).max() / m if m > 0 else np.abs(a).max())
    return err


worst = 0.0
for L, SEG, regime in ((300, 128, "bench"), (4096, 128, "bench"), (1000, 224, "weak"), (257, 96, "mixed"),
                       (449, 32, "mixed"), (1000, 128, "strong"), (700, 128, "model"), (225, 128, "weak"),
                       (2049, 128, "weak")):
    e = run(L, SEG, regime)
    worst = max(worst, e)
    print(f"L {L:5d} segments of {SEG:3d} {regime:<7}: max rel diff of the entering states vs the whole-sequence "
          f"walk {e:.2e}")
ok = worst < 1e-9
print(f"dev_emu_segsave: worst {worst:.2e} -> {'OK' if ok else 'WRONG'}")
neg = [("forward saved with 224-token segments, backward 160 (L 449: NSEG 3 both)", run(449, 160, "weak", seg_f=224)),
       ("DW2 halves swapped", run(1000, 128, "weak", swap=True))]
for name, e in neg:
    print(f"negative control, {name}: {e:.2e} -> {'WRONG (as it must)' if e > 1e-3 else 'NOT CAUGHT'}")
bad = not ok or any(e <= 1e-3 for _, e in neg)
raise SystemExit(1 if bad else 0)
