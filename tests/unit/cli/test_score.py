"""`pixelated score FILE`: one JSON line of ids and scores per conversation, anonymized first,
never a word of the conversation's text; problems on stderr with the check's exit codes."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from pixelated.cli.main import cli
from pixelated.core.schema import CONVERSATION_SCHEMA
from pixelated.core.tableio import ValidatedWriter
from pixelated.core.validation import canonical_schema
from pixelated.ingest.conversation import make_conversation, make_turn
from pixelated.scoring.adhoc import ID_FIELDS, SCORE_COLUMNS
from tests.conftest import MAX_TURN_CHARS, SOURCE, frame
from tests.paths import REPO

STRATEGIES = ("Question", "Affirmation and Reassurance", "Providing Suggestions")
FILE = "tests/fixtures/esconv_like.json"


@pytest.fixture(scope="module")
def train(tmp_path_factory):
    """A small canonical table whose helper turns carry strategy labels, as ESConv's do."""
    rows = []
    for index in range(12):
        strategy = STRATEGIES[index % len(STRATEGIES)]
        turns = [
            make_turn("seeker", f"I have been worried about exams, week {index}."),
            make_turn("helper", f"{strategy} reply number {index} to your worry.", strategy=strategy),
        ]
        rows.append(
            make_conversation(
                SOURCE, f"t{index}", turns, source_file="f", source_line=index + 1, source_sha256="a" * 64
            )
        )
    path = tmp_path_factory.mktemp("train") / "filtered.parquet"
    with ValidatedWriter(path, CONVERSATION_SCHEMA, canonical_schema(MAX_TURN_CHARS)) as writer:
        writer.write(frame(rows))
    return path


def _score(monkeypatch, *args: str):
    monkeypatch.chdir(REPO)
    return CliRunner().invoke(cli, ["score", *args])


def test_one_json_line_of_scores_per_conversation_and_no_text(monkeypatch, tmp_path, train):
    result = _score(monkeypatch, FILE, "--train", str(train), "--cache", str(tmp_path / "none.parquet"))
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["source_line"] for line in lines] == [1, 2]
    for line in lines:
        assert list(line) == [*ID_FIELDS, *SCORE_COLUMNS]
        assert 0 <= line["quality"] <= 1 and 0 <= line["safety"] <= 1
    records = json.loads((REPO / FILE).read_text())
    texts = [turn["content"].strip() for record in records for turn in record["dialog"]]
    assert not [text for text in texts if text in result.stdout]


def test_quarantined_records_go_to_stderr_with_exit_1(monkeypatch, tmp_path, train):
    path = "tests/fixtures/malformed/empty_turns.jsonl"
    result = _score(monkeypatch, path, "--train", str(train), "--cache", str(tmp_path / "none.parquet"))
    assert result.exit_code == 1
    assert len(result.stdout.splitlines()) == 1  # the one good conversation is still scored
    assert f"{path}:2: no_turns: conversation has no turns" in result.stderr.splitlines()


def test_too_few_labelled_turns_is_a_usage_error(monkeypatch, tmp_path):
    empty = tmp_path / "empty.parquet"
    with ValidatedWriter(empty, CONVERSATION_SCHEMA, canonical_schema(MAX_TURN_CHARS)):
        pass
    result = _score(monkeypatch, FILE, "--train", str(empty), "--cache", str(tmp_path / "none.parquet"))
    assert result.exit_code == 2
    assert f"Error: cannot fit the strategy model on {empty}: strategy classifier needs" in result.stderr
