"""The synthetic pretraining set (params pretrain.synth): larger and more varied than the demo's sources
(SceneStyle), drawn into a temporary folder and validated into `out`/{train,val} as the pipeline validates any
source. Independent of data.source, so the pretraining trains once and every imported dataset reuses it."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from rpsdet.data.synth import SceneStyle, write_source
from rpsdet.validate.config import ValidateConfig
from rpsdet.validate.run import validate_source


def write_pretrain_set(out: Path, synth: dict[str, Any]) -> dict:
    """Returns each side's drawing counts and how many images validation kept."""
    style = SceneStyle.from_params(synth.get("style"))
    shutil.rmtree(out, ignore_errors=True)
    summary = {}
    with tempfile.TemporaryDirectory(prefix="rpsdet-pretrain-") as raw:
        for offset, side in enumerate(("train", "val")):
            stats = write_source(
                Path(raw) / side,
                prefix=f"pretrain_{side}",
                count=synth[side]["count"],
                multi_fraction=synth[side]["multi_fraction"],
                seed=synth["seed"] + 1000 * offset,
                width=synth["width"],
                height=synth["height"],
                max_hands=synth["max_hands"],
                style=style,
            )
            checked = validate_source(Path(raw) / side, Path(out) / side, ValidateConfig(), f"pretrain_{side}")
            summary[side] = {**stats, "kept_images": checked["kept_images"]}
    return summary
