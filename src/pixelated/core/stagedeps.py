"""Which package folders a stage script depends on, from its imports (read with ast, not run).

`dvc.yaml` declares code deps as folders (`src/pixelated/<phase>`); a test compares them with
the import closure computed here, so a stage can never skip a rerun after its code changed.
`python -m pixelated.core.stagedeps` prints each stage's folders, for editing `dvc.yaml`.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import yaml

PACKAGE = "pixelated"


def _imported_modules(path: Path) -> set[str]:
    """Dotted names of the `pixelated` modules (or packages) a file imports, at any depth."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == PACKAGE)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == PACKAGE:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _module_file(src: Path, name: str) -> Path | None:
    """The file of a dotted module name under `src`, or None when it names no module (a class)."""
    base = src.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def import_closure(script: Path, src: Path) -> set[Path]:
    """Every package file `script` reaches through imports, itself excluded; parents'
    `__init__.py` files count, since importing a submodule runs them."""
    seen: set[Path] = set()
    todo = [script]
    while todo:
        for name in _imported_modules(todo.pop()):
            parts = name.split(".")
            for depth in range(1, len(parts) + 1):
                file = _module_file(src, ".".join(parts[:depth]))
                if file is not None and file not in seen:
                    seen.add(file)
                    todo.append(file)
    return seen


def covered(file: Path, deps: list[str], root: Path) -> bool:
    """Whether a dep path of `dvc.yaml` (a file or a folder) holds `file`."""
    relative = file.resolve().relative_to(root.resolve()).as_posix()
    return any(relative == dep or relative.startswith(dep.rstrip("/") + "/") for dep in deps)


def phase_folders(script: Path, root: Path) -> list[str]:
    """The package folders (one per phase) that hold the closure of `script`."""
    src = root / "src"
    folders = {
        file.parent.relative_to(root).as_posix()
        if file.parent != src / PACKAGE
        else file.relative_to(root).as_posix()
        for file in import_closure(script, src)
    }
    # a nested package (ingest/readers) is covered by its phase folder
    return sorted(f for f in folders if not any(f.startswith(o + "/") for o in folders if o != f))


def stage_scripts(dvc_yaml: Path) -> dict[str, Path]:
    """Stage name -> the script its command runs (`python -m stages.<name>`)."""
    stages = yaml.safe_load(dvc_yaml.read_text())["stages"]
    return {name: dvc_yaml.parent / "stages" / f"{name}.py" for name in stages}


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path.cwd()
    for stage, script in stage_scripts(root / "dvc.yaml").items():
        print(stage, " ".join(phase_folders(script, root)))
