"""`pixelated score FILE`: one JSON line of ids and scores per conversation, anonymized first,
never a word of the conversation's text; problems on stderr with the check's exit codes."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from pixelated.cli.main import cli
from pixelated.scoring.adhoc import ID_FIELDS, SCORE_COLUMNS
from tests.paths import REPO
from tests.scorers import tiny_scorers

FILE = "tests/fixtures/esconv_like.json"


@pytest.fixture(scope="module")
def scorers(tmp_path_factory):
    """A trained scorer folder as `train_scorers` writes it (tiny models)."""
    return tiny_scorers(tmp_path_factory.mktemp("scorers"))


def _score(monkeypatch, *args: str):
    monkeypatch.chdir(REPO)
    return CliRunner().invoke(cli, ["score", *args])


def test_one_json_line_of_scores_per_conversation_and_no_text(monkeypatch, tmp_path, scorers):
    result = _score(monkeypatch, FILE, "--scorers", str(scorers), "--cache", str(tmp_path / "none.parquet"))
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["source_line"] for line in lines] == [1, 2]
    for line in lines:
        assert list(line) == [*ID_FIELDS, *SCORE_COLUMNS]
        assert 0 <= line["quality"] <= 1 and 0 <= line["safety"] <= 1
    records = json.loads((REPO / FILE).read_text())
    texts = [turn["content"].strip() for record in records for turn in record["dialog"]]
    assert not [text for text in texts if text in result.stdout]


def test_quarantined_records_go_to_stderr_with_exit_1(monkeypatch, tmp_path, scorers):
    path = "tests/fixtures/malformed/empty_turns.jsonl"
    result = _score(monkeypatch, path, "--scorers", str(scorers), "--cache", str(tmp_path / "none.parquet"))
    assert result.exit_code == 1
    assert len(result.stdout.splitlines()) == 1  # the one good conversation is still scored
    assert f"{path}:2: no_turns: conversation has no turns" in result.stderr.splitlines()


def test_missing_model_is_a_usage_error(monkeypatch, tmp_path):
    missing = tmp_path / "scorers"
    result = _score(monkeypatch, FILE, "--scorers", str(missing))
    assert result.exit_code == 2
    assert f"'{missing}' does not exist" in result.stderr
