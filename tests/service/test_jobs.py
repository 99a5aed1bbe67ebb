"""Jobs through the real worker: status, events, signed webhooks with a retry, and a restart
of the API and the worker in the middle of a job."""

from __future__ import annotations

import io
import json
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pixelated.service import webhooks

JOB = {"target": "validate", "overrides": {"ingest.max_per_source": 3}}
UPLOAD = '{"id": "u1", "turns": [{"role": "seeker", "text": "hi"}, {"role": "helper", "text": "hello"}]}\n'


class Receiver(ThreadingHTTPServer):
    """A webhook receiver as a customer would write it: verify, then dedupe on webhook-id.
    It fails the first delivery with a 500, so the sender must retry."""

    def __init__(self):
        self.secrets: list[str] = []
        self.received: list[tuple[dict, dict, bool]] = []
        super().__init__(("127.0.0.1", 0), self._handler())

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["content-length"]))
                headers = {k.lower(): v for k, v in self.headers.items()}
                valid = webhooks.verify(receiver.secrets, headers, body)
                receiver.received.append((headers, json.loads(body), valid))
                self.send_response(500 if len(receiver.received) == 1 else 204)
                self.end_headers()

            def log_message(self, *args):
                pass

        return Handler


def wait_for(predicate, timeout: float = 180, every: float = 0.5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise TimeoutError


@pytest.fixture
def receiver():
    server = Receiver()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


def submit(client) -> str:
    dataset = client.post("/v1/datasets?format=jsonl&filename=u.jsonl", content=UPLOAD).json()["dataset_id"]
    response = client.post("/v1/jobs", json={"dataset_id": dataset, **JOB})
    assert response.status_code == 202
    return response.json()["job_id"]


@pytest.mark.slow  # three DVC stages, a kill and a restart: over a minute on a shared 2-core box
def test_job_events_webhook_and_restart(service, receiver):
    with service.client(service.admin) as admin:
        assert admin.post(
            "/v1/jobs", json={"dataset_id": "x", "overrides": {"sources.a": 1}}
        ).status_code in (404, 422)
        hook = admin.post(
            "/v1/webhooks", json={"url": f"http://127.0.0.1:{receiver.server_port}/hook"}
        ).json()
        receiver.secrets.append(hook["secret"])
        job_id = submit(admin)

        # kill API and worker as soon as the first stage has finished and the next one runs
        def ingest_running():
            stages = admin.get(f"/v1/jobs/{job_id}").json()["stages"]
            return any(s["status"] == "running" and s["stage"] == "ingest" for s in stages)

        wait_for(ingest_running, every=0.2)
    service.kill()
    service.start(worker=True)
    with service.client(service.admin) as admin:
        job = wait_for(
            lambda: (j := admin.get(f"/v1/jobs/{job_id}").json())["status"] in ("completed", "failed") and j
        )
        assert job["status"] == "completed", job
        assert job["attempts"] == 2
        assert {s["stage"]: s["status"] for s in job["stages"]}["acquire"] in ("skipped", "completed")
        assert job["stages"] and all(
            s["ledger"] for s in job["stages"] if s["stage"] in ("ingest", "validate")
        )
        ndjson = admin.get(f"/v1/jobs/{job_id}/events?format=ndjson").text
        events = [json.loads(line) for line in ndjson.splitlines() if line]
        kinds = [e["kind"] for e in events]
        assert kinds[0] == "queued" and kinds[-1] == "completed" and kinds.count("started") == 2
        second = events[[i for i, e in enumerate(events) if e["kind"] == "started"][1] :]
        assert {"kind": "stage.skipped", "stage": "acquire"} in [
            {"kind": e["kind"], "stage": e.get("stage")} for e in second
        ]  # resumed from the last finished stage, not rerun from the start
        sse = admin.get(f"/v1/jobs/{job_id}/events")
        assert sse.headers["content-type"].startswith("text/event-stream") and "event: completed" in sse.text
    wait_for(lambda: len(receiver.received) >= 2, timeout=60)
    (first, body, valid_first), (second, body2, valid_second) = receiver.received[:2]
    assert valid_first and valid_second and first["webhook-id"] == second["webhook-id"]  # retried, same id
    assert body == body2 and body["type"] == "job.completed" and body["data"]["job_id"] == job_id
    assert "turns" not in json.dumps(body) and "hello" not in json.dumps(body)  # thin payload
    assert not webhooks.verify(["whsec_" + "A" * 32], first, json.dumps(body).encode())


def test_ssrf_guard_and_rotation(service):
    with service.client(service.admin) as admin:
        for url in ("http://169.254.169.254/latest", "http://example.com/x", "file:///etc/passwd",
                    "http://user:pw@127.0.0.1/x"):  # fmt: skip
            assert admin.post("/v1/webhooks", json={"url": url}).status_code == 422, url
        hook = admin.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/x"}).json()
        rotated = admin.post(f"/v1/webhooks/{hook['id']}/rotate").json()
        assert rotated["secret"] != hook["secret"]
        assert admin.delete(f"/v1/webhooks/{hook['id']}").status_code == 204


@pytest.mark.slow  # the whole pipeline to `export` on a small sample
def test_export_job_artifacts(service):
    with service.client(service.admin) as admin:
        dataset = admin.post("/v1/datasets?format=jsonl&filename=u.jsonl", content=UPLOAD).json()
        job_id = admin.post(
            "/v1/jobs",
            json={
                "dataset_id": dataset["dataset_id"],
                "target": "export",
                "overrides": {"ingest.max_per_source": 8},
            },
        ).json()["job_id"]
        assert admin.get(f"/v1/jobs/{job_id}/artifacts/jsonl").status_code == 409  # not finished yet
        job = wait_for(
            lambda: (j := admin.get(f"/v1/jobs/{job_id}").json())["status"] in ("completed", "failed") and j,
            timeout=1800,
            every=2,
        )
        assert job["status"] == "completed", job
        assert job["metrics"]["mlflow_run_id"]  # recorded in MLflow like a `dvc repro` run
        response = admin.get(f"/v1/jobs/{job_id}/artifacts/jsonl")
        assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
        names = zipfile.ZipFile(io.BytesIO(response.content)).namelist()
        assert {"train.jsonl", "validation.jsonl", "test.jsonl", "VERSION.json"} <= set(names), names
        assert admin.get(f"/v1/jobs/{job_id}/artifacts/nope").status_code == 404
