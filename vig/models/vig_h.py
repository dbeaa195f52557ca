"""Hierarchical ViG (ViG-H-T, ViG-H-S, ViG-H-B): four VMamba-style stages on channels-first maps.

Patch embed v2 (stride 4), stages of [LN2d -> GLA2D] + [LN2d -> gated MLP] residual blocks,
downsample v3 (conv 3/2 + LN2d) between stages, classifier LN2d -> average pool -> Linear. Names
and shapes match the official release (github hustvl/ViG, classification/models/vig_h.py).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Optional, Sequence

import torch
import torch.nn as nn
from timm.models import register_model
from timm.layers import DropPath, trunc_normal_

from ._timm import default_cfg
from .layers import GLA2D, GatedMLP, LayerNorm2d, set_mixer_backend, validate_backend_name

__all__ = ["HierViG", "HierViGBlock", "VIG_H_CONFIGS", "vig_h_tiny", "vig_h_small", "vig_h_base"]

# classification/configs/vig-h/*.yaml (USE_ACT_IN_CONV False, USE_OUT_ACT False everywhere)
VIG_H_CONFIGS = {
    "vig_h_tiny": dict(dims=96, depths=(2, 2, 5, 2), num_heads=(3, 6, 12, 24), drop_path_rate=0.2),
    "vig_h_small": dict(dims=96, depths=(2, 2, 17, 2), num_heads=(3, 6, 12, 24), drop_path_rate=0.3),
    "vig_h_base": dict(dims=128, depths=(2, 2, 17, 2), num_heads=(4, 8, 16, 32), drop_path_rate=0.6),
}


class HierViGBlock(nn.Module):
    """x = x + DropPath(op(norm(x))); x = x + DropPath(mlp(norm2(x))) on [B, C, H, W]."""

    def __init__(self, dim: int, num_heads: int, drop_path: float = 0.0, expand_k: float = 0.5,
                 expand_v: float = 1.0, use_out_act: bool = False, use_act_in_conv: bool = False,
                 mlp_drop_rate: float = 0.0, norm_eps: float = 1e-6, backend: Optional[str] = None):
        super().__init__()
        self.norm = LayerNorm2d(dim)
        self.op = GLA2D(dim, num_heads, expand_k=expand_k, expand_v=expand_v,
                        use_act_in_conv=use_act_in_conv, use_out_act=use_out_act,
                        norm_eps=norm_eps, backend=backend)
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()
        self.norm2 = LayerNorm2d(dim)
        self.mlp = GatedMLP(dim, drop=mlp_drop_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.op(self.norm(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


def _patch_embed(in_chans: int, dim: int, patch_size: int) -> nn.Sequential:
    # indices 0, 2, 5, 7 carry parameters, as in the official Sequential (its Identity slots
    # stand where a channels-last variant permutes)
    stride = patch_size // 2
    return nn.Sequential(
        nn.Conv2d(in_chans, dim // 2, kernel_size=stride + 1, stride=stride, padding=1),
        nn.Identity(),
        LayerNorm2d(dim // 2),
        nn.Identity(),
        nn.GELU(),
        nn.Conv2d(dim // 2, dim, kernel_size=stride + 1, stride=stride, padding=1),
        nn.Identity(),
        LayerNorm2d(dim),
    )


def _downsample(dim: int, out_dim: int) -> nn.Sequential:
    # downsample v3; parameters at indices 1 and 3
    return nn.Sequential(
        nn.Identity(),
        nn.Conv2d(dim, out_dim, kernel_size=3, stride=2, padding=1),
        nn.Identity(),
        LayerNorm2d(out_dim),
    )


class HierViG(nn.Module):
    """Hierarchical ViG; any input size (odd sizes are padded by the stride-2 convolutions)."""

    def __init__(
        self,
        patch_size: int = 4,
        in_chans: int = 3,
        num_classes: int = 1000,
        depths: Sequence[int] = (2, 2, 5, 2),
        dims=96,
        num_heads: Sequence[int] = (3, 6, 12, 24),
        expand_k: float = 0.5,
        expand_v: float = 1.0,
        use_out_act: bool = False,
        use_act_in_conv: bool = False,
        mlp_drop_rate: float = 0.0,
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.2,
        norm_eps: float = 1e-6,
        global_pool: str = "avg",
        backend: Optional[str] = None,
        img_size=None,  # accepted for a uniform factory signature; any input size works
    ):
        super().__init__()
        if global_pool != "avg":
            raise ValueError(f"global_pool must be 'avg', got {global_pool!r}")
        backend = validate_backend_name(backend)
        num_stages = len(depths)
        if isinstance(dims, int):
            dims = [dims * 2 ** i for i in range(num_stages)]
        self.dims = list(dims)
        self.depths = list(depths)
        self.num_classes = num_classes
        self.global_pool = global_pool
        self.num_features = self.head_hidden_size = self.dims[-1]

        self.patch_embed = _patch_embed(in_chans, self.dims[0], patch_size)
        dpr = torch.linspace(0, drop_path_rate, sum(depths), device="cpu").tolist()  # stochastic depth
        self.layers = nn.ModuleList()
        for i in range(num_stages):
            start = sum(depths[:i])
            blocks = nn.Sequential(*[
                HierViGBlock(self.dims[i], num_heads[i], drop_path=dpr[start + j], expand_k=expand_k,
                             expand_v=expand_v, use_out_act=use_out_act,
                             use_act_in_conv=use_act_in_conv, mlp_drop_rate=mlp_drop_rate,
                             norm_eps=norm_eps, backend=backend)
                for j in range(depths[i])
            ])
            down = _downsample(self.dims[i], self.dims[i + 1]) if i < num_stages - 1 else nn.Identity()
            self.layers.append(nn.Sequential(OrderedDict(blocks=blocks, downsample=down)))

        self.classifier = nn.Sequential(OrderedDict(
            norm=LayerNorm2d(self.num_features),
            avgpool=nn.AdaptiveAvgPool2d(1),
            flatten=nn.Flatten(1),
            drop=nn.Dropout(drop_rate),
            head=nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity(),
        ))
        self.init_weights()

    @torch.no_grad()
    def init_weights(self):
        """Official order: each mixer's xavier init runs at construction, then the model-wide init
        (every Linear, the mixers' projections included, trunc normal 0.02 with zero bias;
        LayerNorm ones/zeros) runs over it; only the depthwise conv keeps its xavier init."""

        def _init(m):
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

        self.apply(_init)

    # ---- backends -------------------------------------------------------------------------
    def set_backend(self, name: Optional[str]) -> "HierViG":
        """Pin every token mixer to the GLA backend ``name`` (``None``: follow the global choice)."""
        return set_mixer_backend(self, name)

    # ---- timm conventions -----------------------------------------------------------------
    @torch.jit.ignore
    def no_weight_decay(self):
        return set()

    @torch.jit.ignore
    def get_classifier(self) -> nn.Module:
        return self.classifier.head

    def reset_classifier(self, num_classes: int, global_pool: Optional[str] = None):
        self.num_classes = num_classes
        self.classifier.head = (nn.Linear(self.num_features, num_classes) if num_classes > 0
                                else nn.Identity())

    # ---- forward --------------------------------------------------------------------------
    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """[B, 3, H, W] -> last-stage map [B, C3, H/32, W/32] (before the classifier's norm)."""
        x = self.patch_embed(x)
        for layer in self.layers:
            x = layer(x)
        return x

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        c = self.classifier
        x = c.drop(c.flatten(c.avgpool(c.norm(x))))
        return x if pre_logits else c.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


# ---- timm registration ----------------------------------------------------------------------
# read by timm.models.register_model (no URL / hub id: no download; local files only)
default_cfgs = {name: default_cfg(pool_size=(7, 7), first_conv="patch_embed.0",
                                classifier="classifier.head")
                for name in VIG_H_CONFIGS}


@register_model
def vig_h_tiny(pretrained: bool = False, **kwargs):
    """ViG-H-T (28.6 M parameters) for ``timm.create_model``; ``pretrained=True`` needs a local file
    (``pretrained_cfg_overlay=dict(file=...)``): nothing is downloaded."""
    from . import timm_entrypoint

    return timm_entrypoint("vig_h_tiny", pretrained, **kwargs)


@register_model
def vig_h_small(pretrained: bool = False, **kwargs):
    """ViG-H-S (50.1 M parameters) for ``timm.create_model``; ``pretrained=True`` needs a local file
    (``pretrained_cfg_overlay=dict(file=...)``): nothing is downloaded."""
    from . import timm_entrypoint

    return timm_entrypoint("vig_h_small", pretrained, **kwargs)


@register_model
def vig_h_base(pretrained: bool = False, **kwargs):
    """ViG-H-B (88.9 M parameters) for ``timm.create_model``; ``pretrained=True`` needs a local file
    (``pretrained_cfg_overlay=dict(file=...)``): nothing is downloaded."""
    from . import timm_entrypoint

    return timm_entrypoint("vig_h_base", pretrained, **kwargs)
