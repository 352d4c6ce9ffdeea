"""DVC stage: overall and failure-slice mAP of every round, and the deltas -> metrics/compare.json."""
import json
from pathlib import Path

import pandas as pd

from rpsdet.files import write_json
from rpsdet.slices.compare import compare_rounds

rule = json.loads(Path("data/mined/round1/selection.json").read_text())["rule"]
rounds = {name: (json.loads(Path(f"metrics/eval_{name}.json").read_text()),
                 json.loads(Path(f"metrics/slices_{name}.json").read_text())) for name in ("round1", "round2")}
comparison = compare_rounds(rule, rounds)
write_json(Path("metrics/compare.json"), comparison)
pd.DataFrame(comparison["table"]).to_csv("metrics/compare.csv", index=False)
print(json.dumps(comparison["delta"]))
