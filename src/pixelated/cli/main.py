"""The `pixelated` command: check a file before it goes anywhere, score conversations in a
file. Exit codes and shell completion are in HELP (what `pixelated --help` prints)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from pixelated.core.config import ConfigError, build_config, read_params
from pixelated.core.ledger import Rejection
from pixelated.ingest.check import CheckError, CheckResult, check_file, choose_source
from pixelated.ingest.config import IngestStageConfig
from pixelated.ingest.readers import READERS
from pixelated.ingest.validate import ValidateStageConfig

EXIT_OK, EXIT_QUARANTINED, EXIT_USAGE = 0, 1, 2
HELP = """Check a file before it goes anywhere; score the conversations in a file.

\b
Exit codes (both commands):
  0  every record would pass ingest and validate
  1  at least one record would be quarantined (each printed as file:line: reason: detail)
  2  usage error: bad option, missing file, unknown source or format, invalid params.yaml

\b
Shell completion (bash; zsh_source and fish_source for other shells), in ~/.bashrc:
  eval "$(_PIXELATED_COMPLETE=bash_source pixelated)"
"""
FORMATS = click.Choice(sorted(READERS))
CHECK_EXAMPLES = """\b
Examples:
  pixelated check tests/fixtures/openai_chat.jsonl
  pixelated check data/raw/sources/esconv/FailedESConv.json --source esconv_failed
  pixelated check export.jsonl --format openai_chat --json | jq .problems
"""
SCORE_EXAMPLES = """\b
Examples (after `dvc repro score` or `dvc pull`):
  pixelated score tests/fixtures/openai_chat.jsonl
  pixelated score new.jsonl --scorers models/scorers | jq .quality
"""


class UsageProblem(click.ClickException):
    exit_code = EXIT_USAGE


def _options(command):
    """FILE and the options that say how to read it, shared by check and score."""
    decorators = [
        click.argument("file", type=click.Path(exists=True, path_type=Path)),
        click.option("--format", "fmt", type=FORMATS, help="Reader to use (default: detected)."),
        click.option("--source", help="Configured source whose mapping to use (default: detected)."),
        click.option(
            "--params",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            default="params.yaml",
            show_default=True,
            help="Pipeline settings: sources, read options, validate rules.",
        ),
    ]
    for decorate in reversed(decorators):
        command = decorate(command)
    return command


def run_check(file: Path, fmt: str | None, source: str | None, params: Path) -> tuple[CheckResult, dict]:
    """The check of `file` and the params it was read with; usage problems exit 2."""
    try:
        settings = read_params(params)
        ingest = build_config(IngestStageConfig, settings, str(params))
        max_chars = build_config(ValidateStageConfig, settings, str(params)).validate_.max_turn_chars
        name, config = choose_source(file, ingest.sources, fmt, source)
        return check_file(file, name, config, ingest.read_options, max_chars), settings
    except (CheckError, ConfigError) as err:
        raise UsageProblem(str(err)) from None


def problem_line(path: Path, problem: Rejection) -> str:
    """`file:line: reason: detail` on one line (`file: reason: detail` for a whole file)."""
    where = str(path) if problem.source_line is None else f"{path}:{problem.source_line}"
    return f"{where}: {problem.reason}: {' '.join(problem.detail.split())}"


def summary_line(result: CheckResult) -> str:
    s = result.summary()
    return (
        f"{s['file']}: {s['records']} records, {s['valid']} valid, {s['turns']} turns, "
        f"{s['quarantined']} quarantined (source {s['source']}, format {s['format']})"
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, help=HELP)
def cli() -> None:
    pass


@cli.command(epilog=CHECK_EXAMPLES)
@_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def check(file: Path, fmt: str | None, source: str | None, params: Path, as_json: bool) -> None:
    """Read FILE with the pipeline's reader and canonical schema, without running the pipeline:
    records, turns, and every record that would be quarantined (file:line: reason: detail).
    Exits 1 if any record would be quarantined, 2 on a usage error."""
    result, _ = run_check(file, fmt, source, params)
    if as_json:
        click.echo(json.dumps(result.summary(), indent=2))
    else:
        click.echo(summary_line(result))
        for problem in result.problems:
            click.echo(problem_line(file, problem))
    sys.exit(EXIT_QUARANTINED if result.problems else EXIT_OK)


@cli.command(epilog=SCORE_EXAMPLES)
@_options
@click.option(
    "--scorers",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default="models/scorers",
    show_default=True,
    help="The trained scorers the score stage reads (`dvc repro train_scorers` writes them).",
)
@click.option(
    "--cache",
    type=click.Path(path_type=Path),
    default="data/cache/turn_embeddings.parquet",
    show_default=True,
    help="Turn-embedding cache to read (never written).",
)
def score(file: Path, fmt: str | None, source: str | None, params: Path, scorers: Path, cache: Path) -> None:
    """Score the conversations in FILE as the score stage would (after anonymizing them) and
    print one JSON line per conversation: ids and scores, never text. Problems go to stderr;
    exit codes as for check."""
    from pixelated.privacy.anonymize import AnonymizeConfig
    from pixelated.scoring.adhoc import score_frame
    from pixelated.scoring.score import ScoreConfig

    result, settings = run_check(file, fmt, source, params)
    problems = list(result.problems)
    if len(result.valid):
        score_cfg = build_config(ScoreConfig, settings, str(params))
        privacy = build_config(AnonymizeConfig, settings, str(params)).privacy
        scores, refused = score_frame(result.valid, score_cfg, privacy, scorers, cache)
        for row in scores.to_dict(orient="records"):
            click.echo(json.dumps(row, sort_keys=False, default=str))
        problems += refused
    for problem in problems:
        click.echo(problem_line(file, problem), err=True)
    sys.exit(EXIT_QUARANTINED if problems else EXIT_OK)
