"""The ViG models against ../shared/design/vig-architecture.md: exact parameter counts, state-dict
names and shapes of the official release, official-format checkpoints, any resolution, dtypes,
gradients, timm registration, backend pinning, and the token mixer's math in float64.

(Each registered backend inside the models is judged in test_backends.py.)
"""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import vig
import vig.models as models
from vig_reference import naive_bidirectional_gla
from vig.models import layers
from vig.models.layers import GLA2D, GatedLinearAttention, GatedMLP, GLAMLP

# ---- the spec's numbers --------------------------------------------------------------------

SPEC_PARAMS = {
    "vig_tiny": 5_834_536,
    "vig_small": 22_615_144,
    "vig_base": 89_022_184,
    "vig_h_tiny": 28_600_680,
    "vig_h_small": 50_051_688,
    "vig_h_base": 88_904_360,
}
PLAIN = {"vig_tiny": (192, 12, 3), "vig_small": (384, 12, 6), "vig_base": (768, 12, 12)}
HIER = {
    "vig_h_tiny": (96, (2, 2, 5, 2), (3, 6, 12, 24)),
    "vig_h_small": (96, (2, 2, 17, 2), (3, 6, 12, 24)),
    "vig_h_base": (128, (2, 2, 17, 2), (4, 8, 16, 32)),
}
DROP_PATH = {"vig_tiny": 0.0, "vig_small": 0.2, "vig_base": 0.5,
             "vig_h_tiny": 0.2, "vig_h_small": 0.3, "vig_h_base": 0.6}


def _ceil_to(x, m):
    return m * math.ceil(x / m)


def _mixer_entries(prefix, C):
    """The official GatedLinearAttention / GLA2D parameters (expand_k 0.5, expand_v 1)."""
    kd = C // 2
    return {
        f"{prefix}in_proj.0.weight": (C, 1, 3, 3),
        f"{prefix}qkv_proj.weight": (2 * kd + C, C),
        f"{prefix}gk_proj.0.weight": (16, C),
        f"{prefix}gk_proj.1.weight": (2 * kd, 16),
        f"{prefix}gk_proj.1.bias": (2 * kd,),
        f"{prefix}o_proj.weight": (C, C),
        f"{prefix}g_norm.weight": None,  # head_v_dim, filled in by the caller
        f"{prefix}l_norm.weight": None,
        f"{prefix}g_proj.weight": (C, C),
        f"{prefix}g_proj.bias": (C,),
    }


def expected_plain(C, depth, heads, num_classes=1000):
    """Every state-dict entry of plain ViG, written from the spec (not from the code)."""
    I = _ceil_to(8 * C / 3, 256)
    sd = {
        "pos_embed": (1, 196, C),
        "patch_embed.proj.0.weight": (C // 2, 3, 9, 9),
        "patch_embed.proj.0.bias": (C // 2,),
        "patch_embed.proj.1.weight": (C // 2,),
        "patch_embed.proj.1.bias": (C // 2,),
        "patch_embed.proj.3.weight": (C, C // 2, 3, 3),
        "patch_embed.proj.3.bias": (C,),
        "patch_embed.proj.4.weight": (C,),
        "patch_embed.proj.4.bias": (C,),
    }
    for i in range(depth):
        p = f"blocks.{i}."
        sd[p + "attn_norm.weight"] = (C,)
        for k, v in _mixer_entries(p + "attn.", C).items():
            sd[k] = v if v is not None else (C // heads,)
        sd[p + "mlp_norm.weight"] = (C,)
        sd[p + "mlp.gate_proj.weight"] = (2 * I, C)
        sd[p + "mlp.down_proj.weight"] = (C, I)
    sd["norm.weight"] = (C,)
    sd["head.weight"] = (num_classes, C)
    sd["head.bias"] = (num_classes,)
    return sd


def expected_hier(C0, depths, heads, num_classes=1000):
    """Every state-dict entry of ViG-H, written from the spec (not from the code)."""
    sd = {
        "patch_embed.0.weight": (C0 // 2, 3, 3, 3),
        "patch_embed.0.bias": (C0 // 2,),
        "patch_embed.2.weight": (C0 // 2,),
        "patch_embed.2.bias": (C0 // 2,),
        "patch_embed.5.weight": (C0, C0 // 2, 3, 3),
        "patch_embed.5.bias": (C0,),
        "patch_embed.7.weight": (C0,),
        "patch_embed.7.bias": (C0,),
    }
    for s, (depth, H) in enumerate(zip(depths, heads)):
        C = C0 * 2 ** s
        I = _ceil_to(8 * C / 3, 32)
        for j in range(depth):
            p = f"layers.{s}.blocks.{j}."
            sd[p + "norm.weight"] = (C,)
            sd[p + "norm.bias"] = (C,)
            for k, v in _mixer_entries(p + "op.", C).items():
                sd[k] = v if v is not None else (C // H,)
            sd[p + "norm2.weight"] = (C,)
            sd[p + "norm2.bias"] = (C,)
            sd[p + "mlp.fc1.weight"] = (2 * I, C)
            sd[p + "mlp.fc2.weight"] = (C, I)
        if s < len(depths) - 1:
            sd[f"layers.{s}.downsample.1.weight"] = (2 * C, C, 3, 3)
            sd[f"layers.{s}.downsample.1.bias"] = (2 * C,)
            sd[f"layers.{s}.downsample.3.weight"] = (2 * C,)
            sd[f"layers.{s}.downsample.3.bias"] = (2 * C,)
    C = C0 * 2 ** (len(depths) - 1)
    sd["classifier.norm.weight"] = (C,)
    sd["classifier.norm.bias"] = (C,)
    sd["classifier.head.weight"] = (num_classes, C)
    sd["classifier.head.bias"] = (num_classes,)
    return sd


def expected_state_dict(name):
    return expected_plain(*PLAIN[name]) if name in PLAIN else expected_hier(*HIER[name])


def meta_model(name, **kw):
    with torch.device("meta"):
        return models.create_model(name, **kw)


def small_model(name="vig_tiny", seed=0, **kw):
    torch.manual_seed(seed)
    return models.create_model(name, **kw)


def mixers(model):
    return [m for m in model.modules() if isinstance(m, GatedLinearAttention)]


# ---- parameter counts, names, shapes -------------------------------------------------------

@pytest.mark.parametrize("name", list(SPEC_PARAMS))
def test_parameter_count_is_the_spec_count(name):
    model = meta_model(name)
    assert sum(p.numel() for p in model.parameters()) == SPEC_PARAMS[name]
    # and the spec's shapes, summed independently, give the same count
    assert sum(math.prod(s) for s in expected_state_dict(name).values()) == SPEC_PARAMS[name]


@pytest.mark.parametrize("name", list(SPEC_PARAMS))
def test_state_dict_names_and_shapes_are_the_official_ones(name):
    got = {k: tuple(v.shape) for k, v in meta_model(name).state_dict().items()}
    want = expected_state_dict(name)
    assert sorted(set(got) - set(want)) == [] and sorted(set(want) - set(got)) == []
    wrong = {k: (got[k], want[k]) for k in want if got[k] != want[k]}
    assert not wrong


def test_state_dict_entry_counts_and_named_examples():
    sd_t = meta_model("vig_tiny").state_dict()
    assert len(sd_t) == 180
    examples = {
        "pos_embed": (1, 196, 192),
        "patch_embed.proj.0.weight": (96, 3, 9, 9),
        "patch_embed.proj.1.weight": (96,),
        "patch_embed.proj.3.weight": (192, 96, 3, 3),
        "patch_embed.proj.4.weight": (192,),
        "blocks.0.attn.in_proj.0.weight": (192, 1, 3, 3),
        "blocks.0.attn.qkv_proj.weight": (384, 192),
        "blocks.0.attn.gk_proj.0.weight": (16, 192),
        "blocks.0.attn.gk_proj.1.weight": (192, 16),
        "blocks.0.attn.gk_proj.1.bias": (192,),
        "blocks.11.attn.g_norm.weight": (64,),
        "blocks.11.attn.l_norm.weight": (64,),
        "blocks.3.mlp.gate_proj.weight": (1024, 192),
        "blocks.3.mlp.down_proj.weight": (192, 512),
        "norm.weight": (192,),
        "head.weight": (1000, 192),
    }
    for k, shape in examples.items():
        assert tuple(sd_t[k].shape) == shape, k
    sd_h = meta_model("vig_h_tiny").state_dict()
    assert len(sd_h) == 200
    examples_h = {
        "patch_embed.0.weight": (48, 3, 3, 3),
        "patch_embed.7.bias": (96,),
        "layers.0.blocks.0.op.qkv_proj.weight": (192, 96),  # 2-D: the Linear layout
        "layers.0.blocks.1.mlp.fc1.weight": (512, 96),
        "layers.0.blocks.1.mlp.fc2.weight": (96, 256),
        "layers.2.blocks.4.op.g_norm.weight": (32,),
        "layers.2.downsample.1.weight": (768, 384, 3, 3),
        "layers.2.downsample.3.weight": (768,),
        "classifier.norm.weight": (768,),
        "classifier.head.weight": (1000, 768),
    }
    for k, shape in examples_h.items():
        assert tuple(sd_h[k].shape) == shape, k
    assert "layers.3.downsample.1.weight" not in sd_h


def test_head_dims_and_mixer_options_of_the_released_configs():
    # K = 32, V = 64 in every plain size; ViG-T alone has the output SiLU; ViG-T's config keeps
    # the official default SiLU after the depthwise conv (USE_ACT_IN_CONV unset in vig-t.yaml)
    for name in PLAIN:
        ms = mixers(meta_model(name))
        assert len(ms) == 12
        assert {(m.head_k_dim, m.head_v_dim) for m in ms} == {(32, 64)}
        out_act = name == "vig_tiny"
        assert all(isinstance(m.out_act, nn.SiLU) == out_act for m in ms)
        assert all(isinstance(m.in_proj[1], nn.SiLU) == (name == "vig_tiny") for m in ms)
    for name, (_, depths, _) in HIER.items():
        ms = mixers(meta_model(name))
        assert len(ms) == sum(depths) and all(isinstance(m, GLA2D) for m in ms)
        assert all(isinstance(m.out_act, nn.Identity) and isinstance(m.in_proj[1], nn.Identity)
                   for m in ms)


@pytest.mark.parametrize("name", list(SPEC_PARAMS))
def test_stochastic_depth_is_linear_in_depth(name):
    model = meta_model(name)
    blocks = [m for m in model.modules() if hasattr(m, "drop_path") and hasattr(m, "mlp")]
    probs = [getattr(b.drop_path, "drop_prob", 0.0) for b in blocks]
    want = torch.linspace(0, DROP_PATH[name], len(blocks)).tolist()
    assert probs == pytest.approx(want, abs=1e-7)


def test_official_initialisation():
    torch.manual_seed(0)
    m = models.create_model("vig_small")
    attn = m.blocks[3].attn
    gain = 2 ** -2.5
    for w in (attn.qkv_proj.weight, attn.g_proj.weight, attn.o_proj.weight, attn.gk_proj[1].weight):
        bound = gain * math.sqrt(6 / (w.shape[0] + w.shape[1]))
        assert w.abs().max() <= bound and w.abs().max() > 0.9 * bound  # xavier uniform
    assert attn.gk_proj[1].bias.abs().max() == 0 and attn.g_proj.bias.abs().max() == 0
    assert m.blocks[3].mlp.gate_proj.weight.std().item() == pytest.approx(0.02, rel=0.02)
    assert m.head.weight.std().item() == pytest.approx(0.02, rel=0.05)
    assert m.pos_embed.std().item() == pytest.approx(0.02, rel=0.05)
    assert torch.all(m.blocks[0].attn.g_norm.weight == 1)
    # ViG-H: the model-wide trunc normal runs after the mixers' xavier init (official order)
    h = models.create_model("vig_h_tiny")
    op = h.layers[2].blocks[0].op
    assert op.qkv_proj.weight.std().item() == pytest.approx(0.02, rel=0.05)
    w = op.in_proj[0].weight
    fan_in, fan_out = 9, 9 * w.shape[0]
    assert w.abs().max() <= gain * math.sqrt(6 / (fan_in + fan_out))


# ---- forward at several resolutions, batch sizes and dtypes ---------------------------------

@pytest.mark.parametrize("name", ["vig_tiny", "vig_h_tiny"])
@pytest.mark.parametrize("hw", [(224, 224), (160, 256)])
def test_forward_at_several_resolutions(name, hw):
    model = small_model(name, num_classes=7).eval()
    x = torch.randn(2, 3, *hw)
    with torch.no_grad():
        y = model(x)
        assert y.shape == (2, 7) and torch.isfinite(y).all()
        if name == "vig_tiny":  # batch entries are independent: any batch size
            torch.testing.assert_close(model(x[1:])[0], y[1], rtol=1e-4, atol=1e-5)


def test_odd_input_size_and_token_grid():
    model = small_model("vig_tiny", num_classes=5).eval()
    with torch.no_grad():
        tokens = model.forward_features(torch.randn(1, 3, 97, 131))
        y = model.forward_head(tokens)
    # conv 9/8 pad 1 then conv 3/2 pad 1: 97 -> 12 -> 6, 131 -> 16 -> 8
    assert tokens.shape == (1, 48, 192) and y.shape == (1, 5)
    with torch.no_grad():  # an empty batch is a batch size too
        assert model(torch.randn(0, 3, 64, 64)).shape == (0, 5)
    h = small_model("vig_h_tiny", num_classes=5).eval()
    with torch.no_grad():
        assert h(torch.randn(1, 3, 97, 131)).shape == (1, 5)


def test_position_embedding_is_resized_bicubically_in_float32():
    model = small_model("vig_tiny").eval()
    x = torch.randn(1, 160, 192)
    got = model._pos_embed(x, (10, 16))
    src = model.pos_embed.detach().reshape(1, 14, 14, 192).permute(0, 3, 1, 2).float()
    want = F.interpolate(src, size=(10, 16), mode="bicubic", align_corners=False)
    want = want.flatten(2).transpose(1, 2)
    torch.testing.assert_close(got, x + want, rtol=0, atol=1e-6)
    # native grid: the parameter itself
    x = torch.randn(1, 196, 192)
    assert torch.equal(model._pos_embed(x, (14, 14)), x + model.pos_embed.detach())
    # a model built for another native size owns a position embedding of that grid
    assert meta_model("vig_tiny", img_size=(160, 256)).pos_embed.shape == (1, 160, 192)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_autocast(dtype):
    model = small_model("vig_tiny").eval()
    x = torch.randn(1, 3, 128, 128)
    with torch.no_grad():
        ref = model(x)
        with torch.autocast("cpu", dtype=dtype):
            y = model(x)
    assert y.dtype == dtype and torch.isfinite(y).all()
    rel = ((y.float() - ref).norm() / ref.norm()).item()
    assert rel < 0.05, rel


def test_autocast_hierarchical():
    model = small_model("vig_h_tiny").eval()
    x = torch.randn(1, 3, 96, 96)
    with torch.no_grad():
        ref = model(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = model(x)
    assert torch.isfinite(y).all()
    assert ((y.float() - ref).norm() / ref.norm()).item() < 0.05


def test_gradients_are_finite():
    model = small_model("vig_tiny", num_classes=10, drop_path_rate=0.1).train()
    x = torch.randn(2, 3, 112, 112, requires_grad=True)
    loss = F.cross_entropy(model(x), torch.tensor([1, 7]))
    loss.backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    for n, p in model.named_parameters():
        assert p.grad is not None, n
        assert torch.isfinite(p.grad).all(), n
    # every mixer parameter takes part (no dead branch)
    for n, p in model.blocks[5].attn.named_parameters():
        assert p.grad.abs().sum() > 0, n


def test_gradients_hierarchical():
    model = small_model("vig_h_tiny", num_classes=4).train()
    x = torch.randn(1, 3, 64, 64)
    model(x).sum().backward()
    for n, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), n


def test_drop_path_only_in_training():
    model = small_model("vig_small", num_classes=3)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        model.eval()
        a, b = model(x), model(x)
        assert torch.equal(a, b)
        model.train()
        torch.manual_seed(1)
        outs = [model(x) for _ in range(4)]
    assert any(not torch.allclose(o, a) for o in outs)


# ---- checkpoints ----------------------------------------------------------------------------

@pytest.mark.parametrize("layout", ["official", "bare", "ddp"])
def test_official_checkpoint_roundtrip_strict(tmp_path, layout):
    src = small_model("vig_tiny", seed=1).eval()
    sd = src.state_dict()
    if layout == "official":  # what the official training script writes for 'best' checkpoints
        obj = {"model": sd, "epoch": 299, "max_accuracy": 77.2}
    elif layout == "ddp":
        obj = {"model": {"module." + k: v for k, v in sd.items()}}
    else:
        obj = sd
    path = tmp_path / "vig_tiny.pth"
    torch.save(obj, path)

    dst = small_model("vig_tiny", seed=2).eval()
    assert not torch.equal(dst.head.weight, src.head.weight)
    res = models.load_checkpoint(dst, path, strict=True)
    assert not res.missing_keys and not res.unexpected_keys
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        assert torch.equal(dst(x), src(x))
    # and through create_model(pretrained_path=...)
    loaded = models.create_model("vig_tiny", pretrained_path=str(path)).eval()
    with torch.no_grad():
        assert torch.equal(loaded(x), src(x))


def test_official_checkpoint_roundtrip_hierarchical(tmp_path):
    src = small_model("vig_h_tiny", seed=3).eval()
    path = tmp_path / "vig_h_tiny.pth"
    torch.save({"model": src.state_dict()}, path)
    dst = models.create_model("vig_h_tiny", pretrained_path=path).eval()
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        assert torch.equal(dst(x), src(x))


@pytest.mark.parametrize("name", ["vig_tiny", "vig_h_tiny"])
@pytest.mark.parametrize("num_classes", [10, 0])
def test_checkpoint_with_another_class_count_fine_tunes(tmp_path, name, num_classes):
    """create_model(num_classes=N, pretrained_path=...) with N other than the checkpoint's: every weight but
    the classifier's is the checkpoint's (strict otherwise: nothing missing, nothing unexpected), and a fresh
    classifier of N outputs (0: none) replaces the checkpoint's."""
    src = small_model(name, seed=5).eval()
    path = tmp_path / "ckpt.pth"
    torch.save({"model": src.state_dict()}, path)
    dst = models.create_model(name, num_classes=num_classes, pretrained_path=path).eval()
    assert dst.num_classes == num_classes
    head = dst.get_classifier()
    assert (isinstance(head, torch.nn.Identity) if num_classes == 0 else head.out_features == num_classes)
    want = {k: v for k, v in src.state_dict().items() if ".head." not in f".{k}"}
    got = {k: v for k, v in dst.state_dict().items() if ".head." not in f".{k}"}
    assert want.keys() == got.keys() and all(torch.equal(want[k], got[k]) for k in want)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(dst.forward_head(dst.forward_features(x), pre_logits=True),
                           src.forward_head(src.forward_features(x), pre_logits=True))


def test_checkpoint_errors(tmp_path):
    src = small_model("vig_tiny")
    # a training checkpoint that pickles a config object is refused by weights_only=True
    path = tmp_path / "with_config.pth"
    torch.save({"model": src.state_dict(), "config": _Config()}, path)
    with pytest.raises(ValueError, match="weights_only"):
        models.load_checkpoint(src, path)
    # strict: a checkpoint of another model fails loudly
    other = tmp_path / "small.pth"
    torch.save({"model": meta_model("vig_small").to_empty(device="cpu").state_dict()}, other)
    with pytest.raises(RuntimeError):
        models.load_checkpoint(src, other)


class _Config:  # stands for the yacs CfgNode of the official training checkpoints
    pass


def test_checkpoint_from_another_grid_is_resized(tmp_path):
    src = small_model("vig_tiny", seed=4).eval()  # native 224 px: 14 x 14 grid
    path = tmp_path / "ckpt.pth"
    torch.save({"model": src.state_dict()}, path)
    dst = models.create_model("vig_tiny", img_size=160, pretrained_path=path).eval()
    assert dst.pos_embed.shape == (1, 100, 192)
    x = torch.randn(1, 3, 160, 160)
    with torch.no_grad():  # same resize, same logits
        torch.testing.assert_close(dst(x), src(x), rtol=1e-5, atol=1e-5)


def test_linear2d_weights_in_conv_layout_load():
    op = GLA2D(32, 2)
    sd = {k: (v.reshape(*v.shape, 1, 1) if k.endswith("qkv_proj.weight") else v)
          for k, v in op.state_dict().items()}
    fresh = GLA2D(32, 2)
    fresh.load_state_dict(sd, strict=True)
    assert torch.equal(fresh.qkv_proj.weight, op.qkv_proj.weight)


# ---- timm -----------------------------------------------------------------------------------

def test_timm_registration(tmp_path):
    timm = pytest.importorskip("timm")
    assert set(SPEC_PARAMS) <= set(timm.list_models("vig*"))
    m = timm.create_model("vig_tiny", num_classes=10)
    assert isinstance(m, models.ViG) and m.head.out_features == 10
    assert m.pretrained_cfg["input_size"] == (3, 224, 224)
    m = timm.create_model("vig_h_tiny", num_classes=0, drop_path_rate=0.05)
    assert m.layers[3].blocks[1].drop_path.drop_prob == pytest.approx(0.05)
    with torch.no_grad():
        assert m.eval()(torch.randn(1, 3, 64, 64)).shape == (1, 768)
    with pytest.raises(RuntimeError, match="local checkpoint"):
        timm.create_model("vig_small", pretrained=True)
    # a local file through timm's own mechanism; then a new head for fine-tuning
    src = small_model("vig_tiny", seed=5).eval()
    path = tmp_path / "vig_tiny.pth"
    torch.save({"model": src.state_dict()}, path)
    m = timm.create_model("vig_tiny", pretrained=True, pretrained_cfg_overlay=dict(file=str(path)),
                          num_classes=3)
    assert torch.equal(m.blocks[0].attn.qkv_proj.weight, src.blocks[0].attn.qkv_proj.weight)
    assert m.head.out_features == 3 and m.num_classes == 3


def test_create_model_and_list_models():
    assert models.list_models() == list(SPEC_PARAMS)
    assert vig.create_model is models.create_model
    with pytest.raises(ValueError, match="vig_tiny"):
        models.create_model("vig_huge")


# ---- backend pinning ------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["vig_tiny", "vig_h_tiny"])
def test_backend_pinned_at_construction_and_switched(name):
    model = meta_model(name, backend="reference")
    ms = mixers(model)
    assert ms and all(m.backend == "reference" for m in ms)
    model.set_backend(None)
    assert all(m.backend is None for m in ms)
    model.set_backend("auto")
    assert all(m.backend == "auto" for m in ms)
    assert all(m.backend is None for m in mixers(meta_model(name)))
    with pytest.raises(ValueError, match="reference"):
        model.set_backend("no-such-backend")
    assert all(m.backend == "auto" for m in ms)  # unchanged by the failed call
    with pytest.raises(ValueError):
        meta_model(name, backend="no-such-backend")
    with pytest.raises(ValueError):
        models.create_model(name, backend="no-such-backend")


def test_the_pinned_backend_reaches_the_op(monkeypatch):
    seen = []
    real = layers.bidirectional_gla

    def spy(*args, **kw):
        seen.append(kw["backend"])
        return real(*args, **kw)

    monkeypatch.setattr(layers, "bidirectional_gla", spy)
    model = small_model("vig_tiny", backend="reference").eval()
    with torch.no_grad():
        model(torch.randn(1, 3, 32, 32))
    assert seen == ["reference"] * 12
    seen.clear()
    model.set_backend(None)
    with torch.no_grad(), vig.use_backend("reference"):
        model(torch.randn(1, 3, 32, 32))
    assert seen == [None] * 12


# ---- the layer math, from the spec, in float64 ----------------------------------------------

def _rms(x, w, eps=1e-6):
    return x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def _dwconv3x3(x2d, w, b):
    """Depthwise 3x3, padding 1, by explicit shifts: x2d [B, C, h, w], w [C, 1, 3, 3]."""
    B, C, h, wd = x2d.shape
    xp = F.pad(x2d, (1, 1, 1, 1))
    out = torch.zeros_like(x2d)
    for dy in range(3):
        for dx in range(3):
            out += xp[:, :, dy:dy + h, dx:dx + wd] * w[:, 0, dy, dx].view(1, C, 1, 1)
    return out if b is None else out + b.view(1, C, 1, 1)


def _mixer_from_spec(m, x, hw):
    """Steps 1-6 of the spec's token mixer, written out; x [B, N, C] float64."""
    B, N, C = x.shape
    h, w = hw
    H = m.num_heads
    kd = C // 2
    x2d = x.transpose(1, 2).reshape(B, C, h, w)
    xs = _dwconv3x3(x2d, m.in_proj[0].weight, m.in_proj[0].bias)
    if isinstance(m.in_proj[1], nn.SiLU):
        xs = xs * torch.sigmoid(xs)
    xs = xs.reshape(B, C, N).transpose(1, 2)
    qkv = xs @ m.qkv_proj.weight.T
    q, k, v = qkv[..., :kd], qkv[..., kd:2 * kd], qkv[..., 2 * kd:]
    gk = (xs @ m.gk_proj[0].weight.T) @ m.gk_proj[1].weight.T + m.gk_proj[1].bias
    gk = -F.softplus(-gk) / 16  # logsigmoid
    gf, gb = gk[..., :kd], gk[..., kd:]
    heads = lambda t: t.reshape(B, N, H, -1)  # noqa: E731
    o = naive_bidirectional_gla(heads(q), heads(k), heads(v), heads(gf), heads(gb))  # the one float64 oracle
    o = _rms(o, m.g_norm.weight)
    local = _rms(heads(xs), m.l_norm.weight)
    g = heads(torch.sigmoid(xs @ m.g_proj.weight.T + m.g_proj.bias))
    out = (o * g + local * (1 - g)).reshape(B, N, C)
    if isinstance(m.out_act, nn.SiLU):
        out = out * torch.sigmoid(out)
    return out @ m.o_proj.weight.T


def _randomise(module, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * (0.3 if p.dim() > 1 else 1.0)
                    + (1.0 if p.dim() == 1 else 0.0))


@settings(max_examples=12)
@given(
    B=st.integers(1, 2),
    h=st.integers(1, 5),
    w=st.integers(1, 6),
    heads=st.sampled_from([1, 2, 4]),
    act_in_conv=st.booleans(),
    out_act=st.booleans(),
    conv_bias=st.booleans(),
    seed=st.integers(0, 2 ** 16),
)
def test_mixer_equals_the_spec_in_float64(B, h, w, heads, act_in_conv, out_act, conv_bias, seed):
    C = 16 * heads
    m = GatedLinearAttention(C, heads, use_act_in_conv=act_in_conv, use_out_act=out_act,
                             use_bias_in_dwconv=conv_bias, backend="reference").double()
    _randomise(m, seed)
    x = torch.randn(B, h * w, C, dtype=torch.float64, generator=torch.Generator().manual_seed(seed + 1))
    with torch.no_grad():
        got = m(x, (h, w))
        want = _mixer_from_spec(m, x, (h, w))
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-10)
    # the 2-D form (ViG-H's `op`) is the same function on the channels-first map
    m2 = GLA2D(C, heads, use_act_in_conv=act_in_conv, use_out_act=out_act,
               use_bias_in_dwconv=conv_bias, backend="reference").double()
    m2.load_state_dict(m.state_dict(), strict=True)
    with torch.no_grad():
        got2 = m2(x.transpose(1, 2).reshape(B, C, h, w))
    torch.testing.assert_close(got2.flatten(2).transpose(1, 2), want, rtol=1e-9, atol=1e-10)


def test_mixer_gradients_in_float64():
    """Gradients of the mixer through the reference backend against the written-out spec."""
    m = GatedLinearAttention(32, 2, use_out_act=True, backend="reference").double()
    _randomise(m, 7)
    x = torch.randn(2, 12, 32, dtype=torch.float64, requires_grad=True)
    dy = torch.randn(2, 12, 32, dtype=torch.float64)
    (m(x, (3, 4)) * dy).sum().backward()
    got = [x.grad.clone()] + [p.grad.clone() for p in m.parameters()]
    x.grad = None
    m.zero_grad()
    (_mixer_from_spec(m, x, (3, 4)) * dy).sum().backward()
    want = [x.grad] + [p.grad for p in m.parameters()]
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-10)


def test_mlps_and_norms_from_the_spec():
    torch.manual_seed(0)
    mlp = GLAMLP(192).double()
    assert mlp.hidden_dim == 512  # 256 * ceil(512 / 256)
    x = torch.randn(3, 5, 192, dtype=torch.float64)
    gate, y = (x @ mlp.gate_proj.weight.T).chunk(2, -1)
    torch.testing.assert_close(mlp(x), (F.silu(gate) * y) @ mlp.down_proj.weight.T)
    assert GatedMLP(96).hidden_dim == 256 and GatedMLP(128).hidden_dim == 352  # 32 * ceil(341.3 / 32)
    g = GatedMLP(64).double()
    x2 = torch.randn(2, 64, 3, 5, dtype=torch.float64)
    t = x2.permute(0, 2, 3, 1)
    gate, y = (t @ g.fc1.weight.T).chunk(2, -1)
    torch.testing.assert_close(g(x2), ((F.silu(gate) * y) @ g.fc2.weight.T).permute(0, 3, 1, 2))
    n = layers.RMSNorm(8)
    with torch.no_grad():
        n.weight.uniform_(0.5, 2)
    z = torch.randn(4, 8)
    torch.testing.assert_close(n(z), _rms(z, n.weight))
    assert n(z.bfloat16()).dtype == torch.bfloat16
    ln = layers.LayerNorm2d(6)
    z2 = torch.randn(2, 6, 3, 4)
    torch.testing.assert_close(ln(z2), F.layer_norm(z2.permute(0, 2, 3, 1), (6,)).permute(0, 3, 1, 2))
