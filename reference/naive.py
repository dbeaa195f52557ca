"""The oracle: the bidirectional GLA as two plain recurrences, token by token.

Any dtype, float64 included; differentiable by autograd. Slow (a Python loop over L), meant for
tests: everything else is judged against this function run in float64.
"""
from __future__ import annotations

import torch


def naive_bidirectional_gla(q, k, v, g_fwd, g_bwd, scale=None):
    """o_t = (o^f_t + o^b_t) / 2 with

    S^f_t = diag(exp(gf_t)) S^f_{t-1} + k_t v_t^T,  o^f_t = s q_t^T S^f_t   (t = 1..L)
    S^b_t = diag(exp(gb_t)) S^b_{t+1} + k_t v_t^T,  o^b_t = s q_t^T S^b_t   (t = L..1)

    Shapes [B, L, H, K] for q, k, g_fwd, g_bwd and [B, L, H, V] for v; computed in the dtype of q
    (upcast the inputs to float64 for the oracle). Returns [B, L, H, V].
    """
    B, L, H, K = q.shape
    V = v.shape[-1]
    if scale is None:
        scale = K ** -0.5
    dt = q.dtype
    k, v, g_fwd, g_bwd = k.to(dt), v.to(dt), g_fwd.to(dt), g_bwd.to(dt)
    if L == 0:
        return v.new_zeros(B, 0, H, V)
    outs_f, outs_b = [], [None] * L
    S = q.new_zeros(B, H, K, V)
    for t in range(L):
        S = torch.exp(g_fwd[:, t]).unsqueeze(-1) * S + k[:, t].unsqueeze(-1) * v[:, t].unsqueeze(-2)
        outs_f.append(torch.einsum("bhk,bhkv->bhv", q[:, t], S))
    S = q.new_zeros(B, H, K, V)
    for t in range(L - 1, -1, -1):
        S = torch.exp(g_bwd[:, t]).unsqueeze(-1) * S + k[:, t].unsqueeze(-1) * v[:, t].unsqueeze(-2)
        outs_b[t] = torch.einsum("bhk,bhkv->bhv", q[:, t], S)
    o = (torch.stack(outs_f, 1) + torch.stack(outs_b, 1)) * (scale / 2)
    return o
