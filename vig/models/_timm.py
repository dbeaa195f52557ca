"""What both model families give timm: the default pretrained config (no URL or hub id, so
nothing is ever downloaded; pretrained weights come from local files only)."""


def default_cfg(**kw):
    from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

    cfg = dict(url="", num_classes=1000, input_size=(3, 224, 224), pool_size=None, crop_pct=0.875,
               interpolation="bicubic", mean=IMAGENET_DEFAULT_MEAN, std=IMAGENET_DEFAULT_STD,
               license="mit", origin_url="https://github.com/hustvl/ViG",
               paper_ids="arXiv:2405.18425")
    cfg.update(kw)
    return cfg
