"""DVC stage: draw the synthetic pretraining set (params pretrain.synth) and validate it into data/pretrain/{train,val}.

The set is larger and more varied than the demo's sources (SceneStyle), and independent of data.source, so the
pretraining trains once and every imported dataset reuses it. Usage: python stages/pretrain_data.py
"""
import json
import shutil
import tempfile
from pathlib import Path

from rpsdet.data.synth import SceneStyle, write_source
from rpsdet.params import load_params
from rpsdet.validate.config import ValidateConfig
from rpsdet.validate.run import validate_source

synth = load_params()["pretrain"]["synth"]
style = SceneStyle.from_params(synth.get("style"))
out = Path("data/pretrain")
shutil.rmtree(out, ignore_errors=True)
summary = {}
with tempfile.TemporaryDirectory(prefix="rpsdet-pretrain-") as raw:
    for offset, side in enumerate(("train", "val")):
        stats = write_source(Path(raw) / side, prefix=f"pretrain_{side}", count=synth[side]["count"],
                             multi_fraction=synth[side]["multi_fraction"], seed=synth["seed"] + 1000 * offset,
                             width=synth["width"], height=synth["height"], max_hands=synth["max_hands"], style=style)
        checked = validate_source(Path(raw) / side, out / side, ValidateConfig(), f"pretrain_{side}")
        summary[side] = {**stats, "kept_images": checked["kept_images"]}
print(json.dumps(summary))
