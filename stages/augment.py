"""DVC stage: augment the selected training images (brightness, blur, crop) into training set version round2."""
import json
import shutil
from pathlib import Path

from rpsdet.failure_loop.augment import augment_selection
from rpsdet.files import write_json
from rpsdet.params import load_params

params = load_params()
cfg = params["augment"]
selection = json.loads(Path("data/mined/round1/selection.json").read_text())
out = Path("data/augmented/round2")
shutil.rmtree(out, ignore_errors=True)
counts = augment_selection(Path(selection["train_json"]), set(selection["train_image_ids"]), out,
                           {name: cfg[name] for name in ("brightness", "blur", "crop")}, cfg["seed"])
counts["slice"] = selection["rule"]
write_json(Path("metrics/augment.json"), counts)
print(json.dumps(counts))
