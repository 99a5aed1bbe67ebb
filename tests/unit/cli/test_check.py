"""`pixelated check FILE` on every fixture: the good ones pass (exit 0) read as their source,
each malformed one (tests/fixtures/malformed/, one per way a record is quarantined) exits 1
with exactly the problems the pipeline would quarantine, as file:line: reason: detail."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from pixelated.cli.main import EXIT_OK, EXIT_QUARANTINED, EXIT_USAGE, cli
from tests.paths import REPO

FIXTURES = "tests/fixtures"
MALFORMED = f"{FIXTURES}/malformed"
ROLES = "expected one of ('seeker', 'helper', 'system')"
SHAPES = [
    "1: not_an_object: record is list",
    "2: missing_turns: field 'turns' is NoneType, expected a list",
    "3: malformed_turn: turn 0 is str, expected an object",
]
CSV_HEADER = "['', 'questionID', 'questionTitle', 'questionText', 'topic', 'therapistURL', 'answerText', "
CSV_HEADER += "'upvotes', 'views', 'split']"
# file -> (summary after "file: ", problems after "file:")
MALFORMED_EXPECTED = {
    "broken_line.jsonl": (
        "3 records, 2 valid, 4 turns, 1 quarantined (source file, format jsonl)",
        ["2: invalid_json: Expecting ',' delimiter at column 1"],
    ),
    "latin1.jsonl": (
        "3 records, 2 valid, 4 turns, 1 quarantined (source file, format jsonl)",
        ["2: invalid_utf8: invalid UTF-8 at byte 40"],  # the bytes stay out of the message
    ),
    "shapes.jsonl": ("4 records, 1 valid, 2 turns, 3 quarantined (source file, format jsonl)", SHAPES),
    "missing_text.jsonl": (
        "1 records, 0 valid, 0 turns, 1 quarantined (source file, format jsonl)",
        ["1: missing_text: turn 0: text is missing"],
    ),
    "unknown_role.jsonl": (
        "1 records, 0 valid, 0 turns, 1 quarantined (source file, format jsonl)",
        [f"1: unknown_role: turn 1: unknown role 'Narrator', {ROLES}"],
    ),
    "empty_turns.jsonl": (
        "3 records, 1 valid, 2 turns, 2 quarantined (source file, format jsonl)",
        ["1: empty_turn: turn 1: text is empty", "2: no_turns: conversation has no turns"],
    ),
    "empty.jsonl": (
        "1 records, 0 valid, 0 turns, 1 quarantined (source file, format jsonl)",
        [" empty_file: file has no content"],
    ),
    "empty_array.json": (
        "1 records, 0 valid, 0 turns, 1 quarantined (source file, format json)",
        [" empty_file: no records in the JSON array (or not an array)"],
    ),
    "truncated.json": (
        "2 records, 1 valid, 2 turns, 1 quarantined (source file, format json)",
        [
            "2: invalid_json: record does not decode: unbalanced brackets or an unclosed string; "
            "no record boundary after it"
        ],
    ),
    "turn_too_long.jsonl": (
        "1 records, 0 valid, 0 turns, 1 quarantined (source file, format jsonl)",
        ["1: text_too_long: turn 0: 24999 characters, limit 20000"],
    ),
    "esconv_bad_values.json": (
        "2 records, 0 valid, 0 turns, 2 quarantined (source esconv_failed, format json)",
        [
            "1: bad_metadata: metadata seeker_empathy is not a number (int64)",  # no value: may be PII
            "2: bad_turn_annotation: turn 0: feedback is not a number",
        ],
    ),
    "qa_bad_rows.csv": (
        "3 records, 1 valid, 2 turns, 2 quarantined (source counsel_chat, format qa_csv)",
        [
            f"3: csv_field_count: expected 10 fields {CSV_HEADER}, got 5",
            "4: csv_unclosed_quote: quoting breaks in this line (csv_unclosed_quote); "
            "reading resumes on the next line",
        ],
    ),
    "utterance_missing_text.csv": (
        "1 records, 0 valid, 0 turns, 1 quarantined (source empathetic_intents, format utterance_csv)",
        ["2: empty_turn: turn 1: text is empty"],
    ),
}
# the readers' own fixtures: read as the configured source they imitate, nothing quarantined
GOOD_EXPECTED = {
    name: f"{n} records, {n} valid, {turns} turns, 0 quarantined (source {source}, format {fmt})"
    for name, n, turns, source, fmt in (
        ("esconv_like.json", 2, 5, "esconv_failed", "json"),
        ("hope_like.csv", 1, 4, "hope_sample", "utterance_csv"),
        ("multiesc_like.jsonl", 2, 5, "esconv_multiesc", "jsonl"),
        ("openai_chat.jsonl", 2, 5, "file", "openai_chat"),
        ("qa_like.csv", 3, 6, "counsel_chat", "qa_csv"),
        ("sad.csv", 2, 5, "empathetic_intents", "utterance_csv"),
        ("canary/canary.jsonl", 1, 4, "esconv_multiesc", "jsonl"),
    )
}


@pytest.fixture
def check(monkeypatch):
    """check(*args) -> (exit code, output lines), run from the repository root."""
    monkeypatch.chdir(REPO)

    def run(*args: str):
        result = CliRunner().invoke(cli, ["check", *args])
        return result.exit_code, result.output.splitlines()

    return run


def test_every_fixture_has_an_expectation():
    found = {p.relative_to(REPO / FIXTURES).as_posix() for p in (REPO / FIXTURES).rglob("*.*")}
    expected = set(GOOD_EXPECTED) | {f"malformed/{name}" for name in MALFORMED_EXPECTED}
    assert found == expected


@pytest.mark.parametrize("name", sorted(MALFORMED_EXPECTED))
def test_malformed_file_exits_1_naming_line_and_reason(check, name):
    path = f"{MALFORMED}/{name}"
    summary, problems = MALFORMED_EXPECTED[name]
    code, lines = check(path)
    assert code == EXIT_QUARANTINED == 1
    assert lines == [f"{path}: {summary}", *(f"{path}:{p}" for p in problems)]


@pytest.mark.parametrize("name", sorted(GOOD_EXPECTED))
def test_good_fixture_exits_0(check, name):
    path = f"{FIXTURES}/{name}"
    assert check(path) == (EXIT_OK, [f"{path}: {GOOD_EXPECTED[name]}"])


def test_json_output_is_the_same_result(check):
    code, lines = check(f"{MALFORMED}/shapes.jsonl", "--json")
    report = json.loads("\n".join(lines))
    assert code == 1
    assert (report["records"], report["valid"], report["turns"], report["quarantined"]) == (4, 1, 2, 3)
    assert [(p["line"], p["reason"]) for p in report["problems"]] == [
        (1, "not_an_object"),
        (2, "missing_turns"),
        (3, "malformed_turn"),
    ]


def test_format_and_source_options(check):
    # a JSONL file read as a named source's mapping: its turns field is absent, so every record fails
    code, lines = check(f"{FIXTURES}/openai_chat.jsonl", "--source", "esconv_multiesc")
    assert code == 1 and all("missing_turns" in line for line in lines[1:]) and len(lines) == 3
    code, lines = check(f"{FIXTURES}/openai_chat.jsonl", "--format", "openai_chat")
    assert code == 0 and "format openai_chat" in lines[0]


def test_usage_errors_exit_2(check):
    code, lines = check(f"{FIXTURES}/qa_like.csv", "--source", "nope")
    assert code == EXIT_USAGE == 2
    assert lines[-1].startswith("Error: no source 'nope' in params.yaml; known: counsel_chat, ")
    code, lines = check("missing.jsonl")
    assert code == 2 and lines[-1] == "Error: Invalid value for 'FILE': Path 'missing.jsonl' does not exist."
    code, lines = check(f"{FIXTURES}/qa_like.csv", "--format", "nope")
    assert code == 2 and "'nope' is not one of" in lines[-1]


def test_help_shows_examples_and_exit_codes(check):
    code, lines = check("--help")
    assert code == 0 and "  Examples:" in lines
    assert "    pixelated check tests/fixtures/openai_chat.jsonl" in lines
    top = CliRunner().invoke(cli, ["--help"]).output.splitlines()
    assert f"    {EXIT_QUARANTINED}  at least one record would be quarantined (each printed as" in top[6]
    assert '    eval "$(_PIXELATED_COMPLETE=bash_source pixelated)"' in top


def test_console_entry_point_exit_code_and_completion():
    """The real process (python -m pixelated.cli, as the `pixelated` script runs it)."""
    run = [sys.executable, "-m", "pixelated.cli", "check", f"{MALFORMED}/missing_text.jsonl"]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    result = subprocess.run(run, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 1 and "missing_text" in result.stdout
    env["_PIXELATED_COMPLETE"] = "bash_source"
    completion = subprocess.run(
        [sys.executable, "-m", "pixelated.cli"], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert "complete " in completion.stdout and "_pixelated_completion" in completion.stdout
