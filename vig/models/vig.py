"""Plain (non-hierarchical) ViG: ViG-T, ViG-S, ViG-B.

Patch embed v2 (conv 9/8 -> LN -> SiLU -> conv 3/2 -> LN, 16 px per patch), a learned absolute
position embedding (resized bicubically for other grids), pre-norm blocks of GLA token mixer and
SwiGLU MLP with RMSNorm, final RMSNorm, average pool, linear head. Names and shapes match the
official release (github hustvl/ViG, classification/models/vig.py).
"""
from __future__ import annotations

from typing import Optional, Tuple, Union

import torch
import torch.nn as nn
from timm.models import register_model
from timm.layers import DropPath, resample_abs_pos_embed, to_2tuple, trunc_normal_

from ._timm import default_cfg
from .layers import GatedLinearAttention, GLAMLP, LayerNorm2d, RMSNorm, set_mixer_backend, \
    validate_backend_name

__all__ = ["ViG", "ViGBlock", "PatchEmbed", "VIG_CONFIGS", "vig_tiny", "vig_small", "vig_base"]

# The released configurations (classification/configs/vig/*.yaml + config.py defaults).
# ViG-T does not set USE_ACT_IN_CONV, so it takes the config default True (SiLU after the
# depthwise conv); ViG-S and ViG-B set it False.
VIG_CONFIGS = {
    "vig_tiny": dict(embed_dim=192, depth=12, num_heads=3, use_out_act=True, use_act_in_conv=True,
                     drop_path_rate=0.0),
    "vig_small": dict(embed_dim=384, depth=12, num_heads=6, use_out_act=False,
                      use_act_in_conv=False, drop_path_rate=0.2),
    "vig_base": dict(embed_dim=768, depth=12, num_heads=12, use_out_act=False,
                     use_act_in_conv=False, drop_path_rate=0.5),
}


class PatchEmbed(nn.Module):
    """Patch embed v2: Conv(3, C/2, k=p/2+1, s=p/2, pad 1) -> LN2d -> SiLU -> Conv(C/2, C, 3, 2, 1)
    -> LN2d; [B, 3, H, W] -> ([B, N, C], (h, w))."""

    def __init__(self, patch_size: int = 16, in_chans: int = 3, embed_dim: int = 192,
                 bias: bool = True):
        super().__init__()
        stride = patch_size // 2
        self.proj = nn.Sequential(
            nn.Conv2d(in_chans, embed_dim // 2, kernel_size=stride + 1, stride=stride, padding=1,
                      bias=bias),
            LayerNorm2d(embed_dim // 2),
            nn.SiLU(),
            nn.Conv2d(embed_dim // 2, embed_dim, kernel_size=3, stride=2, padding=1, bias=bias),
            LayerNorm2d(embed_dim),
        )

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, Tuple[int, int]]:
        x = self.proj(x)
        h, w = x.shape[-2:]
        return x.flatten(2).transpose(1, 2), (h, w)


class ViGBlock(nn.Module):
    """h = x + DropPath(attn(attn_norm(x))); out = h + DropPath(mlp(mlp_norm(h)))."""

    def __init__(self, dim: int, num_heads: int, drop_path: float = 0.0, use_out_act: bool = False,
                 use_act_in_conv: bool = False, expand_k: float = 0.5, expand_v: float = 1.0,
                 norm_eps: float = 1e-6, backend: Optional[str] = None):
        super().__init__()
        self.attn_norm = RMSNorm(dim, eps=norm_eps)
        self.attn = GatedLinearAttention(
            dim, num_heads, expand_k=expand_k, expand_v=expand_v, use_act_in_conv=use_act_in_conv,
            use_out_act=use_out_act, norm_eps=norm_eps, backend=backend,
        )
        self.mlp_norm = RMSNorm(dim, eps=norm_eps)
        self.mlp = GLAMLP(dim)
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()

    def forward(self, x: torch.Tensor, hw: Tuple[int, int]) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.attn_norm(x), hw))
        return x + self.drop_path(self.mlp(self.mlp_norm(x)))


class ViG(nn.Module):
    """Plain ViG. ``img_size`` sets the native grid of the position embedding (img_size // 16);
    any other input size (non-square too) works, the embedding being resized bicubically."""

    def __init__(
        self,
        img_size: Union[int, Tuple[int, int]] = 224,
        patch_size: int = 16,
        in_chans: int = 3,
        num_classes: int = 1000,
        embed_dim: int = 192,
        depth: int = 12,
        num_heads: int = 3,
        expand_k: float = 0.5,
        expand_v: float = 1.0,
        use_out_act: bool = False,
        use_act_in_conv: bool = False,
        drop_rate: float = 0.0,
        pos_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        norm_eps: float = 1e-6,
        global_pool: str = "avg",
        backend: Optional[str] = None,
    ):
        super().__init__()
        if global_pool not in ("avg", ""):
            raise ValueError(f"global_pool must be 'avg' or '', got {global_pool!r}")
        backend = validate_backend_name(backend)
        img_size = to_2tuple(img_size)
        self.num_classes = num_classes
        self.global_pool = global_pool
        self.num_features = self.head_hidden_size = self.embed_dim = embed_dim
        self.patch_size = patch_size
        self.grid_size = (img_size[0] // patch_size, img_size[1] // patch_size)

        self.patch_embed = PatchEmbed(patch_size, in_chans, embed_dim)
        self.pos_embed = nn.Parameter(torch.zeros(1, self.grid_size[0] * self.grid_size[1], embed_dim))
        self.pos_drop = nn.Dropout(pos_drop_rate)
        dpr = torch.linspace(0, drop_path_rate, depth, device="cpu").tolist()  # stochastic depth
        self.blocks = nn.ModuleList([
            ViGBlock(embed_dim, num_heads, drop_path=dpr[i], use_out_act=use_out_act,
                     use_act_in_conv=use_act_in_conv, expand_k=expand_k, expand_v=expand_v,
                     norm_eps=norm_eps, backend=backend)
            for i in range(depth)
        ])
        self.norm = RMSNorm(embed_dim, eps=norm_eps)
        self.head_drop = nn.Dropout(drop_rate)
        self.head = nn.Linear(embed_dim, num_classes) if num_classes > 0 else nn.Identity()
        self.init_weights()

    @torch.no_grad()
    def init_weights(self):
        """Official init: Linear normal(0, 0.02), zero bias; then the mixers' own xavier init;
        position embedding trunc normal 0.02."""

        def _init(m):
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

        self.apply(_init)
        for m in self.modules():
            if isinstance(m, GatedLinearAttention):
                m.reset_parameters()
        trunc_normal_(self.pos_embed, std=0.02)

    # ---- backends -------------------------------------------------------------------------
    def set_backend(self, name: Optional[str]) -> "ViG":
        """Pin every token mixer to the GLA backend ``name`` (``None``: follow the global choice)."""
        return set_mixer_backend(self, name)

    # ---- timm conventions -----------------------------------------------------------------
    @torch.jit.ignore
    def no_weight_decay(self):
        return {"pos_embed"}

    @torch.jit.ignore
    def get_classifier(self) -> nn.Module:
        return self.head

    def reset_classifier(self, num_classes: int, global_pool: Optional[str] = None):
        self.num_classes = num_classes
        if global_pool is not None:
            self.global_pool = global_pool
        self.head = nn.Linear(self.embed_dim, num_classes) if num_classes > 0 else nn.Identity()

    # ---- forward --------------------------------------------------------------------------
    def _pos_embed(self, x: torch.Tensor, hw: Tuple[int, int]) -> torch.Tensor:
        pos = self.pos_embed
        if tuple(hw) != tuple(self.grid_size):
            # bicubic, align_corners False, computed in float32 (official resize_pos_embed)
            pos = resample_abs_pos_embed(pos, list(hw), old_size=list(self.grid_size),
                                         num_prefix_tokens=0, interpolation="bicubic",
                                         antialias=False)
        return self.pos_drop(x + pos)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """[B, 3, H, W] -> normalised patch tokens [B, N, C] (row-major over the h x w grid)."""
        x, hw = self.patch_embed(x)
        x = self._pos_embed(x, hw)
        for blk in self.blocks:
            x = blk(x, hw)
        return self.norm(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        if self.global_pool == "avg":
            x = x.mean(dim=1)
        x = self.head_drop(x)
        return x if pre_logits else self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


# ---- timm registration ----------------------------------------------------------------------
# read by timm.models.register_model (no URL / hub id: no download; local files only)
default_cfgs = {name: default_cfg(first_conv="patch_embed.proj.0", classifier="head")
                for name in VIG_CONFIGS}


@register_model
def vig_tiny(pretrained: bool = False, **kwargs):
    """ViG-T (5.8 M parameters) for ``timm.create_model``; ``pretrained=True`` needs a local file
    (``pretrained_cfg_overlay=dict(file=...)``): nothing is downloaded."""
    from . import timm_entrypoint

    return timm_entrypoint("vig_tiny", pretrained, **kwargs)


@register_model
def vig_small(pretrained: bool = False, **kwargs):
    """ViG-S (22.6 M parameters) for ``timm.create_model``; ``pretrained=True`` needs a local file
    (``pretrained_cfg_overlay=dict(file=...)``): nothing is downloaded."""
    from . import timm_entrypoint

    return timm_entrypoint("vig_small", pretrained, **kwargs)


@register_model
def vig_base(pretrained: bool = False, **kwargs):
    """ViG-B (89.0 M parameters) for ``timm.create_model``; ``pretrained=True`` needs a local file
    (``pretrained_cfg_overlay=dict(file=...)``): nothing is downloaded."""
    from . import timm_entrypoint

    return timm_entrypoint("vig_base", pretrained, **kwargs)
