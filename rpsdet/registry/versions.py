"""Publish, list and resolve model versions (GTO tags over DVC artifacts).

A version is an annotated git tag `<name>@vX.Y.Z` on a commit; its message holds the metrics and params it was
published with. A stage (`dev`, `prod`) is a GTO assignment tag. Resolving a version or stage to a file goes through
DVC (`dvc.api.artifacts_show` + `dvc.api.open` at that commit), never through a hard-coded path.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import yaml
from gto.exceptions import GTOException

from rpsdet.files import atomic_write

SEMVER_BUMPS = ("patch", "minor", "major")
VERSION_RE = re.compile(r"^v\d+\.\d+\.\d+$")
KEY_METRICS = ("map50", "map", "precision", "recall")


def declared_artifacts(repo: Path) -> dict[str, dict[str, Any]]:
    """Artifacts declared in the repository's root dvc.yaml: name -> {path, type, meta...}."""
    dvc_yaml = Path(repo) / "dvc.yaml"
    return (yaml.safe_load(dvc_yaml.read_text()) or {}).get("artifacts", {}) if dvc_yaml.is_file() else {}


def _uncommitted(repo: Path, paths: list[str]) -> list[str]:
    out = subprocess.run(
        ["git", "status", "--porcelain", "--", *paths], cwd=repo, capture_output=True, text=True, check=True
    ).stdout
    return [line[3:] for line in out.splitlines()]


def publish(
    repo: Path,
    name: str,
    version: str | None = None,
    bump: str = "patch",
    stage: str | None = None,
    metrics_file: Path | None = None,
    params: dict[str, Any] | None = None,
    source: str | None = None,
    extra_paths: list[str] | None = None,
) -> dict[str, Any]:
    """Register HEAD's model as a new version (recording metrics and params) and optionally assign a stage."""
    import gto.api

    repo = Path(repo)
    if bump not in SEMVER_BUMPS:
        raise ValueError(f"bump must be one of {SEMVER_BUMPS}")
    metrics = json.loads(Path(metrics_file).read_text()) if metrics_file and Path(metrics_file).is_file() else {}
    checked = ["dvc.yaml", "dvc.lock", *(extra_paths or []), *([str(metrics_file)] if metrics else [])]
    dirty = _uncommitted(repo, checked)
    if dirty:
        raise ValueError(
            f"uncommitted changes in {', '.join(dirty)}: commit them first, so the version points at exactly this model"
        )
    message = json.dumps(
        {
            "metrics": {k: metrics[k] for k in KEY_METRICS if k in metrics},
            "params": params or {},
            **({"source": source} if source else {}),
        },
        sort_keys=True,
    )
    first = not any(row["name"] == name for row in list_versions(repo))  # GTO starts at v0.0.1 without a bump
    try:
        registered = gto.api.register(
            repo, name, "HEAD", version=version, message=message, **({} if version or first else {f"bump_{bump}": True})
        ).version
        if stage:
            gto.api.assign(repo, name, stage, version=registered)
    except GTOException as exc:
        raise ValueError(f"GTO refused: {exc}") from None
    return {"name": name, "version": registered, "stage": stage, "message": json.loads(message)}


def list_versions(repo: Path) -> list[dict[str, Any]]:
    """Every registered version, newest first per artifact, with its active stages and key metrics."""
    import gto.api

    rows = []
    for name in sorted(gto.api.show(repo, table=False)):
        for v in gto.api.show(repo, name, table=False):
            if not v.get("registrations"):
                continue
            try:
                recorded = json.loads(v["registrations"][0]["message"])
            except (ValueError, TypeError):
                recorded = {}
            rows.append(
                {
                    "name": name,
                    "version": v["version"],
                    "commit": v["commit_hexsha"][:8],
                    "created": v["created_at"].isoformat(timespec="seconds"),
                    "stages": sorted(s["stage"] for s in v.get("stages", []) if s.get("is_active")),
                    "metrics": recorded.get("metrics", {}),
                    "source": recorded.get("source"),
                }
            )
    return rows


def version_in_stage(repo: Path, name: str, stage: str) -> str:
    for row in list_versions(repo):
        if row["name"] == name and stage in row["stages"]:
            return row["version"]
    raise ValueError(
        f"no version of {name!r} is in stage {stage!r}: assign one with "
        f"`rpsdet publish --name {name} --stage {stage}` (see `rpsdet models`)"
    )


def resolve(
    repo: Path, name: str, version: str | None = None, stage: str | None = None, cache_dir: Path | None = None
) -> tuple[Path, str]:
    """The checkpoint file of a version or stage, read through DVC at its commit; returns (file, version)."""
    import dvc.api

    repo = Path(repo).resolve()
    version = version or version_in_stage(repo, name, stage or "prod")
    try:
        found = dvc.api.artifacts_show(name, version=version, repo=str(repo))
    except Exception as exc:  # DVC raises several types for an unknown name or version
        raise ValueError(f"cannot find {name} {version} in {repo}: {exc}") from None
    target = (cache_dir or repo / ".rpsdet" / "models") / f"{name.replace('/', '_').replace(':', '_')}@{version}.pt"
    if not target.is_file():  # a unique temporary file per writer: two processes resolving at once cannot mix
        with (
            dvc.api.open(found["path"], repo=str(repo), rev=found["rev"], mode="rb") as src,
            atomic_write(target, "wb") as dst,
        ):
            while chunk := src.read(2**20):
                dst.write(chunk)
    return target, version


def resolve_model(repo: Path, name: str, model: str) -> tuple[Path, str]:
    """A command's `--model`: a checkpoint file, a version (v0.1.0) or a stage (prod) -> (file, label for output names:
    the file's stem or the version)."""
    if Path(model).is_file():
        return Path(model), Path(model).stem
    if VERSION_RE.match(model):
        return resolve(Path(repo), name, version=model)
    return resolve(Path(repo), name, stage=model)
