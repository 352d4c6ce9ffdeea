"""Build an EfficientDet by name, with GroupNorm, BatchNorm or frozen BatchNorm.

Why GroupNorm is the default: from scratch at CPU-sized batches, eval-mode BatchNorm statistics drift far from
training (measured on these CPUs: 3-4x slower convergence and mAP swinging between evaluations); GroupNorm
normalises identically in training and evaluation. Pretrained ImageNet / COCO weights are BatchNorm: GroupNorm would
discard their statistics, and batch-8 statistics would wash them out, so `frozen_batch` keeps them fixed
(detectron2's FrozenBatchNorm practice: timm's FrozenBatchNorm2d / FrozenBatchNormAct2d, statistics and affine
fixed). Layers that start fresh under frozen_batch (a reset head) are then a fixed scale, i.e. un-normalised, as
detectron2's FPN and heads are.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from effdet import EfficientDet
from timm.layers import BatchNormAct2d, GroupNormAct, freeze_batch_norm_2d
from torch import nn

from rpsdet.model.pretrained import effdet_config, effdet_with_library_weights

NORMS = ("group", "batch", "frozen_batch")


def _groups(channels: int, wanted: int) -> int:
    return math.gcd(channels, wanted)


def swap_batchnorm_for_groupnorm(module: nn.Module, groups: int = 8) -> nn.Module:
    """Replace every BatchNorm (timm's BatchNormAct2d keeps its activation) with GroupNorm, in place."""
    for name, child in module.named_children():
        if isinstance(child, BatchNormAct2d):
            gn = GroupNormAct(
                child.num_features, num_groups=_groups(child.num_features, groups), eps=child.eps, apply_act=False
            )
            gn.act, gn.drop = child.act, child.drop
            setattr(module, name, gn)
        elif isinstance(child, nn.BatchNorm2d):
            setattr(module, name, nn.GroupNorm(_groups(child.num_features, groups), child.num_features, eps=child.eps))
        else:
            swap_batchnorm_for_groupnorm(child, groups)
    return module


def build_effdet(
    arch: str,
    image_size: int,
    num_classes: int,
    norm: str = "group",
    backbone_weights: str | Path | None = None,
    pretrained: str = "none",
) -> EfficientDet:
    """An EfficientDet with random weights, a local backbone file's, or (`pretrained` imagenet | coco) the
    libraries' published weights, fetched into their caches once (see rpsdet/model/pretrained.py)."""
    if norm not in NORMS:
        raise ValueError(f"train.norm must be one of {NORMS}, got {norm!r}")
    config = effdet_config(arch)
    config.update({"image_size": (image_size, image_size)})
    if pretrained != "none":
        model = effdet_with_library_weights(config, num_classes, pretrained)
    else:
        config.update({"num_classes": num_classes})
        model = EfficientDet(config, pretrained_backbone=False)
    if backbone_weights:
        state = torch.load(backbone_weights, map_location="cpu", weights_only=True)
        state = state.get("state_dict", state)
        missing, unexpected = model.backbone.load_state_dict(state, strict=False)
        loaded = len(state) - len(unexpected)
        if loaded == 0:
            raise ValueError(
                f"{backbone_weights}: no tensor matches the {arch} backbone; is it a timm "
                f"{config.backbone_name} state dict?"
            )
    if norm == "group":
        swap_batchnorm_for_groupnorm(model)
    elif norm == "frozen_batch":
        freeze_batch_norm_2d(model)  # converts the children in place (the root is no BatchNorm)
    return model


def resize_effdet(model: EfficientDet, image_size: int, norm: str) -> None:
    """Give an EfficientDet from build_effdet another input size, in place (progressive size in training).

    The weights do not depend on the size, but the BiFPN's resampling does: its upsampling has fixed output sizes
    and its pooling strides come from the feature sizes, and effdet's anchors come from `config.image_size`. Those
    parameter-free layers and the config are taken from a network built at the new size; every parameter and
    buffer stays the same object, so an optimizer, an EMA copy's link and DDP keep working on them.
    """
    sized = build_effdet(model.config.name, image_size, model.config.num_classes, norm)
    for name, layer in sized.named_modules():
        parts = (layer.children(), layer.parameters(), layer.buffers())
        if name and all(next(part, None) is None for part in parts):  # a leaf that holds no state
            parent, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent), child, layer)
    model.config = sized.config
