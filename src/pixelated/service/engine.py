"""The one adapter between the service and the pipeline: every call into pipeline code is here.

Uploads run the ingest and validate stages' own `run` on the file; /v1/score runs the
anonymize stage's `checked_batch` and the score stage's measure/embed/score functions with
the classifier the score stage saved; jobs run `dvc repro` in a workspace. When the pipeline
modules move, only this file changes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import yaml
from pydantic import ValidationError

from pixelated.core.config import ConfigError, ExecutorConfig, build_config, read_params
from pixelated.core.embed import EmbeddingCache, load_encoder
from pixelated.core.hashing import sha256_file
from pixelated.core.ledger import Rejection
from pixelated.core.runner import TablePaths
from pixelated.core.schema import CONVERSATION_SCHEMA, SCORE_FIELDS
from pixelated.core.tableio import from_records
from pixelated.core.validation import validate_batch
from pixelated.ingest import ingest, validate
from pixelated.ingest.acquire import add_to_mirror
from pixelated.ingest.config import IngestStageConfig, RecordMapping, SourceConfig
from pixelated.ingest.readers import READERS, FileContext
from pixelated.ingest.readers.records import record_to_item
from pixelated.privacy.anonymize import AnonymizeConfig, checked_batch
from pixelated.privacy.engine import Detector, fingerprint
from pixelated.scoring import score
from pixelated.scoring.scorers import Scorers
from pixelated.selection.gates import tier_of

UPLOAD_SOURCE = "upload"
STREAM_SOURCE = "stream"
# what the caller declares is fixed by the service; only reader settings are theirs to give
CALLER = {"license": "supplied by the API caller", "consent_basis": "declared by the API caller"}
FIXED_KEYS = ("location", "url", "files", "read", "format", "license", "commercial_use", "consent",
              "consent_basis")  # fmt: skip
STREAM = SourceConfig(location=STREAM_SOURCE, files={}, read=(STREAM_SOURCE,), format="jsonl", **CALLER)
# -S keys a caller may override: never sources, acquire, mlflow or logging (those reach files,
# URLs and the tracking store).
OVERRIDABLE = (
    "ingest",
    "validate",
    "privacy",
    "dedup",
    "filter_length",
    "quality",
    "safety",
    "review",
    "split",
    "export",
    "train",
    "evaluate",
    "report",
    "executor",
)
FORMATS = tuple(sorted(READERS))


def load_params(repo: Path) -> dict:
    return read_params(Path(repo) / "params.yaml")


# --- uploads: the ingest and validate stages themselves, on the one file ---------------------


def upload_source(fmt: str, filename: str, sha256: str, options: dict) -> SourceConfig:
    """The upload as a source: the caller's reader settings (mapping, CSV columns) over fixed
    provenance. A bad setting is a ConfigError naming it, before anything is read."""
    fixed = sorted(set(options) & set(FIXED_KEYS))
    if fixed:
        raise ConfigError(f"options may not set {', '.join(fixed)}")
    try:
        return SourceConfig(
            **options,
            location=UPLOAD_SOURCE,
            files={filename: sha256},
            read=(filename,),
            format=fmt,
            **CALLER,
        )
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
        raise ConfigError(f"options: {problems}") from None


def upload_path(folder: Path, filename: str) -> Path:
    """Where an upload is stored: as data/raw/sources/<source>/<file> is for ingest."""
    return folder / "raw" / UPLOAD_SOURCE / filename


def read_upload(folder: Path, source: SourceConfig, params: dict) -> dict:
    """Run the ingest and validate stages on the upload in `folder` (local executor, no
    sample limit). The summary is their ledgers and quarantine rows (file, line, reason,
    detail); the excerpt is left out, since it is raw text."""
    local = ExecutorConfig(kind="local", workers=1, batch_size=params["executor"]["batch_size"])
    cfg = build_config(IngestStageConfig, {**params, "sources": {UPLOAD_SOURCE: source}})
    cfg = cfg.model_copy(
        update={"executor": local, "ingest": cfg.ingest.model_copy(update={"max_per_source": None})}
    )
    ingest.run(cfg, _stage_paths(folder, "ingest", folder / "raw", folder / "ingested.parquet"))
    checks = build_config(validate.ValidateStageConfig, params).model_copy(update={"executor": local})
    validate.run(checks, _stage_paths(folder, "validate", folder / "ingested.parquet", validated(folder)))
    quarantine = []
    for stage in ("ingest", "validate"):
        rows = pq.read_table(folder / "quarantine" / f"{stage}.parquet").to_pylist()
        quarantine += [{k: v for k, v in row.items() if k != "excerpt"} for row in rows]
    return {
        "ledger": {
            s: json.loads((folder / "ledger" / f"{s}.json").read_text()) for s in ("ingest", "validate")
        },
        "quarantine": quarantine,
    }


def validated(folder: Path) -> Path:
    return folder / "validated.parquet"


def _stage_paths(folder: Path, stage: str, source: Path, output: Path) -> TablePaths:
    return TablePaths(
        input=source,
        output=output,
        quarantine=folder / "quarantine" / f"{stage}.parquet",
        ledger=folder / "ledger" / f"{stage}.json",
    )


# --- streaming: one NDJSON line is one record, mapped like a JSONL / OpenAI chat source ------


def stream_record(number: int, line: str) -> dict | Rejection:
    """One stream line to a canonical row (or a rejection naming the line and reason).
    `{"messages": [...]}` is read as OpenAI chat, anything else as `{"id", "turns": [...]}`;
    an optional `source` names where the record came from (part of its conversation id)."""
    ctx = FileContext.for_file(STREAM_SOURCE, STREAM, STREAM_SOURCE, "0" * 64)
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        return ctx.reject("invalid_json", f"{err.msg} at column {err.colno}", number)
    if isinstance(record, dict) and isinstance(record.get("source"), str) and record["source"]:
        ctx = FileContext.for_file(record["source"][:64], STREAM, STREAM_SOURCE, "0" * 64)
    chat = isinstance(record, dict) and "messages" in record
    mapping = RecordMapping(turns="messages", text="content", id="id") if chat else RecordMapping(id="id")
    return record_to_item(record, number, mapping, ctx)


class Scorer:
    """The anonymizer, MiniLM, the trained scorers the score stage reads and its turn-vector cache,
    loaded once per worker process; each call runs the stages' own batch functions on the rows."""

    def __init__(self, params: dict, scorers: Path, embeddings: tuple[Path, ...] = ()):
        self.anonymize = build_config(AnonymizeConfig, params)
        scoring = build_config(score.ScoreConfig, params)
        self.quality = scoring.quality
        self.max_chars = self.anonymize.validate_.max_turn_chars
        self.stamp = fingerprint(self.anonymize.privacy.analyzer)
        self.scorers = Scorers.load(scorers)
        # the score stage's turn-vector cache, read only: a text it embedded gets its vector
        backend = scoring.embed.backend
        self.vectors = EmbeddingCache(read_only=[p for p in embeddings if p.exists()], backend=backend)
        load_encoder(backend)
        Detector(self.anonymize.privacy.analyzer).detect(["Warm up the analyzer, Alice."])

    def score(self, rows: list[dict]) -> list[dict]:
        """One result per row, in order: scores of the anonymized conversation, or an error
        (a conversation id already in this batch is an error, as ingest's duplicate check)."""
        first: dict[str, int] = {}
        for index, row in enumerate(rows):
            first.setdefault(row["conversation_id"], index)
        unique = [row for index, row in enumerate(rows) if first[row["conversation_id"]] == index]
        kept, invalid = validate_batch(from_records(unique, CONVERSATION_SCHEMA), self.max_chars)
        errors = {r.conversation_id: (r.reason, r.detail) for r in invalid}
        scored = {}
        if len(kept):
            result = checked_batch((kept, {}), self.anonymize.privacy, self.stamp, self.max_chars)
            errors.update({r.conversation_id: (r.reason, r.detail) for r in result.rejections})
            if len(result.kept):
                scored = {r["conversation_id"]: r for r in self._scores(result.kept).to_dict("records")}
        duplicate = {"error": "duplicate_record_id", "detail": "conversation id already in this batch"}
        return [
            _result(row["conversation_id"], scored, errors)
            if first[row["conversation_id"]] == index
            else {"conversation_id": row["conversation_id"], **duplicate}
            for index, row in enumerate(rows)
        ]

    def _scores(self, batch: pd.DataFrame) -> pd.DataFrame:
        """The score stage's pass 1 and 2 on one batch, with the stage's trained scorers;
        the tier is the selection gates' `tier_of`."""
        scored = score.score_with(batch, self.scorers, self.vectors.fresh(), self.quality.weights)
        scored["quality_tier"] = tier_of(scored["quality"], self.quality.tiers)
        return scored


SCORE_COLUMNS = (*(name for name, _ in SCORE_FIELDS), "quality_tier")


def _result(cid: str, scored: dict, errors: dict) -> dict:
    if cid not in scored:
        reason, detail = errors.get(cid, ("not_scored", "conversation was not scored"))
        return {"conversation_id": cid, "error": reason, "detail": detail}
    row = scored[cid]
    out = {"conversation_id": cid, "turns": [{"role": t["role"], "text": t["text"]} for t in row["turns"]]}
    for column in SCORE_COLUMNS:
        value = row[column]
        out[column] = value.item() if hasattr(value, "item") else (None if pd.isna(value) else value)
    out["crisis_flags"] = [k for k in str(out.pop("crisis_kinds") or "").split(",") if k]
    return out


# --- jobs: the real DVC pipeline in a workspace ----------------------------------------------


def check_overrides(params: dict, overrides: dict) -> list[str]:
    """`dvc exp run -S` style overrides (`section.key=value`), checked against params.yaml:
    the key must exist, be in an overridable section and keep its type."""
    out = []
    for key, value in sorted(overrides.items()):
        parts = key.split(".")
        if parts[0] not in OVERRIDABLE:
            raise ValueError(f"{key}: not an overridable section (allowed: {', '.join(OVERRIDABLE)})")
        node = params
        for part in parts:
            if not isinstance(node, dict) or part not in node:
                raise ValueError(f"{key}: no such key in params.yaml")
            node = node[part]
        if not _same_kind(node, value):
            raise ValueError(f"{key}: expected {type(node).__name__}, got {type(value).__name__}")
        out.append(f"{key}={json.dumps(value)}")
    return out


def _same_kind(current, value) -> bool:
    if current is None or isinstance(value, type(current)):
        return not isinstance(value, dict)
    return isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool)


def stage_names(repo: Path) -> list[str]:
    return list(yaml.safe_load((Path(repo) / "dvc.yaml").read_text())["stages"])


def prepare_workspace(repo: Path, workspace: Path, upload: dict, overrides: list[str], mirror: str) -> dict:
    """A clean copy of the repo's tracked files (as a clone), the upload added as a source next
    to the configured ones, params composed with the overrides. Idempotent: a restarted job
    reuses its workspace, so DVC skips the stages that already finished."""
    if not (workspace / ".git").exists():
        _copy_tracked(repo, workspace)
        shutil.rmtree(workspace / "reports" / "ledger", ignore_errors=True)  # the repo's, not this job's
    mirror_dir = workspace.parent / f"{workspace.name}-mirror"
    _link_mirror(Path(mirror) if mirror else None, mirror_dir, upload, workspace)
    env = _job_env(workspace, mirror_dir)
    from pixelated.core.params import compose  # Hydra composition, as `dvc exp run -S` does

    compose(root=workspace, overrides=overrides)
    if not (workspace / ".git").exists():
        for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "job workspace"]):
            subprocess.run(cmd, cwd=workspace, env=env, check=True, capture_output=True)
    return env


def _copy_tracked(repo: Path, workspace: Path) -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.split("\0")
    for name in filter(None, listed):
        if (repo / name).is_file():
            (workspace / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(repo / name, workspace / name)


def _link_mirror(shared: Path | None, mirror_dir: Path, upload: dict, workspace: Path) -> None:
    """The data mirror seen by `acquire`: the shared sources (hard-linked or copied, since
    acquire refuses paths that resolve outside the mirror) plus the upload, which is added to
    the workspace's sources as `upload_source` describes it."""
    mirror_dir.mkdir(parents=True, exist_ok=True)
    for folder in sorted(shared.iterdir()) if shared and shared.is_dir() else []:
        if not (mirror_dir / folder.name).exists():
            add_to_mirror(folder, mirror_dir)
    target = mirror_dir / UPLOAD_SOURCE / upload["filename"]
    target.parent.mkdir(exist_ok=True)
    shutil.copy2(upload["path"], target)
    source = upload_source(upload["format"], upload["filename"], sha256_file(target), upload["options"])
    sources_yaml = workspace / "conf" / "sources" / "shared.yaml"
    sources = yaml.safe_load(sources_yaml.read_text()) or {}
    sources[UPLOAD_SOURCE] = source.model_dump(mode="json", exclude_none=True)
    sources_yaml.write_text(yaml.safe_dump(sources, sort_keys=False))


def _job_env(workspace: Path, mirror_dir: Path) -> dict:
    src = str(Path(__file__).resolve().parents[2])
    return {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": f"{workspace / 'src'}{os.pathsep}{src}",
        "PE_DATA_MIRROR": str(mirror_dir),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "GIT_AUTHOR_NAME": "pixelated-service",
        "GIT_AUTHOR_EMAIL": "service@localhost",
        "GIT_COMMITTER_NAME": "pixelated-service",
        "GIT_COMMITTER_EMAIL": "service@localhost",
    }


def repro(workspace: Path, target: str, env: dict, on_line: Callable[[str], None]) -> int:
    """`dvc repro <target>` in the workspace; each output line goes to `on_line`."""
    process = subprocess.Popen(
        [sys.executable, "-m", "dvc", "repro", target],
        cwd=workspace,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=False,
    )
    for line in process.stdout:
        on_line(line.rstrip())
    return process.wait()


def stage_ledgers(workspace: Path) -> dict[str, dict]:
    """The per-stage ledgers the run wrote (counts and reasons only: no text)."""
    folder = workspace / "reports" / "ledger"
    return (
        {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))} if folder.is_dir() else {}
    )


def export_dir(workspace: Path, fmt: str) -> Path | None:
    folder = workspace / "data" / "export" / fmt
    return folder if fmt.isidentifier() and folder.is_dir() else None


def log_job_run(workspace: Path, job: dict, metrics: dict, env: dict) -> str | None:
    """An MLflow run for the job, in the workspace's tracking store, like a stage run."""
    script = (
        "import json,sys; from pixelated.core.config import MlflowConfig, read_params;"
        "from pixelated.reporting.tracking import log_stage_run;"
        "m=MlflowConfig(**read_params('params.yaml')['mlflow']); a=json.loads(sys.argv[1]);"
        "print(log_stage_run('service_job', m, params=a['params'], metrics=a['metrics'], inputs=[]))"
    )
    payload = json.dumps(
        {
            "params": {"job_id": job["id"], "target": job["target"], **json.loads(job["overrides"])},
            "metrics": metrics,
        }
    )
    result = subprocess.run(
        [sys.executable, "-c", script, payload],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return (
        result.stdout.strip().splitlines()[-1] if result.returncode == 0 and result.stdout.strip() else None
    )
