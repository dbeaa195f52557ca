"""float64 emulation of the v5 backward algorithm (the structure of fwd_st / fwd_scan / bwd_st /
bwd_out: chunks of 32, sub-chunks of 16, both scans, the gate gradients crossing terms, the padded
last chunk) against autograd of the naive recurrence. CPU only: .venv/bin/python kernels/tilelang/dev_emu_bwd.py"""
import torch, sys
sys.path.insert(0, __import__("os").path.join(__import__("os").path.dirname(__file__), "..", ".."))
from vig_reference.naive import naive_bidirectional_gla as naive
torch.manual_seed(0)
C, M = 32, 16
def run(L, K=4, V=3, gs=0.5, lowmem=False):
    """lowmem: also the gate gradients with E(c) from bf16-rounded states (VIG_TILELANG_LOWMEM=1)
    and their change against float64 E, relative to max |dg|."""
    q, k, v = (torch.randn(1, L, 1, d, dtype=torch.float64) for d in (K, K, V))
    gf = -torch.rand(1, L, 1, K, dtype=torch.float64) * gs
    gb = -torch.rand(1, L, 1, K, dtype=torch.float64) * gs
    do = torch.randn(1, L, 1, V, dtype=torch.float64)
    s = K ** -0.5
    leaves = [x.clone().requires_grad_() for x in (q, k, v, gf, gb)]
    o = naive(*leaves, scale=s)
    ref = torch.autograd.grad(o, leaves, do)
    sh = s / 2
    NC = -(-L // C); P = NC * C
    pad = lambda x: torch.cat([x[0, :, 0], x.new_zeros(P - L, x.shape[-1])])
    Q, Kk, Vv, GF, GB, DO = (pad(x) for x in (q, k, v, gf, gb, do))
    E = torch.exp
    ch = lambda x, c: x[c * C:(c + 1) * C]
    Gf = [torch.cumsum(ch(GF, c), 0) for c in range(NC)]            # inclusive, left to right
    Gb = [torch.cumsum(ch(GB, c).flip(0), 0).flip(0) for c in range(NC)]  # inclusive, right to left
    # fwd_st / bwd_st contributions
    U = [torch.cat([(ch(Kk, c) * E(Gf[c][-1] - Gf[c])).T @ ch(Vv, c), (ch(Kk, c) * E(Gb[c][0] - Gb[c])).T @ ch(Vv, c)]) for c in range(NC)]
    D = [torch.cat([E(Gf[c][-1]), E(Gb[c][0])]) for c in range(NC)]
    U2 = [torch.cat([(ch(Q, c) * E(Gb[c]) * sh).T @ ch(DO, c), (ch(Q, c) * E(Gf[c]) * sh).T @ ch(DO, c)]) for c in range(NC)]
    D2 = [torch.cat([E(Gb[c][0]), E(Gf[c][-1])]) for c in range(NC)]
    def scan(U, D):
        out = [None] * NC
        s_ = torch.zeros(K, V, dtype=torch.float64)
        for c in range(NC):
            out[c] = torch.zeros(2 * K, V, dtype=torch.float64)
        for d in range(2):
            s_ = torch.zeros(K, V, dtype=torch.float64)
            for ic in range(NC):
                c = ic if d == 0 else NC - 1 - ic
                out[c][d * K:(d + 1) * K] = s_
                s_ = s_ * D[c][d * K:(d + 1) * K, None] + U[c][d * K:(d + 1) * K]
        return out
    WS, WS2 = scan(U, D), scan(U2, D2)
    dq, dk, dv, dgf, dgb = (torch.zeros(P, x) for x in (K, K, V, K, K))
    dq, dk, dv, dgf, dgb = (x.double() for x in (dq, dk, dv, dgf, dgb))
    for c in range(NC):
        q_, k_, v_, do_ = ch(Q, c), ch(Kk, c), ch(Vv, c), ch(DO, c)
        gf_, gb_ = Gf[c], Gb[c]
        Sf, Sb = WS[c][:K], WS[c][K:]
        dSb, dSf = WS2[c][:K], WS2[c][K:]
        pr = WS[c] * torch.cat([WS2[c][K:], WS2[c][:K]])
        e = pr.sum(1) * torch.cat([E(gf_[-1]), E(gb_[0])])
        if lowmem:
            r16 = lambda x: x.to(torch.bfloat16).double()  # noqa: E731
            e16 = (r16(WS[c]) * r16(torch.cat([WS2[c][K:], WS2[c][:K]]))).sum(1) * torch.cat([E(gf_[-1]), E(gb_[0])])
            de = max(de, (e16 - e).abs().max().item()) if c else (e16 - e).abs().max().item()
        ex = lambda x: E(torch.clamp(x, max=0))
        i = torch.arange(C)[:, None]
        qdf = torch.where(i >= M, q_ * ex(gf_ - gf_[M - 1]), 0.)
        kdf = torch.where(i < M, k_ * ex(gf_[M - 1] - gf_), 0.)
        qdb = torch.where(i < M, q_ * ex(gb_ - gb_[M]), 0.)
        kdb = torch.where(i >= M, k_ * ex(gb_[M] - gb_), 0.)
        kef = k_ * E(gf_[-1] - gf_); keb = k_ * E(gb_[0] - gb_)
        dA = do_ @ v_.T * sh
        # per-element full A / dq / dk pieces for the diagonal sub-blocks
        A = qdf @ kdf.T + qdb @ kdb.T
        dqf = torch.zeros(C, K, dtype=torch.float64); dqb = dqf.clone(); dqd = dqf.clone()
        dkf, dkb, dkd = dqf.clone(), dqf.clone(), dqf.clone()
        for t in range(C):
            for j in range((t // M) * M, (t // M) * M + M):
                dec = ex(gf_[t] - gf_[j]) if j <= t else ex(gb_[t] - gb_[j])
                A[t, j] = (q_[t] * k_[j] * dec).sum() * (2. if t == j else 1.)
                w = dA[t, j] * k_[j] * dec
                if j < t: dqf[t] += w
                elif j > t: dqb[t] += w
                else: dqd[t] += 2 * w
                w = dA[t, j] * q_[t] * dec
                if j < t: dkf[j] += w
                elif j > t: dkb[j] += w
                else: dkd[j] += 2 * w
        dvc = (A * sh).T @ do_ + kef @ dSf + keb @ dSb
        dqf += torch.where(i >= M, (dA @ kdf) * ex(gf_ - gf_[M - 1]), 0.)
        dqb += torch.where(i < M, (dA @ kdb) * ex(gb_ - gb_[M]), 0.)
        dqf += (do_ @ Sf.T) * E(gf_) * sh
        dqbi = (do_ @ Sb.T) * E(gb_) * sh
        g4 = q_ * dqbi; dqb += dqbi
        dkf += torch.where(i < M, (dA.T @ qdf) * ex(gf_[M - 1] - gf_), 0.)
        dkb += torch.where(i >= M, (dA.T @ qdb) * ex(gb_[M] - gb_), 0.)
        dkfi = (v_ @ dSf.T) * E(gf_[-1] - gf_)
        g3 = k_ * dkfi; dkf += dkfi
        dkb += (v_ @ dSb.T) * E(gb_[0] - gb_)
        g1 = q_ * dqf - k_ * dkf; g2 = q_ * dqb - k_ * dkb
        rc = lambda x: x.flip(0).cumsum(0).flip(0)
        sl = slice(c * C, (c + 1) * C)
        dq[sl] = dqf + dqb + dqd; dk[sl] = dkf + dkb + dkd; dv[sl] = dvc
        dgf[sl] = rc(g1) + rc(g3)[0] + e[:K]
        dgb[sl] = (g2 - rc(g2)) + rc(g4)[0] + e[K:]
    got = [x[:L] for x in (dq, dk, dv, dgf, dgb)]
    if lowmem:
        mg = max(ref[3].abs().max().item(), ref[4].abs().max().item())
        print(f"L={L} K={K} V={V} gates*{gs}: bf16 states in E change dg by <= {de:.2e} = "
              f"{de / mg:.2e} of max |dg| {mg:.2e} (bf16 parity bound >= 4 * 2^-7 = 3.1e-02 of it)")
        return
    for n, a, r in zip("dq dk dv dgf dgb".split(), got, ref):
        r = r[0, :, 0]
        print(L, n, f"{(a - r).abs().max().item():.2e}  (|ref| {r.abs().max().item():.2e})")
if __name__ == "__main__" and sys.argv[1:] == ["--lowmem"]:
    for L, gs in ((196, 0.05), (196, 1.0), (300, 0.05), (65, 5.0)):
        run(L, 32, 64, gs, lowmem=True)
else:
    for L in (1, 17, 40, 70, 100):
        run(L)
