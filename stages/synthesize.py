"""DVC stage: draw one synthetic VOC source (params synth.*) into data/raw/synthetic/SIDE.
Usage: python stages/synthesize.py SIDE (train or test)"""
import json
import shutil
import sys
from pathlib import Path

from rpsdet.data.defects import inject_defects
from rpsdet.data.synth import write_source
from rpsdet.params import load_params

name = sys.argv[1]
synth = load_params()["synth"]
source = synth["sources"][name]
out = Path("data/raw/synthetic") / name
shutil.rmtree(out, ignore_errors=True)
stats = write_source(out, prefix=f"synth_{name}", count=source["count"], multi_fraction=source["multi_fraction"],
                     seed=synth["seed"] + source["seed_offset"], width=synth["width"], height=synth["height"],
                     max_hands=synth["max_hands"])
defects = source.get("defects")
if defects:
    leak = defects.get("leak_from")
    if leak:
        ref = synth["sources"][leak]
        leak = {"seed": synth["seed"] + ref["seed_offset"], "count": ref["count"], "width": synth["width"],
                "multi_fraction": ref["multi_fraction"], "height": synth["height"], "max_hands": synth["max_hands"]}
    stats["defects"] = len(inject_defects(out, {**defects, "leak_from": leak}))
print(json.dumps({name: stats}))
