"""Where training starts (`train.pretrained`): random weights, our synthetic pretraining, or ImageNet / COCO weights.

Why: a few hundred real photos are enough only from a good starting point. `synthetic` is this project's own
pretraining (the `pretrain` stage, offline); `imagenet` and `coco` are the libraries' published weights, fetched
and cached by the libraries' own mechanisms, so a user with internet gets them once and a user without can copy
the files in:
- imagenet: timm's pretrained loading of the backbone (Hugging Face hub cache, `$HF_HOME/hub`; `HF_HUB_OFFLINE=1`
  reads the cache only);
- coco: effdet's `create_model(..., pretrained=True)` (torch.hub cache, `$TORCH_HOME/hub/checkpoints/<file>`), with
  the class head reset to our classes.
A missing file never falls back to random weights: it is a one-line error naming the file, its URL and the cache path.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import timm
import torch
from effdet import EfficientDet, create_model_from_config, get_efficientdet_config
from huggingface_hub import constants, hf_hub_download, hf_hub_url, try_to_load_from_cache
from huggingface_hub.file_download import repo_folder_name
from omegaconf import DictConfig
from safetensors import SafetensorError

PRETRAINED = ("none", "synthetic", "imagenet", "coco")
LIBRARY_WEIGHTS = ("imagenet", "coco")  # BatchNorm weights fetched from the internet into a library cache
# The pretrain stage's output, declared as the `pretrain` artifact in dvc.yaml (paths relative to the repo root).
SYNTHETIC_CHECKPOINT = Path("models/pretrain/model.pt")
HF_WEIGHTS_FILE = "model.safetensors"  # what timm loads from a `timm/...` hub repo when safetensors is installed


class PretrainedWeightsMissing(FileNotFoundError):
    """The starting weights are neither in their cache nor downloadable; the message says where to put them."""


@dataclass(frozen=True)
class WeightsSource:
    """One published weights file: what it is, where it comes from and where its library caches it."""

    what: str
    file: str
    url: str
    cache_path: Path

    def missing(self, pretrained: str, reason: str) -> PretrainedWeightsMissing:
        return PretrainedWeightsMissing(
            f"train.pretrained: {pretrained} needs {self.file} ({self.what}) from {self.url}, which is not in "
            f"{self.cache_path} and could not be downloaded ({reason}); copy the file there, run once with "
            f"internet, or set train.pretrained: synthetic or none"
        )


def coco_source(arch: str) -> WeightsSource:
    """effdet's COCO checkpoint for `arch`, as torch.hub caches it ($TORCH_HOME/hub/checkpoints/<file>)."""
    url = effdet_config(arch).url
    if not url:
        raise ValueError(
            f"train.pretrained: coco: effdet publishes no COCO weights for {arch}; pick an arch that "
            f"has them (efficientdet_d0, tf_efficientdet_lite0, ...)"
        )
    name = os.path.basename(urlparse(url).path)
    return WeightsSource(f"effdet's COCO-trained {arch}", name, url, Path(torch.hub.get_dir()) / "checkpoints" / name)


def imagenet_source(arch: str) -> WeightsSource:
    """timm's ImageNet weights for `arch`'s backbone, as the Hugging Face hub caches them."""
    backbone, repo = _imagenet_repo(arch)
    cached = try_to_load_from_cache(repo, HF_WEIGHTS_FILE)
    path = (
        Path(cached)
        if isinstance(cached, str)
        else (
            Path(constants.HF_HUB_CACHE)
            / repo_folder_name(repo_id=repo, repo_type="model")
            / "snapshots"
            / "<commit>"
            / HF_WEIGHTS_FILE
        )
    )
    return WeightsSource(
        f"timm's ImageNet {backbone}, hub repo {repo}", HF_WEIGHTS_FILE, hf_hub_url(repo, HF_WEIGHTS_FILE), path
    )


def fetch(pretrained: str, arch: str) -> Path | None:
    """Make sure the weights of `pretrained` (imagenet | coco) are in their library's cache; returns the file.

    Downloads through the library's own mechanism when absent (once); raises PretrainedWeightsMissing offline.
    Called before training starts, so Ray workers find the file cached and a failure is one line, not a traceback.
    """
    if pretrained not in LIBRARY_WEIGHTS:
        return None
    if pretrained == "coco":
        source = coco_source(arch)
        if not source.cache_path.is_file():
            try:
                source.cache_path.parent.mkdir(parents=True, exist_ok=True)
                torch.hub.download_url_to_file(source.url, str(source.cache_path))
            except OSError as exc:  # urllib's URLError / socket errors: offline, DNS, refused
                raise source.missing(pretrained, _short(exc)) from None
        return source.cache_path
    try:
        return Path(hf_hub_download(_imagenet_repo(arch)[1], HF_WEIGHTS_FILE))
    except OSError as exc:  # LocalEntryNotFoundError, OfflineModeIsEnabled, HTTP errors: all OSError subclasses
        reason = "HF_HUB_OFFLINE is set" if constants.HF_HUB_OFFLINE else _short(exc)
        raise imagenet_source(arch).missing(pretrained, reason) from None


def effdet_with_library_weights(config: DictConfig, num_classes: int, pretrained: str) -> EfficientDet:
    """An EfficientDet (BatchNorm) holding the published weights: the COCO detector with a new class head for our
    classes, or a random detector on the ImageNet backbone."""
    if pretrained not in LIBRARY_WEIGHTS:
        raise ValueError(f"library weights are one of {LIBRARY_WEIGHTS}, got {pretrained!r}")
    path = fetch(pretrained, config.name)
    try:
        if pretrained == "coco":  # the checkpoint matches effdet's 90-class config; the head is reset after loading
            return create_model_from_config(config, pretrained=True, num_classes=num_classes)
        config.update({"num_classes": num_classes})
        return EfficientDet(config, pretrained_backbone=True)  # timm loads the backbone from the hub cache
    except (RuntimeError, ValueError, OSError, EOFError, pickle.UnpicklingError, SafetensorError) as exc:
        # a truncated or foreign file (torch.load, safetensors, load_state_dict): name it, never use random weights
        raise ValueError(
            f"train.pretrained: {pretrained}: {path} does not load into {config.name} "
            f"({_short(exc)}); delete it so it is fetched again"
        ) from None


@dataclass(frozen=True)
class StartPoint:
    """What a training run starts from: library weights to build with, and/or an rpsdet checkpoint to load."""

    weights: str = "none"  # none | imagenet | coco, for build_effdet
    checkpoint: Path | None = None  # train.init_from, or the synthetic pretraining

    def describe(self) -> str:
        return str(self.checkpoint) if self.checkpoint else self.weights


def start_point(pretrained: str, init_from: str | None) -> StartPoint:
    """init_from (an earlier rpsdet checkpoint: "tune again", round 2) wins; else train.pretrained decides."""
    if init_from:
        return StartPoint(checkpoint=Path(init_from))
    if pretrained == "synthetic":
        if not SYNTHETIC_CHECKPOINT.is_file():
            raise PretrainedWeightsMissing(
                f"train.pretrained: synthetic starts from {SYNTHETIC_CHECKPOINT} (the pretrain stage's model), which "
                f"does not exist: run `dvc repro pretrain`, or set train.pretrained: none"
            )
        return StartPoint(checkpoint=SYNTHETIC_CHECKPOINT)
    return StartPoint(weights=pretrained)


def check_start(pretrained: str, norm: str, init_from: str | None, backbone_weights: str | None) -> None:
    """Reject combinations that would silently waste the starting weights; ValueError with the fix."""
    if pretrained not in PRETRAINED:
        raise ValueError(f"train.pretrained must be one of {PRETRAINED}, got {pretrained!r}")
    library = pretrained in LIBRARY_WEIGHTS and not init_from
    if library and norm == "group":
        raise ValueError(
            f"train.pretrained: {pretrained} loads BatchNorm weights, which train.norm: group would "
            f"discard: use train.norm: frozen_batch (CPU-sized batches) or batch"
        )
    if norm == "frozen_batch" and not (library or init_from or backbone_weights or pretrained == "synthetic"):
        raise ValueError(
            "train.norm: frozen_batch keeps pretrained BatchNorm statistics fixed, but nothing "
            "pretrained is loaded: set train.pretrained: imagenet or coco, or use train.norm: group"
        )


def effdet_config(arch: str) -> DictConfig:
    """effdet's config for an arch name, or a ValueError that suggests one."""
    try:
        return get_efficientdet_config(arch)
    except KeyError:
        raise ValueError(f"unknown effdet arch {arch!r}; try efficientdet_d0 or tf_efficientdet_lite0") from None


def _imagenet_repo(arch: str) -> tuple[str, str]:
    """(backbone name, the Hugging Face repo timm loads its default ImageNet weights from)."""
    backbone = effdet_config(arch).backbone_name
    return backbone, timm.models.get_pretrained_cfg(backbone).hf_hub_id


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."
