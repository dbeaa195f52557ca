"""The bidirectional GLA in chunked parallel form: matrix products inside each chunk, a short
state pass across chunks, in each direction. Pure PyTorch, differentiable by autograd, any device
and dtype; fast enough to train a small ViG on a CPU.

Numerically safe for every gate the contract allows (-inf, strong decays, zero decay over long
sequences): no exponent is ever a difference of two cumulative sums. Within a chunk every decay
factor is exp of a sum of gates taken directly over the tokens in between:

* query side, from the state that entered the chunk to token t: ``sum_{i=start..t} g_i``
  (inclusive cumulative sum from the chunk's start);
* key side, from token j to the end of the chunk: ``sum_{i=j+1..end} g_i`` (exclusive reverse
  cumulative sum);
* pairs inside the chunk: ``sum_{j<i<=t} g_i``, a cumulative sum over a masked [C, C, K] block
  (the "segment sum"), so a -inf gate gives exp(-inf) = 0 and never -inf - (-inf) = NaN.

Every sum is local to one chunk, so its magnitude stays small and nothing loses precision over
long sequences.
"""
from __future__ import annotations

import torch
from einops import rearrange

DEFAULT_CHUNK = 16


def _causal_scan(q, k, v, g, chunk):
    """sum_{j<=t} (q_t * exp(G_t - G_j)) . k_j v_j for one scan direction (unscaled).

    q, k, g: [B, L, H, K]; v: [B, L, H, V]; all in one compute dtype. Returns [B, L, H, V].
    """
    B, L, H, K = q.shape
    pad = (-L) % chunk
    if pad:
        # Padding after the end cannot reach earlier tokens of a causal scan.
        q, k, v, g = (torch.nn.functional.pad(x, (0, 0, 0, 0, 0, pad)) for x in (q, k, v, g))
    q, k, v, g = (rearrange(x, "b (n c) h d -> b h n c d", c=chunk) for x in (q, k, v, g))

    ones = torch.ones(chunk, chunk, dtype=torch.bool, device=q.device)
    strict = torch.tril(ones, -1)  # [i, j]: i > j
    lower = torch.tril(ones)  # [t, j]: t >= j

    # Pairs inside the chunk: seg[t, j] = sum_{j < i <= t} g_i (-inf above the diagonal).
    gi = g.unsqueeze(-2).expand(*g.shape[:-1], chunk, K)  # [.., i, j, K] = g_i
    seg = gi.masked_fill(~strict[..., None], 0).cumsum(-3)
    seg = seg.masked_fill(~lower[..., None], float("-inf"))
    att = torch.einsum("...tk,...jk,...tjk->...tj", q, k, torch.exp(seg))
    o = att @ v

    # Across chunks: state entering each chunk, decayed to each query and from each key.
    b_in = g.cumsum(-2)  # sum_{start..t}
    rev = g.flip(-2).cumsum(-2).flip(-2)  # sum_{j..end}
    r_out = torch.cat([rev[..., 1:, :], torch.zeros_like(rev[..., :1, :])], -2)  # sum_{j+1..end}
    decay_all = torch.exp(b_in[..., -1, :])  # whole chunk, [B, H, N, K]
    contrib = (k * torch.exp(r_out)).transpose(-1, -2) @ v  # [B, H, N, K, V]
    states = []
    S = torch.zeros_like(contrib[:, :, 0])
    for n in range(q.shape[2]):
        states.append(S)
        S = decay_all[:, :, n, :, None] * S + contrib[:, :, n]
    S_in = torch.stack(states, 2)  # state before each chunk
    o = o + (q * torch.exp(b_in)) @ S_in
    return rearrange(o, "b h n c d -> b (n c) h d")[:, :L]


def chunked_bidirectional_gla(q, k, v, g_fwd, g_bwd, scale=None, *, chunk_size=DEFAULT_CHUNK,
                              compute_dtype=None):
    """The contract's op, in chunked form. Computes in ``compute_dtype`` (default: q's dtype),
    returns the dtype of v. Shapes [B, L, H, K] (q, k, gates) and [B, L, H, V] (v)."""
    B, L, H, K = q.shape
    if scale is None:
        scale = K ** -0.5
    out_dtype = v.dtype
    if L == 0:
        return v.new_zeros(v.shape)
    dt = compute_dtype or q.dtype
    q, k, v, g_fwd, g_bwd = (x.to(dt) for x in (q, k, v, g_fwd, g_bwd))
    o_f = _causal_scan(q, k, v, g_fwd, chunk_size)
    # The backward scan is the causal scan of the reversed sequence (the oracle may flip; the
    # fused kernels never do).
    o_b = _causal_scan(q.flip(1), k.flip(1), v.flip(1), g_bwd.flip(1), chunk_size).flip(1)
    return ((o_f + o_b) * (scale / 2)).to(out_dtype)
