"""The trained models the quality score reads: behaviour codes and EPITOME empathy heads.

`train_scorers` writes them to one folder (a DVC out); the score stage, `pixelated score` and
the service load that folder, so all three score with the same models.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pixelated.scoring.empathy import EmpathyModel
from pixelated.scoring.textclf import TextClassifier

CODES_NAME = "codes"  # file prefix of the behaviour-code classifier


@dataclass(frozen=True)
class Scorers:
    codes: TextClassifier
    empathy: EmpathyModel

    def save(self, folder: Path) -> None:
        self.codes.save(folder, CODES_NAME)
        self.empathy.save(folder)

    @classmethod
    def load(cls, folder: str | Path) -> Scorers:
        folder = Path(folder)
        if not (folder / f"{CODES_NAME}_vocabulary.json").is_file():
            raise FileNotFoundError(f"{folder}: no trained scorers here (run `dvc repro train_scorers`)")
        return cls(TextClassifier.load(folder, CODES_NAME), EmpathyModel.load(folder))
