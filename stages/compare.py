"""DVC stage: overall and failure-slice mAP of every round, and the deltas -> metrics/compare.json.

The figures come from the full or the leak-free test set (`failure_slice.leakage_view`), recorded as `test_view`.
"""
import json
from pathlib import Path

import pandas as pd

from rpsdet.evaluate.leakage import resolve_view
from rpsdet.failure_loop.compare import compare_rounds
from rpsdet.files import write_json
from rpsdet.params import load_params

rule = json.loads(Path("data/mined/round1/selection.json").read_text())["rule"]
rounds = {name: (json.loads(Path(f"metrics/eval_{name}.json").read_text()),
                 json.loads(Path(f"metrics/slices_{name}.json").read_text())) for name in ("round1", "round2")}
view = resolve_view(load_params()["failure_slice"]["leakage_view"], rounds["round1"][0])
comparison = compare_rounds(rule, rounds, view)
write_json(Path("metrics/compare.json"), comparison)
pd.DataFrame(comparison["table"]).to_csv("metrics/compare.csv", index=False)
print(f"scored on the {view.label}: {view.why}")
print(json.dumps(comparison["delta"]))
