"""Shared fixtures: reader contexts, canonical-row builders and the real shared datasets.

The shared mirror is <repo>/../shared/data (as in CI) unless PE_DATA_MIRROR names another,
as for the acquire stage; tests that need it are skipped with a reason when it is absent.
Data files are read in place or copied into pytest's tmp dirs, never into the repository.
Settings come from params.yaml, the file the stages read.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pixelated.core.config import build_config, read_params
from pixelated.core.ledger import Rejection
from pixelated.core.schema import CONVERSATION_SCHEMA
from pixelated.core.tableio import from_records
from pixelated.ingest.acquire import acquire_all, resolve_mirror, sha256_file
from pixelated.ingest.config import IngestStageConfig, ReadOptions, SourceConfig
from pixelated.ingest.conversation import SourceInfo, make_conversation, make_turn
from pixelated.ingest.ingest import read_source
from pixelated.ingest.readers import FileContext, get_reader
from pixelated.ingest.validate import ValidateStageConfig
from tests.paths import REPO, SHARED_DATA

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED_MIRROR = resolve_mirror(str(SHARED_DATA))
PARAMS = read_params(REPO / "params.yaml")
INGEST = build_config(IngestStageConfig, PARAMS)
READ_OPTIONS = INGEST.read_options
MAX_TURN_CHARS = build_config(ValidateStageConfig, PARAMS).validate_.max_turn_chars

# The hand-written test source; readers' tests add format, mapping or CSV columns.
FIXTURE_SOURCE = {
    "location": "fixture",
    "files": {},
    "read": ["*"],
    "format": "jsonl",
    "license": "CC BY 4.0",
    "commercial_use": False,
    "consent": True,
    "consent_basis": "hand-written test data",
}


def source_config(**keys) -> SourceConfig:
    """The fixture source's config with `keys` set, checked as params.yaml would be."""
    return SourceConfig.model_validate({**FIXTURE_SOURCE, **keys})


SOURCE = SourceInfo.from_config("fixture", source_config())


def reasons(rejections: list[Rejection]) -> list[str]:
    return [r.reason for r in rejections]


def with_turns(n: int) -> list[dict]:
    """n canonical turns, seeker and helper alternating."""
    return [make_turn("seeker" if i % 2 == 0 else "helper", f"turn {i}") for i in range(n)]


def split_items(items) -> tuple[list[dict], list[Rejection]]:
    """Partition reader output; anything that is neither a row nor a Rejection fails the test."""
    rows, rejections = [], []
    for item in items:
        if isinstance(item, Rejection):
            rejections.append(item)
        else:
            assert isinstance(item, dict), f"reader yielded {type(item).__name__}"
            rows.append(item)
    return rows, rejections


@pytest.fixture
def read() -> Callable[..., tuple[list[dict], list[Rejection]]]:
    """read(format, path, source_keys, options=None, **more_source_keys) -> (rows, rejections),
    consuming the whole reader; `options` overrides params.yaml's read options."""

    def run(fmt: str, path: Path, keys: dict | None = None, options: dict | None = None, **more_keys):
        source = source_config(format=fmt, **(keys or {}), **more_keys)
        ctx = FileContext.for_file("fixture", source, f"fixture/{path.name}", "0" * 64)
        read_options = ReadOptions.model_validate({**READ_OPTIONS.model_dump(), **(options or {})})
        return split_items(get_reader(fmt)(path, source, read_options, ctx))

    return run


def canonical_row(index: int = 1, turns: list[dict] | None = None, **overrides) -> dict:
    """A valid ingested row (two turns unless given), with columns overridden as asked."""
    if turns is None:
        turns = [make_turn("seeker", f"I need help {index}"), make_turn("helper", "I am listening.")]
    row = make_conversation(
        SOURCE,
        f"record-{index}",
        turns,
        source_file="fixture/file.jsonl",
        source_line=index,
        source_sha256="a" * 64,
    )
    row.update(overrides)
    return row


def frame(rows: list[dict]) -> pd.DataFrame:
    """Rows typed exactly as ingest stores them (nullable dtypes, Arrow round trip)."""
    return from_records(copy.deepcopy(rows), CONVERSATION_SCHEMA)


@pytest.fixture(scope="session")
def shared_sources() -> dict[str, SourceConfig]:
    return INGEST.sources


@pytest.fixture(scope="session")
def shared_raw(shared_sources, tmp_path_factory) -> Path:
    """data/raw as the acquire stage builds it from the shared mirror (checksums verified)."""
    if not SHARED_MIRROR.is_dir():
        pytest.skip(f"shared data mirror not found at {SHARED_MIRROR}")
    raw = tmp_path_factory.mktemp("shared") / "raw"
    acquire_all(shared_sources, SHARED_MIRROR, raw)
    return raw


@pytest.fixture(scope="session")
def shared_items(shared_sources, shared_raw) -> dict[str, tuple[list[dict], list[Rejection]]]:
    """Every source read once through ingest.read_source: name -> (rows, rejections)."""
    return {
        name: split_items(read_source(shared_raw, name, source, READ_OPTIONS))
        for name, source in sorted(shared_sources.items())
    }


@pytest.fixture(name="split_items")
def split_items_fixture() -> Callable:
    return split_items


@pytest.fixture(name="canonical_row")
def canonical_row_fixture() -> Callable[..., dict]:
    return canonical_row


@pytest.fixture(name="frame")
def frame_fixture() -> Callable[[list[dict]], pd.DataFrame]:
    return frame


# --- clean clones of the repository, for end-to-end pipeline tests ---


def run_ok(cmd, cwd, env) -> str:
    """Run a command in a clone; fail the test with its output tail when it fails."""
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, (
        f"{' '.join(cmd)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    )
    return result.stdout + result.stderr


# On a sample, the privacy benchmark and training only need to run, not to be precise or learn.
SAMPLE_RUN = {
    "privacy": {"bench": {"per_type": 50}},
    "train": {"max_pairs": 16, "epochs": 1, "batch_size": 8, "max_seq_length": 32, "val_max_queries": 32},
    "evaluate": {"max_queries": 32, "cv": {"max_pairs": 8, "max_queries": 8}},
}
CANARY_DIR = FIXTURES / "canary"
CANARY_ROWS = 1


def _mirror_with_canary(root: Path) -> Path:
    """A mirror holding the shared sources (linked) plus the canary source: one record with
    planted PII that must never leave data/raw. The clone configures it like any other source."""
    mirror = root.parent / "mirror"
    mirror.mkdir()
    for folder in SHARED_DATA.iterdir():
        (mirror / folder.name).symlink_to(folder)
    shutil.copytree(CANARY_DIR, mirror / "canary")
    source = {
        "location": "canary",
        "url": None,
        "files": {"canary.jsonl": sha256_file(CANARY_DIR / "canary.jsonl")},
        "read": ["canary.jsonl"],
        "format": "jsonl",
        "license": "CC0 (synthetic test record)",
        "commercial_use": True,
        "consent": True,
        "consent_basis": "synthetic record written for the canary test",
        "role_map": {},
        "pseudonymize": [],
        "mapping": {
            "turns": "dialog",
            "role": "speaker",
            "text": "text",
            "turn_fields": {},
            "metadata": {"situation": "situation"},
        },
    }
    with open(root / "conf" / "sources" / "shared.yaml", "a") as handle:
        handle.write("\n" + yaml.safe_dump({"canary": source}, sort_keys=False))
    return mirror


def override_config(config: Path, overrides: dict) -> None:
    """Set existing nested keys of a Hydra config file (comments are lost: a throwaway clone)."""

    def merge(tree: dict, changes: dict) -> None:
        for key, value in changes.items():
            assert key in tree, key
            if isinstance(value, dict):
                merge(tree[key], value)
            else:
                tree[key] = value

    tree = yaml.safe_load(config.read_text())
    merge(tree, overrides)
    config.write_text(yaml.safe_dump(tree, sort_keys=False))


def make_clone(root: Path, sample: int | None) -> tuple[Path, dict]:
    """The repo's tracked and unignored files in a new git repo, as a clean clone would be,
    plus the canary source; with `sample`, only the first `sample` conversations of each source
    are read, with the quick settings of SAMPLE_RUN."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, root / name)
    if sample is not None:
        override_config(root / "conf" / "config.yaml", {**SAMPLE_RUN, "ingest": {"max_per_source": sample}})
    mirror = _mirror_with_canary(root)
    env = {
        **os.environ,
        "PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(root / "src"),
        "PE_DATA_MIRROR": str(mirror),
        "HF_HUB_OFFLINE": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    run_ok(["git", "init", "-q"], root, env)
    run_ok([sys.executable, "-m", "pixelated.core.params"], root, env)
    run_ok(["git", "add", "-A"], root, env)
    run_ok(["git", "commit", "-qm", "clone"], root, env)
    return root, env
