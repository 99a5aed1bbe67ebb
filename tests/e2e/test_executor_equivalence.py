"""Issue 14, item 4: outputs do not depend on the executor. anonymize -> dedup -> score ->
select on a sample of the shared data, once in the stage's process and once over two worker
processes, with small batches so several are in flight: every file written is byte-identical."""

from __future__ import annotations

import hashlib
import shutil
from itertools import islice
from pathlib import Path

import pytest

from pixelated.core.config import build_config, read_params
from pixelated.core.ledger import Rejection
from pixelated.core.schema import CONVERSATION_SCHEMA
from pixelated.core.tableio import ValidatedWriter
from pixelated.core.validation import canonical_schema, validate_batch
from pixelated.dedup import dedup
from pixelated.ingest.ingest import read_source
from pixelated.privacy import anonymize
from pixelated.scoring import score
from pixelated.selection import select
from tests.conftest import READ_OPTIONS, frame
from tests.paths import REPO

PER_SOURCE = 8
BATCH = 12
PARAMS = read_params(REPO / "params.yaml")
MAX_TURN_CHARS = PARAMS["validate"]["max_turn_chars"]
EMBEDDING_CACHES = ("data/embeddings.parquet", "data/turn_embeddings.parquet")  # dedup's, score's
RUN_HISTORY = "reports/dedup_cache.json"  # embedding cache hits: not content, as in test_rerun


@pytest.fixture(scope="module")
def validated(shared_sources, shared_raw, tmp_path_factory) -> Path:
    """The first conversations of each shared source that pass validation."""
    rows = []
    for name, source in sorted(shared_sources.items()):
        items = read_source(shared_raw, name, source, READ_OPTIONS)
        rows.extend(islice((i for i in items if not isinstance(i, Rejection)), PER_SOURCE))
    kept, _ = validate_batch(frame(rows), MAX_TURN_CHARS)
    path = tmp_path_factory.mktemp("sample") / "validated.parquet"
    with ValidatedWriter(path, CONVERSATION_SCHEMA, canonical_schema(MAX_TURN_CHARS)) as writer:
        writer.write(kept)
    return path


def run_chain(source: Path, root: Path, executor: dict) -> dict[str, str]:
    """Run the four stages under `executor`; md5 of every file they write, by relative path."""
    params = {**PARAMS, "executor": executor}
    config = lambda model: build_config(model, params)  # noqa: E731
    d, q, r = root / "data", root / "quarantine", root / "reports"
    anonymize.run(
        config(anonymize.AnonymizeConfig),
        anonymize.AnonymizePaths(source, d / "anonymized.parquet", q / "anonymize.parquet",
                                 r / "anonymize_ledger.json", d / "spans.parquet", r / "anonymize.json"),
    )  # fmt: skip
    dedup.run(
        config(dedup.DedupStageConfig),
        dedup.DedupPaths(d / "anonymized.parquet", d / "deduped.parquet", d / "clusters.parquet",
                         q / "dedup.parquet", r / "dedup_ledger.json", r / "dedup.json",
                         d / "embeddings.parquet", r / "dedup_cache.json"),
    )  # fmt: skip
    score.run(
        config(score.ScoreConfig),
        score.ScorePaths(d / "deduped.parquet", d / "scored.parquet", r / "quality.json",
                         d / "turn_embeddings.parquet", REPO / "data/labels", d / "anonymized.parquet",
                         d / "strategy_classifier.parquet"),
    )  # fmt: skip
    select.run(
        config(select.SelectConfig),
        select.SelectPaths(d / "scored.parquet", REPO / "reviews/verdicts.csv",
                           d / "selected.parquet", q / "select.parquet", r / "select_ledger.json",
                           root / "review", r / "select.json"),
    )  # fmt: skip
    return {
        str(p.relative_to(root)): hashlib.md5(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_local_and_process_outputs_are_byte_identical(validated, tmp_path):
    local = run_chain(validated, tmp_path / "local", {"kind": "local", "batch_size": BATCH})
    # the stages embed in their own process whatever the executor: the second run starts from the
    # first's embedding caches (persisted outputs, as on a rerun) instead of embedding it all again
    for cache in EMBEDDING_CACHES:
        (tmp_path / "process" / cache).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(tmp_path / "local" / cache, tmp_path / "process" / cache)
    two = {"kind": "process", "workers": 2, "batch_size": BATCH}
    process = run_chain(validated, tmp_path / "process", two)
    assert local.pop(RUN_HISTORY) and process.pop(RUN_HISTORY)
    assert local == process
    assert "data/selected.parquet" in local and "data/spans.parquet" in local
