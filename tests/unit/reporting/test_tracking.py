"""MLflow runs carry the stage, the git commit and the md5 of every input (as in dvc.lock)."""

import mlflow

from pixelated.core.config import MlflowConfig
from pixelated.core.hashing import file_md5
from pixelated.reporting.tracking import flatten, log_stage_run


def test_stage_run_is_tagged_with_commit_and_input_hashes(tmp_path):
    data = tmp_path / "table.parquet"
    data.write_bytes(b"some bytes")
    cfg = MlflowConfig(
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        artifact_location=str(tmp_path / "mlruns"),
        experiment="test",
    )
    run_id = log_stage_run(
        "report",
        cfg,
        params={"filter": {"max_turns": 50}},
        metrics={"ledger": {"ingest": {"rows_in": 3}}},
        inputs=[data],
    )
    run = mlflow.MlflowClient(cfg.tracking_uri).get_run(run_id)
    assert run.data.tags["stage"] == "report"
    assert len(run.data.tags["git_commit"]) == 40
    assert run.data.tags[f"dvc.md5.{data.as_posix()}"] == file_md5(data) == "9d0568469d206c1aedf1b71f12f474bc"
    assert run.data.params["filter.max_turns"] == "50"
    assert run.data.metrics["ledger.ingest.rows_in"] == 3


def test_flatten_keeps_lists_whole():
    assert flatten({"a": {"b": 1, "c": [1, 2]}, "d": "x"}) == {"a.b": 1, "a.c": [1, 2], "d": "x"}
