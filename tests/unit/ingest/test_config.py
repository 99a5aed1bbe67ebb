"""Source and ingest config: a bad key is a ConfigError naming it, before any file is read."""

from __future__ import annotations

import pytest

from pixelated.core.config import ConfigError, build_config
from pixelated.core.ledger import Rejection
from pixelated.core.tableio import QuarantineWriter
from pixelated.ingest.config import IngestStageConfig
from pixelated.ingest.ingest import chunks
from pixelated.ingest.readers import READERS
from tests.conftest import FIXTURE_SOURCE, INGEST, PARAMS, canonical_row


def ingest_params(**source_keys) -> dict:
    return {**PARAMS, "sources": {"demo": {**FIXTURE_SOURCE, **source_keys}}}


def test_params_yaml_sources_build():
    assert set(INGEST.sources) == set(PARAMS["sources"])
    assert all(source.format in READERS for source in INGEST.sources.values())


def test_a_source_cannot_carry_an_ingest_setting():
    """Readers once saw {**ingest, **source}: a source key silently won. Now it is refused."""
    with pytest.raises(ConfigError, match=r"sources\.demo\.max_field_bytes: Extra inputs"):
        build_config(IngestStageConfig, ingest_params(max_field_bytes=10))


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"format": "xml"}, r"sources\.demo\.format: .*unknown format 'xml'"),
        ({"format": "qa_csv", "helper_text": "answer"}, r"sources\.demo: .*qa_csv needs seeker_text"),
        ({"format": "utterance_csv", "role": "who"}, r"sources\.demo: .*utterance_csv needs text"),
        ({"read": []}, r"sources\.demo\.read: "),
        ({"licence": "MIT"}, r"sources\.demo\.licence: Extra inputs"),
        ({"mapping": {"turn": "dialog"}}, r"sources\.demo\.mapping\.turn: Extra inputs"),
    ],
)
def test_bad_source_keys_are_named(keys, message):
    with pytest.raises(ConfigError, match=message):
        build_config(IngestStageConfig, ingest_params(**keys))


def test_bad_ingest_settings_are_named():
    params = {**PARAMS, "ingest": {**PARAMS["ingest"], "max_per_source": 0}}
    with pytest.raises(ConfigError, match=r"ingest\.max_per_source: "):
        build_config(IngestStageConfig, params)


def test_chunks_cut_rows_and_rejections_as_their_writers_flush(monkeypatch):
    """Rows come in chunks of the batch size and rejections in chunks of the quarantine
    buffer, each in reading order, so both tables get the same row groups as ever."""
    monkeypatch.setattr(QuarantineWriter, "BUFFER", 2)
    r = [canonical_row(i) for i in range(7)]
    x = [Rejection("invalid_json", f"bad {i}") for i in range(5)]
    items = [r[0], x[0], r[1], r[2], x[1], x[2], r[3], x[3], r[4], r[5], r[6], x[4]]
    assert list(chunks(items, 3)) == [
        [r[0], r[1], r[2]],
        [x[0], x[1]],
        [x[2], x[3]],
        [r[3], r[4], r[5]],
        [r[6], x[4]],
    ]
