"""DVC stage: validate one side of `data.source` into data/validated/SIDE. Usage: python stages/validate.py SIDE

SIDE is train or test; the test source is also checked against the train source for leakage.
"""
import sys
from pathlib import Path

from rpsdet.files import write_json
from rpsdet.params import load_params
from rpsdet.validate.config import ValidateConfig
from rpsdet.validate.report import summary_table
from rpsdet.validate.run import validate_source

side = sys.argv[1]
params = load_params()
source = Path(params["data"]["source"])
if not (source / side).is_dir():
    raise SystemExit(f"data.source {source}: no {side}/ folder; point data.source at data/raw/synthetic or at a "
                     "folder written by `rpsdet import`")
cfg = ValidateConfig.from_params(params, reference=source / "train" if side != "train" else None)
try:
    summary = validate_source(source / side, Path("data/validated") / side, cfg, side)
except OSError as exc:  # an unreadable folder or file of the source: say which, not a traceback
    raise SystemExit(f"validate {side}: {exc}") from None
write_json(Path("metrics") / f"validation_{side}.json", summary)
print(summary_table(summary))
