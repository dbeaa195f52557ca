"""Hypothesis strategies for the op's inputs: shapes, dtypes, gate regimes, layouts. Tensors are
drawn fresh from a seeded generator (never zeros; gates are zero only in the 'zero' regime)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from hypothesis import strategies as st

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
REGIMES = ("model", "strong", "zero", "neg_inf", "mixed")
HEAD_DIMS = (16, 32, 64, 128)


@dataclass(frozen=True)
class Case:
    B: int
    L: int
    H: int
    K: int
    V: int
    dtype: str
    regime: str
    layout: str  # "contiguous" | "fused": q, k, v and both gates are views of projections
    gate_dtype: str  # "float32" | "same"
    seed: int

    def __str__(self):
        return (f"B={self.B} L={self.L} H={self.H} K={self.K} V={self.V} {self.dtype} "
                f"gates={self.regime}/{self.gate_dtype} layout={self.layout} seed={self.seed}")


def gates(shape, regime, gen, dtype=torch.float64):
    x = torch.randn(shape, generator=gen, dtype=torch.float64)
    if regime == "model":  # what ViG's gk_proj produces
        g = F.logsigmoid(x) / 16
    elif regime == "strong":  # decays of -10 and below
        g = -10 - 20 * torch.rand(shape, generator=gen, dtype=torch.float64)
    elif regime == "zero":  # no decay at all
        g = torch.zeros(shape, dtype=torch.float64)
    elif regime == "neg_inf":  # model-like, with a sprinkle of -inf (a hard reset)
        g = F.logsigmoid(x) / 16
        g = g.masked_fill(torch.rand(shape, generator=gen, dtype=torch.float64) < 0.05, float("-inf"))
    elif regime == "mixed":  # every regime at once
        pick = torch.randint(0, 4, shape, generator=gen)
        g = torch.where(pick == 0, F.logsigmoid(3 * x), torch.where(pick == 1, -12 * x.abs(), 0 * x))
        g = g.masked_fill(pick == 3, float("-inf"))
    else:
        raise ValueError(regime)
    return g.to(dtype)


def make_inputs(case: Case, device="cpu"):
    """(q, k, v, g_fwd, g_bwd, do) on ``device`` for a Case."""
    gen = torch.Generator().manual_seed(case.seed)
    dt = DTYPES[case.dtype]
    gdt = torch.float32 if case.gate_dtype == "float32" else dt
    B, L, H, K, V = case.B, case.L, case.H, case.K, case.V
    if case.layout == "fused":
        # As in the model: one projection gives q, k, v; another gives both gates. The two buffers go to the
        # device before they are cut into views (moving a view with gaps between its rows copies it
        # contiguously: the kernels would never see the strides).
        qkv = torch.randn(B, L, H * (2 * K + V), generator=gen, dtype=torch.float64).to(dt).to(device)
        q, k, v = qkv.split([H * K, H * K, H * V], -1)
        q, k, v = q.view(B, L, H, K), k.view(B, L, H, K), v.view(B, L, H, V)
        g = gates((B, L, 2 * H * K), case.regime, gen, gdt).to(device)
        gf, gb = (x.view(B, L, H, K) for x in g.chunk(2, -1))
    else:
        q, k = (torch.randn(B, L, H, K, generator=gen, dtype=torch.float64).to(dt) for _ in range(2))
        v = torch.randn(B, L, H, V, generator=gen, dtype=torch.float64).to(dt)
        gf, gb = (gates((B, L, H, K), case.regime, gen, gdt) for _ in range(2))
    do = torch.randn(B, L, H, V, generator=gen, dtype=torch.float64).to(dt)
    return tuple(t.to(device) for t in (q, k, v, gf, gb, do))  # (the fused views are there already: kept)


@st.composite
def cases(draw, max_B=3, max_L=300, max_H=3, head_dims=HEAD_DIMS, dtypes=tuple(DTYPES),
          regimes=REGIMES, max_BH=None):
    B = draw(st.integers(1, max_B))
    H = draw(st.integers(1, max_H))
    if max_BH is not None and B * H > max_BH:
        H = max(1, max_BH // B)
    return Case(
        B=B,
        L=draw(st.integers(1, max_L)),
        H=H,
        K=draw(st.sampled_from(head_dims)),
        V=draw(st.sampled_from(head_dims)),
        dtype=draw(st.sampled_from(dtypes)),
        regime=draw(st.sampled_from(regimes)),
        layout=draw(st.sampled_from(("contiguous", "fused"))),
        gate_dtype=draw(st.sampled_from(("float32", "same"))),
        seed=draw(st.integers(0, 2**31 - 1)),
    )


def at_offset(x, n):
    """``x`` as a view ``n`` elements into a fresh contiguous buffer (differentiable): contiguous strides, but a storage
    offset of n and, for odd n, a base address 2 (16-bit) or 4 (fp32) bytes past an aligned one, as a flat slice of a
    larger buffer is."""
    return torch.cat([x.new_ones(n), x.reshape(-1)])[n:].view(x.shape)
