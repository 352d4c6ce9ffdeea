"""DVC stage: the dataset health report of the validated train and test sources, and the train/test shift.

Writes metrics/health.json and the plot tables under metrics/health/ (`dvc plots show`), and prints a summary
with a plain warning line for every measure where the test source differs a lot from the train source.
"""
from pathlib import Path

from rpsdet.data.health import health_report, measure_source, plot_tables, summary_lines
from rpsdet.data.image_measures import SliceThresholds
from rpsdet.files import write_json
from rpsdet.params import load_params

params = load_params()
cfg = params["health"]
thresholds = SliceThresholds(**params["evaluate"]["slices"])
sources = {side: measure_source(Path("data/validated") / side / "annotations.json", thresholds, cfg["workers"])
           for side in ("train", "test")}
report = health_report(sources, cfg["shift_warning"])
write_json(Path("metrics/health.json"), report)
plots = Path("metrics/health")
for rel, table in plot_tables(sources).items():
    (plots / rel).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(plots / rel, index=False)
print("\n".join(summary_lines(report)))
print("written: metrics/health.json, plots in metrics/health/ (dvc plots show)")
