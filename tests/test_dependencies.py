"""Declared dependencies match imports: a fresh `pip install .` must hold every package the code imports, and
pyproject must not pin packages nothing uses (they cost install time and pin conflicts for nothing)."""

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]

# Declared, never imported by name: each is loaded by something else.
LOADED_BY_OTHERS = {
    "dvc-s3": "DVC's s3:// remote plugin, found by dvc itself (README, Remote storage)",
    "python-multipart": "FastAPI/Starlette import it to parse the multipart form of /api/v1/detect",
}
# Imported by rpsdet/ but only on test and docs paths: declared in the test extra.
TEST_ONLY_IMPORTS = {"playwright": "rpsdet/browser.py drives chromium for the browser tests and docs/make_pictures.py"}


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(spec: str) -> str:
    return normalize(re.split(r"[\[<>=!~; ]", spec, maxsplit=1)[0])


def third_party_imports(folder: Path) -> dict[str, set[str]]:
    """Top-level module -> the files importing it, without the stdlib, rpsdet and modules beside the importer."""
    found: dict[str, set[str]] = {}
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top == "rpsdet" or (path.parent / f"{top}.py").is_file():
                    continue
                found.setdefault(top, set()).add(str(path.relative_to(REPO)))
    return found


def distributions(modules: dict[str, set[str]]) -> dict[str, set[str]]:
    """Distribution name -> files, through the installed packages' own module lists."""
    owners = packages_distributions()
    out: dict[str, set[str]] = {}
    for module, files in modules.items():
        assert module in owners, f"{module} (imported by {sorted(files)}) is not installed"
        for dist in owners[module]:
            out.setdefault(normalize(dist), set()).update(files)
    return out


RUNTIME = {requirement_name(s) for s in PYPROJECT["dependencies"]}
TEST = {requirement_name(s) for s in PYPROJECT["optional-dependencies"]["test"]}


def test_every_package_the_library_and_stages_import_is_a_declared_dependency():
    used = distributions(
        {
            m: f
            for folder in ("rpsdet", "stages")
            for m, f in third_party_imports(REPO / folder).items()
            if m not in TEST_ONLY_IMPORTS
        }
    )
    missing = {dist: sorted(files) for dist, files in used.items() if dist not in RUNTIME}
    assert not missing, f"imported but not in [project] dependencies: {missing}"
    assert {normalize(m) for m in TEST_ONLY_IMPORTS} <= TEST


def test_every_package_the_bench_scripts_import_is_declared():
    used = distributions(third_party_imports(REPO / "bench"))
    missing = {dist: sorted(files) for dist, files in used.items() if dist not in RUNTIME | TEST}
    assert not missing, f"imported by bench/ but declared nowhere: {missing}"


def test_every_declared_dependency_is_used():
    imported = set(
        distributions(
            {m: f for folder in ("rpsdet", "stages", "bench") for m, f in third_party_imports(REPO / folder).items()}
        )
    )
    unused = RUNTIME - imported - {normalize(d) for d in LOADED_BY_OTHERS}
    assert not unused, f"declared in [project] dependencies but imported nowhere: {sorted(unused)}"
