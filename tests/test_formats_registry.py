"""One table of formats: the CLI, importer, validator and exporter read rpsdet.data.formats.FORMATS."""

import argparse

from rpsdet.cli import build_parser
from rpsdet.data.formats import FORMATS, DatasetFormat, detect_format
from rpsdet.data.synth import write_source


def test_each_format_module_exports_one_format_in_detection_order():
    assert list(FORMATS) == ["voc", "yolo", "coco"]
    assert all(isinstance(fmt, DatasetFormat) and fmt.name == name for name, fmt in FORMATS.items())


def test_cli_format_choices_are_the_table():
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for command, extra in (("validate", ()), ("import", ("auto",)), ("export", ())):
        option = next(a for a in sub.choices[command]._actions if a.dest == "format")
        assert tuple(option.choices) == (*extra, *FORMATS)


def test_export_of_each_format_is_detected_as_that_format(tmp_path):
    from rpsdet.data.exporter import export_dataset
    from rpsdet.validate.config import ValidateConfig
    from rpsdet.validate.run import validate_source

    write_source(tmp_path / "raw", prefix="t", count=3, multi_fraction=0.0, seed=1, width=96, height=72)
    validate_source(tmp_path / "raw", tmp_path / "canonical", ValidateConfig())
    for name in FORMATS:
        export_dataset(tmp_path / "canonical", tmp_path / name, name)
        assert detect_format(tmp_path / name) == name
