import os
import shutil
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


def pytest_configure(config):
    """Pretrained-weight caches (torch.hub, Hugging Face) start empty in a folder of this run, never the user's.

    Set before any test module imports huggingface_hub, which reads HF_HOME once, at import.
    """
    config.weight_caches = tempfile.mkdtemp(prefix="rpsdet-weight-caches-")
    os.environ["TORCH_HOME"] = os.path.join(config.weight_caches, "torch")
    os.environ["HF_HOME"] = os.path.join(config.weight_caches, "huggingface")
    os.environ.pop("HF_HUB_CACHE", None)
    os.environ.pop("HUGGINGFACE_HUB_CACHE", None)


def pytest_unconfigure(config):
    shutil.rmtree(getattr(config, "weight_caches", ""), ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def onnx_cache(tmp_path_factory) -> Path:
    """Exported ONNX networks (inference backend `auto`) go to a per-session folder, not ~/.cache."""
    path = tmp_path_factory.mktemp("rpsdet_cache")
    os.environ["RPSDET_CACHE_DIR"] = str(path)
    return path


@pytest.fixture(scope="session")
def tiny_splits(tmp_path_factory) -> Path:
    """A small real dataset: synthesized, validated and split exactly as the pipeline does it."""
    from rpsdet.data.split import write_splits
    from rpsdet.data.synth import write_source
    from rpsdet.validate.config import ValidateConfig
    from rpsdet.validate.run import validate_source

    root = tmp_path_factory.mktemp("tiny")
    for name, count, multi in (("train_src", 32, 0.1), ("test_src", 12, 0.5)):
        write_source(root / "raw" / name, prefix=name, count=count, multi_fraction=multi, seed=5, width=160,
                     height=120)
        validate_source(root / "raw" / name, root / "validated" / name, ValidateConfig())
    write_splits(root / "validated" / "train_src", root / "validated" / "test_src", root / "splits", 0.6, seed=0)
    return root / "splits"


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_splits, tmp_path_factory) -> Path:
    """A real (barely trained) rpsdet checkpoint, trained once per session for serving and registry tests."""
    from rpsdet.train.loop import TrainConfig, train

    out = tmp_path_factory.mktemp("tiny_model") / "model.pt"
    cfg = TrainConfig(epochs=1, image_size=128, batch_size=4, warmup_steps=3, eval_every=1, threads=2)
    train(cfg, tiny_splits / "train.json", tiny_splits / "val.json", out)
    return out


@pytest.fixture(scope="module")
def browser():
    """The system chromium through Playwright. Skipped with instructions outside CI; in CI (CI=true) a missing
    browser is a failure, never a skip. Per module: Playwright's sync API allows one running instance at a time, and
    tests/test_web_browser.py starts its own."""
    from rpsdet.browser import chromium, missing_browser

    missing = missing_browser()
    if missing:
        message = "browser test needs " + " and ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    with chromium() as launched:
        yield launched
