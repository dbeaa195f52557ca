"""The ViG model family: ViG-T/S/B (plain) and ViG-H-T/S/B (hierarchical).

* :func:`create_model` builds one by name, optionally loading an official checkpoint and pinning
  the GLA backend of every layer (``backend=``); ``model.set_backend(name)`` switches later.
* :func:`load_checkpoint` reads the official file layout (``{"model": state_dict, ...}`` or a bare
  state_dict) with ``torch.load(..., weights_only=True)``.
* Importing this package registers every model with timm, so ``timm.create_model("vig_small")``
  works (``pretrained=True`` only with a local file: there is no hub download).
"""
from __future__ import annotations

import contextlib
import os
import pickle
from typing import Optional

import torch
import torch.nn as nn

from .layers import GLA2D, GatedLinearAttention, GatedMLP, GLAMLP, LayerNorm2d, RMSNorm
from .vig import VIG_CONFIGS, ViG
from .vig_h import VIG_H_CONFIGS, HierViG

__all__ = [
    "create_model", "list_models", "load_checkpoint", "timm_entrypoint",
    "ViG", "HierViG", "GatedLinearAttention", "GLA2D", "GLAMLP", "GatedMLP", "RMSNorm",
    "LayerNorm2d",
]

_MODELS = {**{n: (ViG, c) for n, c in VIG_CONFIGS.items()},
           **{n: (HierViG, c) for n, c in VIG_H_CONFIGS.items()}}


def list_models() -> list[str]:
    """The names :func:`create_model` accepts."""
    return list(_MODELS)


def create_model(name: str, pretrained_path: Optional[str] = None, num_classes: int = 1000,
                 img_size=224, backend: Optional[str] = None, **kw) -> nn.Module:
    """Build ``name`` (one of :func:`list_models`).

    Args:
        pretrained_path: a local checkpoint (official layout) loaded with ``strict=True``; with
            a ``num_classes`` other than the checkpoint's, every weight but the classifier's is
            loaded and a new classifier of ``num_classes`` outputs replaces it (fine-tuning).
        num_classes: classifier outputs (0: no head).
        img_size: the native input size (int or (H, W)); sets the grid of ViG's position
            embedding (checkpoints of another grid are resized on load). Any input size runs.
        backend: GLA backend pinned on every mixer (``None``: the global choice, see
            :func:`vig.set_backend`). Unknown names raise ValueError.
        **kw: overrides of the model's constructor arguments (drop_path_rate, drop_rate, ...).
    """
    if name not in _MODELS:
        raise ValueError(f"unknown ViG model {name!r}; known models: {', '.join(_MODELS)}")
    cls, cfg = _MODELS[name]
    args = dict(cfg)
    args.update(kw)
    model = cls(num_classes=num_classes, img_size=img_size, backend=backend, **args)
    if pretrained_path is not None:
        sd = _read_checkpoint(pretrained_path)
        key = _classifier_key(model)
        ckpt_classes = sd[key].shape[0] if key in sd else 0
        if ckpt_classes != model.num_classes:  # load into the checkpoint's head, then replace it
            model.reset_classifier(ckpt_classes)
        _load_state_dict(model, sd, strict=True)
        if num_classes != ckpt_classes:
            model.reset_classifier(num_classes)
    return model


def _classifier_key(model: nn.Module) -> str:
    """The state-dict key of the classifier's weight (``head.weight``, ``classifier.head.weight``)."""
    head = model.get_classifier()
    for name, mod in model.named_modules():
        if mod is head:
            return f"{name}.weight"
    raise AssertionError("the classifier is not a submodule of the model")  # pragma: no cover


def _extract_state_dict(obj) -> dict:
    if isinstance(obj, dict):
        for key in ("model", "state_dict"):
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError("checkpoint holds neither a state_dict nor a dict with a 'model' entry")
    if obj and all(k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return dict(obj)


def _adapt_pos_embed(model: nn.Module, sd: dict) -> None:
    """Resize a checkpoint's (square-grid) position embedding to the model's grid."""
    if not isinstance(model, ViG) or "pos_embed" not in sd:
        return
    src = sd["pos_embed"]
    if src.shape == model.pos_embed.shape or src.dim() != 3 or src.shape[-1] != model.embed_dim:
        return
    side = int(round(src.shape[1] ** 0.5))
    if side * side != src.shape[1]:
        return  # not a square grid: let load_state_dict report the mismatch
    from timm.layers import resample_abs_pos_embed

    sd["pos_embed"] = resample_abs_pos_embed(src, list(model.grid_size), old_size=[side, side],
                                             num_prefix_tokens=0, interpolation="bicubic",
                                             antialias=False)


def load_checkpoint(model: nn.Module, path, strict: bool = True):
    """Load a checkpoint file into ``model`` (returns load_state_dict's result).

    Accepts the official layout (a dict with a ``model`` entry), a dict with ``state_dict``, or a
    bare state_dict; a leading ``module.`` (DistributedDataParallel) is stripped. Read with
    ``torch.load(..., weights_only=True)`` (no code runs from the file). ViG's position
    embedding is resized bicubically when the checkpoint was trained on another grid.
    """
    return _load_state_dict(model, _read_checkpoint(path), strict)


def _load_state_dict(model: nn.Module, sd: dict, strict: bool):
    _adapt_pos_embed(model, sd)
    return model.load_state_dict(sd, strict=strict)


def _read_checkpoint(path) -> dict:
    """The state_dict of a checkpoint file (see :func:`load_checkpoint`)."""
    path = os.fspath(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ValueError(
            f"{path}: not loadable with weights_only=True (it holds objects other than tensors, "
            f"e.g. a training config). If you trust the file, keep only its weights: "
            f"torch.save({{'model': torch.load(path, weights_only=False)['model']}}, new_path). "
            f"Cause: {exc}"
        ) from exc
    return _extract_state_dict(obj)


def timm_entrypoint(name: str, pretrained: bool = False, **kwargs) -> nn.Module:
    """What the timm-registered functions call: timm's keyword conventions in, a model out."""
    pretrained_cfg = kwargs.pop("pretrained_cfg", None)
    overlay = kwargs.pop("pretrained_cfg_overlay", None) or {}
    kwargs.pop("cache_dir", None)
    device = kwargs.pop("device", None)
    dtype = kwargs.pop("dtype", None)
    path = kwargs.pop("pretrained_path", None) or kwargs.pop("file", None)

    if hasattr(pretrained_cfg, "to_dict"):
        cfg = pretrained_cfg.to_dict()
    elif isinstance(pretrained_cfg, dict):
        cfg = dict(pretrained_cfg)
    else:
        from . import vig, vig_h

        cfg = dict((vig.default_cfgs if name in VIG_CONFIGS else vig_h.default_cfgs)[name])
    cfg.update(overlay)
    if path is None and pretrained:
        path = cfg.get("file") or None
    if pretrained and not path:
        raise RuntimeError(
            f"{name}: pretrained=True needs a local checkpoint file (vig never downloads): pass "
            f"pretrained_cfg_overlay=dict(file='/path/to/{name}.pth') to timm.create_model, or use "
            f"vig.create_model({name!r}, pretrained_path=...)"
        )

    num_classes = kwargs.pop("num_classes", 1000)
    img_size = kwargs.pop("img_size", 224)
    # timm passes these when set; the models have no use for them
    for unused in ("drop_block_rate", "bn_momentum", "bn_eps", "scriptable", "exportable", "no_jit"):
        kwargs.pop(unused, None)
    with torch.device(device) if device is not None else contextlib.nullcontext():
        # create_model loads into the checkpoint's head, then replaces it if another class count is asked for
        model = create_model(name, pretrained_path=path if pretrained else None, num_classes=num_classes,
                             img_size=img_size, **kwargs)
    if dtype is not None:
        model = model.to(dtype=dtype)
    if device is not None:
        model = model.to(device=device)
    cfg["num_classes"] = model.num_classes
    cfg["architecture"] = name
    model.pretrained_cfg = model.default_cfg = cfg
    return model

