"""The real service under uvicorn on 127.0.0.1 (a free port), driven with httpx; nothing is
mocked at the HTTP layer. The /v1/score model is fitted once on a few ESConv dialogues read
from the shared mirror by the same reader the pipeline uses."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tests.paths import REPO, SHARED_DATA

REFERENCE_CONVERSATIONS = 5  # the fewest GroupKFold(5) accepts: embedding is the cost
# the shared mirror; PE_DATA_MIRROR wins (as for acquire), e.g. in a worktree outside the repo's parent
SHARED_DATA = Path(os.environ.get("PE_DATA_MIRROR") or SHARED_DATA)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def service_env(home: Path, scorers: Path | None = None, **extra: str) -> dict:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO / "src") + os.pathsep + str(REPO),
        "PE_SERVICE_HOME": str(home),
        "PE_SERVICE_REPO": str(REPO),
        "PE_SERVICE_SCORERS": str(scorers or home / "no-scorers"),
        "PE_SERVICE_JOB_LEASE_S": "3",
        "PE_SERVICE_EMBEDDINGS": "",  # no turn-vector cache: every text is embedded
        "PE_DATA_MIRROR": str(SHARED_DATA),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    env.update({f"PE_SERVICE_{k.upper()}": v for k, v in extra.items()})
    return env


class Service:
    """An API process (and optionally a worker) started as the README says."""

    def __init__(self, env: dict):
        self.env = env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.procs: dict[str, subprocess.Popen] = {}

    def cli(self, *args: str) -> str:
        result = subprocess.run([sys.executable, "-m", "pixelated.service", *args], env=self.env,
                                cwd=REPO, capture_output=True, text=True, check=True)  # fmt: skip
        return result.stdout

    def key(self, scopes: str, name: str = "test") -> str:
        return json.loads(self.cli("create-key", "--name", name, "--scopes", scopes))["token"]

    def start(self, worker: bool = False) -> Service:
        self._spawn("api", "serve", "--port", str(self.port))
        if worker:
            self._spawn("worker", "worker")
        self.wait("/health")
        return self

    def _spawn(self, name: str, *args: str) -> None:
        Path(self.env["PE_SERVICE_HOME"]).mkdir(parents=True, exist_ok=True)
        with open(Path(self.env["PE_SERVICE_HOME"]) / f"{name}.log", "ab") as log:
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", "pixelated.service", *args],
                env=self.env,
                cwd=REPO,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )

    def wait(self, path: str, timeout: float = 120) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if httpx.get(self.url + path, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise TimeoutError(f"{path} not 200 after {timeout}s")

    def kill(self) -> None:
        """SIGKILL each process group (a crash, not a shutdown: dvc children die too)."""
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.procs.clear()

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=120)


def esconv_rows(n: int, folder: Path) -> list[dict]:
    """The first `n` ESConv dialogues (strategy-labelled) as canonical rows, read by the ingest
    and validate stages as an upload would be."""
    import pyarrow.parquet as pq

    from pixelated.service import engine

    cfg = yaml.safe_load((REPO / "conf" / "sources" / "shared.yaml").read_text())["esconv_multiesc"]
    lines = (SHARED_DATA / cfg["location"] / "valid.txt").read_text().splitlines()[:n]
    path = engine.upload_path(folder, "esconv.jsonl")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    source = engine.upload_source("jsonl", path.name, "0" * 64, {"mapping": cfg["mapping"]})
    engine.read_upload(folder, source, engine.load_params(REPO))
    return pq.read_table(engine.validated(folder)).to_pylist()


@pytest.fixture(scope="session")
def esconv(tmp_path_factory) -> list[dict]:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data mirror not found at {SHARED_DATA}")
    return esconv_rows(REFERENCE_CONVERSATIONS, tmp_path_factory.mktemp("esconv"))


@pytest.fixture(scope="session")
def scorer_model(tmp_path_factory) -> Path:
    """A trained scorer folder as `train_scorers` writes it (tiny models)."""
    from tests.scorers import tiny_scorers

    return tiny_scorers(tmp_path_factory.mktemp("scorers"))


@pytest.fixture(scope="module")
def service(tmp_path_factory, scorer_model):
    """API + worker; webhooks to loopback allowed (tests only), fast retries."""
    home = tmp_path_factory.mktemp("svc")
    env = service_env(home, scorer_model, max_body_bytes=str(2_000_000), webhook_hosts="127.0.0.1",
                      webhook_allow_private="1", webhook_backoff_s="0.3")  # fmt: skip
    svc = Service(env)
    svc.admin = svc.key("admin", "admin")
    svc.start(worker=True)
    svc.wait("/ready")
    yield svc
    svc.kill()
