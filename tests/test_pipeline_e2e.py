"""The real pipeline, end to end: copy the repo, apply the instant profile, `dvc repro`, check, repro again."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from rpsdet.model.checkpoint import read_checkpoint
from rpsdet.params import deep_merge

REPO = Path(__file__).resolve().parents[1]
TOP_LEVEL_SKIP = {".venv", ".git", "data", "models", ".pytest_cache", "dvc.lock"}
DVC_DIR_SKIP = {"cache", "tmp", "site_cache", "config.local"}


def skip(directory: str, names: list[str]) -> set[str]:
    """Copy the project as a fresh clone would have it: no venv, no outputs, no DVC cache or lock."""
    here = Path(directory)
    chosen = {n for n in names if n == "__pycache__" or n.endswith(".egg-info")}
    if here == REPO:
        chosen |= TOP_LEVEL_SKIP & set(names)
    if here == REPO / ".dvc":
        chosen |= DVC_DIR_SKIP & set(names)
    return chosen


def run(cmd: list[str], cwd: Path, env: dict) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env, text=True, capture_output=True)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    work = tmp_path_factory.mktemp("repo") / "rpsdet"
    shutil.copytree(REPO, work, ignore=skip)
    params = deep_merge(
        yaml.safe_load((work / "params.yaml").read_text()), yaml.safe_load((work / "params_instant.yaml").read_text())
    )
    (work / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False))
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "DVC_NO_ANALYTICS": "1",
        "NO_ALBUMENTATIONS_UPDATE": "1",
    }
    run(["git", "init", "-q"], work, env)
    run(["git", "add", "-A"], work, env)
    run(["git", "-c", "user.name=ci", "-c", "user.email=ci@localhost", "commit", "-qm", "clone"], work, env)
    dvc = [sys.executable, "-m", "dvc"]
    run([*dvc, "config", "--local", "core.site_cache_dir", str(work / ".dvc" / "site_cache")], work, env)
    first = run([*dvc, "repro"], work, env)
    second = run([*dvc, "repro"], work, env)
    return work, first, second, params


@pytest.mark.slow
def test_repro_runs_every_stage_and_writes_sane_metrics(pipeline):
    work, first, _, params = pipeline
    for stage in (
        "synthesize@train",
        "synthesize@test",
        "validate@train",
        "validate@test",
        "health",
        "label_pairs",
        "split",
        "pretrain_data",
        "pretrain",
        "train@round1",
        "evaluate@round1",
        "mine_failures",
        "augment",
        "train@round2",
        "label_quality",
        "evaluate@round2",
        "compare",
    ):
        assert f"Running stage '{stage}'" in first
    for name in ("round1", "round2"):
        metrics = json.loads((work / "metrics" / f"eval_{name}.json").read_text())
        for key in ("map", "map50", "map75", "ar100", "precision", "recall", "f1"):
            assert 0.0 <= metrics[key] <= 1.0
        assert set(metrics["per_class"]) == {"rock", "paper", "scissors"}
        assert metrics["images"] == params["synth"]["sources"]["test"]["count"]
        assert metrics["leaked_images"] == 0 and metrics["leak_free"]["map50"] == metrics["map50"]  # nothing leaked
        slices = json.loads((work / "metrics" / f"slices_{name}.json").read_text())
        assert "objects>=2" in slices and "objects==1" in slices
        assert (work / "data" / "eval" / name / "gallery" / "index.html").is_file()
    compare = json.loads((work / "metrics" / "compare.json").read_text())
    assert compare["failure_slice"] == "objects>=2" and set(compare["rounds"]) == {"round1", "round2"}
    assert (
        compare["test_view"]["name"] == "full"
        and "Scored on the full test set" in (work / "metrics" / "failure_slice.md").read_text()
    )
    augment = json.loads((work / "metrics" / "augment.json").read_text())
    assert augment["generated"] == 3 * augment["selected"] - augment["rejected"]
    validation = json.loads((work / "metrics" / "validation_train.json").read_text())
    assert validation["kept_images"] + validation["quarantined_images"] == validation["input_images"] == 40
    health = json.loads((work / "metrics" / "health.json").read_text())
    assert health["sources"]["train"]["images"] == validation["kept_images"] and "multi_object_share" in health["shift"]
    assert (work / "metrics" / "health" / "test" / "box_area_pct.csv").is_file()
    assert (work / "models" / "round1" / "model.pt").is_file() and (work / "models" / "round2" / "model.pt").is_file()
    predictions = json.loads((work / "data" / "eval" / "round1" / "predictions.json").read_text())
    assert predictions and {"image_id", "category_id", "bbox", "score"} <= set(predictions[0])
    train_metrics = json.loads((work / "metrics" / "train" / "round1" / "metrics.json").read_text())
    assert train_metrics["step"] == params["rounds"]["round1"]["train"]["epochs"] - 1


@pytest.mark.slow
def test_round_1_fine_tunes_the_synthetic_pretraining_artifact(pipeline):
    work, _, _, params = pipeline
    synth = params["pretrain"]["synth"]
    kept = [
        json.loads((work / "data" / "pretrain" / side / "annotations.json").read_text()) for side in ("train", "val")
    ]
    assert [len(k["images"]) for k in kept] == [synth["train"]["count"], synth["val"]["count"]]
    pretrain = json.loads((work / "metrics" / "pretrain.json").read_text())
    assert 0.0 <= pretrain["map50"] <= 1.0 and pretrain["steps"] > 0 and pretrain["seconds"] > 0
    artifact = yaml.safe_load((work / "dvc.yaml").read_text())["artifacts"]["pretrain"]
    checkpoint = read_checkpoint(work / artifact["path"])
    assert checkpoint["config"]["started_from"] == "none"
    round1 = read_checkpoint(work / "models" / "round1" / "model.pt")
    assert round1["config"]["started_from"] == artifact["path"] == "models/pretrain/model.pt"


@pytest.mark.slow
def test_second_repro_runs_nothing(pipeline):
    _, _, second, _ = pipeline
    assert "Running stage" not in second
    assert "Data and pipelines are up to date" in second


@pytest.mark.slow
def test_changing_an_augmentation_param_reruns_only_augment_and_what_follows(pipeline):
    work, _, _, _ = pipeline
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    out = run([sys.executable, "-m", "dvc", "exp", "run", "-S", "augment.seed=7"], work, env)
    ran = {line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage")}
    # label_quality averages round 1's and round 2's out-of-sample scores, so a new round-2 model reruns it too.
    assert ran == {"augment", "train@round2", "evaluate@round2", "label_quality", "compare"}


@pytest.mark.slow
def test_a_queued_grid_of_experiments_runs_and_shows_up_in_exp_show(pipeline):
    work, _, _, _ = pipeline
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    dvc = [sys.executable, "-m", "dvc"]
    run(["git", "add", "-A"], work, env)
    run(["git", "-c", "user.name=ci", "-c", "user.email=ci@localhost", "commit", "-qm", "baseline"], work, env)
    for lr in ("0.0005", "0.002"):
        run([*dvc, "exp", "run", "--queue", "-S", f"rounds.round2.train.lr={lr}"], work, env)
    run([*dvc, "queue", "start", "-j", "1"], work, env)
    deadline = time.time() + 1800  # ~2 min each on a quiet CI machine; a loaded 2-core box ran past 10 min
    while time.time() < deadline:
        status = run([*dvc, "queue", "status"], work, env)
        if "Queued" not in status and "Running" not in status:
            break
        time.sleep(5)
    assert "Queued" not in status and "Running" not in status, f"the queue did not finish in 30 min:\n{status}"
    assert "Failed" not in status, status
    table = json.loads(
        subprocess.run(
            [*dvc, "exp", "show", "--json"], cwd=work, env=env, capture_output=True, text=True, check=True
        ).stdout
    )
    lrs = []
    for commit in table:
        for exp in commit.get("experiments") or []:
            for rev in exp.get("revs", []):
                data = rev.get("data") or {}
                lr = (
                    data.get("params", {})
                    .get("params.yaml", {})
                    .get("data", {})
                    .get("rounds", {})
                    .get("round2", {})
                    .get("train", {})
                    .get("lr")
                )
                metrics = data.get("metrics", {}).get("metrics/eval_round2.json", {}).get("data", {})
                if lr is not None and "map50" in metrics:
                    lrs.append(lr)
    assert sorted(lrs) == [0.0005, 0.002]


@pytest.mark.slow
def test_an_imported_dataset_becomes_the_source_of_the_pipeline(pipeline):
    """Export the validated test set as COCO, `rpsdet import` it, and the data stages rerun on it through DVC."""
    work, _, _, _ = pipeline
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    rpsdet = [sys.executable, "-m", "rpsdet.cli"]
    run([*rpsdet, "export", "data/validated/test", str(work.parent / "export"), "--format", "coco"], work, env)
    coco = work.parent / "export" / "annotations" / "instances_default.json"
    exported = len(json.loads(coco.read_text())["images"])
    out = run([*rpsdet, "import", str(work.parent / "export"), "--name", "mine", "--test-ratio", "0.3"], work, env)
    assert "data.source is now data/imports/mine" in out
    assert yaml.safe_load((work / "params.yaml").read_text())["data"]["source"] == "data/imports/mine"
    ran = run([sys.executable, "-m", "dvc", "repro", "split"], work, env)
    assert {line.split("'")[1] for line in ran.splitlines() if line.startswith("Running stage")} == {
        "validate@train",
        "validate@test",
        "split",
    }
    sides = {side: json.loads((work / "metrics" / f"validation_{side}.json").read_text()) for side in ("train", "test")}
    assert sides["train"]["input_images"] + sides["test"]["input_images"] == exported
    assert sides["train"]["format"] == "coco" and sides["test"]["kept_images"] > 0
