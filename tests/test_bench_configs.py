"""The benchmarks that build training configs from params.yaml still build valid ones.

A bench runs for minutes, so none is in the suite; a renamed param then breaks one silently (bench_warm_start
stopped at "unknown train params ['backend']" after `train.backend` became `train.run_on`). Building their configs
is instant and catches that.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import bench_time_to_map  # noqa: E402
import bench_warm_start  # noqa: E402
from rpsdet.params import load_params  # noqa: E402


@pytest.mark.parametrize("budget", [{"max_minutes": 4.0}, {"max_minutes": None, "epochs": 3}])
@pytest.mark.parametrize("start", bench_warm_start.STARTS)
def test_warm_start_configs_differ_only_in_where_they_start(start, budget, random_checkpoint):
    params = load_params(ROOT / "params.yaml")
    pretrain = random_checkpoint  # stands in for models/pretrain/model.pt: the config checks the file is there
    cfg = bench_warm_start.start_config(params, start, pretrain, budget, threads=1)
    assert cfg.pretrained == start
    assert cfg.init_from == (str(pretrain.resolve()) if start == "synthetic" else None)
    assert cfg.max_minutes == budget["max_minutes"]
    assert cfg.run_on == "local" and cfg.threads == 1
    if "epochs" in budget:
        assert cfg.epochs == budget["epochs"]


FIXED = {"resume": False, "run_on": "local", "init_from": None, "pretrained": "none", "image_size": 192}


@pytest.mark.parametrize("name", [*bench_time_to_map.RECIPES, "cache_ram+mosaic+lr_6e-3", "progressive+lr_3e-3"])
def test_time_to_map_recipes_build_valid_configs(name):
    base = load_params(ROOT / "params.yaml")["train"]
    overrides = bench_time_to_map.overrides_of(name)
    cfg = bench_time_to_map.recipe_config(base, overrides, {**FIXED, "max_minutes": 10.0})
    assert all(getattr(cfg, key) == value for key, value in overrides.items())
    assert cfg.image_size == 192 and cfg.max_minutes == 10.0
