"""The PII benchmark: scoring of leaks, types and over-redaction, seeded planting, and the stage
run from carrier turns to reports/privacy.json."""

import json

from pixelated.core.config import build_config, read_params
from pixelated.core.hashing import seeded_key
from pixelated.core.schema import CONVERSATION_SCHEMA
from pixelated.core.tableio import ValidatedWriter
from pixelated.core.validation import canonical_schema
from pixelated.ingest.conversation import make_turn
from pixelated.privacy import privacy_bench
from pixelated.privacy.engine import Span
from tests.paths import REPO


def test_benchmark_scores_leaks_types_and_over_redaction():
    text = "I feel sad today. Call John Smith now."
    item = privacy_bench.Planted(
        text, "PERSON", text.index("John"), text.index(" now"), len("I feel sad today.")
    )
    full = [Span(item.start, item.end, "PERSON", 0.9), Span(7, 10, "ORGANIZATION", 0.8)]
    partial = [Span(item.start, item.start + 4, "LOCATION", 0.9)]
    result = privacy_bench.score([item, item], [full, partial])
    scores = result["entities"]["PERSON"]
    assert scores["recall"] == 0.5  # "Smith" leaks in the second
    assert scores["recall_typed"] == 0.5
    assert result["precision"] == round(2 / 3, 4)  # the span on "sad" hits nothing planted
    assert result["over_redaction"] == {"tokens": 8, "tokens_changed": 1, "ratio": 0.125}


def test_planting_is_seeded_and_places_values_where_it_says():
    carriers = ["I have been feeling low for weeks now.", "Nobody at home listens to me at all."]
    first, second = privacy_bench.plant(carriers, 5, 7), privacy_bench.plant(carriers, 5, 7)
    assert first == second and len(first) == 5 * 11
    assert all(p.text[: p.carrier_end] in carriers for p in first)
    assert all(p.text[p.start : p.end].strip() == p.text[p.start : p.end] != "" for p in first)


def test_run_draws_carriers_and_writes_the_metrics(canonical_row, frame, tmp_path):
    params = read_params(REPO / "params.yaml")
    params["privacy"]["bench"]["per_type"] = 2  # enough to run, not to measure
    cfg = build_config(privacy_bench.PrivacyBenchConfig, params)
    turns = [
        make_turn("seeker", "I have been feeling low for weeks now."),
        make_turn("helper", "Ok."),  # too short to carry a value
        make_turn("seeker", "Nobody at home listens to me at all."),
    ]
    paths = privacy_bench.BenchPaths(input=tmp_path / "validated.parquet", metrics=tmp_path / "privacy.json")
    max_chars = params["validate"]["max_turn_chars"]
    with ValidatedWriter(paths.input, CONVERSATION_SCHEMA, canonical_schema(max_chars)) as writer:
        writer.write(frame([canonical_row(1, turns)]))

    privacy_bench.run(cfg, paths)
    result = json.loads(paths.metrics.read_text())
    assert result["carriers"] == 2
    assert {scores["planted"] for scores in result["entities"].values()} == {2}
    assert set(result["targets"]) == {"recall", "precision", "met"}


def test_carriers_are_the_bottom_k_of_the_distinct_turns_read_a_batch_at_a_time(
    canonical_row, frame, tmp_path, monkeypatch
):
    """Issue 14: drawn while streaming (batches of two conversations here), the carriers are
    the distinct eligible texts with the smallest seeded hash, in that order."""
    monkeypatch.setattr(privacy_bench, "BATCH_ROWS", 2)
    texts = [f"I have felt low for {n} weeks and nobody knows." for n in range(12)]
    rows = [
        canonical_row(
            i + 1,
            [
                make_turn("seeker", texts[i]),
                make_turn("helper", texts[(i * 5) % 12]),
                make_turn("seeker", "Ok."),
            ],
        )
        for i in range(12)
    ]
    path = tmp_path / "validated.parquet"
    with ValidatedWriter(path, CONVERSATION_SCHEMA, canonical_schema(4000)) as writer:
        writer.write(frame(rows))
    by_rank = sorted(texts, key=lambda text: seeded_key(13, text))
    assert privacy_bench.carriers(path, 5, 13) == by_rank[:5]
    assert privacy_bench.carriers(path, 50, 13) == by_rank  # each text once
