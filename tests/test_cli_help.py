"""`rpsdet --help` texts: every registered subcommand (nested ones too) ends with 2-4 examples that the real parser
accepts, and a bare `rpsdet` explains the pipeline and exits 0."""

import argparse
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from rpsdet.cli import build_parser


def subcommands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """(command words, parser) of every subcommand registered under `parser`, depth first."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.append(((*path, name), sub))
                found += subcommands(sub, (*path, name))
    return found


ALL = subcommands(build_parser())


def test_the_walk_finds_the_known_commands():
    names = {" ".join(words) for words, _ in ALL}
    assert {
        "synth",
        "validate",
        "import",
        "export",
        "summary",
        "publish",
        "models",
        "models import",
        "evaluate",
        "serve",
        "users",
        "users add",
    } <= names


@pytest.mark.parametrize("words,parser", ALL, ids=[" ".join(w) for w, _ in ALL])
def test_every_subcommand_ends_its_help_with_real_examples(words, parser):
    assert parser.formatter_class is argparse.RawDescriptionHelpFormatter, "examples must keep their line breaks"
    epilog = parser.epilog or ""
    assert epilog.startswith("examples:\n"), f"`rpsdet {' '.join(words)}` has no examples epilog"
    lines = epilog.splitlines()[1:]
    assert 2 <= len(lines) <= 4
    for line in lines:
        argv = shlex.split(line, comments=True)
        assert argv[: 1 + len(words)] == ["rpsdet", *words], line
        try:
            build_parser().parse_args(argv[1:])
        except SystemExit as exc:  # argparse rejects it: the example is not a real invocation
            pytest.fail(f"example {line!r} does not parse (exit {exc.code})")
    assert "examples:" in parser.format_help()


def test_a_bare_rpsdet_prints_the_pipeline_and_three_commands_and_exits_0():
    root = Path(__file__).resolve().parents[1]
    run = subprocess.run([sys.executable, "-m", "rpsdet.cli"], capture_output=True, text=True, cwd=root, timeout=60)
    assert run.returncode == 0 and run.stderr == ""
    lines = run.stdout.splitlines()
    assert max(map(len, lines)) <= 80
    paragraph = run.stdout.split("\n\n")[0]
    for step in ("validate", "split", "train", "evaluate", "augment", "dvc repro", "serve"):
        assert step in paragraph
    commands = [line.strip() for line in lines if line.startswith("  rpsdet ")]
    assert len(commands) == 3
    for command in commands:
        build_parser().parse_args(shlex.split(command)[1:])
