"""DVC stage: validate one raw source into data/validated/SOURCE. Usage: python stages/validate.py SOURCE

Every source other than `validate.reference_source` (the train source) is also checked against it for leakage.
"""
import sys
from pathlib import Path

from rpsdet.files import write_json
from rpsdet.params import load_params
from rpsdet.validate.config import ValidateConfig
from rpsdet.validate.report import summary_table
from rpsdet.validate.run import validate_source

name = sys.argv[1]
params = load_params()
reference = (params.get("validate") or {}).get("reference_source")
cfg = ValidateConfig.from_params(params, reference=Path("data/raw") / reference if reference and reference != name
                                 else None)
summary = validate_source(Path("data/raw") / name, Path("data/validated") / name, cfg, name)
write_json(Path("metrics") / f"validation_{name}.json", summary)
print(summary_table(summary))
