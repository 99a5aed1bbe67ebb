"""Shared fixtures: reader contexts, canonical-row builders and the real shared datasets.

The shared mirror is <repo>/../shared/data (as in CI); tests that need it are skipped with
a reason when it is absent. Data files are read in place or copied into pytest's tmp dirs,
never into the repository.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pixelated.core.config import read_params
from pixelated.core.ledger import Rejection
from pixelated.core.schema import CONVERSATION_SCHEMA
from pixelated.core.tableio import from_records
from pixelated.ingest.acquire import acquire_all
from pixelated.ingest.conversation import DEFAULT_ROLE_MAP, SourceInfo, make_conversation, make_turn
from pixelated.ingest.ingest import read_source
from pixelated.ingest.readers import FileContext, get_reader
from tests.paths import REPO, SHARED_DATA

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED_MIRROR = SHARED_DATA  # <repo>/../shared/data, as in CI
SHARED_SOURCES_YAML = REPO / "conf" / "sources" / "shared.yaml"
PARAMS = read_params(REPO / "params.yaml")  # conf/ composed (tests/unit/core/test_config.py checks)
# The ingest section with the executor's batch size, as the ingest stage passes them to readers.
INGEST_CFG = {**PARAMS["ingest"], "batch_size": PARAMS["executor"]["batch_size"]}
MAX_TURN_CHARS = PARAMS["validate"]["max_turn_chars"]

SOURCE = SourceInfo(
    name="fixture",
    license="CC BY 4.0",
    commercial_use=False,
    consent=True,
    consent_basis="hand-written test data",
)


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
def make_ctx() -> Callable[..., FileContext]:
    def build(relpath: str = "fixture/file", role_map: dict | None = None, pseudonymize=()) -> FileContext:
        roles = {**DEFAULT_ROLE_MAP, **{k.lower(): v for k, v in (role_map or {}).items()}}
        return FileContext(
            source=SOURCE, relpath=relpath, sha256="0" * 64, role_map=roles, pseudonymize=tuple(pseudonymize)
        )

    return build


@pytest.fixture
def read(make_ctx) -> Callable[..., tuple[list[dict], list[Rejection]]]:
    """read(format, path, cfg, **ctx_kwargs) -> (rows, rejections), consuming the whole reader."""

    def run(fmt: str, path: Path, cfg: dict | None = None, **ctx_kwargs):
        ctx = make_ctx(relpath=f"fixture/{path.name}", **ctx_kwargs)
        return split_items(get_reader(fmt)(path, {**INGEST_CFG, **(cfg or {})}, ctx))

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
def shared_sources() -> dict:
    with open(SHARED_SOURCES_YAML) as handle:
        return yaml.safe_load(handle)


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
        name: split_items(read_source(shared_raw, name, cfg, INGEST_CFG))
        for name, cfg in sorted(shared_sources.items())
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
