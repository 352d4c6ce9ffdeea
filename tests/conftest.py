import os
import shutil
import tempfile
from pathlib import Path

import pytest

from rpsdet.ray_cluster import RAY_ENV

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
# Before any test imports ray: Ray reads these once, at import. With RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER unset, a
# later `ray.init(address="127.0.0.1:…")` rewrites loopback to the machine's own address, where no test node listens.
os.environ.update(RAY_ENV)


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
        write_source(root / "raw" / name, prefix=name, count=count, multi_fraction=multi, seed=5, width=160, height=120)
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


@pytest.fixture(scope="session")
def tiny_checkpoint_v2(tiny_splits, tmp_path_factory) -> Path:
    """A second real checkpoint, other weights (another seed): the "next version" in multi-version serving tests."""
    from rpsdet.train.loop import TrainConfig, train

    out = tmp_path_factory.mktemp("tiny_model_v2") / "model.pt"
    cfg = TrainConfig(epochs=1, image_size=128, batch_size=4, warmup_steps=3, eval_every=1, threads=2, seed=1)
    train(cfg, tiny_splits / "train.json", tiny_splits / "val.json", out)
    return out


@pytest.fixture(scope="module")
def browser():
    """The system chromium through Playwright. Skipped with instructions outside CI; in CI (CI=true) a missing
    browser is a failure, never a skip. Per module: Playwright's sync API allows one running instance at a time."""
    from rpsdet.browser import chromium, missing_browser

    missing = missing_browser()
    if missing:
        message = "browser test needs " + " and ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="session")
def random_checkpoint(tmp_path_factory) -> Path:
    """A deterministic random-init 128-px model: scores spread over 0.04-0.35, dozens of boxes per image, so
    ranking, NMS and the top-100 cut all have work to do."""
    import torch

    from rpsdet.classes import CLASS_NAMES
    from rpsdet.model.checkpoint import save_checkpoint
    from rpsdet.model.factory import build_effdet

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("random") / "model.pt"
    save_checkpoint(
        path,
        build_effdet("efficientdet_d0", 128, len(CLASS_NAMES), "group"),
        {"arch": "efficientdet_d0", "image_size": 128, "norm": "group", "class_names": list(CLASS_NAMES)},
    )
    return path


@pytest.fixture(scope="session")
def drawn_images(tmp_path_factory) -> list:
    """Nine drawn scenes as RGB arrays, three each in landscape, portrait and wide frames (letterbox and clipping
    differ for each)."""
    import numpy as np
    from PIL import Image

    from rpsdet.data.synth import write_source

    root = tmp_path_factory.mktemp("drawn")
    out = []
    for i, (w, h) in enumerate(((160, 120), (120, 200), (300, 140))):
        write_source(root / str(i), prefix="img", count=3, multi_fraction=0.5, seed=i, width=w, height=h)
        out += [np.asarray(Image.open(p).convert("RGB")) for p in sorted((root / str(i) / "JPEGImages").iterdir())]
    return out
