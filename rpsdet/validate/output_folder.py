"""Where `rpsdet validate SRC OUT` may write: OUT is replaced on every run, so it must be a folder that is safe to
delete. A typo such as OUT = SRC, a parent of SRC, the project root or `~` must never wipe anything."""

from __future__ import annotations

import shutil
from pathlib import Path

MARKER = ".rpsdet-validate-output"  # in every OUT this module prepares; a later run may replace only such a folder


def refuse_unsafe_output(src: Path, out: Path) -> None:
    """ValueError when OUT overlaps SRC, or is a non-empty folder (or a file) that no earlier run wrote."""
    src_abs, out_abs = Path(src).resolve(), Path(out).resolve()
    if out_abs == src_abs or out_abs in src_abs.parents or src_abs in out_abs.parents:
        raise ValueError(
            f"output folder {out} overlaps the source {src}: validation replaces its output folder, "
            "so it must lie outside the source (e.g. data/validated/NAME)"
        )
    out = Path(out)
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise ValueError(f"output {out} is a file or a link, not a folder; pick a new folder")
    if out.is_dir() and not (out / MARKER).is_file() and any(out.iterdir()):
        raise ValueError(
            f"output folder {out} is not empty and was not written by `rpsdet validate` (it has no "
            f"{MARKER} file), so it is left untouched: pick a new or empty folder, or delete it "
            "yourself if it is an old output"
        )


def reset_output(out: Path) -> None:
    """Empty OUT (checked by `refuse_unsafe_output`) and mark it as a validate output."""
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / MARKER).write_text("written by `rpsdet validate`; the next run into this folder replaces it\n")
