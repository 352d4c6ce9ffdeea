"""Training rounds: round 1 learns from the split, later rounds from augmented training-set versions (each round's
training set is in dvc.yaml, stage train; its `train:` overrides in params.yaml `rounds:`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rpsdet.params import deep_merge


def round_train_params(params: dict[str, Any], name: str) -> dict[str, Any]:
    """params `train:` with the round's own `train:` overrides on top."""
    rounds = params.get("rounds", {})
    if name not in rounds:
        raise ValueError(f"unknown round {name!r}; params.yaml rounds: {', '.join(rounds) or 'none'}")
    return deep_merge(params["train"], rounds[name].get("train") or {})


def round_train_json(train_set: Path) -> Path:
    """A round's training set (dvc.yaml, stage train): a COCO file, or a folder holding train.json (an augmented
    version)."""
    train_set = Path(train_set)
    return train_set / "train.json" if train_set.suffix != ".json" else train_set
