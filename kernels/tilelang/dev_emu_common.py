"""What the CPU emulators share: the chunk geometry and constants, bf16 rounding, the chunk cumsums and the gate
regimes drawn (the midpoint kinds' dev_emu_x3.py: fwd_fused:m3:x3's A, dev_emu_bwd3.py: bwd_out2:x3's A, dq, dk),
and the segment models (dev_emu_bwdseg.py: BWD_SEG, dev_emu_segsave.py: SEG_SAVE, dev_emu_segw.py: SEGW): the
backward walkers' chunk steps, fwd_segst's two walkers, fwd_scan's recurrence over segments and the inputs in
chunks. Imported from the scripts' own directory (run them as .venv/bin/python kernels/tilelang/dev_emu_<x>.py)."""
import numpy as np
import torch

C, M, K, THR, GMIN = 32, 16, 32, 32.0, -40.0   # chunk, sub-block, key dim, REF_THR, GATE_MIN
V = 64                                          # value dim (the segment models)


def bf(x):
    return torch.tensor(x).to(torch.bfloat16).to(torch.float64).numpy()


def cums(gf, gb):  # inclusive chunk cumsums: forward left to right, backward right to left
    return np.cumsum(gf, 0), np.cumsum(gb[::-1], 0)[::-1]


def regimes(rng):
    """Gate regimes (log decays [C, K], before the GMIN clamp), each drawn from ``rng``."""
    return {
        "bench (logsigmoid/16)": lambda: np.log(1 / (1 + np.exp(-rng.standard_normal((C, K))))) / 16,
        "model (logsigmoid)": lambda: np.log(1 / (1 + np.exp(-rng.standard_normal((C, K))))),
        "zero": lambda: np.zeros((C, K)),
        "strong (-5 * U)": lambda: -5 * rng.random((C, K)),
        "near THR (-2 * U)": lambda: -2 * rng.random((C, K)),
        "neg_inf mixed": lambda: np.where(rng.random((C, K)) < 0.05, -np.inf, -0.1 * rng.random((C, K))),
        "mixed channels": lambda: -rng.random((C, K)) * np.where(rng.random(K) < 0.5, 0.05, 8.0),
    }


# --- the segment models (float64): a chunk of the backward is (k, q, v, do, gf, gb, s), of the forward (k, v, gf, gb)
def step_l(sf, dsb, k, q, v, do, gf, gb, s):  # the backward's left walker (bwd_states / _bwd_states_seg): S_f, dS_b
    Gf, Gb = cums(gf, gb)
    sf = sf * np.exp(Gf[-1])[:, None] + (k * np.exp(Gf[-1] - Gf)).T @ v
    dsb = dsb * np.exp(Gb[0])[:, None] + (s * q * np.exp(Gb)).T @ do
    return sf, dsb


def step_r(sb, dsf, k, q, v, do, gf, gb, s):  # the right walker: S_b, dS_f
    Gf, Gb = cums(gf, gb)
    sb = sb * np.exp(Gb[0])[:, None] + (k * np.exp(Gb[0] - Gb)).T @ v
    dsf = dsf * np.exp(Gf[-1])[:, None] + (s * q * np.exp(Gf)).T @ do
    return sb, dsf


def walk(ch, lo, hi, init):
    """Both backward walkers over chunks lo..hi-1 from the entering states ``init`` = (S_f, dS_b, S_b, dS_f):
    the states entering each chunk ({chunk: {"sf", "dsb", "sb", "dsf"}}) and the totals at the far edges."""
    sf, dsb, sb, dsf = init
    ws = {}
    for it in range(hi - lo):
        cl, cr = lo + it, hi - 1 - it
        ws.setdefault(cl, {})["sf"], ws[cl]["dsb"] = sf, dsb
        ws.setdefault(cr, {})["sb"], ws[cr]["dsf"] = sb, dsf
        sf, dsb = step_l(sf, dsb, *ch[cl])
        sb, dsf = step_r(sb, dsf, *ch[cr])
    return ws, (sf, dsb, sb, dsf)


def fwd_segst(ch, lo, hi, rnd=lambda x: x):
    """kernels.build_fwd_segst's two walkers over forward chunks (k, v, gf, gb) lo..hi-1 from zero: WS = [S_f (right
    edge); S_b (left edge)], DW = [gf; gb] decay products; ``rnd``: the x tiles' rounding (bf: as the kernel)."""
    sf, sb, dwf, dwb = np.zeros((K, V)), np.zeros((K, V)), np.ones(K), np.ones(K)
    for it in range(hi - lo):
        cl, cr = lo + it, hi - 1 - it
        k, v, gf, gb = ch[cl]
        Gf, _ = cums(gf, gb)
        sf = sf * np.exp(Gf[-1])[:, None] + rnd(k * np.exp(Gf[-1] - Gf)).T @ v
        dwf = dwf * np.exp(Gf[-1])
        k, v, gf, gb = ch[cr]
        _, Gb = cums(gf, gb)
        sb = sb * np.exp(Gb[0])[:, None] + rnd(k * np.exp(Gb[0] - Gb)).T @ v
        dwb = dwb * np.exp(Gb[0])
    return np.concatenate([sf, sb]), np.concatenate([dwf, dwb])


def scan(W, E):  # fwd_scan over segments, in place: rows 0..K-1 from the left, K..2K-1 from the right
    out = [w.copy() for w in W]
    st = np.zeros((K, V))
    for sg in range(len(W)):
        out[sg][:K], st = st, st * E[sg][:K, None] + W[sg][:K]
    st = np.zeros((K, V))
    for sg in reversed(range(len(W))):
        out[sg][K:], st = st, st * E[sg][K:, None] + W[sg][K:]
    return out


def seg_chunks(rng, L, regime, s=0.0884):
    """The backward's inputs in chunks: gates by ``regime`` (bench, model, weak: cross-segment terms large, strong,
    mixed channels), k, q, v, dO normal, all drawn from ``rng`` in this order; rows past L zero (as the loads write)."""
    nt = -(-L // C)
    pad = nt * C - L
    g = lambda: np.log(1 / (1 + np.exp(-rng.standard_normal((L, K)))))  # noqa: E731
    gf, gb = g(), g()
    if regime == "bench":
        gf, gb = gf / 16, gb / 16
    elif regime == "weak":
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
    return [tuple(x[c * C:(c + 1) * C] for x in (k, q, v, do, gf, gb)) + (s,) for c in range(nt)]
