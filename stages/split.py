"""DVC stage: versioned train/val/test split files that reference the validated images."""
from pathlib import Path

from rpsdet.data.split import write_splits
from rpsdet.params import load_params

split = load_params()["split"]
counts = write_splits(Path("data/validated/train"), Path("data/validated/test"), Path("data/splits") / split["version"],
                      split["train_ratio"], split["seed"])
print(f"split {split['version']}: {counts}")
