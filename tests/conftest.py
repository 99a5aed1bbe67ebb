"""Shared fixtures: reader contexts, canonical-row builders and the real shared datasets.

The shared mirror is <repo>/../shared/data (as in CI) unless PE_DATA_MIRROR names another,
as for the acquire stage; tests that need it are skipped with a reason when it is absent.
Data files are read in place or copied into pytest's tmp dirs, never into the repository.
Settings come from params.yaml, the file the stages read.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from pixelated.core.config import build_config, read_params
from pixelated.core.ledger import Rejection
from pixelated.core.schema import CONVERSATION_SCHEMA
from pixelated.core.shards import parts
from pixelated.core.tableio import from_records
from pixelated.ingest.acquire import acquire_all, resolve_mirror
from pixelated.ingest.config import IngestStageConfig, ReadOptions, SourceConfig
from pixelated.ingest.conversation import SourceInfo, make_conversation, make_turn
from pixelated.ingest.ingest import read_source
from pixelated.ingest.readers import FileContext, get_reader
from pixelated.ingest.validate import ValidateStageConfig
from tests.paths import REPO, SHARED_DATA
from tests.scheduling import SAMPLE_RUN_USERS, SampleRunScheduling, rank

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


def table_bytes(path: Path) -> list[bytes]:
    """The bytes of a table's Parquet files in order: a sharded table's parts, or the file."""
    return [part.read_bytes() for part in parts(path)]


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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Order the tests for the workers (tests/scheduling.py); the sort is stable. A file that
    uses the sample run but is not placed would be queued as if it did not need it."""
    strays = {item.path.name for item in items if "sample_run" in item.fixturenames} - SAMPLE_RUN_USERS
    if strays:
        raise pytest.UsageError(f"place {sorted(strays)} in the queue: tests/scheduling.py")
    items.sort(key=lambda item: rank(item.nodeid))


def pytest_xdist_make_scheduler(config, log):
    """`--dist loadfile` with the sample run's build files as one unit (tests/scheduling.py)."""
    return SampleRunScheduling(config, log) if config.getvalue("dist") == "loadfile" else None
