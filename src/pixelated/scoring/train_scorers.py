"""train_scorers: fit the models the quality score reads, from labelled data, and measure them.

- the EPITOME empathy heads (empathy.py) on the EPITOME Reddit pairs, 5-fold grouped by
  seeker post, beside Sharma et al. 2020 and the cue-phrase measure on the same pairs;
- the behaviour-code classifier (behaviour.py) on the labelled helper turns of the anonymized
  table (all of them up to `max_labelled_units`; before dedup, which removes nearly all
  mi-counselchat labels as duplicates of counsel-chat answers), out of fold grouped by
  conversation.

Neither model sees whether an ESConv dialogue was accepted or rejected. Outputs are small
files (JSON vocabulary, .npy weights) and a metrics JSON; DVC caches the stage, so unchanged
inputs are not retrained.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field

from pixelated.core.config import Config, ExecutorConfig
from pixelated.core.tableio import read_batches
from pixelated.ingest.acquire import acquire_source, resolve_mirror
from pixelated.ingest.config import AcquireConfig, PinnedFiles
from pixelated.scoring.codes_training import labelled_units, train_codes
from pixelated.scoring.empathy import MECHANISMS
from pixelated.scoring.empathy_training import read_epitome, train_empathy
from pixelated.scoring.scorers import Scorers

log = logging.getLogger("pixelated.train_scorers")


@dataclass(frozen=True)
class TrainScorersPaths:
    input: Path  # the anonymized conversation table, before dedup (behaviour labels)
    output: Path  # the model folder
    metrics: Path


class LabelSource(PinnedFiles):
    """A labelled data set read from the mirror, pinned like a source (`acquire_source`)."""

    license: str
    commercial_use: bool
    citation: str


class ScorersConfig(Config):
    folds: int = Field(5, ge=2)
    max_pairs: int | None = Field(None, ge=10)  # a sample: the first N EPITOME pairs (tests)
    max_labelled_units: int = Field(50_000, ge=1)  # the behaviour-code classifier's sample
    epitome: LabelSource


class TrainScorersConfig(Config):
    scorers: ScorersConfig
    acquire: AcquireConfig = AcquireConfig()
    executor: ExecutorConfig = ExecutorConfig()


def read_pinned_epitome(cfg: TrainScorersConfig):
    """The EPITOME pairs, from a checksum-verified copy of the pinned files."""
    with tempfile.TemporaryDirectory() as folder:
        epitome = cfg.scorers.epitome
        acquire_source("epitome", epitome, resolve_mirror(cfg.acquire.mirror), Path(folder))
        return read_epitome(Path(folder) / "epitome")


def run(cfg: TrainScorersConfig, paths: TrainScorersPaths) -> None:
    pairs = read_pinned_epitome(cfg).head(cfg.scorers.max_pairs)
    empathy, empathy_report = train_empathy(pairs, cfg.scorers.folds)
    log.info(
        "empathy heads (cross-validated): %s", {m: empathy_report[m]["tfidf_logreg"] for m in MECHANISMS}
    )
    units = labelled_units(read_batches(paths.input, cfg.executor.batch_size), cfg.scorers.max_labelled_units)
    codes, code_report = train_codes(units, cfg.scorers.folds)
    log.info(
        "behaviour codes: %d labelled units of %d, learned macro-F1 %.3f",
        len(units.texts),
        units.read,
        code_report["learned_macro_f1"],
    )
    paths.output.mkdir(parents=True, exist_ok=True)
    Scorers(codes, empathy).save(paths.output)
    licence = cfg.scorers.epitome.model_dump(include={"license", "commercial_use", "citation"})
    (paths.output / "LICENSE.json").write_text(
        json.dumps({"empathy heads (empathy_*)": licence}, indent=2, sort_keys=True) + "\n"
    )
    report = {"empathy_epitome": empathy_report, "behaviour_codes": code_report}
    paths.metrics.parent.mkdir(parents=True, exist_ok=True)
    paths.metrics.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
