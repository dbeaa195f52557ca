"""CPU emulation (float64 + bf16 operand rounding) of one 32-token chunk's intra-chunk matrix A as
fwd_fused:m3:x3 builds it (per-channel midpoint reference on the tensor cores, x2's exact pair
loop for channels whose chunk cumsum spreads > REF_THR), against the exact A and against x2's
construction (bf16 off-diagonal sub-blocks, exact fp32 diagonal ones).
    .venv/bin/python kernels/tilelang/dev_emu_x3.py"""
import numpy as np

from dev_emu_common import C, M, K, THR, GMIN, bf, cums, regimes


def exact(q, k, gf, gb):
    Gf, Gb = cums(gf, gb)
    t, j = np.arange(C)[:, None, None], np.arange(C)[None, :, None]
    ef = np.where(j <= t, np.exp(np.minimum(Gf[:, None] - Gf[None], 0)), 0)
    eb = np.where(j >= t, np.exp(np.minimum(Gb[:, None] - Gb[None], 0)), 0)
    return np.einsum("tr,jr,tjr->tj", q, k, ef + eb)


def x3(q, k, gf, gb, thr=THR):
    Gf, Gb = cums(gf, gb)
    mf, mb = 0.5 * (Gf[0] + Gf[-1]), 0.5 * (Gb[0] + Gb[-1])
    sl = (Gf[0] - Gf[-1] > thr) | (Gb[-1] - Gb[0] > thr)
    i = np.arange(C)[:, None]
    xf = Gf - np.where(sl, Gf[M - 1], mf)
    xb = Gb - np.where(sl, Gb[M], mb)
    qdf = np.where(~sl | (i >= M), bf(q * np.exp(np.where(sl, np.minimum(xf, 0), xf))), 0)
    kdf = np.where(~sl | (i < M), bf(k * np.exp(np.where(sl, np.minimum(-xf, 0), -xf))), 0)
    qdb = np.where(~sl | (i < M), bf(q * np.exp(np.where(sl, np.minimum(xb, 0), xb))), 0)
    kdb = np.where(~sl | (i >= M), bf(k * np.exp(np.where(sl, np.minimum(-xb, 0), -xb))), 0)
    af, a2 = qdf @ kdf.T, qdb @ kdb.T
    # pair loop over slow channels, diagonal sub-blocks only (fp32 products, exact decays)
    P = exact(q * sl, k, gf, gb)
    same = (np.arange(C)[:, None] // M) == (np.arange(C)[None] // M)
    P = np.where(same, bf(P), 0)  # stored to a_s (bf16) before the add
    t, j = np.arange(C)[:, None], np.arange(C)[None]
    return bf(P + np.where(j <= t, af, 0) + np.where(j >= t, a2, 0)), sl.sum()


def x2(q, k, gf, gb):
    Gf, Gb = cums(gf, gb)
    i = np.arange(C)[:, None]
    qdf = np.where(i >= M, bf(q * np.exp(np.minimum(Gf - Gf[M - 1], 0))), 0)
    kdf = np.where(i < M, bf(k * np.exp(np.minimum(Gf[M - 1] - Gf, 0))), 0)
    qdb = np.where(i < M, bf(q * np.exp(np.minimum(Gb - Gb[M], 0))), 0)
    kdb = np.where(i >= M, bf(k * np.exp(np.minimum(Gb[M] - Gb, 0))), 0)
    off = qdf @ kdf.T + qdb @ kdb.T
    same = (np.arange(C)[:, None] // M) == (np.arange(C)[None] // M)
    return bf(np.where(same, exact(q, k, gf, gb), off))


rng = np.random.default_rng(0)
worst = 0
for name, g in regimes(rng).items():
    e3 = e2 = 0
    nslow = 0
    for _ in range(20):
        q, k = bf(rng.standard_normal((C, K))), bf(rng.standard_normal((C, K)))
        gf, gb = np.maximum(g(), GMIN), np.maximum(g(), GMIN)
        ref = exact(q, k, gf, gb)
        a3, ns = x3(q, k, gf, gb)
        nslow += ns
        sc = np.abs(ref).max()
        e3 = max(e3, np.abs(a3 - ref).max() / sc)
        e2 = max(e2, np.abs(x2(q, k, gf, gb) - ref).max() / sc)
        assert np.isfinite(a3).all()
    worst = max(worst, e3 / max(e2, 2 ** -9))
    print(f"{name:24s} slow channels {nslow / 20:5.1f}/32  max|A - exact|/max|A|: x3 {e3:.2e}  x2 {e2:.2e}")
print(f"worst x3 error / max(x2 error, 2^-9): {worst:.2f}")


# fwd_fused:x4's parallel cumsums (_cumsums_par), lane by lane: thread (channel, part) sums its
# TPP tokens, the P part totals are scanned by width-P shfl_up / shfl_down (a lane whose source
# lies outside its group of P keeps its own value, as __shfl_*_sync does), in float32
def shfl(vals, d, P, up):
    out = vals.copy()
    for lane in range(len(vals)):
        src = lane - d if up else lane + d
        if src // P == lane // P and 0 <= src < len(vals):
            out[lane] = vals[src]
    return out


def par_scan(g, P, fwd):  # g [C] float32, one channel; lanes = parts
    TPP = C // P
    loc = np.array([g[p * TPP:(p + 1) * TPP] for p in range(P)], np.float32)
    loc = np.cumsum(loc, 1, dtype=np.float32) if fwd else np.cumsum(loc[:, ::-1], 1, dtype=np.float32)[:, ::-1]
    sc = (loc[:, -1] if fwd else loc[:, 0]).astype(np.float32)
    part = np.arange(P)
    d = 1
    while d < P:
        s1 = shfl(sc, d, P, fwd)
        sc = (sc + np.where(part >= d if fwd else part + d < P, s1, 0)).astype(np.float32)
        d *= 2
    s1 = shfl(sc, 1, P, fwd)
    off = np.where(part >= 1 if fwd else part + 1 < P, s1, 0).astype(np.float32)
    return (loc + off[:, None]).reshape(C)


worst = 0.0
for P in (4, 8):
    for fwd in (True, False):
        for _ in range(200):
            g = np.maximum(np.float32(-rng.exponential(rng.choice([0.05, 1, 10]), C)), np.float32(GMIN)).astype(np.float32)
            ref = np.cumsum(g.astype(np.float64)) if fwd else np.cumsum(g[::-1].astype(np.float64))[::-1]
            worst = max(worst, np.abs(par_scan(g, P, fwd) - ref).max() / max(1.0, np.abs(ref).max()))
print(f"x4 parallel cumsum (P = 4, 8; both directions; 800 channels): max |scan - float64| / max(1, |G|) = {worst:.1e}")
assert worst < 1e-6
