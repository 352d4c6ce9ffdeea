"""params.yaml access for stages and the CLI."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from rpsdet.files import atomic_write


def load_params(path: str | Path = "params.yaml") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: run from the repository root")
    return yaml.safe_load(path.read_text()) or {}


def stage_params(*keys: str, path: str | Path = "params.yaml") -> dict[str, Any]:
    """Only the params a stage declares in dvc.yaml (dotted keys as its `params:` lists them), nested as in
    params.yaml. Why: DVC reruns a stage when a declared param changes, so a stage that read anything else would
    go stale silently; with this, reading an undeclared key is a KeyError (tests/test_stages.py checks the keys)."""
    params = load_params(path)
    out: dict[str, Any] = {}
    for key in keys:
        *parents, leaf = key.split(".")
        source, target = params, out
        for part in parents:
            source, target = source[part], target.setdefault(part, {})
        target[leaf] = source[leaf]
    return out


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Recursively overlay `override` on `base` (used for the small 'instant' profile)."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def set_param(path: str | Path, section: str, key: str, value: str) -> None:
    """Set `section.key: value` by editing one line, so comments and layout survive (a YAML dump would drop them).

    `section` is a top-level mapping written in block style; a missing section or key is appended to it.
    """
    path = Path(path)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    start = next(
        (i for i, ln in enumerate(lines) if re.match(rf"{re.escape(section)}:\s*(#.*)?$", ln.rstrip("\n"))), None
    )
    if start is None:
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        lines += ["\n", f"{section}:\n", f"  {key}: {value}\n"]
    else:
        end = next((i for i in range(start + 1, len(lines)) if re.match(r"[^\s#]", lines[i])), len(lines))
        body = [ln for ln in lines[start + 1 : end] if ln.strip() and not ln.lstrip().startswith("#")]
        indent = re.match(r"\s*", body[0]).group() if body else "  "
        pattern = re.compile(rf"^({indent}{re.escape(key)}:[ \t]*)([^#\n]*?)([ \t]*#.*)?$")
        hit = next((i for i in range(start + 1, end) if pattern.match(lines[i].rstrip("\n"))), None)
        if hit is None:
            lines.insert(start + 1, f"{indent}{key}: {value}\n")
        else:
            match = pattern.match(lines[hit].rstrip("\n"))
            lines[hit] = f"{match.group(1)}{value}{match.group(3) or ''}\n"
    text = "".join(lines)
    if ((yaml.safe_load(text) or {}).get(section) or {}).get(key) != value:
        raise ValueError(f"{path}: could not set {section}.{key} by a one-line edit; set it by hand to {value}")
    with atomic_write(path, encoding="utf-8") as fh:  # an interrupted edit never leaves half a params.yaml
        fh.write(text)
