"""`rpsdet models import`: adopt a ready-made checkpoint from elsewhere (the lab's "subscribe to a model").

The file is checked (it loads, its classes are ours), copied under `models/imported/`, tracked by DVC and declared
as an artifact in `models/imported/dvc.yaml` (DVC name `models/imported:<name>`) with where it came from, so it can
be published, served and evaluated like a pipeline-trained model without touching the root dvc.yaml.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import shutil
from pathlib import Path
from typing import Any

import yaml

from rpsdet.classes import CLASS_NAMES
from rpsdet.files import atomic_write

IMPORT_DIR = Path("models/imported")
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]*[a-z0-9]$|^[a-z0-9]$")  # what GTO accepts as an artifact name


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(2**20):
            digest.update(chunk)
    return digest.hexdigest()


def check_checkpoint(path: Path) -> dict[str, Any]:
    """The checkpoint's config if it loads into a model and detects exactly our classes; ValueError otherwise."""
    from rpsdet.model.checkpoint import UnsafeCheckpoint, load_checkpoint

    try:
        _, cfg, _ = load_checkpoint(path)  # weights_only: a pickle payload is refused, never run
    except (FileNotFoundError, UnsafeCheckpoint):
        raise
    except Exception as exc:  # torch / pickle / state-dict errors all mean "not a usable checkpoint"
        raise ValueError(f"{path} does not load as an rpsdet checkpoint: {exc}") from None
    if list(cfg["class_names"]) != list(CLASS_NAMES):
        raise ValueError(f"{path} detects {cfg['class_names']}, but rpsdet serves {list(CLASS_NAMES)} in that order")
    return cfg


def import_checkpoint(repo: Path, source: Path, name: str) -> dict[str, Any]:
    """Copy, `dvc add` and declare the checkpoint; returns the artifact's DVC name and recorded metadata."""
    from dvc.repo import Repo

    if not NAME_RE.match(name):
        raise ValueError(f"model name {name!r}: use lowercase letters, digits and '-' (a GTO artifact name)")
    source = Path(source).resolve()
    cfg = check_checkpoint(source)
    folder = Path(repo) / IMPORT_DIR
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}.pt"
    shutil.copyfile(source, target)
    Repo(str(repo)).add(str(target))
    meta = {
        "source": str(source),
        "sha256": _sha256(target),
        "imported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "arch": cfg["arch"],
        "image_size": cfg["image_size"],
    }
    declared_file = folder / "dvc.yaml"
    declared = yaml.safe_load(declared_file.read_text()) if declared_file.is_file() else {}
    declared = declared or {}
    declared.setdefault("artifacts", {})[name] = {
        "path": target.name,
        "type": "model",
        "desc": f"imported from {source}",
        "meta": meta,
    }
    with atomic_write(declared_file, encoding="utf-8") as fh:
        fh.write(yaml.safe_dump(declared, sort_keys=False, allow_unicode=True))
    return {"name": f"{IMPORT_DIR.as_posix()}:{name}", "path": str(target), **meta}
