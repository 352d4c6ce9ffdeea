"""The one label map every module speaks: 0-based class ids, fixed order, plus user aliases."""

from __future__ import annotations

from collections.abc import Mapping

CLASS_NAMES: tuple[str, ...] = ("rock", "paper", "scissors")

# Built-in aliases; params.yaml `classes.aliases` adds to (and may override) these.
DEFAULT_ALIASES: dict[str, str] = {
    "石头": "rock",
    "拳头": "rock",
    "布": "paper",
    "剪刀": "scissors",
    "fist": "rock",
    "hand": "paper",
    "scissor": "scissors",
}


def resolve_class(name: str, aliases: Mapping[str, str] | None = None) -> int | None:
    """Map a raw label name (any case, stray spaces, alias) to a class id, or None if unknown."""
    table = {**DEFAULT_ALIASES, **(aliases or {})}
    cleaned = name.strip()
    for candidate in (cleaned, cleaned.lower()):
        target = table.get(candidate, candidate).lower()
        if target in CLASS_NAMES:
            return CLASS_NAMES.index(target)
    return None
