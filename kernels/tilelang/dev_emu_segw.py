"""CPU emulation (float64, numpy) of fwd_segw (session 10 round 2, VIG_TILELANG_SEGW=1): each segment's
totals WS = [S_f (right edge); S_b (left edge)] and DW = [gf; gb] decay products from ONE left-to-right walker
(S_b += (k exp(Gb_0 - Gb) D_b)^T v, D_b the product of the gb decays of the chunks already walked), against
fwd_segst's two walkers (kernels.build_fwd_segst) and a token-level definition (every token's contribution with
its decay to the segment's edge, no chunks). Cases: lengths with partial chunks / segments (tokens past L: k =
v = 0, gates 0, as the loads write), segments of 32 / 96 / 128 / 224 tokens, the gate regimes of
dev_emu_common plus the GATE_MIN clamp. Also with x rounded to bf16 as the kernels round it (both variants:
their distance to the exact totals). Negative controls (must report WRONG): D_b left out, and D_b updated
before the chunk's x (the current chunk's own decay counted). Exit status 1 if a case is wrong or a control
is not caught.

    .venv/bin/python kernels/tilelang/dev_emu_segw.py
"""
import sys

import numpy as np

from dev_emu_common import C, GMIN, K, V, bf, cums, fwd_segst

rng = np.random.default_rng(5)


def chunks(k, v, gf, gb, L):
    nt = -(-L // C)
    pad = nt * C - L
    z = lambda a: np.concatenate([a, np.zeros((pad, a.shape[1]))])
    k, v, gf, gb = z(k), z(v), z(gf), z(gb)
    return [(k[c * C:(c + 1) * C], v[c * C:(c + 1) * C], gf[c * C:(c + 1) * C], gb[c * C:(c + 1) * C])
            for c in range(nt)]


def fwd_segw(ch, lo, hi, rnd, ctl=""):  # one walker, kernels.build_fwd_segw's order
    sf, sb, dwf, dwb = np.zeros((K, V)), np.zeros((K, V)), np.ones(K), np.ones(K)
    for c in range(lo, hi):
        k, v, gf, gb = ch[c]
        Gf, Gb = cums(gf, gb)
        if ctl == "pre":  # control: D_b updated before the x tile
            dwb = dwb * np.exp(Gb[0])
        db = np.ones(K) if ctl == "nodb" else dwb
        xf = rnd(k * np.exp(Gf[-1] - Gf))
        xb = rnd(k * np.exp(Gb[0] - Gb) * db[None, :])
        sf = sf * np.exp(Gf[-1])[:, None] + xf.T @ v
        sb = sb + xb.T @ v
        dwf = dwf * np.exp(Gf[-1])
        if ctl != "pre":
            dwb = dwb * np.exp(Gb[0])
    return np.concatenate([sf, sb]), np.concatenate([dwf, dwb])


def direct(k, v, gf, gb, a, e):  # tokens a..e-1 of the real sequence, no chunks
    cf = np.cumsum(gf[a:e], 0)   # inclusive
    sf = (k[a:e] * np.exp(cf[-1] - cf)).T @ v[a:e]
    cb = np.cumsum(gb[a:e][::-1], 0)[::-1]
    sb = (k[a:e] * np.exp(cb[0] - cb)).T @ v[a:e]
    return np.concatenate([sf, sb]), np.concatenate([np.exp(cf[-1]), np.exp(cb[0])])


def rel(a, b):
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-300)


GATES = {
    "bench": lambda n: np.log(1 / (1 + np.exp(-rng.standard_normal((n, K))))) / 16,
    "model": lambda n: np.log(1 / (1 + np.exp(-rng.standard_normal((n, K))))),
    "weak": lambda n: -0.01 * rng.random((n, K)),
    "strong": lambda n: -5 * rng.random((n, K)),
    "neg_inf": lambda n: np.where(rng.random((n, K)) < 0.05, -np.inf, -0.1 * rng.random((n, K))),
    "mixed": lambda n: -rng.random((n, K)) * np.where(rng.random(K) < 0.5, 0.02, 8.0),
}
CASES = [(4096, 128, "bench"), (4096, 128, "model"), (1000, 128, "weak"), (225, 128, "mixed"),
         (257, 128, "strong"), (449, 224, "neg_inf"), (2049, 96, "bench"), (383, 32, "model"),
         (4000, 224, "mixed"), (130, 128, "weak")]
ok = True
worst64 = worst_def = 0.0
for L, sl, gname in CASES:
    k, v = rng.standard_normal((L, K)), rng.standard_normal((L, V))
    gf, gb = np.maximum(GATES[gname](L), GMIN), np.maximum(GATES[gname](L), GMIN)
    ch = chunks(k, v, gf, gb, L)
    ncs = sl // C
    nseg = -(-L // sl)
    e64 = edef = e16a = e16b = 0.0
    ctl = {"nodb": 0.0, "pre": 0.0}
    for s in range(nseg):
        lo, hi = s * ncs, min((s + 1) * ncs, len(ch))
        w2, d2 = fwd_segst(ch, lo, hi, lambda x: x)
        w1, d1 = fwd_segw(ch, lo, hi, lambda x: x)
        wd, dd = direct(k, v, gf, gb, s * sl, min((s + 1) * sl, L))
        e64 = max(e64, rel(w1, w2), rel(d1, d2))
        edef = max(edef, rel(w1, wd), rel(d1, dd))
        e16a = max(e16a, rel(fwd_segst(ch, lo, hi, bf)[0], wd))
        e16b = max(e16b, rel(fwd_segw(ch, lo, hi, bf)[0], wd))
        for c in ctl:
            ctl[c] = max(ctl[c], rel(fwd_segw(ch, lo, hi, lambda x: x, c)[0], w2))
    good = e64 < 1e-12 and edef < 1e-12 and e16b < 2e-2
    caught = ctl["pre"] > 1e-6 and (ncs == 1 or ctl["nodb"] > 1e-6)  # one chunk per segment: D_b = 1 anyway
    ok &= good and caught
    worst64, worst_def = max(worst64, e64), max(worst_def, edef)
    print(f"{'ok   ' if good else 'WRONG'} L={L:5d} seg={sl:3d} {gname:8s} segw vs segst {e64:.1e}  vs tokens {edef:.1e}"
          f"  bf16 x: segst {e16a:.1e} segw {e16b:.1e}  controls: no D_b {ctl['nodb']:.1e} "
          f"D_b early {ctl['pre']:.1e} {'(caught)' if caught else '(NOT CAUGHT)'}")
print(f"worst float64: segw vs segst {worst64:.1e}, vs tokens {worst_def:.1e}; {'ALL OK' if ok else 'FAILED'}")
sys.exit(0 if ok else 1)
