"""Build an EfficientDet by name, optionally with GroupNorm instead of BatchNorm.

Why GroupNorm is the default: from scratch at CPU-sized batches, eval-mode BatchNorm statistics drift far from
training (see ../shared/STACK.md: 3-4x slower convergence and mAP swinging between evaluations); GroupNorm
normalises identically in training and evaluation.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch
from effdet import EfficientDet, get_efficientdet_config
from timm.layers import BatchNormAct2d, GroupNormAct
from torch import nn

NORMS = ("group", "batch")


def _groups(channels: int, wanted: int) -> int:
    return math.gcd(channels, wanted)


def swap_batchnorm_for_groupnorm(module: nn.Module, groups: int = 8) -> nn.Module:
    """Replace every BatchNorm (timm's BatchNormAct2d keeps its activation) with GroupNorm, in place."""
    for name, child in module.named_children():
        if isinstance(child, BatchNormAct2d):
            gn = GroupNormAct(child.num_features, num_groups=_groups(child.num_features, groups), eps=child.eps,
                              apply_act=False)
            gn.act, gn.drop = child.act, child.drop
            setattr(module, name, gn)
        elif isinstance(child, nn.BatchNorm2d):
            setattr(module, name, nn.GroupNorm(_groups(child.num_features, groups), child.num_features, eps=child.eps))
        else:
            swap_batchnorm_for_groupnorm(child, groups)
    return module


def build_effdet(arch: str, image_size: int, num_classes: int, norm: str = "group",
                 backbone_weights: str | Path | None = None) -> EfficientDet:
    """An untrained EfficientDet (no downloads: the backbone is random unless a local weights file is given)."""
    if norm not in NORMS:
        raise ValueError(f"train.norm must be one of {NORMS}, got {norm!r}")
    try:
        config = get_efficientdet_config(arch)
    except KeyError:
        raise ValueError(f"unknown effdet arch {arch!r}; try efficientdet_d0 or tf_efficientdet_lite0") from None
    config.update({"num_classes": num_classes, "image_size": (image_size, image_size)})
    model = EfficientDet(config, pretrained_backbone=False)
    if backbone_weights:
        state = torch.load(backbone_weights, map_location="cpu", weights_only=True)
        state = state.get("state_dict", state)
        missing, unexpected = model.backbone.load_state_dict(state, strict=False)
        loaded = len(state) - len(unexpected)
        if loaded == 0:
            raise ValueError(f"{backbone_weights}: no tensor matches the {arch} backbone; is it a timm "
                             f"{config.backbone_name} state dict?")
    if norm == "group":
        swap_batchnorm_for_groupnorm(model)
    return model
