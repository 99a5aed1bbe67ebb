"""bench/dedup_memory: its corpus is grown in the stages' row groups, and the dedup stage runs
on it and reports what it measured."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from bench.dedup_memory import HashEncoder, run_stage, write_corpus
from pixelated.core import embed
from pixelated.core.embed import DIMENSION
from pixelated.core.schema import CONVERSATION_SCHEMA
from pixelated.ingest.conversation import make_turn
from tests.conftest import canonical_row, frame


def _distinct_rows(count: int) -> list[dict]:
    words = np.random.default_rng(0).choice([f"w{i}" for i in range(5000)], (count, 2, 20))
    texts = [[" ".join(side) for side in row] for row in words]
    turns = [[make_turn("seeker", seeker), make_turn("helper", helper)] for seeker, helper in texts]
    return [canonical_row(i, pair) for i, pair in enumerate(turns, 1)]


def test_the_stage_runs_on_a_grown_corpus_and_reports_its_peak(tmp_path):
    table = pa.Table.from_pandas(frame(_distinct_rows(40)), schema=CONVERSATION_SCHEMA, preserve_index=False)
    corpus, out = tmp_path / "corpus.parquet", tmp_path / "out"
    write_corpus(table, 120, seed=0, path=corpus, batch_size=50)
    assert [pq.ParquetFile(corpus).metadata.row_group(i).num_rows for i in range(3)] == [50, 50, 20]
    out.mkdir()
    entry = run_stage(corpus, out, semantic=False)
    assert entry["rows_in"] == 120 and 40 <= entry["rows_out"] < 120  # the perturbed copies: some removed
    assert entry["peak_rss_mb"] > 0 and entry["wall_s"] > 0


def test_the_stand_in_encoder_gives_fixed_unit_vectors_and_semantic_dedup_runs(tmp_path, monkeypatch):
    vectors = HashEncoder().encode(["a", "b", "a"])
    assert vectors.shape == (3, DIMENSION) and np.allclose(np.linalg.norm(vectors, axis=1), 1)
    assert np.array_equal(vectors[0], vectors[2]) and abs(vectors[0] @ vectors[1]) < 0.3
    monkeypatch.setattr(embed, "load_encoder", lambda backend="torch": HashEncoder())
    table = pa.Table.from_pandas(frame(_distinct_rows(40)), schema=CONVERSATION_SCHEMA, preserve_index=False)
    corpus, out = tmp_path / "corpus.parquet", tmp_path / "out"
    write_corpus(table, 120, seed=0, path=corpus, batch_size=50)
    out.mkdir()
    assert run_stage(corpus, out, semantic=True)["rows_in"] == 120
    assert json.loads((out / "report.json").read_text())["semantic"]["compared"] > 40
