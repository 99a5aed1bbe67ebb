"""How far the quality score agrees with human judgement, for reports/quality.json.

- ROC AUC separating ESConv dialogues the authors rejected (FailedESConv) from accepted ones;
- Spearman rank correlation with counsel-chat upvotes and ESConv seeker ratings;
- error analysis: the lowest-scoring conversations and the sub-metric that sank each.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd
from duckdb import DuckDBPyConnection
from scipy.stats import rankdata, spearmanr

from pixelated.core import sql
from pixelated.scoring.metrics import METRICS, sinking_metrics


def _r(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), 4)


# resampled row indices per block of rounds: 2 MB of int64. A statistic makes several arrays of
# a block's shape (ranks, centred ranks, products); at 2**22 cells they took 230 MB at once.
BOOTSTRAP_BLOCK_CELLS = 2**18


def bootstrap_ci(
    statistic: Callable[[np.ndarray], np.ndarray], n: int, rounds: int = 1000, seed: int = 13
) -> list[float | None]:
    """95% percentile bootstrap interval of a statistic over `n` resampled rows.

    `statistic` maps a (rounds, n) matrix of resampled row indices to one value per round (NaN
    where undefined), so rounds are computed a block at a time in a few array operations; a
    block holds at most BOOTSTRAP_BLOCK_CELLS indices (one round's n when n is larger), so
    memory does not grow with rounds.
    The rounds are drawn one at a time, so the draws stay those of a per-round loop."""
    rng = np.random.default_rng(seed)
    per_block = max(1, BOOTSTRAP_BLOCK_CELLS // max(n, 1))
    values = np.concatenate(
        [
            statistic(np.stack([rng.integers(0, n, n) for _ in range(min(per_block, rounds - start))]))
            for start in range(0, rounds, per_block)
        ]
    )
    values = values[np.isfinite(values)]
    if not len(values):
        return [None, None]
    return [_r(np.percentile(values, 2.5)), _r(np.percentile(values, 97.5))]


def _auc_rows(y: np.ndarray, score: np.ndarray) -> np.ndarray:
    """ROC AUC of each row: the Mann-Whitney statistic over mid-ranks (ties count half); NaN
    where a row holds one class."""
    positives = y.sum(axis=1)
    negatives = y.shape[1] - positives
    ranks = rankdata(score, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = ((ranks * y).sum(axis=1) - positives * (positives + 1) / 2) / (positives * negatives)
    return np.where((positives > 0) & (negatives > 0), auc, np.nan)


def _spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's rho of each row pair (Pearson's r of the mid-ranks, as scipy's spearmanr);
    NaN where either row is constant."""
    rx, ry = rankdata(x, axis=1), rankdata(y, axis=1)
    rx -= rx.mean(axis=1, keepdims=True)
    ry -= ry.mean(axis=1, keepdims=True)
    spread = np.sqrt((rx * rx).sum(axis=1) * (ry * ry).sum(axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.clip((rx * ry).sum(axis=1) / spread, -1.0, 1.0)
    return np.where(spread > 0, rho, np.nan)


def roc_auc(y: np.ndarray, score: np.ndarray) -> float | None:
    """ROC AUC as sklearn's roc_auc_score gives it, without its per-call input checks; None
    when `y` holds one class."""
    auc = _auc_rows(np.asarray(y)[None, :], np.asarray(score)[None, :])[0]
    return None if np.isnan(auc) else float(auc)


def auc_with_ci(y: np.ndarray, score: np.ndarray) -> dict:
    return {
        "auc": _r(roc_auc(y, score)),
        "ci95": bootstrap_ci(lambda rows: _auc_rows(y[rows], score[rows]), len(y)),
    }


def rejected_vs_accepted_auc(scores: pd.DataFrame, accepted: str, rejected: str) -> dict:
    """AUC of each score column for accepted (1) vs rejected (0) dialogues, with 95% bootstrap CIs."""
    part = scores[scores["source"].isin([accepted, rejected])]
    y = (part["source"] == accepted).astype(int).to_numpy()
    result = {"n_accepted": int(y.sum()), "n_rejected": int((1 - y).sum())}
    if len(set(y)) < 2:
        return {**result, "auc": None}
    overall = auc_with_ci(y, part["quality"].to_numpy())
    result.update(auc=overall["auc"], auc_ci95=overall["ci95"])
    result["auc_by_metric"] = {m: auc_with_ci(y, part[m].to_numpy()) for m in (*METRICS, "safety")}
    return result


def spearman(scores: pd.DataFrame, column: str, target: pd.Series) -> dict:
    """Spearman's rho with a 95% bootstrap CI."""
    mask = target.notna()
    n = int(mask.sum())
    if n < 10 or target[mask].nunique() < 2:
        return {"n": n, "rho": None}
    x, y = scores.loc[mask, column].to_numpy(float), target[mask].to_numpy(float)
    rho, p = spearmanr(x, y)
    ci = bootstrap_ci(lambda rows: _spearman_rows(x[rows], y[rows]), n)
    return {"n": n, "rho": _r(rho), "ci95": ci, "p_value": _r(p)}


def seeker_feedback_mean(turns_column: pd.Series) -> pd.Series:
    """Mean per-turn seeker rating (ESConv `feedback`, 1-5) of each conversation, NaN if none."""

    def mean(turns):
        values = [t["feedback"] for t in turns if t.get("feedback") is not None]
        return float(np.mean(values)) if values else np.nan

    return turns_column.map(mean)


# the human ratings the sources carry, beside the ESConv turn feedback (`Measured.feedback`)
HUMAN_RATINGS = (
    "upvotes",
    "seeker_empathy",
    "seeker_relevance",
    "supporter_relevance",
    "initial_emotion_intensity",
    "final_emotion_intensity",
)


UPVOTED_SOURCE = "counsel_chat"  # answers with readers' upvotes
SEEKER_RATED_PREFIX = "esconv"  # ESConv sources: seekers rated their supporters


def rated_sources(sources: Iterable[str], accepted: str, rejected: str) -> list[str]:
    """The sources whose conversations the agreement statistics read: the accepted and
    rejected ESConv sets, counsel-chat (upvotes) and every ESConv source (seeker ratings)."""
    rated = (accepted, rejected, UPVOTED_SOURCE)
    return sorted(s for s in sources if s in rated or s.startswith(SEEKER_RATED_PREFIX))


def human_agreement(scores: pd.DataFrame, feedback: pd.Series) -> dict:
    """Spearman of the quality score with every human rating the data carries."""
    cc = scores["source"] == UPVOTED_SOURCE
    esconv = scores["source"].str.startswith(SEEKER_RATED_PREFIX)
    improvement = scores["initial_emotion_intensity"] - scores["final_emotion_intensity"]
    return {
        "counsel_chat_upvotes": spearman(scores[cc], "quality", scores.loc[cc, "upvotes"]),
        "esconv_seeker_turn_feedback": spearman(scores[esconv], "quality", feedback[esconv]),
        "esconv_seeker_empathy": spearman(scores[esconv], "quality", scores.loc[esconv, "seeker_empathy"]),
        "esconv_seeker_relevance": spearman(
            scores[esconv], "quality", scores.loc[esconv, "seeker_relevance"]
        ),
        "esconv_supporter_relevance": spearman(
            scores[esconv], "quality", scores.loc[esconv, "supporter_relevance"]
        ),
        "esconv_emotion_intensity_drop": spearman(scores[esconv], "quality", improvement[esconv]),
    }


def error_analysis(scores: pd.DataFrame, weights: dict[str, float], n: int) -> list[dict]:
    """The n lowest-scoring conversations (ids and scores only, never text)."""
    lowest = scores.sort_values(["quality", "conversation_id"]).head(n)
    return [
        {
            "conversation_id": row.conversation_id,
            "source": row.source,
            "quality": round(float(row.quality), 4),
            "sank_by": sank,
            **{m: round(float(row[m]), 4) for m in METRICS},
        }
        for (_, row), sank in zip(lowest.iterrows(), sinking_metrics(lowest, weights), strict=True)
    ]


DISTRIBUTION = (0.1, 0.25, 0.5, 0.75, 0.9)  # quantiles the report gives, beside the mean


def distribution(con: DuckDBPyConnection, relation: str, column: str, group: str | None = None) -> dict:
    """Mean and DISTRIBUTION quantiles of `column` of `relation` (a DuckDB table or view), per
    value of `group` (one group, None, if not given: all None when the table is empty). SQL
    ranks the values; the quantiles are pandas' exact numbers (`sql.quantile`)."""
    by, value = sql.identifier(group) if group else "NULL", sql.identifier(column)
    means = dict(con.sql(f"SELECT {by}, avg({value}) FROM {relation} GROUP BY ALL").fetchall())
    ranked = sql.order_statistics(con, relation, column, DISTRIBUTION, group)
    if not ranked and group is None:
        return {None: {"mean": None, **{_quantile_name(q): None for q in DISTRIBUTION}}}
    return {
        key: {"mean": _r(means[key]), **{_quantile_name(q): _r(sql.quantile(n, at, q)) for q in DISTRIBUTION}}
        for key, (n, at) in ranked.items()
    }


def _quantile_name(q: float) -> str:
    return f"p{int(q * 100)}"
