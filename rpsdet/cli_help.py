"""Help texts of the `rpsdet` command line: what a bare `rpsdet` prints, and every subcommand's examples.

Each subcommand passes `**examples(...)` to `add_parser`, so `rpsdet CMD --help` ends with real invocations laid
out as written (tests/test_cli_help.py parses every one of them with the real parser).
"""

from __future__ import annotations

import argparse

OVERVIEW = """\
rpsdet takes a rock / paper / scissors hand detector from data to a served
model. `dvc repro` runs the pipeline (`make demo` sets up and runs it on
built-in synthetic data): validate the train and test sources, split, train an
EfficientDet, evaluate it with COCO metrics, find the slice where it fails,
augment that slice, retrain and compare. `rpsdet summary` shows the results,
`rpsdet publish` versions the model, `rpsdet serve` puts it behind a phone page.

The three most common commands:
  rpsdet import ~/Downloads/hands.v3i.yolov8 --name hands
      your labelled photos (VOC, COCO or YOLO) become the pipeline's data
  rpsdet publish --stage prod
      register the trained model as a new version, in the prod stage
  rpsdet serve --stage prod
      serve that version: HTTP API + phone page on http://127.0.0.1:8000/

`rpsdet --help` lists every command; `rpsdet COMMAND --help` shows examples."""


def examples(*invocations: str) -> dict:
    """`add_parser` keyword arguments: an 'examples:' epilog of the given command lines, shown as written."""
    return {
        "epilog": "examples:\n" + "\n".join(f"  {line}" for line in invocations),
        "formatter_class": argparse.RawDescriptionHelpFormatter,
    }
