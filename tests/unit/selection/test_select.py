"""select: tiers, gates with the failing metric as the reason, review overrides, the review
sample and the bias report; and the whole select step on a small scored table, with the
repo's own params."""

import json

import pandas as pd
import pyarrow.parquet as pq
import pytest

from pixelated.core import sql
from pixelated.core.config import build_config, read_params
from pixelated.core.hashing import seeded_key
from pixelated.core.schema import SCORED_SCHEMA, scored_schema
from pixelated.core.tableio import ValidatedWriter
from pixelated.core.validation import canonical_schema
from pixelated.scoring.metrics import DECISION_COLUMNS, METRICS
from pixelated.selection import bias, gates, review
from pixelated.selection.select import SelectConfig, SelectPaths, decision_table, run, source_rates
from tests.conftest import MAX_TURN_CHARS, canonical_row, frame
from tests.paths import REPO

PARAMS = read_params(REPO / "params.yaml")
CFG = build_config(SelectConfig, PARAMS)


def scored(n: int = 6, **columns) -> pd.DataFrame:
    """n scored canonical rows: all sub-metrics 0.9 unless `columns` says otherwise (lists)."""
    batch = frame([canonical_row(i) for i in range(1, n + 1)])
    values = {m: [0.9] * n for m in METRICS}
    values.update(quality=[0.9] * n, safety=[1.0] * n, safety_reason=["ok"] * n, crisis_kinds=[""] * n)
    values.update(cssrs_level=[0] * n, crisis_turns=[""] * n, compliance_violations=[""] * n)
    values.update(columns)
    for name, column in values.items():
        batch[name] = pd.array(column, dtype="Int64" if name == "cssrs_level" else None)
        if SCORED_SCHEMA.field(name).type == "string":
            batch[name] = batch[name].astype("string")
    return batch


def no_verdicts() -> pd.DataFrame:
    return pd.DataFrame(columns=["verdict", "reviewer", "note"], index=pd.Index([], name="conversation_id"))


def test_tiers_and_gates_name_the_failing_metric():
    batch = scored(
        5,
        quality=[0.85, 0.75, 0.65, 0.9, 0.9],
        therapeutic_accuracy=[0.9, 0.9, 0.9, 0.5, 0.9],
        safety=[1.0, 1.0, 1.0, 1.0, 0.5],
        coherence=[0.9, 0.9, 0.2, 0.9, 0.9],
    )
    assert gates.tier_of(batch["quality"], CFG.quality.tiers).tolist() == [
        "production", "recommended", "minimum", "production", "production",
    ]  # fmt: skip
    kept, rejections = gates.decide_batch(batch, CFG.quality, CFG.safety, no_verdicts())
    assert kept["quality_tier"].tolist() == ["production", "recommended"]
    assert [r.reason for r in rejections] == [
        "low_quality_coherence",
        "low_therapeutic_accuracy",
        "low_safety",
    ]
    decided = gates.decisions(batch, CFG.quality, CFG.safety, no_verdicts())
    assert decided["kept"].tolist() == [True, True, False, False, False]
    assert {tier: int(decided[column].sum()) for tier, column in gates.KEEPS_AT.items()} == {
        "production": 1,
        "recommended": 2,
        "minimum": 3,
    }


def test_safety_and_clinical_accuracy_must_lie_above_their_bounds():
    """The spec keeps safety > 0.8 and clinical accuracy > 0.65: a score at the bound is dropped,
    while a quality tier is reached at its bound."""
    at_bounds = scored(
        3,
        quality=[CFG.quality.min_score] * 3,
        safety=[CFG.safety.min_score, 1.0, 1.0],
        therapeutic_accuracy=[0.9, CFG.quality.min_clinical_accuracy, 0.9],
    )
    kept, rejections = gates.decide_batch(at_bounds, CFG.quality, CFG.safety, no_verdicts())
    assert [r.reason for r in rejections] == ["low_safety", "low_therapeutic_accuracy"]
    assert kept["conversation_id"].tolist() == at_bounds["conversation_id"].tolist()[2:]


def decisions_table(frame: pd.DataFrame):
    """`frame` as the DuckDB view `decisions` that select's report and review sample read."""
    con = sql.connect(1)
    con.register("decisions", frame)
    return con


def verdicts_of(path, rows: dict[str, str]) -> pd.DataFrame:
    """reviews/verdicts.csv giving each id in `rows` its verdict, read back."""
    frame = pd.DataFrame({"conversation_id": list(rows), "verdict": list(rows.values())})
    frame.assign(reviewer="dr a", note="").to_csv(path, index=False)
    return gates.read_verdicts(path)


def test_keep_rates_and_drop_reasons_per_source(tmp_path):
    scores = scored(6, quality=[0.9, 0.9, 0.5, 0.9, 0.9, 0.9], safety=[1.0, 1.0, 1.0, 0.3, 1.0, 1.0])
    scores["source"] = pd.array(["a", "a", "a", "b", "b", "b"], dtype="string")
    dropped = verdicts_of(tmp_path / "verdicts.csv", {scores.loc[5, "conversation_id"]: "drop"})
    decided = gates.decisions(scores, CFG.quality, CFG.safety, dropped)  # a reviewer dropped a kept one
    rates = source_rates(decisions_table(decided))
    assert {s: (r["scored"], r["kept"], r["keep_rate"]) for s, r in rates.items()} == {
        "a": (3, 2, 0.6667),
        "b": (3, 1, 0.3333),
    }
    assert rates["a"]["top_drop_reasons"] == {"low_quality_therapeutic_accuracy": 1}
    assert rates["b"]["top_drop_reasons"] == {"low_safety": 1, "review_rejected": 1}
    # the gates alone, at every tier: the safety drop in b, the 0.5 quality in a
    assert set(rates["b"]["keep_rate_at_tier"].values()) == {0.6667}
    assert set(rates["a"]["keep_rate_at_tier"].values()) == {0.6667}


def test_review_verdicts_override_the_automatic_decision(tmp_path):
    batch = scored(3, safety=[0.5, 1.0, 1.0], quality=[0.9, 0.9, 0.5])
    ids = batch["conversation_id"].tolist()
    path = tmp_path / "verdicts.csv"
    pd.DataFrame(
        {
            "conversation_id": ids,
            "verdict": ["keep", "drop", ""],
            "reviewer": ["dr a", "dr b", ""],
            "note": "",
        }
    ).to_csv(path, index=False)
    verdicts = gates.read_verdicts(path)
    assert len(verdicts) == 2  # the blank verdict is ignored
    kept, rejections = gates.decide_batch(batch, CFG.quality, CFG.safety, verdicts)
    assert kept["conversation_id"].tolist() == [ids[0]]
    assert kept["decision_source"].tolist() == ["review"]
    assert {r.conversation_id: r.reason for r in rejections} == {
        ids[1]: "review_rejected",
        ids[2]: "low_quality_therapeutic_accuracy",
    }


def test_unknown_verdict_is_refused(tmp_path):
    path = tmp_path / "verdicts.csv"
    path.write_text("conversation_id,verdict,reviewer,note\nabc,maybe,x,\n")
    with pytest.raises(ValueError, match="verdict must be one of"):
        gates.read_verdicts(path)


def test_review_sample_is_stratified_and_holds_every_crisis_flag():
    batch = scored(300, crisis_kinds=["suicide"] + [""] * 299, safety=[0.85] + [1.0] * 299)
    batch["source"] = pd.array(["a"] * 150 + ["b"] * 150, dtype="string")
    decided = decisions_table(gates.decisions(batch, CFG.quality, CFG.safety, no_verdicts()))
    sample = review.review_sample(decided, 0.01, 7, 0.8)
    reasons = sample.set_index("conversation_id")["review_reason"]
    assert "crisis_flag" in reasons[batch.loc[0, "conversation_id"]]
    sampled = sample[sample["review_reason"].str.contains("sample")]
    assert sampled["source"].value_counts().to_dict() == {"a": 2, "b": 2}  # ceil(1% of 150) each
    for source, ids in batch.groupby("source")["conversation_id"]:  # the first in seeded_key order
        first = sorted(ids, key=lambda cid: seeded_key(7, cid))[:2]
        assert sorted(sampled.loc[sampled["source"] == source, "conversation_id"]) == sorted(first)
    assert sample["conversation_id"].is_monotonic_increasing
    assert sample.equals(review.review_sample(decided, 0.01, 7, 0.8))  # deterministic


def test_bias_report_flags_groups_whose_keep_rate_differs():
    decisions = pd.DataFrame(
        {
            "emotion_type": ["anger"] * 4 + ["sadness"] * 4,
            "kept": [True, True, True, True, True, False, False, False],
            "quality": [0.8] * 8,
        }
    )
    report = bias.bias_report(decisions_table(decisions), ["emotion_type"], min_group=2, max_relative_gap=0.2)
    assert report["emotion_type"]["overall_keep_rate"] == 0.625
    assert report["emotion_type"]["flagged"] == ["anger", "sadness"]


def write_scored(batch: pd.DataFrame, path) -> None:
    with ValidatedWriter(path, SCORED_SCHEMA, scored_schema(canonical_schema(MAX_TURN_CHARS))) as writer:
        writer.write(batch)


def test_decisions_read_no_text_and_the_review_sample_comes_back_whole(tmp_path):
    """Issue 14: select's decisions table holds a few scores a conversation, not its turns or
    provenance; the review sample's rows are read whole, for those rows only."""
    batch = scored(4, safety_reason=["ok", "ok", "unreferred_crisis", "ok"])
    write_scored(batch, tmp_path / "scored.parquet")
    with decision_table(tmp_path / "scored.parquet", CFG, no_verdicts()) as decided:
        columns = decided.table("decisions").columns
        assert columns == [*DECISION_COLUMNS, *CFG.review.bias_columns, *gates.DECISION_FIELDS.names]
        picked = review.review_sample(decided, 0.01, 7, 0.8)
    (whole,) = review.review_batches(picked.iloc[[0]], tmp_path / "scored.parquet", 1)
    assert set(SCORED_SCHEMA.names) <= set(whole.columns)
    row = batch.set_index("conversation_id").loc[whole.loc[0, "conversation_id"]]
    assert whole.loc[0, "safety_reason"] == row["safety_reason"]
    assert list(whole.loc[0, "turns"]) == list(row["turns"])


def test_review_rows_stream_in_batches_in_id_order_from_a_sharded_table(tmp_path, monkeypatch):
    """The review set's whole rows come a bucket of ids at a time, sorted by id across the
    table's parts, and a review conversation missing from the scored table is an error, not a
    short page."""
    batch = scored(7)
    folder = tmp_path / "scored"
    folder.mkdir()
    write_scored(batch.iloc[[4, 1, 6]].reset_index(drop=True), folder / "part-00000.parquet")
    write_scored(batch.iloc[[0, 5, 3, 2]].reset_index(drop=True), folder / "part-00001.parquet")
    scores = batch[list(DECISION_COLUMNS)].sort_values("conversation_id").reset_index(drop=True)
    picked = scores.iloc[[0, 2, 3, 5, 6]].reset_index(drop=True)
    monkeypatch.setattr(review, "REVIEW_BUCKET_ROWS", 2)
    batches = list(review.review_batches(picked, folder, 1))
    assert [len(b) for b in batches] == [2, 2, 1]
    whole = pd.concat(batches, ignore_index=True)
    assert whole["conversation_id"].tolist() == picked["conversation_id"].tolist()
    by_id = batch.set_index("conversation_id")
    for row in whole.itertuples():
        assert list(row.turns) == list(by_id.loc[row.conversation_id, "turns"])
    assert [len(b) for b in review.review_batches(picked.iloc[:0], folder, 1)] == [0]
    stranger = pd.concat(
        [picked, picked.iloc[[0]].assign(conversation_id="zz-not-scored")], ignore_index=True
    )
    with pytest.raises(ValueError, match="not in the scored table"):
        list(review.review_batches(stranger, folder, 1))


def test_select_writes_outputs_and_applies_verdicts_on_rerun(tmp_path):
    batch = scored(4, quality=[0.9, 0.9, 0.5, 0.9], safety=[1.0, 1.0, 1.0, 0.3])
    batch.loc[3, "crisis_kinds"] = "suicide"
    write_scored(batch, tmp_path / "scored.parquet")
    cfg = build_config(SelectConfig, {**PARAMS, "executor": {**PARAMS["executor"], "batch_size": 2}})
    verdicts = tmp_path / "verdicts.csv"
    verdicts.write_text("conversation_id,verdict,reviewer,note\n")
    paths = SelectPaths(
        input=tmp_path / "scored.parquet",
        verdicts=verdicts,
        output=tmp_path / "selected.parquet",
        quarantine=tmp_path / "quarantine.parquet",
        ledger=tmp_path / "ledger.json",
        review=tmp_path / "review",
        metrics=tmp_path / "select.json",
    )

    def selected():
        run(cfg, paths)
        return pq.read_table(paths.output).column("conversation_id").to_pylist()

    ids = batch["conversation_id"].tolist()
    assert selected() == ids[:2]
    ledger = json.loads(paths.ledger.read_text())
    assert ledger["rows_in"] == 4 and ledger["dropped"] == {
        "low_quality_therapeutic_accuracy": 1,
        "low_safety": 1,
    }
    review_csv = pd.read_csv(paths.review / "review.csv", keep_default_na=False)
    assert ids[3] in set(review_csv["conversation_id"]) and (review_csv["verdict"] == "").all()
    assert ids[3] in (paths.review / "review.html").read_text()

    verdicts.write_text(
        f"conversation_id,verdict,reviewer,note\n{ids[3]},keep,dr a,context was safe\n{ids[0]},drop,dr a,\n"
    )
    assert selected() == [ids[1], ids[3]]
    metrics = json.loads(paths.metrics.read_text())
    assert metrics["review"]["verdicts_applied"] == 2
