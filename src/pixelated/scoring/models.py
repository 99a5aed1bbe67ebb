"""ESConv support-strategy classifier over MiniLM embeddings (the base of therapeutic accuracy).

Multinomial logistic regression (its probabilities are well calibrated, and the sub-metrics
consume probabilities, not just the argmax; shrinkage LDA was 2x faster but overconfident)
on the helper turns that carry an ESConv strategy label
(Liu et al., ACL 2021), mapped to one shared label set (turns.STRATEGIES). It is trained on
strategy labels only, never on whether a dialogue was accepted or rejected. Labelled turns get
out-of-fold predictions (grouped by conversation), so the turns the model was fitted on are
not scored more confidently than unlabelled ones.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import GroupKFold, cross_val_predict

from pixelated.core.atomic import atomic_path
from pixelated.scoring.turns import STRATEGIES

# The fitted model as the score stage saves it: one row per labelled turn (its out-of-fold
# probabilities), the coefficients and report in the schema metadata (JSON floats round-trip).
SAVED_SCHEMA = pa.schema(
    [("conversation_id", pa.string()), ("turn", pa.int32()), ("oof", pa.list_(pa.float64(), len(STRATEGIES)))]
)


def _model() -> LogisticRegression:
    # tol 1e-3 converges in a third of the default time with the same out-of-fold F1
    return LogisticRegression(C=1.0, max_iter=300, tol=1e-3)


class StrategyClassifier:
    """fit() on labelled helper turns, then probabilities() for any turn vectors."""

    def __init__(self, folds: int = 5):
        self.folds = folds
        self.model: LogisticRegression | None = None
        self.oof: dict[tuple[str, int], np.ndarray] = {}
        self.report: dict = {}

    def fit(self, vectors: np.ndarray, labels: list[str], keys: list[tuple[str, int]]) -> StrategyClassifier:
        """`keys` are (conversation_id, measured turn index), used for grouping and lookup."""
        y = np.array([STRATEGIES.index(label) for label in labels])
        groups = np.array([k[0] for k in keys])
        if len(set(y)) < 2 or len(set(groups)) < self.folds:
            raise ValueError(
                f"strategy classifier needs labelled turns of >= 2 strategies from >= {self.folds} "
                f"conversations; got {len(y)} turns"
            )
        # class ids must cover STRATEGIES even if a class is absent, so columns line up
        self.model = _model().fit(vectors, y)
        # lbfgs leaves coef_ a Fortran-ordered view; `load` builds a C-ordered one. BLAS takes
        # another float32 path for each layout (one-row inputs differ in the last bit), so the
        # fitted model is given the saved model's layout: the stage and the service then score
        # every turn bit for bit alike.
        self.model.coef_ = np.ascontiguousarray(self.model.coef_)
        oof = cross_val_predict(
            _model(), vectors, y, groups=groups, cv=GroupKFold(self.folds), method="predict_proba"
        )
        self.oof = {key: self._full(row, self.model.classes_) for key, row in zip(keys, oof, strict=True)}
        predicted = np.array([int(np.argmax(self.oof[k])) for k in keys])
        self.report = {
            "labelled_turns": len(y),
            "out_of_fold_macro_f1": round(float(f1_score(y, predicted, average="macro")), 4),
            "out_of_fold_accuracy": round(float(np.mean(predicted == y)), 4),
            "class_counts": {
                STRATEGIES[c]: int(n) for c, n in zip(*np.unique(y, return_counts=True), strict=True)
            },
        }
        return self

    @staticmethod
    def _full(row: np.ndarray, classes: np.ndarray) -> np.ndarray:
        full = np.zeros(len(STRATEGIES), dtype=np.float64)
        full[classes] = row
        return full

    def probabilities(self, vectors: np.ndarray, keys: list[tuple[str, int]]) -> np.ndarray:
        """(n, len(STRATEGIES)); out-of-fold rows for turns the model was fitted on."""
        if len(keys) == 0:
            return np.zeros((0, len(STRATEGIES)))
        fresh = self.model.predict_proba(vectors)
        rows = [self.oof.get(key) for key in keys]
        return np.stack(
            [
                r if r is not None else self._full(f, self.model.classes_)
                for r, f in zip(rows, fresh, strict=True)
            ]
        )

    def save(self, path: str | Path) -> None:
        """Write the fitted model, so the service scores with the batch stage's exact model
        (coefficients and out-of-fold rows) instead of refitting it."""
        keys = list(self.oof)
        model = {
            "classes": self.model.classes_.tolist(),
            "coef": self.model.coef_.tolist(),
            "intercept": self.model.intercept_.tolist(),
            "dtype": str(self.model.coef_.dtype),
            "folds": self.folds,
            "report": self.report,
        }
        flat = np.concatenate([self.oof[k] for k in keys]) if keys else np.zeros(0)
        table = pa.Table.from_arrays(
            [
                pa.array([k[0] for k in keys], pa.string()),
                pa.array([k[1] for k in keys], pa.int32()),
                pa.FixedSizeListArray.from_arrays(pa.array(flat, pa.float64()), len(STRATEGIES)),
            ],
            schema=SAVED_SCHEMA.with_metadata({"model": json.dumps(model, sort_keys=True)}),
        )
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp)

    @classmethod
    def load(cls, path: str | Path) -> StrategyClassifier:
        """The model `save` wrote; its probabilities equal the fitted one's, bit for bit."""
        table = pq.read_table(path)
        saved = json.loads(table.schema.metadata[b"model"])
        loaded = cls(folds=saved["folds"])
        loaded.model = _model()
        loaded.model.classes_ = np.array(saved["classes"])
        loaded.model.coef_ = np.array(saved["coef"], dtype=saved["dtype"])
        loaded.model.intercept_ = np.array(saved["intercept"], dtype=saved["dtype"])
        loaded.model.n_features_in_ = loaded.model.coef_.shape[1]
        loaded.report = saved["report"]
        rows = table.column("oof").combine_chunks().flatten().to_numpy().reshape(-1, len(STRATEGIES))
        keys = zip(table.column("conversation_id").to_pylist(), table.column("turn").to_pylist(), strict=True)
        loaded.oof = {key: row for key, row in zip(keys, rows, strict=True)}
        return loaded
