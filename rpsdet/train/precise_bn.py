"""PreciseBN (detectron2's idea): BatchNorm's running statistics recomputed for the weights that are evaluated.

Why: from scratch at CPU batch sizes (8), the running mean/var that BatchNorm keeps while training follow the
weights of the last dozens to hundreds of steps (momentum 0.1 in the backbone, 0.01 in the BiFPN and heads), and
the EMA weights that are evaluated never produced the statistics they carry (their buffers are an average of the
training model's). Recomputed with the evaluated weights themselves, in train-mode forward passes without gradients
and as a plain average over batches, they fit the weights that are scored and shipped. Measured on the demo
(bench/bench_norm.py, README "GroupNorm or BatchNorm"), that does not bring BatchNorm at batch 8 level with
GroupNorm, which stays the default. torch's own `update_bn` (the SWA utility) does the pass; this module only picks
the images.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.optim.swa_utils import update_bn
from torch.utils.data import DataLoader, Subset

from rpsdet.train.dataset import DetectionDataset, collate
from rpsdet.train.transforms import train_transform


def precise_bn_loader(train_json: Path, image_size: int, images: int, batch_size: int, seed: int) -> DataLoader:
    """A fixed sample of `images` training images (whole batches, at least one; all of them if fewer).

    They go through the training transform without scale jitter, colour jitter or mosaic: the letterboxed
    pictures evaluation sees, half of them flipped, so the statistics are those of the inputs the model is scored on.
    """
    dataset = DetectionDataset(train_json, train_transform(image_size, 0.0, 0.0), image_size)
    count = max(min(images, len(dataset)) // batch_size, 1) * batch_size
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:count]
    return DataLoader(Subset(dataset, order.tolist()), batch_size=batch_size, collate_fn=collate, drop_last=True)


def recompute_bn_stats(model: nn.Module, loader: DataLoader, device: torch.device) -> None:
    """Replace every BatchNorm's running mean/var (in place) by their average over `loader`'s batches.

    The train-mode passes draw drop-path masks: torch's generator is restored afterwards, so evaluating does not
    change the training run that follows.
    """
    with torch.random.fork_rng():
        update_bn(loader, model, device)
