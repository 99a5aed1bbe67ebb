"""Issue 14, items 3 and 4: outputs do not depend on the executor. ingest -> validate ->
anonymize -> dedup -> score -> select on a sample of the shared data, in the stage's process,
over two worker processes and over two Ray actors, with small batches and shards so several
are in flight: every table part and report written is byte-identical."""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
from pathlib import Path

import pytest

from pixelated.core.config import build_config, read_params
from pixelated.core.runner import TablePaths
from pixelated.dedup import dedup
from pixelated.ingest import ingest, validate
from pixelated.ingest.config import IngestStageConfig
from pixelated.ingest.validate import ValidateStageConfig
from pixelated.privacy import anonymize
from pixelated.scoring import score
from pixelated.selection import select
from tests.paths import REPO
from tests.scorers import tiny_scorers

PER_SOURCE = 8
BATCH = 12
SHARD = 24  # conversations per shard: the sample's tables have several parts
PARAMS = read_params(REPO / "params.yaml")
EMBEDDING_CACHES = ("data/embeddings.parquet", "data/turn_embeddings.parquet")  # dedup's, score's


def run_chain(raw: Path, root: Path, executor: dict) -> dict[str, str]:
    """Run the stages under `executor`; md5 of every file they write, by relative path."""
    params = {**PARAMS, "ingest": {**PARAMS["ingest"], "max_per_source": PER_SOURCE}}
    params["executor"] = {**executor, "batch_size": BATCH, "shard_rows": SHARD}
    config = lambda model: build_config(model, params)  # noqa: E731
    d, q, r = root / "data", root / "quarantine", root / "reports"
    ingest.run(
        config(IngestStageConfig), TablePaths(raw, d / "ingested.parquet", q / "ingest.parquet", r / "i.json")
    )
    source = d / "validated.parquet"
    validate.run(
        config(ValidateStageConfig),
        TablePaths(d / "ingested.parquet", source, q / "validate.parquet", r / "v.json"),
    )
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
                         tiny_scorers(root / "scorers")),
    )  # fmt: skip
    select.run(
        config(select.SelectConfig),
        select.SelectPaths(d / "scored.parquet", REPO / "reviews/verdicts.csv",
                           d / "selected.parquet", q / "select.parquet", r / "select_ledger.json",
                           root / "review", r / "select.json"),
    )  # fmt: skip
    # not the done markers: they record the run (its key), not what it wrote
    return {
        str(p.relative_to(root)): hashlib.md5(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.parent.name.endswith(".markers")
    }


@pytest.fixture(scope="module")
def local(shared_raw, tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """The chain in the stage's process: its folder, and the md5 of every file it wrote."""
    root = tmp_path_factory.mktemp("local")
    md5s = run_chain(shared_raw, root, {"kind": "local"})
    for sharded in ("selected", "spans", "turn_embeddings"):  # 2+ shards, caches too
        assert f"data/{sharded}.parquet/part-00001.parquet" in md5s
    return root, md5s


def assert_same_as_local(local, raw: Path, root: Path, executor: dict) -> None:
    """The chain under `executor` writes what the local one wrote. The stages embed in their own
    process whatever the executor, so the run starts from the local run's embedding caches
    (persisted outputs, as on a rerun) instead of embedding it all again."""
    local_root, expected = local
    for cache in EMBEDDING_CACHES:
        (root / cache).parent.mkdir(parents=True, exist_ok=True)
        copy = shutil.copytree if (local_root / cache).is_dir() else shutil.copy2
        copy(local_root / cache, root / cache)
    assert run_chain(raw, root, executor) == expected


def test_local_and_process_outputs_are_byte_identical(shared_raw, local, tmp_path):
    assert_same_as_local(local, shared_raw, tmp_path, {"kind": "process", "workers": 2})


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="needs `pip install -e '.[ray]'`")
def test_ray_cluster_outputs_are_byte_identical(shared_raw, local, tmp_path, monkeypatch):
    """Issue 14, item 3: a local two-worker Ray cluster on 127.0.0.1, actors per stage."""
    import ray

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1")
    try:
        assert_same_as_local(local, shared_raw, tmp_path, {"kind": "ray", "workers": 2})
    finally:
        ray.shutdown()
