"""DVC stage: draw one synthetic VOC source (params synth.*). Usage: python stages/synthesize.py SOURCE"""
import json
import shutil
import sys
from pathlib import Path

from rpsdet.data.synth import write_source
from rpsdet.params import load_params

name = sys.argv[1]
synth = load_params()["synth"]
source = synth["sources"][name]
out = Path("data/raw") / name
shutil.rmtree(out, ignore_errors=True)
stats = write_source(out, prefix=name, count=source["count"], multi_fraction=source["multi_fraction"],
                     seed=synth["seed"] + source["seed_offset"], width=synth["width"], height=synth["height"],
                     max_hands=synth["max_hands"])
print(json.dumps({name: stats}))
