"""What one served model version is: its checkpoint, its registry name, version and stage, and what users see.

Read from the checkpoint's own config (no network is built), so the CLI can describe and check every version it
was asked for before Ray starts. The version is the model id clients choose with (`?model=` or Ray Serve's
`serve-multiplexed-model-id` header).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rpsdet.model.checkpoint import read_checkpoint


@dataclass(frozen=True)
class ServedModel:
    checkpoint: str  # absolute path: every replica, on every node, opens this file
    name: str
    version: str  # the model id of multiplexing
    stage: str | None
    arch: str | None
    image_size: int | None
    class_names: tuple[str, ...]
    metrics: dict[str, float] = field(default_factory=dict)  # as recorded when the version was published

    @property
    def model_id(self) -> str:
        return self.version

    def public(self) -> dict[str, Any]:
        """What /api/v1/models tells users (never the file path)."""
        return {
            "id": self.model_id,
            "name": self.name,
            "version": self.version,
            "stage": self.stage,
            "arch": self.arch,
            "image_size": self.image_size,
            "class_names": list(self.class_names),
            "metrics": dict(self.metrics),
        }


def served_model(
    checkpoint: Path, name: str, version: str, stage: str | None = None, metrics: dict[str, float] | None = None
) -> ServedModel:
    cfg = read_checkpoint(Path(checkpoint))["config"]  # weights_only: a pickle payload is refused, never run
    return ServedModel(
        str(Path(checkpoint).resolve()),
        name,
        version,
        stage,
        cfg.get("arch"),
        cfg.get("image_size"),
        tuple(cfg["class_names"]),
        dict(metrics or {}),
    )


def merge_duplicates(models: list[ServedModel]) -> list[ServedModel]:
    """One entry per version, first-asked order: `--stage prod --stage dev` on the same version serves it once,
    listing both stages."""
    merged: dict[str, ServedModel] = {}
    for m in models:
        seen = merged.get(m.model_id)
        if seen is None:
            merged[m.model_id] = m
        elif m.stage and m.stage not in (seen.stage or "").split(", "):
            merged[m.model_id] = replace(seen, stage=", ".join(filter(None, (seen.stage, m.stage))))
    return list(merged.values())
