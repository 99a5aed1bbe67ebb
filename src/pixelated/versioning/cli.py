"""Data versions: backup, verify, restore, review and model rollback.

A data version is a git revision. Its `dvc.lock` names every output by content hash, so
backing up means pushing those objects to a DVC remote, and restoring means checking out the
revision's pipeline files and pulling the objects it names. DVC does the transfers; this
module adds what it leaves implicit: an explicit list of what the remote lacks, a re-hash of
every object before it is used (a corrupted object is an error, never silently checked out),
a markdown review of two versions for pull requests, and pointing the MLflow registered model
back at the version trained on a given data version.

CLI: `python -m pixelated.versioning.cli {backup,verify,restore,restore-mlflow,review,rollback}`.
Remote credentials come from the environment only (for S3: AWS_ACCESS_KEY_ID, ...).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from pixelated.core.hashing import stream_digest
from pixelated.reporting.summary import markdown_table

log = logging.getLogger(__name__)

LOCK = "dvc.lock"
# What defines a data version besides its outputs: restored together with them.
PIPELINE_FILES = ("dvc.yaml", "dvc.lock", "params.yaml", "conf")
MLFLOW_BACKUP = "mlflow-backup"
DEFAULT_ALIAS = "champion"


class VersioningError(RuntimeError):
    """A backup, restore or rollback cannot be completed; the message says what is wrong."""


@dataclass(frozen=True)
class LockedOut:
    """One output as dvc.lock records it; `cached` outputs live in the DVC cache and remote,
    the others (small reports, `cache: false`) in git."""

    path: str
    md5: str
    cached: bool

    @property
    def is_dir(self) -> bool:
        return self.md5.endswith(".dir")


@dataclass
class ObjectReport:
    """What a check of remote or cache objects found, per output path."""

    checked: int = 0
    missing: list[tuple[str, str]] = field(default_factory=list)
    corrupted: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing and not self.corrupted

    def describe(self, where: str) -> str:
        lines = [f"{len(self.missing)} missing and {len(self.corrupted)} corrupted objects {where}:"]
        lines += [f"  missing   {path} (md5 {oid})" for path, oid in self.missing]
        lines += [
            f"  corrupted {path} (md5 {oid}: content does not hash to it)" for path, oid in self.corrupted
        ]
        return "\n".join(lines)


def _git(root: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise VersioningError(f"git {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def resolve(root: Path, rev: str) -> str:
    """The commit a revision or tag names; a clear error for an unknown one."""
    try:
        return _git(root, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}").strip()
    except VersioningError:
        raise VersioningError(f"unknown revision {rev!r}") from None


def _open_repo(root: Path):
    from dvc.repo import Repo

    return Repo(str(root))


def locked_outputs(root: Path, pointers: bool = False) -> list[LockedOut]:
    """Every output in the workspace's dvc.lock; with `pointers`, also those of `.dvc` files
    (the MLflow backup), which are not part of a data version."""
    with _open_repo(root) as repo:
        outs = [
            LockedOut(str(out.def_path), out.hash_info.value, bool(out.use_cache))
            for out in repo.index.outs
            if out.hash_info and out.hash_info.value and (pointers or not out.stage.is_data_source)
        ]
    return sorted(outs, key=lambda out: out.path)


def _pipeline_files(repo) -> list[str]:
    """The dvc.yaml files of the pipeline, as fetch/checkout targets (skips `.dvc` pointers)."""
    return sorted({stage.dvcfile.relpath for stage in repo.index.stages if not stage.is_data_source})


def _object_md5(odb, oid: str) -> str | None:
    """The md5 of an object's bytes as stored (a `.dir` object hashes to its oid without suffix)."""
    try:
        with odb.fs.open(odb.oid_to_path(oid), "rb") as handle:
            return stream_digest(handle)
    except FileNotFoundError:
        return None


def _intact(odb, oid: str) -> bool | None:
    """True when stored and intact, False when stored but corrupted, None when absent."""
    digest = _object_md5(odb, oid)
    return None if digest is None else digest == oid.removesuffix(".dir")


def _tree_entries(odbs: list, oid: str) -> list[tuple[str, str]] | None:
    """(relative path, md5) of every file in a directory object, read from the first intact copy."""
    from dvc_data.hashfile.hash_info import HashInfo
    from dvc_data.hashfile.tree import Tree

    for odb in odbs:
        if _intact(odb, oid):
            tree = Tree.load(odb, HashInfo("md5", oid))
            return sorted(("/".join(key), hash_info.value) for key, _, hash_info in tree)
    return None


def _objects(outs: Iterable[LockedOut], odbs: list) -> list[tuple[str, str]]:
    """(workspace path, oid) of every object the cached outputs need; a directory's files
    are listed when its manifest can be read, otherwise only the manifest itself."""
    objects = []
    for out in outs:
        if not out.cached:
            continue
        objects.append((out.path, out.md5))
        if out.is_dir:
            entries = _tree_entries(odbs, out.md5) or []
            objects += [(f"{out.path}/{name}", oid) for name, oid in entries]
    return objects


def check_objects(odb, objects: list[tuple[str, str]], rehash: bool) -> ObjectReport:
    """Which objects `odb` lacks and, with `rehash`, which it holds with the wrong content."""
    report = ObjectReport()
    oids = sorted({oid for _, oid in objects})
    # A listing, not odb.oids_exist: for a local remote that verifies (and deletes) objects.
    present = set(odb.all()) if not rehash else set()
    state = {oid: (_intact(odb, oid) if rehash else (True if oid in present else None)) for oid in oids}
    for path, oid in objects:
        report.checked += 1
        if state[oid] is None:
            report.missing.append((path, oid))
        elif state[oid] is False:
            report.corrupted.append((path, oid))
    return report


def _remote_odb(repo, remote: str | None):
    try:
        return repo.cloud.get_remote_odb(remote)
    except Exception as error:  # DVC raises several config errors; all mean "no such remote"
        raise VersioningError(f"DVC remote {remote or '(default)'}: {error}") from error


def verify(
    root: Path, remote: str | None = None, rehash: bool = False, pointers: bool = False
) -> ObjectReport:
    """Check that every object dvc.lock names (and with `pointers`, every `.dvc` file) is in
    the remote; `rehash` downloads and re-hashes each one too."""
    outs = locked_outputs(root, pointers)
    with _open_repo(root) as repo:
        odb = _remote_odb(repo, remote)
        objects = _objects(outs, [repo.cache.local, odb])
        return check_objects(odb, objects, rehash)


def backup(root: Path, remote: str | None = None) -> ObjectReport:
    """Push every dvc.lock output and a snapshot of the MLflow store, then verify the remote."""
    snapshot = snapshot_mlflow(root)
    with _open_repo(root) as repo:
        if snapshot is not None:
            repo.add([str(snapshot)])
        pushed = repo.push(remote=remote)
    log.info("pushed %d objects to %s", pushed, remote or "the default remote")
    report = verify(root, remote, pointers=True)
    if not report.ok:
        raise VersioningError(report.describe("in the remote after push"))
    return report


def _mlflow_paths(root: Path) -> tuple[Path, Path]:
    """The sqlite file and artifact folder the pipeline's MLflow config points at."""
    params = yaml.safe_load((root / "params.yaml").read_text()) or {}
    cfg = params.get("mlflow", {})
    uri = cfg.get("tracking_uri", "sqlite:///mlflow.db")
    if not uri.startswith("sqlite:///"):
        raise VersioningError(f"MLflow backup supports sqlite tracking URIs, not {uri}")
    return root / uri.removeprefix("sqlite:///"), root / cfg.get("artifact_location", "mlruns")


def snapshot_mlflow(root: Path) -> Path | None:
    """A consistent copy of the MLflow store under mlflow-backup/ (sqlite's online backup,
    so a run being logged meanwhile cannot tear it); None when there is no store yet."""
    db, artifacts = _mlflow_paths(root)
    if not db.is_file():
        return None
    target = root / MLFLOW_BACKUP
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir()
    with closing(sqlite3.connect(db)) as source, closing(sqlite3.connect(target / db.name)) as copy:
        source.backup(copy)
    if artifacts.is_dir():
        shutil.copytree(artifacts, target / artifacts.name)
    return target.relative_to(root)


def restore_mlflow(root: Path, remote: str | None = None, force: bool = False) -> Path:
    """Bring the MLflow store back from the last backup (mlflow-backup.dvc)."""
    pointer = root / f"{MLFLOW_BACKUP}.dvc"
    if not pointer.is_file():
        raise VersioningError(f"no {pointer.name}: run a backup first")
    db, artifacts = _mlflow_paths(root)
    if db.exists() and not force:
        raise VersioningError(f"{db.name} exists; pass --force to replace it with the backup")
    with _open_repo(root) as repo:
        repo.pull([str(pointer)], remote=remote)
    source = root / MLFLOW_BACKUP
    shutil.copyfile(source / db.name, db)
    if (source / artifacts.name).is_dir():
        shutil.rmtree(artifacts, ignore_errors=True)
        shutil.copytree(source / artifacts.name, artifacts)
    return db


def _diagnose(odb, fetched: ObjectReport, claimed: set[str], remote: str | None) -> str:
    """Why objects did not arrive intact: absent from the remote, corrupted there (DVC may
    already have dropped it after its own hash check), or a transfer that failed."""
    bad = ObjectReport()
    retry = []
    for path, oid in fetched.missing + fetched.corrupted:
        if oid not in claimed:
            bad.missing.append((path, oid))
        elif _intact(odb, oid):
            retry.append(path)
        else:
            bad.corrupted.append((path, oid))
    lines = [bad.describe(f"in remote {remote or '(default)'}")]
    if bad.corrupted:
        lines.append(
            "(corrupted: the remote holds it, but its content does not hash to its md5; "
            "nothing was checked out from it)"
        )
    if retry:
        lines.append(f"intact in the remote but not fetched (transfer failed, retry): {', '.join(retry)}")
    return "\n".join(lines)


def _drop_corrupted(cache, report: ObjectReport) -> None:
    """Delete corrupted copies from the local cache, so nothing is ever checked out from them."""
    for _, oid in report.corrupted:
        cache.fs.remove(cache.oid_to_path(oid))


def _tracked_at(root: Path, commit: str, paths: Iterable[str]) -> list[str]:
    listed = _git(root, "ls-tree", "-r", "--name-only", commit, "--", *paths).splitlines()
    return [path for path in paths if any(name == path or name.startswith(f"{path}/") for name in listed)]


def workspace_report(root: Path, outs: list[LockedOut]) -> ObjectReport:
    """Re-hash every restored file against dvc.lock (directories file by file)."""
    report = ObjectReport()
    with _open_repo(root) as repo:
        cache = repo.cache.local
    for out in outs:
        expected = [(out.path, out.md5)]
        if out.is_dir:
            entries = _tree_entries([cache], out.md5)
            expected = [(f"{out.path}/{name}", oid) for name, oid in entries or []]
        for path, oid in expected:
            report.checked += 1
            target = root / path
            if not target.is_file():
                report.missing.append((path, oid))
                continue
            with open(target, "rb") as handle:
                if stream_digest(handle) != oid:
                    report.corrupted.append((path, oid))
    return report


def restore(root: Path, rev: str, remote: str | None = None) -> ObjectReport:
    """Restore the data version `rev` (a commit or tag) into the workspace.

    Its pipeline files and git-tracked reports come from git; its cached outputs are fetched
    from the remote, every object is re-hashed before checkout, and the workspace is re-hashed
    after. Anything the remote lacks or holds corrupted stops the restore with a list of paths.
    """
    commit = resolve(root, rev)
    _git(root, "checkout", commit, "--", *_tracked_at(root, commit, PIPELINE_FILES))
    outs = locked_outputs(root)
    in_git = [out.path for out in outs if not out.cached]
    if in_git:
        found = _tracked_at(root, commit, in_git)
        absent = sorted(set(in_git) - set(found))
        if absent:
            raise VersioningError(f"{rev}: not in git at that revision: {', '.join(absent)}")
        _git(root, "checkout", commit, "--", *found)

    from dvc.exceptions import DvcException

    with _open_repo(root) as repo:
        odb, cache = _remote_odb(repo, remote), repo.cache.local
        objects = _objects(outs, [cache, odb])
        _drop_corrupted(cache, check_objects(cache, objects, rehash=True))
        # DVC drops an object that fails its hash check on download (even from the remote),
        # so note beforehand which of the objects to fetch the remote claims to hold.
        claimed = {oid for _, oid in objects} - {oid for _, oid in check_objects(odb, objects, False).missing}
        try:
            repo.fetch(targets=_pipeline_files(repo), remote=remote)
        except DvcException as error:  # diagnosed object by object below
            log.warning("fetch incomplete: %s", error)
        fetched = check_objects(cache, _objects(outs, [cache, odb]), rehash=True)
        _drop_corrupted(cache, fetched)
        if not fetched.ok:
            raise VersioningError(f"cannot restore {rev}: " + _diagnose(odb, fetched, claimed, remote))
        repo.checkout(targets=_pipeline_files(repo), force=True)
    report = workspace_report(root, outs)
    if not report.ok:
        raise VersioningError(report.describe(f"in the workspace after restoring {rev}"))
    log.info("restored %s (%s): %d files match dvc.lock", rev, commit[:12], report.checked)
    return report


# --- review ---------------------------------------------------------------------------------


def _read_at(root: Path, path: str, rev: str | None) -> str | None:
    """A file's text in the workspace (rev None) or at a revision, git- or DVC-tracked."""
    if rev is None:
        target = root / path
        return target.read_text() if target.is_file() else None
    import dvc.api

    try:
        return dvc.api.read(path, repo=str(root), rev=rev)
    except Exception:  # absent at that revision (a new output), or not fetchable
        return None


def _metrics_at(root: Path, revs: list[str]) -> dict[str, dict[str, dict]]:
    """{rev: {metrics file: data}} for the given revisions ('workspace' for the working tree)."""
    with _open_repo(root) as repo:
        shown = repo.metrics.show(revs=[r for r in revs if r != "workspace"])
    return {
        rev: {path: entry.get("data", {}) for path, entry in shown.get(rev, {}).get("data", {}).items()}
        for rev in revs
    }


def _is_ledger(data: dict) -> bool:
    return {"rows_in", "rows_out", "stage"} <= set(data)


def _pipeline_position(ledger_pair: tuple[dict, dict], stage_order: list[str], path: str) -> tuple:
    """Sort key: ledgers in dvc.yaml stage order, unknown stages last by path."""
    stage = ledger_pair[1].get("stage") or ledger_pair[0].get("stage")
    return (stage_order.index(stage) if stage in stage_order else len(stage_order), path)


def _fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _delta(old, new) -> str:
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (old, new)):
        return ""
    change = new - old
    text = f"{change:+.4g}" if isinstance(change, float) else f"{change:+d}"
    return text + (f" ({change / old:+.1%})" if old else "")


def _plot_definitions(root: Path) -> list[dict]:
    """Plots declared in dvc.yaml (per-stage `plots:` and top-level), with x, y and title."""
    spec = yaml.safe_load((root / "dvc.yaml").read_text()) or {}
    entries = [item for stage in spec.get("stages", {}).values() for item in stage.get("plots", [])]
    entries += spec.get("plots", []) or []
    plots = []
    for item in entries:
        path, props = (item, {}) if isinstance(item, str) else next(iter(item.items()))
        plots.append({"path": path, **(props or {})})
    return plots


def _plot_rows(text: str | None, path: str) -> list[dict]:
    if text is None:
        return []
    if path.endswith((".csv", ".tsv")):
        return list(csv.DictReader(io.StringIO(text), delimiter="\t" if path.endswith(".tsv") else ","))
    data = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
    return data if isinstance(data, list) else next((v for v in data.values() if isinstance(v, list)), [])


def _draw(plot: dict, series: dict[str, list[dict]], target: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    for label, rows in series.items():
        x_key = plot.get("x") or next(iter(rows[0]))
        y_key = plot.get("y") or list(rows[0])[-1]
        ax.plot([float(r[x_key]) for r in rows], [float(r[y_key]) for r in rows], marker=".", label=label)
        ax.set_xlabel(x_key)
        ax.set_ylabel(y_key)
    ax.set_title(plot.get("title", plot["path"]))
    ax.legend()
    fig.tight_layout()
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, dpi=90, metadata={"Software": None})
    plt.close(fig)


def review(root: Path, base: str, rev: str | None, output: Path, image_base: str = "") -> Path:
    """Write `output`/review.md comparing `rev` (or the workspace) with `base`, plots as PNGs
    beside it: params and metrics that changed (with deltas), rows kept and dropped per stage.

    `image_base` prefixes image links, for a comment whose images are hosted elsewhere (CI)."""
    base_commit = resolve(root, base)
    new_label = "workspace" if rev is None else rev
    new_key = "workspace" if rev is None else resolve(root, rev)
    with _open_repo(root) as repo:
        against = {} if rev is None else {"b_rev": new_key}  # no b_rev: the workspace
        params = repo.params.diff(a_rev=base_commit, **against)
        metrics = repo.metrics.diff(a_rev=base_commit, **against)
    shown = _metrics_at(root, [base_commit, new_key])
    old_metrics, new_metrics = shown[base_commit], shown[new_key]
    stage_order = list((yaml.safe_load((root / "dvc.yaml").read_text()) or {}).get("stages", {}))
    ledgers = {
        path: (old_metrics.get(path) or {}, new_metrics.get(path) or {})
        for path in set(old_metrics) | set(new_metrics)
        if _is_ledger(new_metrics.get(path) or old_metrics.get(path))
    }
    ledger_paths = sorted(ledgers, key=lambda path: _pipeline_position(ledgers[path], stage_order, path))

    lines = [
        f"# Pipeline review: `{base}` → `{new_label}`",
        "",
        f"Base `{base_commit[:12]}`, compared with " + (f"`{new_key[:12]}`." if rev else "the working tree."),
        "",
        "## Params changed",
        "",
    ]
    param_rows = [
        [f"`{name}`", f"`{_fmt(v.get('old'))}`", f"`{_fmt(v.get('new'))}`"]
        for path, changes in sorted(params.get("diff", params).items())
        for name, v in sorted(changes.items())
    ]
    lines += markdown_table(["param", base, new_label], param_rows) if param_rows else ["No param changed."]

    lines += ["", "## Metrics changed", ""]
    metric_rows = [
        [f"`{path}`", f"`{name}`", _fmt(v.get("old")), _fmt(v.get("new")), _delta(v.get("old"), v.get("new"))]
        for path, changes in sorted(metrics.get("diff", metrics).items())
        if path not in ledger_paths
        for name, v in sorted(changes.items())
    ]
    lines += (
        markdown_table(["file", "metric", base, new_label, "Δ"], metric_rows)
        if metric_rows
        else ["No metric changed."]
    )

    lines += ["", "## Ledger: rows kept and dropped per stage", ""]
    ledger_rows = []
    for path in ledger_paths:
        old, new = ledgers[path]
        stage = new.get("stage") or old.get("stage")
        cells = [
            _fmt(new.get(k))
            if old.get(k) == new.get(k)
            else f"{_fmt(old.get(k))} → {_fmt(new.get(k))} {_delta(old.get(k), new.get(k))}".strip()
            for k in ("rows_in", "rows_out", "rows_dropped")
        ]
        reasons = sorted(set(old.get("dropped", {})) | set(new.get("dropped", {})))
        changed = [
            f"{r}: {_fmt(old.get('dropped', {}).get(r, 0))} → {_fmt(new.get('dropped', {}).get(r, 0))}"
            for r in reasons
            if old.get("dropped", {}).get(r, 0) != new.get("dropped", {}).get(r, 0)
        ]
        ledger_rows.append([stage, *cells, "; ".join(changed) or "–"])
    lines += (
        markdown_table(["stage", "rows in", "rows out", "dropped", "drop reasons changed"], ledger_rows)
        if ledger_rows
        else ["No ledgers."]
    )

    lines += ["", "## Plots", ""]
    unchanged = []
    for plot in _plot_definitions(root):
        old_text, new_text = _read_at(root, plot["path"], base_commit), _read_at(root, plot["path"], rev)
        if old_text == new_text:
            unchanged.append(plot["path"])
            continue
        series = {
            label: rows
            for label, rows in (
                (base, _plot_rows(old_text, plot["path"])),
                (new_label, _plot_rows(new_text, plot["path"])),
            )
            if rows
        }
        image = Path("plots") / (Path(plot["path"]).stem + ".png")
        _draw(plot, series, output / image)
        lines += [
            f"### {plot.get('title', plot['path'])}",
            "",
            f"![{plot['path']}]({image_base}{image.as_posix()})",
            "",
        ]
    if unchanged:
        lines += [f"Unchanged: {', '.join(f'`{p}`' for p in unchanged)}.", ""]
    output.mkdir(parents=True, exist_ok=True)
    target = output / "review.md"
    target.write_text("\n".join(lines).rstrip() + "\n")
    return target


# --- model rollback -------------------------------------------------------------------------


def _lock_hashes(root: Path, commit: str) -> dict[str, str]:
    """path -> md5 of every dependency and output in dvc.lock at `commit`."""
    lock = yaml.safe_load(_git(root, "show", f"{commit}:{LOCK}")) or {}
    hashes = {}
    for stage in lock.get("stages", {}).values():
        for entry in [*stage.get("deps", []), *stage.get("outs", [])]:
            if "md5" in entry:
                hashes[entry["path"]] = entry["md5"]
    return hashes


def rollback_model(root: Path, rev: str, model: str, tracking_uri: str, alias: str = DEFAULT_ALIAS) -> int:
    """Point `model@alias` at the newest registered version trained on data version `rev`.

    A version matches when every `dvc.md5.<path>` tag of its run equals that path's hash in
    `rev`'s dvc.lock; runs without such tags match on their git commit.
    """
    from mlflow import MlflowClient

    commit = resolve(root, rev)
    hashes = _lock_hashes(root, commit)
    client = MlflowClient(tracking_uri)
    matches = []
    for version in client.search_model_versions(f"name = '{model}'"):
        tags = client.get_run(version.run_id).data.tags if version.run_id else {}
        data_tags = {k.removeprefix("dvc.md5."): v for k, v in tags.items() if k.startswith("dvc.md5.")}
        if data_tags:
            matched = all(hashes.get(path) == md5 for path, md5 in data_tags.items())
        else:
            matched = tags.get("git_commit") == commit
        if matched:
            matches.append(int(version.version))
    if not matches:
        raise VersioningError(f"no version of model {model!r} was trained on {rev} ({commit[:12]})")
    chosen = max(matches)
    client.set_registered_model_alias(model, alias, str(chosen))
    log.info("%s@%s -> version %d (data version %s)", model, alias, chosen, rev)
    return chosen


# --- CLI ------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pixelated.versioning.cli", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--root", type=Path, default=Path("."), help="repository root")
    commands = parser.add_subparsers(dest="command", required=True)
    remote_help = "DVC remote name (default: the repo's default remote)"
    sub = commands.add_parser("backup", help="push dvc.lock outputs and the MLflow store; verify")
    sub.add_argument("--remote", help=remote_help)
    sub = commands.add_parser("verify", help="report dvc.lock objects missing from the remote")
    sub.add_argument("--remote", help=remote_help)
    sub.add_argument("--rehash", action="store_true", help="also download and re-hash every object")
    sub = commands.add_parser("restore", help="restore a data version (git revision or tag)")
    sub.add_argument("rev")
    sub.add_argument("--remote", help=remote_help)
    sub = commands.add_parser("restore-mlflow", help="restore the MLflow store from the last backup")
    sub.add_argument("--remote", help=remote_help)
    sub.add_argument("--force", action="store_true")
    sub = commands.add_parser("review", help="markdown diff of params, metrics, ledgers and plots")
    sub.add_argument("base")
    sub.add_argument("rev", nargs="?", help="revision to compare (default: the workspace)")
    sub.add_argument("--output", type=Path, default=Path("review"))
    sub.add_argument("--image-base", default="", help="URL prefix for plot images (PR comments)")
    sub = commands.add_parser("rollback", help="point the registered model's alias at a data version")
    sub.add_argument("rev")
    sub.add_argument("--model", required=True, help="registered model name")
    sub.add_argument("--alias", default=DEFAULT_ALIAS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    root = args.root.resolve()
    try:
        if args.command == "backup":
            report = backup(root, args.remote)
            print(f"backup complete: {report.checked} objects verified in the remote")
        elif args.command == "verify":
            report = verify(root, args.remote, args.rehash)
            if not report.ok:
                print(report.describe("in the remote"))
                return 1
            print(f"remote holds all {report.checked} objects named in dvc.lock")
        elif args.command == "restore":
            report = restore(root, args.rev, args.remote)
            print(f"restored {args.rev}: {report.checked} files match its dvc.lock")
        elif args.command == "restore-mlflow":
            print(f"restored {restore_mlflow(root, args.remote, args.force)}")
        elif args.command == "review":
            print(review(root, args.base, args.rev, args.output, args.image_base))
        elif args.command == "rollback":
            tracking_uri = f"sqlite:///{_mlflow_paths(root)[0]}"
            version = rollback_model(root, args.rev, args.model, tracking_uri, args.alias)
            print(f"{args.model}@{args.alias} -> version {version}")
    except VersioningError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
