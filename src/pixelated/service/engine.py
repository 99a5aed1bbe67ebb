"""The one adapter between the service and the pipeline: every call into pipeline code is here.

Uploads are read by the ingest readers and checked by the canonical schema; /v1/score runs the
anonymize batch function, the canonical check and the score stage's metrics; jobs run
`dvc repro` in a workspace. When the pipeline modules move, only this file changes.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from pixelated.core.config import read_params
from pixelated.core.embed import EmbeddingCache, load_model
from pixelated.core.hashing import sha256_file
from pixelated.core.ledger import Ledger, Rejection
from pixelated.core.schema import CONVERSATION_SCHEMA
from pixelated.core.tableio import from_records, read_batches
from pixelated.core.validation import validate_batch
from pixelated.ingest.conversation import DEFAULT_ROLE_MAP, SourceInfo
from pixelated.ingest.readers import READERS, FileContext, get_reader
from pixelated.ingest.readers.records import RecordMapping, record_to_item
from pixelated.privacy.anonymize import anonymize_batch
from pixelated.privacy.engine import _analyzer, fingerprint
from pixelated.scoring.metrics import METRICS, measurement_turns, score_batch
from pixelated.scoring.models import StrategyClassifier
from pixelated.selection.gates import tier_of

UPLOAD_SOURCE = "upload"
STREAM_SOURCE = "stream"
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


def _context(name: str, relpath: str, sha: str, consent: bool = False) -> FileContext:
    source = SourceInfo(name, "supplied by the API caller", False, consent, "declared by the API caller")
    return FileContext(source=source, relpath=relpath, sha256=sha, role_map=dict(DEFAULT_ROLE_MAP))


def _reader_cfg(params: dict, fmt: str, options: dict) -> dict:
    return {**params["ingest"], "batch_size": params["executor"]["batch_size"], "format": fmt, **options}


# --- uploads: the same readers and the same schema as ingest + validate ---------------------


def read_upload(path: Path, fmt: str, options: dict, params: dict) -> tuple[list[dict], dict]:
    """Rows that pass ingest and validate, and a summary shaped like their ledgers and
    quarantine (file, line, reason; no excerpt, since that would be raw text)."""
    ctx = _context(UPLOAD_SOURCE, f"{UPLOAD_SOURCE}/{path.name}", sha256_file(path))
    ingest, rows, rejected = Ledger("ingest"), [], []
    for item in get_reader(fmt)(path, _reader_cfg(params, fmt, options), ctx):
        ingest.count_in(source=UPLOAD_SOURCE)
        if isinstance(item, Rejection):
            ingest.count_drop(item.reason, source=UPLOAD_SOURCE)
            rejected.append(item.as_row("ingest"))
        else:
            ingest.count_out(source=UPLOAD_SOURCE)
            rows.append(item)
    kept, invalid = _validate(rows, params)
    validate = Ledger("validate")
    validate.count_in(len(rows), UPLOAD_SOURCE)
    validate.count_out(len(kept), UPLOAD_SOURCE)
    for rejection in invalid:
        validate.count_drop(rejection.reason, source=UPLOAD_SOURCE)
    ingest.check(), validate.check()
    quarantine = rejected + [r.as_row("validate") for r in invalid]
    for row in quarantine:
        row.pop("excerpt", None)
    summary = {
        "ledger": {"ingest": ingest.as_dict(), "validate": validate.as_dict()},
        "quarantine": quarantine,
    }
    return kept.to_dict("records") if len(kept) else [], summary


def _validate(rows: list[dict], params: dict) -> tuple[pd.DataFrame, list[Rejection]]:
    frame = from_records(rows, CONVERSATION_SCHEMA)
    return validate_batch(frame, int(params["validate"]["max_turn_chars"]))


# --- streaming: one NDJSON line is one record, mapped like a JSONL / OpenAI chat source ------


def stream_record(number: int, line: str) -> dict | Rejection:
    """One stream line to a canonical row (or a rejection naming the line and reason).
    `{"messages": [...]}` is read as OpenAI chat, anything else as `{"id", "turns": [...]}`;
    an optional `source` names where the record came from (part of its conversation id)."""
    ctx = _context(STREAM_SOURCE, STREAM_SOURCE, "0" * 64)
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        return ctx.reject("invalid_json", f"{err.msg} at column {err.colno}", number)
    if isinstance(record, dict) and isinstance(record.get("source"), str) and record["source"]:
        ctx = _context(record["source"][:64], STREAM_SOURCE, "0" * 64)
    chat = isinstance(record, dict) and "messages" in record
    mapping = RecordMapping(turns="messages", text="content", id="id") if chat else RecordMapping(id="id")
    return record_to_item(record, number, mapping, ctx)


class Scorer:
    """The anonymizer, MiniLM and the fitted strategy model, loaded once per worker process."""

    def __init__(self, params: dict, model_path: Path):
        self.params = params
        self.privacy = params["privacy"]
        self.stamp = fingerprint(self.privacy["analyzer"])
        self.max_chars = int(params["validate"]["max_turn_chars"])
        with open(model_path, "rb") as handle:
            self.classifier: StrategyClassifier = pickle.load(handle)["classifier"]
        self.cache = EmbeddingCache()
        load_model()
        _analyzer(self.privacy["analyzer"]["model"], tuple(self.privacy["analyzer"]["entities"]))

    def score(self, rows: list[dict]) -> list[dict]:
        """One result per row, in order: scores of the anonymized conversation, or an error."""
        if not rows:
            return []
        kept, invalid = _validate(rows, self.params)
        errors = {r.conversation_id: (r.reason, r.detail) for r in invalid}
        if len(kept):
            anonymized = anonymize_batch((kept, {}), cfg=self.privacy, fingerprint=self.stamp)
            errors.update({r.conversation_id: (r.reason, r.detail) for r in anonymized.rejections})
            checked, invalid = validate_batch(anonymized.kept, self.max_chars)
            errors.update({r.conversation_id: (r.reason, r.detail) for r in invalid})
            scored = self._scores(checked) if len(checked) else pd.DataFrame()
        else:
            scored = pd.DataFrame()
        by_id = {r["conversation_id"]: r for r in scored.to_dict("records")} if len(scored) else {}
        return [_result(row["conversation_id"], by_id, errors) for row in rows]

    def _scores(self, batch: pd.DataFrame) -> pd.DataFrame:
        vectors, probs = [], []
        for cid, turns in zip(batch["conversation_id"], batch["turns"], strict=True):
            mturns = measurement_turns(turns)
            matrix = self.cache.encode([t.text for t in mturns]) if mturns else np.zeros((0, 384), np.float32)
            helper = [i for i, t in enumerate(mturns) if t.role == "helper"]
            vectors.append(matrix)
            probs.append(self.classifier.probabilities(matrix[helper], [(cid, i) for i in helper]))
        quality = self.params["quality"]
        scored = score_batch((batch, vectors, probs), weights=quality["weights"])
        scored["quality_tier"] = tier_of(scored["quality"], quality["tiers"])
        return scored


SCORE_COLUMNS = (
    *METRICS,
    "quality",
    "safety",
    "safety_reason",
    "crisis_kinds",
    "cssrs_level",
    "quality_tier",
)


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


def fit_scorer(table: Path, output: Path, embeddings: Iterable[Path] = ()) -> dict:
    """Fit the strategy model exactly as the score stage's first pass does, on the same table
    (data/interim/filtered.parquet), so streamed scores match the batch ones."""
    mturns: dict[str, list] = {}
    for batch in read_batches(table, 2000):
        for cid, turns in zip(batch["conversation_id"], batch["turns"], strict=True):
            mturns[cid] = measurement_turns(turns)
    texts = sorted({t.text for turns in mturns.values() for t in turns})
    vector_of = dict(zip(texts, EmbeddingCache(read_only=embeddings).encode(texts), strict=True))
    keys = [
        (c, i)
        for c, turns in mturns.items()
        for i, t in enumerate(turns)
        if t.role == "helper" and t.strategy
    ]
    labels = [mturns[c][i].strategy for c, i in keys]
    classifier = StrategyClassifier().fit(
        np.stack([vector_of[mturns[c][i].text] for c, i in keys]), labels, keys
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    with open(output, "wb") as handle:
        pickle.dump({"classifier": classifier, "table_sha256": sha256_file(table)}, handle)
    return classifier.report


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
    """The data mirror seen by `acquire`: the shared sources (linked) plus the upload."""
    mirror_dir.mkdir(parents=True, exist_ok=True)
    for folder in sorted(shared.iterdir()) if shared and shared.is_dir() else []:
        if not (mirror_dir / folder.name).exists():
            (mirror_dir / folder.name).symlink_to(folder.resolve())
    target = mirror_dir / UPLOAD_SOURCE / upload["filename"]
    target.parent.mkdir(exist_ok=True)
    shutil.copy2(upload["path"], target)
    sources_yaml = workspace / "conf" / "sources" / "shared.yaml"
    sources = yaml.safe_load(sources_yaml.read_text()) or {}
    sources[UPLOAD_SOURCE] = {
        **upload.get("options", {}),
        "location": UPLOAD_SOURCE,
        "url": None,
        "files": {upload["filename"]: sha256_file(target)},
        "read": [upload["filename"]],
        "format": upload["format"],
        "license": "supplied by the API caller",
        "commercial_use": False,
        "consent": False,
        "consent_basis": "declared by the API caller",
        "role_map": {},
        "pseudonymize": [],
    }
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
        "import json,sys; from pixelated.core.config import read_params;"
        "from pixelated.reporting.tracking import log_stage_run;"
        "p=read_params('params.yaml'); a=json.loads(sys.argv[1]);"
        "print(log_stage_run('service_job', p['mlflow'], params=a['params'], metrics=a['metrics'],"
        " inputs=[]))"
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
