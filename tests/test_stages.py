"""Thin stages: each stages/<name>.py is a main() over the library, gets its paths from dvc.yaml's cmd, and reads
only params its dvc.yaml stage declares (else DVC would not rerun it when they change)."""

import ast
import importlib.util
from pathlib import Path

import dvc.api
import pytest
import yaml
from dvc.repo import Repo

REPO = Path(__file__).resolve().parents[1]
STAGES = sorted((REPO / "stages").glob("*.py"))
PARAMS = yaml.safe_load((REPO / "params.yaml").read_text())


def dvc_stages() -> dict[str, list[str]]:
    """stages/<name>.py -> the resolved dvc.yaml stages (train@round1, ...) whose cmd runs it."""
    with Repo(str(REPO)) as repo:
        found: dict[str, list[str]] = {}
        for stage in repo.index.stages:
            script = next(word for word in stage.cmd.split() if word.startswith("stages/"))
            found.setdefault(script, []).append(stage.addressing)
    return found


DVC_STAGES = dvc_stages()


def requested_keys(script: Path, key: str) -> list[str]:
    """The dotted keys of every stage_params(...) call in `script`; `key` (the foreach key) fills f-strings."""
    tree = ast.parse(script.read_text())
    spec = importlib.util.spec_from_file_location(script.stem, script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # main() is guarded: importing runs nothing
    keys = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "stage_params":
            for arg in node.args:
                if isinstance(arg, ast.JoinedStr):
                    keys.append("".join(v.value if isinstance(v, ast.Constant) else key for v in arg.values))
                elif isinstance(arg, ast.Starred):
                    keys += list(eval(compile(ast.Expression(arg.value), str(script), "eval"), vars(module)))
                else:
                    keys.append(ast.literal_eval(arg))
    return keys


def lookup(params: dict, dotted: str) -> object:
    for part in dotted.split("."):
        params = params[part]
    return params


@pytest.mark.parametrize("script", STAGES, ids=lambda p: p.stem)
def test_stage_is_a_main_without_logic_at_module_level(script):
    tree = ast.parse(script.read_text())
    allowed = (ast.Import, ast.ImportFrom, ast.FunctionDef)
    body = [n for n in tree.body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
    assert all(isinstance(n, allowed) for n in body[:-1]), f"{script.name}: module-level code besides main()"
    guard = body[-1]
    assert (
        isinstance(guard, ast.If) and "__main__" in ast.unparse(guard.test) and ast.unparse(guard.body[0]) == "main()"
    )
    assert any(isinstance(n, ast.FunctionDef) and n.name == "main" for n in body)
    assert "round1" not in script.read_text() and "round2" not in script.read_text(), "rounds come from dvc.yaml"


@pytest.mark.parametrize("script", STAGES, ids=lambda p: p.stem)
def test_stage_reads_only_params_its_dvc_stage_declares(script):
    names = DVC_STAGES[f"stages/{script.name}"]
    for name in names:
        declared = dvc.api.params_show(stages=[name], repo=str(REPO))
        for key in requested_keys(script, name.partition("@")[2]):
            try:
                value = lookup(declared, key)
            except KeyError:
                value = None
            assert value == lookup(PARAMS, key), f"{name} reads params {key}, which dvc.yaml does not declare for it"


def test_every_round_has_a_training_set_in_dvc_yaml():
    train = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]["train"]
    assert list(train["foreach"]) == list(PARAMS["rounds"])
