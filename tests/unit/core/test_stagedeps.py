"""Acceptance checks of the stage layout, read from dvc.yaml and the source (ast, nothing run):
every package file a stage imports is one of its DVC deps (or a change would not rerun it),
stage scripts stay adapters and package functions stay short."""

import ast
import subprocess
import sys
from pathlib import Path

import yaml

from pixelated.core.stagedeps import covered, import_closure, stage_scripts
from tests.paths import REPO

MAX_SCRIPT_LINES = 40
MAX_FUNCTION_LINES = 60


def uncovered_deps(root: Path) -> list[tuple[str, str]]:
    """(stage, file) for each file a stage's script reaches (itself included) that its
    `deps` in dvc.yaml do not hold."""
    stages = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]
    missing = []
    for stage, script in stage_scripts(root / "dvc.yaml").items():
        for file in sorted({script, *import_closure(script, root / "src")}):
            if not covered(file, stages[stage].get("deps", []), root):
                missing.append((stage, file.relative_to(root).as_posix()))
    return missing


def test_every_imported_module_is_a_stage_dep():
    missing = uncovered_deps(REPO)
    assert not missing, (
        "not in the stage's dvc.yaml deps (see `python -m pixelated.core.stagedeps`):\n"
        + "\n".join(f"{stage}: {file}" for stage, file in missing)
    )


def test_bytecode_caches_are_not_stage_deps():
    """Stages depend on whole src/ folders: on a machine that writes bytecode, the first run
    put __pycache__ in each, and DVC then saw every stage's code as changed."""
    cached = "src/pixelated/core/__pycache__/config.cpython-311.pyc"
    found = subprocess.run([sys.executable, "-m", "dvc", "check-ignore", "-q", cached], cwd=REPO, check=False)
    assert found.returncode == 0, f"{cached} is hashed into the stage deps; see .dvcignore"


def test_a_missing_dep_is_reported(tmp_path):
    """A fake repo whose stage imports pixelated.a.b while dvc.yaml lists no src/pixelated/a."""
    files = {
        "dvc.yaml": yaml.safe_dump(
            {
                "stages": {
                    "x": {"cmd": "python -m stages.x", "deps": ["stages/x.py", "src/pixelated/__init__.py"]}
                }
            }
        ),
        "stages/x.py": "from pixelated.a.b import f\n\nf()\n",
        "src/pixelated/__init__.py": "",
        "src/pixelated/a/__init__.py": "",
        "src/pixelated/a/b.py": "def f():\n    return 1\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert uncovered_deps(tmp_path) == [("x", "src/pixelated/a/__init__.py"), ("x", "src/pixelated/a/b.py")]


def test_stage_scripts_are_adapters():
    """A stage script wires paths and config to one package function."""
    scripts = stage_scripts(REPO / "dvc.yaml").values()
    long = {s.name: n for s in scripts if (n := len(s.read_text().splitlines())) > MAX_SCRIPT_LINES}
    assert not long, f"stage scripts over {MAX_SCRIPT_LINES} lines: {_listing(long)}"


def test_package_functions_are_short():
    """Every function in the package, methods and nested ones included, def line to last line."""
    long = {}
    for path in sorted((REPO / "src" / "pixelated").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(REPO).as_posix()}:{node.lineno} {node.name}"] = lines
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {_listing(long)}"


def _listing(lines: dict[str, int]) -> str:
    return "".join(f"\n  {name}: {n}" for name, n in lines.items())
