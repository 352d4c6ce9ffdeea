"""Model versions in a throwaway git + DVC repository: publish with GTO, list, resolve through DVC, import,
and the evaluation job on a registered version. Never touches the project's own git tags."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rpsdet.cli import main
from rpsdet.model.checkpoint import read_checkpoint
from rpsdet.registry.versions import list_versions, resolve

pytestmark = pytest.mark.slow


def run(repo, *cmd):
    subprocess.run(cmd, cwd=repo, check=True, capture_output=True, text=True)


def dvc(repo, *args):
    run(repo, sys.executable, "-m", "dvc", *args)


def commit(repo, message):
    run(repo, "git", "add", "-A")
    run(repo, "git", "commit", "-qm", message)


@pytest.fixture(scope="module")
def repo(tmp_path_factory, tiny_checkpoint):
    repo = tmp_path_factory.mktemp("registry_repo")
    run(repo, "git", "init", "-q")
    run(repo, "git", "config", "user.email", "ci@example.com")
    run(repo, "git", "config", "user.name", "ci")
    dvc(repo, "init", "-q")
    dvc(repo, "config", "core.analytics", "false")
    dvc(repo, "config", "--local", "core.site_cache_dir", str(tmp_path_factory.mktemp("site_cache")))
    (repo / "models").mkdir()
    (repo / "models" / "model.pt").write_bytes(tiny_checkpoint.read_bytes())
    dvc(repo, "add", "-q", "models/model.pt")
    (repo / "dvc.yaml").write_text(
        "artifacts:\n  model:\n    path: models/model.pt\n    type: model\n"
        "    meta:\n      metrics: metrics/eval.json\n"
    )
    (repo / "params.yaml").write_text("train:\n  epochs: 1\nsplit:\n  version: v1\n")
    (repo / "metrics").mkdir()
    (repo / "metrics" / "eval.json").write_text(json.dumps({"map50": 0.3}))
    commit(repo, "model")
    return repo


def test_publish_assigns_versions_and_stages_and_records_metrics(repo, capsys):
    assert main(["publish", "--repo", str(repo), "--stage", "dev"]) == 0
    assert main(["publish", "--repo", str(repo)]) == 2  # one version per commit
    assert "already registered in this commit" in capsys.readouterr().err
    (repo / "metrics" / "eval.json").write_text(json.dumps({"map50": 0.42, "map": 0.2, "recall": 0.5}))
    commit(repo, "a better model")
    assert main(["publish", "--repo", str(repo), "--bump", "minor", "--stage", "prod"]) == 0
    rows = {r["version"]: r for r in list_versions(repo)}
    assert set(rows) == {"v0.0.1", "v0.1.0"}
    assert rows["v0.0.1"]["stages"] == ["dev"] and rows["v0.1.0"]["stages"] == ["prod"]
    assert rows["v0.0.1"]["metrics"] == {"map50": 0.3} and rows["v0.1.0"]["metrics"]["map50"] == 0.42
    capsys.readouterr()
    assert main(["models", "--repo", str(repo)]) == 0
    listing = capsys.readouterr().out
    assert "v0.1.0" in listing and "prod" in listing and "0.42" in listing


def test_publish_refuses_uncommitted_metrics(repo, capsys):
    (repo / "metrics" / "eval.json").write_text(json.dumps({"map50": 0.9}))
    try:
        assert main(["publish", "--repo", str(repo)]) == 2
        assert "uncommitted changes in metrics/eval.json" in capsys.readouterr().err
    finally:
        run(repo, "git", "checkout", "--", "metrics/eval.json")


def test_resolve_reads_the_version_through_dvc(repo, tiny_checkpoint, tmp_path):
    path, version = resolve(repo, "model", stage="prod", cache_dir=tmp_path)
    assert version == "v0.1.0" and path.read_bytes() == tiny_checkpoint.read_bytes()
    with pytest.raises(ValueError, match="no version of 'model' is in stage 'staging'"):
        resolve(repo, "model", stage="staging", cache_dir=tmp_path)


def test_serve_resolves_several_stages_and_versions(repo, capsys):
    """`rpsdet serve --stage prod --stage dev --version v0.0.1`: each through the registry, the first is the default,
    and a version asked for twice is served once."""
    from rpsdet.serve.commands import served_versions

    models = served_versions(repo, "model", ["prod", "dev"], ["v0.0.1"])
    assert [(m.version, m.stage) for m in models] == [("v0.1.0", "prod"), ("v0.0.1", "dev")]
    assert models[0].metrics["map50"] == 0.42 and models[1].metrics == {"map50": 0.3}
    assert Path(models[1].checkpoint).is_file() and models[0].class_names == ("rock", "paper", "scissors")
    assert main(["serve", "--checkpoint", str(models[0].checkpoint), "--stage", "dev"]) == 2
    assert "leave out --stage and --version" in capsys.readouterr().err


def test_import_checks_records_and_publishes_a_ready_made_checkpoint(repo, tiny_checkpoint, tmp_path, capsys):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    assert main(["models", "import", str(garbage), "--name", "friend", "--repo", str(repo)]) == 2
    assert "does not load as an rpsdet checkpoint" in capsys.readouterr().err
    ckpt = read_checkpoint(tiny_checkpoint)
    ckpt["config"]["class_names"] = ["cat", "dog", "bird"]
    other = tmp_path / "other.pt"
    torch.save(ckpt, other)
    assert main(["models", "import", str(other), "--name", "friend", "--repo", str(repo)]) == 2
    assert "detects ['cat', 'dog', 'bird']" in capsys.readouterr().err

    assert main(["models", "import", str(tiny_checkpoint), "--name", "friend", "--repo", str(repo)]) == 0
    declared = (repo / "models" / "imported" / "dvc.yaml").read_text()
    assert str(tiny_checkpoint) in declared and "sha256" in declared
    assert (repo / "models" / "imported" / "friend.pt.dvc").is_file()
    commit(repo, "import friend")
    assert main(["publish", "--repo", str(repo), "--name", "models/imported:friend", "--stage", "prod"]) == 0
    path, version = resolve(repo, "models/imported:friend", stage="prod", cache_dir=tmp_path / "cache")
    assert version == "v0.0.1" and path.read_bytes() == tiny_checkpoint.read_bytes()


def test_evaluate_a_registered_version_on_a_dataset(repo, tiny_splits, tmp_path, capsys):
    out = tmp_path / "eval"
    assert (
        main(
            [
                "evaluate",
                "--model",
                "v0.0.1",
                "--data",
                str(tiny_splits / "test.json"),
                "--repo",
                str(repo),
                "--out",
                str(out),
                "--params",
                str(tmp_path / "none.yaml"),
                "--root",
                str(tiny_splits.parent),
            ]
        )
        == 0
    )
    metrics = json.loads((out / "eval.json").read_text())
    assert 0.0 <= metrics["map50"] <= 1.0 and metrics["images"] == 12
    assert (out / "slices.json").is_file() and (out / "gallery" / "index.html").is_file()
    assert main(["evaluate", "--model", "v9.9.9", "--data", str(tiny_splits / "test.json"), "--repo", str(repo)]) == 2
    assert "cannot find model v9.9.9" in capsys.readouterr().err


def test_predict_and_export_a_registered_version(repo, tiny_splits, tmp_path, capsys):
    """`--model prod` and `--model v0.0.1` go through the same registry lookup as serve and evaluate."""
    photo = next((tiny_splits / "test.json").parent.parent.glob("validated/test_src/images/*"))
    assert (
        main(
            [
                "predict",
                str(photo),
                "--model",
                "prod",
                "--repo",
                str(repo),
                "--out",
                str(tmp_path / "p"),
                "--params",
                str(tmp_path / "none.yaml"),
            ]
        )
        == 0
    )
    assert "1 image, 0 videos" in capsys.readouterr().out and (tmp_path / "p" / "images" / photo.name).is_file()
    assert (
        main(
            [
                "export-model",
                "--format",
                "onnx",
                "--model",
                "v0.0.1",
                "--repo",
                str(repo),
                "--out",
                str(tmp_path / "e" / "model.onnx"),
            ]
        )
        == 0
    )
    assert json.loads((tmp_path / "e" / "model.json").read_text())["source"] == "model@v0.0.1"
    assert main(["predict", str(photo), "--model", "staging", "--repo", str(repo)]) == 2
    assert "no version of 'model' is in stage 'staging'" in capsys.readouterr().err
