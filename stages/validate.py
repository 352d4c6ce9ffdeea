"""DVC stage: validate one raw source into data/validated/SOURCE. Usage: python stages/validate.py SOURCE"""
import sys
from pathlib import Path

from rpsdet.files import write_json
from rpsdet.params import load_params
from rpsdet.validate.voc_source import validate_voc_source

name = sys.argv[1]
summary = validate_voc_source(Path("data/raw") / name, Path("data/validated") / name,
                              load_params().get("classes", {}).get("aliases"))
write_json(Path("metrics") / f"validation_{name}.json", summary)
print(f"{name}: kept {summary['kept_images']} of {summary['input_images']} images, "
      f"quarantined {summary['quarantined_images']}; checks {summary['checks']}")
