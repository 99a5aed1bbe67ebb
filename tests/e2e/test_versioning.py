"""Backup and restore of data versions through real DVC remotes, review and model rollback.

A copy of the session's sample run is v1; v2 is a `dvc exp run -S` of it with a stricter
quality threshold and another split seed, kept as a user keeps an experiment: committed in the
workspace. Each is tagged and backed up to a local directory remote (the repo's default); v1
also to an S3 remote served by moto on 127.0.0.1. Each restore test wipes the DVC cache and
every output first, so everything it gets back came from that remote.
"""

import hashlib
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import mlflow
import pyarrow.parquet as pq
import pytest
import yaml

from pixelated.core.text import DISCLAIMER
from pixelated.versioning.repo import VersioningError, locked_outputs
from pixelated.versioning.review import delta, fmt
from pixelated.versioning.rollback import rollback_model
from tests.e2e.conftest import SAMPLE, copy_run, run_ok, stages_run

S3_CREDENTIALS = {  # moto accepts any; real credentials come from the same variables
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory):
    """moto's S3 server on 127.0.0.1 for this module, with one empty bucket."""
    port = _free_port()
    log = open(tmp_path_factory.mktemp("moto") / "server.log", "w")  # noqa: SIM115 (closed below)
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        boto3.client("s3", endpoint_url=endpoint, **_boto_credentials()).create_bucket(Bucket="pe-backup")
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


def _boto_credentials() -> dict:
    return {
        "aws_access_key_id": S3_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        "region_name": S3_CREDENTIALS["AWS_DEFAULT_REGION"],
    }


def _versioning(root, env, *args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pixelated.versioning.cli", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def _snapshot(root: Path) -> dict[str, str]:
    """md5 of every file under every dvc.lock output in the workspace."""
    files = {}
    for out in locked_outputs(root):
        target = root / out.path
        for path in sorted(target.rglob("*")) if target.is_dir() else [target]:
            if path.is_file():
                files[path.relative_to(root).as_posix()] = hashlib.md5(path.read_bytes()).hexdigest()
    return files


def _wipe(root: Path) -> None:
    """Remove the DVC cache and every output of the pipeline from the workspace."""
    shutil.rmtree(root / ".dvc" / "cache", ignore_errors=True)
    for out in locked_outputs(root):
        target = root / out.path
        shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)


def _run_version(
    root, env, tag: str, run: list[str], remotes: list[list[str]]
) -> tuple[dict[str, str], set[str]]:
    """Run the pipeline with `run`, commit and tag it, back it up to `remotes` (remote options,
    the default last); the workspace's files and the stages `run` ran."""
    ran = stages_run(run_ok(run, root, env))
    run_ok(["git", "add", "-A"], root, env)
    run_ok(["git", "commit", "-qm", tag], root, env)
    run_ok(["git", "tag", tag], root, env)
    for remote in remotes:
        result = _versioning(root, env, "backup", *remote)
        assert result.returncode == 0, result.stderr[-3000:]
    run_ok(["git", "commit", "-qam", f"backup {tag}"], root, env)
    return _snapshot(root), ran


@pytest.fixture(scope="module")
def versions(sample_run, tmp_path_factory, s3_endpoint):
    root, env = copy_run(sample_run, tmp_path_factory.mktemp("versions"))
    env = {**env, **S3_CREDENTIALS}
    run_ok(["dvc", "remote", "add", "--local", "s3", "s3://pe-backup/store"], root, env)
    run_ok(["dvc", "remote", "modify", "--local", "s3", "endpointurl", s3_endpoint], root, env)
    run_ok(["dvc", "remote", "modify", "--local", "s3", "sse", "AES256"], root, env)
    v1, _ = _run_version(root, env, "v1", ["dvc", "repro"], [["--remote", "s3"], []])
    # v2 keeps fewer conversations and reshuffles the splits, so data and model both change: a
    # threshold the kept conversations straddle (about a quarter of them fall below it)
    kept = sorted(pq.read_table(root / "data" / "interim" / "selected.parquet").column("quality").to_pylist())
    overrides = ["-S", f"quality.min_score={kept[len(kept) // 4]}", "-S", "split.seed=7"]
    v2, ran = _run_version(root, env, "v2", ["dvc", "exp", "run", *overrides], [[]])
    assert v1 != v2
    return root, env, {"v1": v1, "v2": v2}, ran


def test_experiment_reruns_only_the_changed_stage_and_downstream(versions):
    """`dvc exp run -S` of a quality param reruns select and what follows it, not the stages
    before it; the params it set reach the stage (it keeps fewer of the same conversations)."""
    root, env, _, ran = versions
    assert ran == {"select", "split", "export", "train", "evaluate", "report"}
    params = yaml.safe_load(run_ok(["git", "show", "v2:params.yaml"], root, env))
    assert params["split"]["seed"] == 7
    ledgers = {
        tag: yaml.safe_load(run_ok(["git", "show", f"{tag}:reports/ledger/select.json"], root, env))
        for tag in ("v1", "v2")
    }
    assert ledgers["v2"]["rows_in"] == ledgers["v1"]["rows_in"]
    assert ledgers["v2"]["rows_out"] < ledgers["v1"]["rows_out"]


# Every version from the default remote; from S3 (the same restore code over another transport,
# and the slowest remote to test against) v1, the version backed up there. After each restore
# the remote holds every object of the restored dvc.lock.
@pytest.mark.parametrize(("remote", "tags"), [("local", ("v1", "v2")), ("s3", ("v1",))])
def test_restore_each_version_from_remote(versions, remote, tags):
    root, env, snapshots, _ = versions
    for tag in tags:
        _wipe(root)
        result = _versioning(root, env, "restore", tag, "--remote", remote)
        assert result.returncode == 0, result.stderr[-3000:]
        assert _snapshot(root) == snapshots[tag]
        assert _versioning(root, env, "verify", "--remote", remote).returncode == 0
    assert "up to date" in run_ok(["dvc", "status", "dvc.yaml"], root, env)


def test_s3_backup_is_encrypted_server_side(versions, s3_endpoint):
    root, _, _, _ = versions
    md5 = _lock_md5(root, "v1", "data/interim/filtered.parquet")
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, **_boto_credentials())
    head = s3.head_object(Bucket="pe-backup", Key=f"store/files/md5/{md5[:2]}/{md5[2:]}")
    assert head["ServerSideEncryption"] == "AES256"


def test_dataset_card_pins_its_version(versions):
    root, env, _, _ = versions
    for tag in ("v1", "v2"):
        card = run_ok(["git", "show", f"{tag}:reports/DATASET_CARD.md"], root, env)
        assert f"| `data/splits` | `{_lock_md5(root, tag, 'data/splits')}` |" in card  # the released data
        assert f"**{DISCLAIMER}**" in card
        assert "| counsel_chat |" in card and "**no (non-commercial)**" in card
        assert f"Sample build: only the first {SAMPLE} conversations of each source were read." in card


def _lock_md5(root, rev: str, path: str) -> str:
    """The md5 dvc.lock records for an output at a revision."""
    lock = yaml.safe_load(
        subprocess.run(
            ["git", "show", f"{rev}:dvc.lock"], cwd=root, capture_output=True, text=True, check=True
        ).stdout
    )
    return next(o["md5"] for s in lock["stages"].values() for o in s.get("outs", []) if o["path"] == path)


def test_damaged_remote_is_reported_and_never_used(versions, tmp_path):
    root, env, _, _ = versions
    damaged = tmp_path / "damaged"
    shutil.copytree(root.parent / "pixelated-dvc-remote", damaged)
    run_ok(["dvc", "remote", "add", "--local", "-f", "damaged", str(damaged)], root, env)
    corrupt = _lock_md5(root, "v1", "data/interim/filtered.parquet")
    missing = _lock_md5(root, "v1", "data/splits")
    corrupt_object = damaged / "files" / "md5" / corrupt[:2] / corrupt[2:]
    corrupt_object.chmod(0o644)
    corrupt_object.write_bytes(corrupt_object.read_bytes()[:-10] + b"0123456789")
    (damaged / "files" / "md5" / missing[:2] / missing[2:]).unlink()

    run_ok(["git", "checkout", "v1", "--", "dvc.lock", "dvc.yaml", "params.yaml"], root, env)
    check = _versioning(root, env, "verify", "--remote", "damaged", "--rehash")
    assert check.returncode == 1
    assert f"corrupted data/interim/filtered.parquet (md5 {corrupt}" in check.stdout
    assert f"missing   data/splits (md5 {missing}" in check.stdout

    _wipe(root)
    result = _versioning(root, env, "restore", "v1", "--remote", "damaged")
    assert result.returncode == 2
    assert "cannot restore v1" in result.stderr
    assert "corrupted data/interim/filtered.parquet" in result.stderr
    assert "missing   data/splits" in result.stderr
    assert not (root / "data" / "interim" / "filtered.parquet").exists()  # the bad copy is not used
    cache_copy = root / ".dvc" / "cache" / "files" / "md5" / corrupt[:2] / corrupt[2:]
    assert not cache_copy.exists()


def _flat(data: dict, prefix: str = "") -> dict:
    """Dotted keys of nested JSON, as `dvc metrics diff` names them."""
    flat = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def test_review_of_two_commits_shows_changed_params_and_metrics(versions, tmp_path):
    root, env, _, _ = versions
    result = _versioning(root, env, "review", "v1", "v2", "--output", str(tmp_path / "review"))
    assert result.returncode == 0, result.stderr[-3000:]
    text = (tmp_path / "review" / "review.md").read_text()
    v1_params, v2_params = (
        yaml.safe_load(run_ok(["git", "show", f"{v}:params.yaml"], root, env)) for v in ("v1", "v2")
    )
    threshold = fmt(v1_params["quality"]["min_score"]), fmt(v2_params["quality"]["min_score"])
    assert "| `quality.min_score` | `{}` | `{}` |".format(*threshold) in text
    # the headline is the only DVC metric: every number of it that changed has a row with its delta
    v1, v2 = (
        _flat(yaml.safe_load(run_ok(["git", "show", f"{v}:reports/headline.json"], root, env)))
        for v in ("v1", "v2")
    )
    changed = [key for key in v2 if v1.get(key) != v2[key]]
    assert changed, "a stricter threshold must change what is kept"
    for key in changed:
        old, new = v1.get(key), v2[key]
        assert f"| `reports/headline.json` | `{key}` | {fmt(old)} | {fmt(new)} | {delta(old, new)} |" in text
    assert "reports/ledger/" not in text.split("## Ledger")[0]  # ledgers are not metrics any more
    old, new = (
        yaml.safe_load(run_ok(["git", "show", f"{v}:reports/ledger/select.json"], root, env))["dropped"]
        for v in ("v1", "v2")
    )
    moved = [reason for reason in new if new[reason] != old.get(reason, 0)]
    assert moved and "| select |" in text
    for reason in moved:
        assert f"{reason}: {old.get(reason, 0)} → {new[reason]}" in text
    # a stricter threshold changes the funnel from ingest to release, so its plot is drawn
    assert (tmp_path / "review" / "plots" / "funnel.png").stat().st_size > 0
    assert "![reports/plots/funnel.csv](plots/funnel.png)" in text


def test_mlflow_store_comes_back_from_backup(versions):
    root, env, _, _ = versions
    (root / "mlflow.db").unlink()
    shutil.rmtree(root / "mlruns")
    result = _versioning(root, env, "restore-mlflow")
    assert result.returncode == 0, result.stderr[-3000:]
    client = mlflow.MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("pixelated-empathy").experiment_id])
    stages = [run.data.tags["stage"] for run in runs]
    assert set(stages) == {"report", "train", "evaluate"}
    assert stages.count("report") == 2  # one report run per version


def test_rollback_points_alias_at_model_trained_on_that_version(versions, tmp_path):
    root, _, _, _ = versions
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = mlflow.MlflowClient(uri)
    experiment = client.create_experiment("models", artifact_location=(tmp_path / "mlruns").as_uri())
    client.create_registered_model("response_selector")
    for tag in ("v1", "v2"):
        run = client.create_run(experiment, tags={"dvc.md5.data/splits": _lock_md5(root, tag, "data/splits")})
        client.create_model_version("response_selector", f"runs:/{run.info.run_id}/model", run.info.run_id)
    assert rollback_model(root, "v1", "response_selector", uri) == 1
    assert client.get_model_version_by_alias("response_selector", "champion").version == 1
    assert rollback_model(root, "v2", "response_selector", uri) == 2
    assert client.get_model_version_by_alias("response_selector", "champion").version == 2
    with pytest.raises(VersioningError, match="no version of model"):
        rollback_model(root, "v2~3", "response_selector", uri)  # the clone's first commit
