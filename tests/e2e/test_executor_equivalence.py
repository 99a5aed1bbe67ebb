"""Issue 14, items 3 and 4: outputs do not depend on the executor. anonymize -> dedup -> score
-> select on a sample of the shared data (read by ingest's readers), in the stage's process,
over two worker processes and over two Ray actors, with small batches so several are in
flight: every file written is byte-identical."""

from __future__ import annotations

import hashlib
import importlib.util
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
                         d / "embeddings.parquet"),
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
    # not the done markers: they record how the run went (span cache hits), not what it wrote
    return {
        str(p.relative_to(root)): hashlib.md5(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.parent.name.endswith(".markers")
    }


@pytest.fixture(scope="module")
def local(validated, tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """The chain in the stage's process: its folder, and the md5 of every file it wrote."""
    root = tmp_path_factory.mktemp("local")
    md5s = run_chain(validated, root, {"kind": "local", "batch_size": BATCH})
    assert "data/selected.parquet/part-00000.parquet" in md5s and "data/spans.parquet" in md5s
    return root, md5s


def assert_same_as_local(local, validated: Path, root: Path, executor: dict) -> None:
    """The chain under `executor` writes what the local one wrote. The stages embed in their own
    process whatever the executor, so the run starts from the local run's embedding caches
    (persisted outputs, as on a rerun) instead of embedding it all again."""
    local_root, expected = local
    for cache in EMBEDDING_CACHES:
        (root / cache).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(local_root / cache, root / cache)
    assert run_chain(validated, root, executor) == expected


def test_local_and_process_outputs_are_byte_identical(validated, local, tmp_path):
    assert_same_as_local(local, validated, tmp_path, {"kind": "process", "workers": 2, "batch_size": BATCH})


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="needs `pip install -e '.[ray]'`")
def test_ray_cluster_outputs_are_byte_identical(validated, local, tmp_path, monkeypatch):
    """Issue 14, item 3: a local two-worker Ray cluster on 127.0.0.1, actors per stage."""
    import ray

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1")
    try:
        assert_same_as_local(local, validated, tmp_path, {"kind": "ray", "workers": 2, "batch_size": BATCH})
    finally:
        ray.shutdown()
