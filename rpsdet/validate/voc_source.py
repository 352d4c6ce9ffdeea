"""Backwards-compatible entry point of the walking skeleton: validate a source with default settings."""
from __future__ import annotations

from pathlib import Path

from rpsdet.validate.config import ValidateConfig
from rpsdet.validate.run import validate_source


def validate_voc_source(src: Path, out: Path, aliases: dict[str, str] | None = None) -> dict:
    """Same outputs as `validate_source` (any format is accepted); only the class aliases are configurable."""
    return validate_source(Path(src), Path(out), ValidateConfig(aliases=dict(aliases or {})))
