"""`pixelated score FILE`: one JSON line of ids and scores per conversation, anonymized first,
never a word of the conversation's text; problems on stderr with the check's exit codes."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from pixelated.cli.main import cli
from pixelated.core.embed import EmbeddingCache
from pixelated.ingest.conversation import make_conversation, make_turn
from pixelated.scoring.adhoc import ID_FIELDS, SCORE_COLUMNS
from pixelated.scoring.score import measure, prepare
from tests.conftest import SOURCE, frame
from tests.paths import REPO

STRATEGIES = ("Question", "Affirmation and Reassurance", "Providing Suggestions")
FILE = "tests/fixtures/esconv_like.json"


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A strategy model saved as the score stage saves it, fitted on a small table whose helper
    turns carry strategy labels, as ESConv's do."""
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
    folder = tmp_path_factory.mktemp("model")
    mturns = measure([frame(rows)]).mturns
    path = folder / "strategy_classifier.parquet"
    prepare(mturns, EmbeddingCache(folder / "cache.parquet")).classifier.save(path)
    return path


def _score(monkeypatch, *args: str):
    monkeypatch.chdir(REPO)
    return CliRunner().invoke(cli, ["score", *args])


def test_one_json_line_of_scores_per_conversation_and_no_text(monkeypatch, tmp_path, model):
    result = _score(monkeypatch, FILE, "--model", str(model), "--cache", str(tmp_path / "none.parquet"))
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["source_line"] for line in lines] == [1, 2]
    for line in lines:
        assert list(line) == [*ID_FIELDS, *SCORE_COLUMNS]
        assert 0 <= line["quality"] <= 1 and 0 <= line["safety"] <= 1
    records = json.loads((REPO / FILE).read_text())
    texts = [turn["content"].strip() for record in records for turn in record["dialog"]]
    assert not [text for text in texts if text in result.stdout]


def test_quarantined_records_go_to_stderr_with_exit_1(monkeypatch, tmp_path, model):
    path = "tests/fixtures/malformed/empty_turns.jsonl"
    result = _score(monkeypatch, path, "--model", str(model), "--cache", str(tmp_path / "none.parquet"))
    assert result.exit_code == 1
    assert len(result.stdout.splitlines()) == 1  # the one good conversation is still scored
    assert f"{path}:2: no_turns: conversation has no turns" in result.stderr.splitlines()


def test_missing_model_is_a_usage_error(monkeypatch, tmp_path):
    missing = tmp_path / "strategy_classifier.parquet"
    result = _score(monkeypatch, FILE, "--model", str(missing))
    assert result.exit_code == 2
    assert f"'{missing}' does not exist" in result.stderr
