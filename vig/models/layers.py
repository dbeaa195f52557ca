"""Building blocks of the ViG models: norms, the gated linear attention token mixers, the MLPs.

Module and parameter names follow the official release (github hustvl/ViG) so that its
checkpoints load with ``strict=True``; see ``../shared/design/vig-architecture.md`` (beside the project root).

The token mixer (one layer, x: [B, N, C] on an h x w patch grid):

1. ``in_proj``: depthwise 3x3 conv (+ SiLU if ``use_act_in_conv``) -> ``xs`` (local branch).
2. ``qkv_proj(xs)`` -> q, k (H heads of K), v (H heads of V); views, no copies.
3. ``gk_proj(xs)`` (low rank 16) -> forward / backward gates, ``logsigmoid(.) / 16`` in float32.
4. o = bidirectional GLA (scale K**-0.5, single halving), via :func:`vig.ops.bidirectional_gla`.
5. out = g_norm(o) * g + l_norm(xs) * (1 - g), g = sigmoid(g_proj(xs)), per head.
6. optional SiLU, ``o_proj``.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from vig.ops import bidirectional_gla

__all__ = [
    "RMSNorm",
    "LayerNorm2d",
    "PointwiseLinear",
    "GatedLinearAttention",
    "GLA2D",
    "GLAMLP",
    "GatedMLP",
    "validate_backend_name",
    "set_mixer_backend",
    "swiglu_hidden",
]


def validate_backend_name(name: Optional[str]) -> Optional[str]:
    """``None`` (follow the global choice), ``"auto"``, or a registered backend name.

    Raises ValueError (listing the known names) for anything else. Availability on this machine
    is not checked here: a model may be built on the CPU and moved to a GPU afterwards.
    """
    if name is None:
        return None
    from vig import registry

    if not isinstance(name, str):
        raise ValueError(
            f"backend must be a string or None, got {type(name).__name__}; "
            f"known backends: {', '.join(map(repr, registry.known_backends()))}"
        )
    if name != "auto":
        registry.get_backend_object(name)  # raises ValueError for an unknown name
    return name


def set_mixer_backend(model: nn.Module, name: Optional[str]) -> nn.Module:
    """Pin (or, with ``None``, release) the GLA backend of every token mixer inside ``model``."""
    name = validate_backend_name(name)
    for m in model.modules():
        if isinstance(m, GatedLinearAttention):
            m.backend = name
    return model


def swiglu_hidden(dim: int, multiple_of: int) -> int:
    """The SwiGLU hidden width of the official code: int(dim * 4 * 2/3) rounded up to a multiple."""
    hidden = (8 * dim) // 3
    return multiple_of * ((hidden + multiple_of - 1) // multiple_of)


class RMSNorm(nn.Module):
    """RMS normalisation over the last dimension, weight only (no bias), computed in float32."""

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.dim = dim
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dt = torch.promote_types(x.dtype, torch.float32)  # float32, or float64 for float64
        y = F.rms_norm(x.to(dt), (self.dim,), self.weight.to(dt), self.eps)
        return y.to(x.dtype)

    def extra_repr(self) -> str:
        return f"{self.dim}, eps={self.eps}"


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of a channels-first map [B, C, H, W]."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class PointwiseLinear(nn.Linear):
    """A Linear layer applied per position; its weight is stored 2-D ([out, in]) like the official
    ``Linear2d``, and a 1x1-conv weight ([out, in, 1, 1]) is accepted on load too."""

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        key = prefix + "weight"
        w = state_dict.get(key)
        if w is not None and w.dim() == 4 and w.shape[2:] == (1, 1):
            state_dict[key] = w.reshape(w.shape[0], w.shape[1])
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)


class GatedLinearAttention(nn.Module):
    """The ViG token mixer for a token sequence x: [B, N, C] on an (h, w) grid (``attn``).

    ``backend``: the GLA backend name used by this layer (``None``: the one in force globally).
    """

    linear_cls = nn.Linear

    def __init__(
        self,
        dim: int,
        num_heads: int,
        expand_k: float = 0.5,
        expand_v: float = 1.0,
        gate_low_rank_dim: int = 16,
        gate_logit_normalizer: float = 16.0,
        use_act_in_conv: bool = False,
        use_bias_in_dwconv: bool = False,
        use_out_act: bool = False,
        norm_eps: float = 1e-6,
        backend: Optional[str] = None,
    ):
        super().__init__()
        self.dim = dim
        self.num_heads = num_heads
        self.key_dim = int(dim * expand_k)
        self.value_dim = int(dim * expand_v)
        if self.key_dim % num_heads or self.value_dim % num_heads:
            raise ValueError(
                f"key_dim {self.key_dim} and value_dim {self.value_dim} must be divisible by "
                f"num_heads {num_heads}"
            )
        if self.value_dim != dim:
            # the local branch (xs, C channels) is normalised in heads of value_dim / H channels
            raise ValueError(f"expand_v must be 1 (value_dim {self.value_dim} != dim {dim})")
        self.head_k_dim = self.key_dim // num_heads
        self.head_v_dim = self.value_dim // num_heads
        self.gate_logit_normalizer = float(gate_logit_normalizer)
        self.backend = validate_backend_name(backend)

        Linear = self.linear_cls
        self.in_proj = nn.Sequential(
            nn.Conv2d(dim, dim, kernel_size=3, padding=1, groups=dim, bias=use_bias_in_dwconv),
            nn.SiLU() if use_act_in_conv else nn.Identity(),
        )
        self.qkv_proj = Linear(dim, 2 * self.key_dim + self.value_dim, bias=False)
        self.gk_proj = nn.Sequential(
            Linear(dim, gate_low_rank_dim, bias=False),
            Linear(gate_low_rank_dim, 2 * self.key_dim, bias=True),
        )
        self.o_proj = nn.Linear(self.value_dim, dim, bias=False)
        self.g_norm = RMSNorm(self.head_v_dim, eps=norm_eps)
        self.l_norm = RMSNorm(self.head_v_dim, eps=norm_eps)
        self.g_proj = Linear(dim, self.value_dim, bias=True)
        self.out_act = nn.SiLU() if use_out_act else nn.Identity()
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self):
        """The official mixer init: xavier_uniform with gain 2**-2.5 on the projections and the
        depthwise conv, zero biases."""
        gain = 2 ** -2.5
        for w in (self.qkv_proj.weight, self.in_proj[0].weight, self.g_proj.weight,
                  self.o_proj.weight, self.gk_proj[0].weight, self.gk_proj[1].weight):
            nn.init.xavier_uniform_(w, gain=gain)
        for b in (self.in_proj[0].bias, self.gk_proj[1].bias, self.g_proj.bias):
            if b is not None:
                nn.init.zeros_(b)

    def extra_repr(self) -> str:
        return (f"dim={self.dim}, num_heads={self.num_heads}, head_k_dim={self.head_k_dim}, "
                f"head_v_dim={self.head_v_dim}, backend={self.backend!r}")

    def mix(self, xs: torch.Tensor) -> torch.Tensor:
        """Steps 2-6 on the local-branch tokens xs: [B, N, C] -> [B, N, C]."""
        H, Kd, Vd = self.num_heads, self.head_k_dim, self.head_v_dim
        kd = self.key_dim
        qkv = self.qkv_proj(xs)  # [B, N, 2*key_dim + value_dim]
        q = qkv[..., :kd].unflatten(-1, (H, Kd))
        k = qkv[..., kd:2 * kd].unflatten(-1, (H, Kd))
        v = qkv[..., 2 * kd:].unflatten(-1, (H, Vd))
        gk = self.gk_proj(xs)
        gk = gk.to(torch.promote_types(gk.dtype, torch.float32))  # float32 (float64 stays)
        gk = F.logsigmoid(gk) / self.gate_logit_normalizer
        g_fwd = gk[..., :kd].unflatten(-1, (H, Kd))
        g_bwd = gk[..., kd:].unflatten(-1, (H, Kd))
        o = bidirectional_gla(q, k, v, g_fwd, g_bwd, scale=None, backend=self.backend,
                              check_gates=False)  # [B, N, H, V]
        o = self.g_norm(o)
        local = self.l_norm(xs.unflatten(-1, (H, Vd)))
        g = torch.sigmoid(self.g_proj(xs)).unflatten(-1, (H, Vd))
        o = o * g + local * (1 - g)
        o = self.out_act(o.flatten(-2))
        return self.o_proj(o)

    def forward(self, x: torch.Tensor, hw: Tuple[int, int]) -> torch.Tensor:
        B, N, C = x.shape
        h, w = hw
        if h * w != N:
            raise ValueError(f"token count {N} does not match the grid {h}x{w}")
        # [B, N, C] -> [B, C, h, w] as a channels-last view: the depthwise conv needs no copy
        x2d = x.reshape(B, h, w, C).permute(0, 3, 1, 2)
        xs = self.in_proj(x2d).permute(0, 2, 3, 1).reshape(B, N, C)
        return self.mix(xs)


class GLA2D(GatedLinearAttention):
    """The ViG token mixer on a channels-first map x: [B, C, H, W] (ViG-H's ``op``).

    Same math as :class:`GatedLinearAttention`; its per-position projections are stored as 2-D
    Linear weights (the official ``Linear2d``), ``o_proj`` as a plain Linear.
    """

    linear_cls = PointwiseLinear

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, h, w = x.shape
        xs = self.in_proj(x).permute(0, 2, 3, 1).reshape(B, h * w, C)
        o = self.mix(xs)
        return o.reshape(B, h, w, C).permute(0, 3, 1, 2)


class GLAMLP(nn.Module):
    """SwiGLU MLP on [..., C] (official ``GLAMLP``): gate_proj C -> 2I (gate, y), down_proj I -> C,
    out = down(silu(gate) * y), I = 256 * ceil((8C/3)/256)."""

    def __init__(self, dim: int, hidden_dim: Optional[int] = None):
        super().__init__()
        self.hidden_dim = hidden_dim or swiglu_hidden(dim, 256)
        self.gate_proj = nn.Linear(dim, 2 * self.hidden_dim, bias=False)
        self.down_proj = nn.Linear(self.hidden_dim, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, y = self.gate_proj(x).chunk(2, dim=-1)
        return self.down_proj(F.silu(gate) * y)


class GatedMLP(nn.Module):
    """SwiGLU MLP on a channels-first map [B, C, H, W] (official ``gMlp``, ViG-H): fc1 C -> 2I,
    fc2 I -> C, per position, no biases, I = 32 * ceil((8C/3)/32)."""

    def __init__(self, dim: int, hidden_dim: Optional[int] = None, drop: float = 0.0):
        super().__init__()
        self.hidden_dim = hidden_dim or swiglu_hidden(dim, 32)
        self.fc1 = PointwiseLinear(dim, 2 * self.hidden_dim, bias=False)
        self.fc2 = PointwiseLinear(self.hidden_dim, dim, bias=False)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)  # [B, H, W, C]
        gate, y = self.fc1(x).chunk(2, dim=-1)
        y = self.drop(self.fc2(F.silu(gate) * y))
        return y.permute(0, 3, 1, 2)
