"""One file holds weights and everything needed to rebuild and interpret them."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from effdet import EfficientDet

from rpsdet.model.factory import build_effdet

FORMAT = "rpsdet-checkpoint-v1"


def save_checkpoint(path: Path, model: EfficientDet, config: dict[str, Any], extra: dict[str, Any] | None = None) -> None:
    """config needs arch, image_size, norm, class_names; extra holds training state (optimizer, epoch...)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save({"format": FORMAT, "config": config, "state_dict": model.state_dict(), **(extra or {})}, tmp)
    tmp.replace(path)  # never leave a half-written checkpoint behind an interruption


def load_checkpoint(path: Path) -> tuple[EfficientDet, dict[str, Any], dict[str, Any]]:
    """Rebuild the model from a checkpoint; returns (model, config, the whole checkpoint dict)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ValueError(f"{path} is not an rpsdet checkpoint (expected format {FORMAT!r})")
    cfg = ckpt["config"]
    model = build_effdet(cfg["arch"], cfg["image_size"], len(cfg["class_names"]), cfg["norm"])
    model.load_state_dict(ckpt["state_dict"])
    return model, cfg, ckpt
