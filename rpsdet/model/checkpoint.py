"""One file holds weights and everything needed to rebuild and interpret them.

A checkpoint is tensors plus plain data (dicts, lists, str, int, float, bool, None) and nothing else, so it loads
with `torch.load(weights_only=True)`: a file from elsewhere (`rpsdet models import`, `serve --checkpoint`,
`evaluate --model FILE`) can carry no code that runs on load.
"""

from __future__ import annotations

import json
import pickle
import re
from pathlib import Path
from typing import Any

import torch
from effdet import EfficientDet

from rpsdet.model.factory import build_effdet

FORMAT = "rpsdet-checkpoint-v1"


class UnsafeCheckpoint(ValueError):
    """The file holds Python objects beyond tensors and plain data; loading them could run code."""


def plain_data(value: Any, what: str) -> Any:
    """`value` as JSON-able data (tuples become lists); TypeError naming `what` for anything else."""
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} must be plain data (dict, list, str, int, float, bool, None): {exc}") from None


def read_torch_file(path: Path) -> Any:
    """`torch.load` of tensors and plain data only; a pickle that names any other Python object is refused
    (never executed) with UnsafeCheckpoint, an unreadable file with ValueError."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        named = re.search(r"GLOBAL ([\w.]+)", str(exc))
        if named is None:  # no Python object named: a damaged or foreign file rather than a payload
            reason = re.search(r"(Unsupported [^\n]*|invalid load key[^\n]*)", str(exc))
            detail = reason.group(1) if reason else "unpickling failed"
            raise ValueError(f"{path} is not a readable torch file ({detail})") from None
        raise UnsafeCheckpoint(
            f"{path} refused: it holds Python objects beyond tensors and plain data ({named.group(1)}), and "
            "loading them could run code. rpsdet loads checkpoints with weights_only=True. If you made this "
            "file yourself with an older tool, re-train it, or re-save its weights and a plain-data config with "
            "rpsdet.model.checkpoint.save_checkpoint"
        ) from None
    except (RuntimeError, EOFError, OSError) as exc:
        raise ValueError(f"{path} is not a readable torch file ({type(exc).__name__}: {str(exc)[:200]})") from None


def save_checkpoint(
    path: Path, model: EfficientDet, config: dict[str, Any], extra: dict[str, Any] | None = None
) -> None:
    """config needs arch, image_size, norm, class_names; extra holds training state (epoch, val metrics...).
    Both must be plain data, so the file loads with weights_only=True."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    payload = {
        "format": FORMAT,
        "config": plain_data(config, "checkpoint config"),
        **plain_data(extra or {}, "checkpoint extra"),
        "state_dict": model.state_dict(),
    }
    torch.save(payload, tmp)
    tmp.replace(path)  # never leave a half-written checkpoint behind an interruption


def read_checkpoint(path: Path) -> dict[str, Any]:
    """The checkpoint dict, checked to be an rpsdet checkpoint; no model is built."""
    ckpt = read_torch_file(path)
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT or not isinstance(ckpt.get("config"), dict):
        raise ValueError(f"{path} is not an rpsdet checkpoint (expected format {FORMAT!r})")
    missing = sorted({"arch", "image_size", "norm", "class_names"} - set(ckpt["config"]))
    if missing:
        raise ValueError(f"{path} is not a complete rpsdet checkpoint: its config lacks {', '.join(missing)}")
    return ckpt


def load_checkpoint(path: Path) -> tuple[EfficientDet, dict[str, Any], dict[str, Any]]:
    """Rebuild the model from a checkpoint; returns (model, config, the whole checkpoint dict)."""
    ckpt = read_checkpoint(path)
    cfg = ckpt["config"]
    model = build_effdet(cfg["arch"], cfg["image_size"], len(cfg["class_names"]), cfg["norm"])
    model.load_state_dict(ckpt["state_dict"])
    return model, cfg, ckpt
