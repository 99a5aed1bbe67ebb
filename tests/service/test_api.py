"""Endpoints, auth failures, limits and the scoring stream, against the running service."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.service.conftest import Service, service_env


@pytest.fixture(scope="module")
def keys(service):
    return {scope: service.key(scope, scope) for scope in ("score", "submit", "read")}


def test_health_ready_metrics(service, keys):
    assert httpx.get(service.url + "/health").json() == {"status": "ok"}
    ready = httpx.get(service.url + "/ready").json()
    assert ready["models_loaded"] and ready["queue_reachable"] and ready["keys_configured"]
    with service.client(keys["read"]) as client:
        text = client.get("/metrics").text
    for series in (
        "pe_requests_total",
        "pe_request_seconds_bucket",
        "pe_queue_depth",
        "pe_conversations_processed",
    ):
        assert series in text


@pytest.mark.parametrize(
    ("headers", "query", "status"),
    [
        ({}, "", 401),  # no key
        ({"Authorization": "Bearer pe_nosuchid_wrongsecret"}, "", 401),  # wrong key
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "", 401),  # not a Bearer key
        ({}, "?api_key=pe_x_y", 401),  # key in the query string
    ],
)
def test_auth_failures(service, headers, query, status):
    response = httpx.get(f"{service.url}/v1/jobs/job_x{query}", headers=headers)
    assert response.status_code == status


def test_key_in_query_string_is_refused_even_when_valid(service, keys):
    response = httpx.get(f"{service.url}/metrics?token={keys['read']}")
    assert response.status_code == 401
    log = Path(service.env["PE_SERVICE_HOME"]) / "api.log"
    assert keys["read"] not in log.read_text()  # never logged


def test_scopes_and_revocation(service, keys):
    with service.client(keys["read"]) as reader:
        assert reader.post("/v1/score", content=b"").status_code == 403
        assert reader.post("/v1/keys", json={"name": "x", "scopes": ["read"]}).status_code == 403
    with service.client(service.admin) as admin:
        created = admin.post("/v1/keys", json={"name": "temp", "scopes": ["read"]}).json()
        assert "hash" not in created and created["token"].startswith("pe_")
        listed = admin.get("/v1/keys").json()
        assert all("token" not in row and "hash" not in row for row in listed)
        with service.client(created["token"]) as temp:
            assert temp.get("/metrics").status_code == 200
            assert admin.delete(f"/v1/keys/{created['id']}").status_code == 204
            assert temp.get("/metrics").status_code == 401  # revoked


def test_body_limit_413(service, keys):
    with service.client(keys["submit"]) as client:
        response = client.post("/v1/datasets", content=b"x" * 2_100_000)
    assert response.status_code == 413


def test_upload_counts_and_quarantine(service, keys):
    good = {
        "id": "a",
        "turns": [{"role": "seeker", "text": "I feel low."}, {"role": "helper", "text": "I hear you."}],
    }
    body = "\n".join([json.dumps(good), "{not json", json.dumps({"id": "b", "turns": "nope"}),
                      json.dumps({"id": "c", "turns": [{"role": "seeker", "text": ""}]})]) + "\n"  # fmt: skip
    with service.client(keys["submit"]) as client:
        result = client.post("/v1/datasets?format=jsonl&filename=mine.jsonl", content=body).json()
    assert result["ledger"]["ingest"]["rows_in"] == 4 and result["ledger"]["ingest"]["rows_out"] == 2
    assert result["ledger"]["validate"]["rows_out"] == 1
    where = {(q["source_file"], q["source_line"], q["reason"]) for q in result["quarantine"]}
    assert ("upload/mine.jsonl", 2, "invalid_json") in where and (
        "upload/mine.jsonl",
        3,
        "missing_turns",
    ) in where
    assert all("excerpt" not in q for q in result["quarantine"])


def test_score_stream_with_malformed_record(service, keys, esconv):
    rows = esconv[:3]
    lines = [
        json.dumps(
            {
                "id": r["source_record_id"],
                "turns": [{"role": t["role"], "text": t["text"]} for t in r["turns"]],
            }
        )
        for r in rows
    ]
    lines.insert(1, '{"id": "broken", "turns": 5}')
    chat = [
        {"role": "user", "content": "My name is John Smith and I feel alone."},
        {"role": "assistant", "content": "That sounds hard. I am here for you."},
    ]
    lines.insert(2, json.dumps({"messages": chat}))
    body = "\n".join(lines) + "\n"
    with (
        service.client(keys["score"]) as client,
        client.stream("POST", "/v1/score", content=body) as response,
    ):
        assert response.status_code == 200
        out = [json.loads(line) for line in response.iter_lines() if line]
    assert [o["line"] for o in out] == [1, 2, 3, 4, 5]
    assert out[1]["error"] == "missing_turns"
    scored = [o for o in out if "error" not in o]
    assert len(scored) == 4
    for result in scored:
        assert 0 <= result["quality"] <= 1 and result["quality_tier"] and "crisis_flags" in result
        assert all(0 <= result[m] <= 1 for m in ("coherence", "language_quality", "therapeutic_accuracy"))
    assert "John Smith" not in json.dumps(out)


def test_openapi_fuzz_finds_no_5xx(service):
    """schemathesis over every operation, bounded examples, with an admin key."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    raw = httpx.get(service.url + "/openapi.json").json()
    schema = schemathesis.openapi.from_dict(raw)
    auth = {"Authorization": f"Bearer {service.admin}"}
    failures = []

    def check(operation):
        @given(case=operation.as_strategy())
        @settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def call(case):
            response = case.call(base_url=service.url, headers=auth, timeout=60)
            if response.status_code >= 500:
                failures.append((operation.label, response.status_code, response.text[:200]))

        call()

    for result in schema.get_all_operations():
        check(result.ok())
    assert not failures


def test_fail_closed_and_rate_limit(tmp_path):
    bare = Service(service_env(tmp_path / "bare")).start()
    try:
        assert httpx.get(bare.url + "/v1/jobs/x").status_code == 401
        assert httpx.get(bare.url + "/ready").status_code == 503
        token = bare.key("read")
        with bare.client(token) as client:
            assert client.get("/metrics").status_code == 200
    finally:
        bare.kill()
    limited = Service(service_env(tmp_path / "bare", rate_per_minute="3")).start()
    try:
        with limited.client(token) as client:
            codes = [client.get("/metrics") for _ in range(5)]
        assert [r.status_code for r in codes][:3] == [200, 200, 200] and codes[-1].status_code == 429
        assert int(codes[-1].headers["Retry-After"]) >= 1
    finally:
        limited.kill()
