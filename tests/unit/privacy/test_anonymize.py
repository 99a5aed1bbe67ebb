"""anonymize: what is replaced, what survives, pseudonym consistency, consent, the span cache,
bad input, and the stage's accounting of every row."""

import json
import os
import subprocess
import sys
from dataclasses import fields, replace
from functools import partial

import pyarrow.parquet as pq
import pytest

from pixelated.core import shards
from pixelated.core.config import ExecutorConfig, build_config, read_params
from pixelated.core.schema import CONVERSATION_SCHEMA
from pixelated.core.tableio import ValidatedWriter
from pixelated.core.validation import canonical_schema
from pixelated.ingest.conversation import make_turn
from pixelated.privacy import anonymize
from pixelated.privacy import cache as span_cache
from pixelated.privacy.anonymize import anonymize_batch, free_texts
from pixelated.privacy.engine import Detector, fingerprint
from tests.conftest import table_bytes
from tests.paths import REPO

CONFIG = build_config(anonymize.AnonymizeConfig, read_params(REPO / "params.yaml"))
MAX_TURN_CHARS = CONFIG.validate_.max_turn_chars

# (planted value, sentence) per kind of PII the stage must remove
PII = [
    ("555-123-4567", "Call me at 555-123-4567 tonight."),
    ("(415) 555-0134", "my cell is (415) 555-0134"),
    ("020 7946 0958", "ring me on 020 7946 0958 please"),
    ("+33 1 23 45 67 89", "my French number +33 1 23 45 67 89"),
    ("maria.lopez88@gmail.com", "email me at maria.lopez88@gmail.com"),
    ("https://myblog.example.org/posts/42", "I wrote it on https://myblog.example.org/posts/42 yesterday"),
    ("@sadgirl_2003", "follow me @sadgirl_2003 on insta"),
    ("42 Willow Creek Road", "I live at 42 Willow Creek Road with my dad."),
    ("90210", "my zip code is 90210"),
    ("SW1A 1AA", "postcode SW1A 1AA"),
    ("03/14/1987", "I was born on 03/14/1987."),
    ("34 years old", "I am 34 years old and tired."),
    ("Jennifer Walsh", "My sister Jennifer Walsh never calls me."),
    ("Lincoln High School", "Kids at Lincoln High School bully me."),
    ("Springfield", "Since we moved to Springfield I have no friends."),
]

THERAPY = (
    "I was diagnosed with depression and PTSD and my psychiatrist put me on sertraline and "
    "Xanax. I feel anxious, hopeless and numb, and CBT and DBT have not helped my panic attacks, "
    "insomnia or my OCD. Sometimes I think about self-harm and suicide."
)


ROLES = ("seeker", "helper")


def _batch(canonical_row, frame, conversations: list[list[str]], **overrides):
    """One canonical row per conversation, turns alternating seeker/helper."""
    return frame(
        [
            canonical_row(i, [make_turn(ROLES[k % 2], t) for k, t in enumerate(texts)], **overrides)
            for i, texts in enumerate(conversations, 1)
        ]
    )


def _anonymize(batch, cached=None, **privacy):
    cfg = CONFIG.privacy.model_copy(update=privacy)
    return anonymize_batch((batch, cached or {}), cfg, fingerprint(cfg.analyzer))


def _texts(result) -> list[list[str]]:
    return [[t["text"] for t in turns] for turns in result.kept["turns"]]


def test_every_pii_kind_is_replaced(canonical_row, frame):
    batch = _batch(canonical_row, frame, [[sentence, "I hear you."] for _, sentence in PII])
    result = _anonymize(batch)
    assert len(result.kept) == len(PII) and not result.rejections
    for (value, _), texts in zip(PII, _texts(result), strict=True):
        assert value not in texts[0], texts[0]
        assert "<" in texts[0]


def test_therapeutic_vocabulary_survives(canonical_row, frame):
    batch = _batch(canonical_row, frame, [[THERAPY, "That sounds really hard. How long have you felt numb?"]])
    result = _anonymize(batch)
    assert _texts(result) == [[THERAPY, "That sounds really hard. How long have you felt numb?"]]
    assert result.stats.tokens_changed == 0


def test_pseudonyms_are_consistent_within_a_conversation(canonical_row, frame):
    turns = [
        "My boyfriend Daniel Brooks left me for my friend Sarah Mitchell.",
        "How did you find out about Daniel Brooks and Sarah Mitchell?",
        "Sarah Mitchell told me. Daniel never said a word.",
    ]
    (texts,) = _texts(_anonymize(_batch(canonical_row, frame, [turns])))
    assert texts[0] == "My boyfriend <PERSON_1> left me for my friend <PERSON_2>."
    assert texts[1] == "How did you find out about <PERSON_1> and <PERSON_2>?"
    assert texts[2] == "<PERSON_2> told me. <PERSON_1> never said a word."


def test_fake_surrogates_are_realistic_and_reproducible(canonical_row, frame):
    turns = [
        "You can email me at maria.lopez88@gmail.com, I'm 34 years old.",
        "Is maria.lopez88@gmail.com right?",
    ]
    batch = _batch(canonical_row, frame, [turns])
    first, second = (_texts(_anonymize(batch, surrogate="fake"))[0] for _ in range(2))
    assert first == second
    assert "maria.lopez88" not in " ".join(first) and "<" not in " ".join(first)
    assert "34 years old" not in first[0] and "years old" in first[0]
    surrogate = first[0].split("email me at ")[1].split(",")[0]
    assert f"Is {surrogate} right?" == first[1]  # the same stand-in in both turns


def test_situation_and_extra_strings_are_anonymized(canonical_row, frame):
    batch = _batch(
        canonical_row,
        frame,
        [["I feel alone.", "I am here."]],
        situation="Jennifer Walsh left me at 42 Willow Creek Road.",
        extra='{"question_title": "Can Jennifer Walsh forgive me?"}',
    )
    row = _anonymize(batch).kept.iloc[0]
    assert "Jennifer" not in row["situation"] and "Willow" not in row["situation"]
    assert row["extra"] == '{"question_title": "Can <PERSON_1> forgive me?"}'


def test_bad_input_passes_without_a_crash(canonical_row, frame):
    long_text = ("I keep going round in circles and nothing changes for me. " * 300).strip()
    conversations = [
        ["", "I am here."],
        [long_text, "That is a lot to carry."],
        ["Je m'appelle Pierre Dubois et je suis très triste à Lyon.", "¿Cómo estás? 我很难过。"],
        ["1234 5678 9012 3456 7890 0000 1111 2222 3333 4444 5555", "0" * 500],
    ]
    batch = _batch(canonical_row, frame, conversations)
    result = _anonymize(batch)
    assert len(result.kept) + len(result.rejections) == len(conversations)
    texts = _texts(result)
    assert texts[0][0] == ""
    assert "Pierre Dubois" not in texts[2][0]


def test_require_consent_drops_records_without_consent(canonical_row, frame):
    batch = _batch(canonical_row, frame, [["I feel alone.", "I am here."]], consent=False)
    kept = _anonymize(batch, require_consent=False)
    dropped = _anonymize(batch, require_consent=True)
    assert len(kept.kept) == 1 and not kept.rejections
    assert dropped.kept.empty and [r.reason for r in dropped.rejections] == ["no_consent"]


def test_spans_known_from_the_cache_give_the_same_output_unanalysed(
    canonical_row, frame, tmp_path, monkeypatch
):
    """The stage's worker tasks (`detect_task`) find the spans, the cache keeps them, and a
    batch whose spans are all known is anonymized as the analysing path does, analysing none."""
    batch = _batch(canonical_row, frame, [[sentence, "I hear you."] for _, sentence in PII[:4]])
    first = _anonymize(batch)
    stamp = fingerprint(CONFIG.privacy.analyzer)
    texts = sorted({t for _, row in batch.iterrows() for t in free_texts(row)})
    path = tmp_path / "spans.parquet"
    span_cache.save(path, anonymize.detect_task(texts, CONFIG.privacy.analyzer, stamp))
    cached = span_cache.load(path)
    assert set(cached) == {span_cache.span_key(stamp, t) for t in texts}
    monkeypatch.setattr(Detector, "detect", lambda self, texts: pytest.fail("analysed") if texts else [])
    assert _texts(_anonymize(batch, cached)) == _texts(first)


def test_worker_tasks_hold_few_texts_and_analyse_a_shared_text_once(canonical_row, frame, tmp_path):
    """Issue 14, item 4: the stage's worker tasks hold at most `texts_per_task` distinct texts,
    a text in several batches is analysed once, and each batch comes back, in input order,
    with the spans of all its texts. A text whose analysis failed quarantines its rows and is
    not cached."""
    shared = "My sister Jennifer Walsh never calls me."
    batches = [_batch(canonical_row, frame, [[shared, f"I hear you, {n}.", f"Go on, {n}."]]) for n in "abc"]
    stamp = fingerprint(CONFIG.privacy.analyzer)
    key = partial(span_cache.span_key, stamp)
    tasks: list[list[str]] = []

    def detect(chunks):  # the executor's map, in this process, failing on the shared text
        for chunk in chunks:
            tasks.append(chunk)
            found = anonymize.detect_task([t for t in chunk if t != shared], CONFIG.privacy.analyzer, stamp)
            yield found | ({key(shared): None} if shared in chunk else {})

    spans = anonymize.SpanCacheRun(tmp_path / "cache", stamp, texts_per_task=2)
    payloads = list(spans.payloads(0, batches, detect))
    analysed = [text for task in tasks for text in task]
    distinct = {text for batch in batches for _, row in batch.iterrows() for text in free_texts(row)}
    assert max(map(len, tasks)) <= 2 and sorted(analysed) == sorted(distinct)
    assert all(got is sent for (got, _), sent in zip(payloads, batches, strict=True))
    for batch, known in payloads:
        assert set(known) == {key(text) for _, row in batch.iterrows() for text in free_texts(row)}
        assert known[key(shared)] is None
        result = anonymize.checked_batch(
            (batch, known), cfg=CONFIG.privacy, fingerprint=stamp, max_turn_chars=MAX_TURN_CHARS
        )
        assert result.kept.empty and [r.reason for r in result.rejections] == ["analysis_failed"]
    spans.take()
    assert set(span_cache.load(shards.part_path(tmp_path / "cache", 0))) == {
        key(t) for t in distinct - {shared}
    }


def _stage_paths(folder) -> anonymize.AnonymizePaths:
    """Every path of the stage in `folder`, named after its argument."""
    return anonymize.AnonymizePaths(*(folder / item.name for item in fields(anonymize.AnonymizePaths)))


def test_run_accounts_every_row_and_reruns_from_its_cache(canonical_row, frame, tmp_path):
    """A stand-in longer than its value can push a turn over the limit: that row is quarantined
    and counted; a rerun serves every text from the saved cache and writes the same bytes."""
    phone = "Call me at 555-123-4567 tonight. "
    at_limit = (phone + "I keep going round in circles. " * 1000)[:MAX_TURN_CHARS]
    conversations = [
        [PII[0][1], "I hear you."],
        [at_limit, "That is a lot."],
        ["I feel alone.", "I am here."],
    ]
    batch = _batch(canonical_row, frame, conversations)
    paths = _stage_paths(tmp_path)
    with ValidatedWriter(paths.input, CONVERSATION_SCHEMA, canonical_schema(MAX_TURN_CHARS)) as writer:
        writer.write(batch)

    anonymize.run(CONFIG, paths)
    ledger = json.loads(paths.ledger.read_text())
    assert (ledger["rows_in"], ledger["rows_out"], ledger["dropped"]) == (3, 2, {"text_too_long": 1})
    quarantined = pq.read_table(paths.quarantine).to_pylist()
    assert [row["reason"] for row in quarantined] == ["text_too_long"]
    metrics = json.loads(paths.metrics.read_text())
    assert metrics["entities_replaced"]["PHONE_NUMBER"] == 2
    assert metrics["consent_required"] is CONFIG.privacy.require_consent
    stamp = fingerprint(CONFIG.privacy.analyzer)
    texts = {t for _, row in batch.iterrows() for t in free_texts(row)}
    cached = [span_cache.load(part) for part in shards.parts(paths.cache)]
    assert len(cached) == 1 and set(cached[0]) == {span_cache.span_key(stamp, t) for t in texts}

    written = {path: table_bytes(path) for path in (paths.output, paths.cache, paths.metrics, paths.ledger)}
    anonymize.run(CONFIG, paths)
    assert {path: table_bytes(path) for path in written} == written


@pytest.mark.slow
def test_speed_bench_cached_rerun_is_faster_and_identical(tmp_path):
    """bench/anonymize_speed.py on a few real conversations (needs `dvc repro validate`)."""
    validated = REPO / "data" / "raw" / "validated.parquet"
    if not validated.exists():
        pytest.skip("run `dvc repro validate` first")
    out = tmp_path / "speed.json"
    script = REPO / "bench" / "anonymize_speed.py"
    command = [sys.executable, str(script), "--rows", "100", "--output", str(out)]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    subprocess.run(command, check=True, capture_output=True, env=env)
    result = json.loads(out.read_text())
    assert result["output_deterministic"] is True
    assert result["conversations"] == 100 and result["conversations_per_s"] > 0
    assert result["cached_rerun_ratio"] < 1


def test_issue17_item1_typed_and_nested_metadata_is_anonymized(canonical_row, frame):
    """The probe's repro: an email and an SSN in `topic` and in a list under `extra` reached
    splits, exports and reports/select.json (topic is a bias-group key) untouched."""
    from pixelated.core import sql
    from pixelated.selection.bias import bias_report

    batch = _batch(
        canonical_row,
        frame,
        [["I feel alone.", "I am here."]],
        topic="anxiety jane.doe@example.org",
        emotion_type="call Jennifer Walsh",
        extra=json.dumps({"tags": ["jane.doe@example.org", "536-82-4917"], "deep": {"phone": 4155550134}}),
    )
    row = _anonymize(batch).kept.iloc[0]
    everything = json.dumps({k: str(row[k]) for k in ("topic", "emotion_type", "extra")})
    for planted in ("jane.doe@example.org", "536-82-4917", "4155550134", "Jennifer Walsh"):
        assert planted not in everything, planted
    assert row["topic"].startswith("anxiety ")
    decisions = sql.connect(1)
    decisions.register("decisions", _anonymize(batch).kept.assign(kept=True, quality=0.5))
    groups = bias_report(decisions, ["topic", "emotion_type"], min_group=1, max_relative_gap=0.5)
    assert "jane.doe" not in json.dumps(groups) and "Walsh" not in json.dumps(groups)


def test_a_run_that_crashed_resumes_to_a_clean_run_s_bytes(canonical_row, frame, tmp_path, monkeypatch):
    """Issue 14, item 2: the shards finished before a crash are not analysed again, yet the
    outputs, the span cache (saved after each shard) and the entity counts are a clean run's."""
    source = tmp_path / "in.parquet"
    schema = canonical_schema(MAX_TURN_CHARS)
    batch = _batch(canonical_row, frame, [[sentence, "I hear you."] for _, sentence in PII[:3]])
    for index in range(3):  # a part of one conversation each
        with ValidatedWriter(shards.part_path(source, index), CONVERSATION_SCHEMA, schema) as writer:
            writer.write(batch.iloc[[index]])
    last = batch["conversation_id"].iloc[2]
    config = CONFIG.model_copy(update={"executor": ExecutorConfig(kind="local")})
    clean, paths = (replace(_stage_paths(tmp_path / name), input=source) for name in ("clean", "resumed"))
    for folder in (clean, paths):
        folder.output.parent.mkdir()
    anonymize.run(config, clean)

    seen: list[str] = []
    original = anonymize.checked_batch

    def checked(batch, fail_on=None, **kwargs):
        seen.extend(batch[0]["conversation_id"])
        if fail_on in set(batch[0]["conversation_id"]):
            raise RuntimeError("killed")
        return original(batch, **kwargs)

    monkeypatch.setattr(anonymize, "checked_batch", partial(checked, fail_on=last))
    with pytest.raises(RuntimeError, match="killed"):
        anonymize.run(config, paths)
    monkeypatch.setattr(anonymize, "checked_batch", checked)
    seen.clear()
    anonymize.run(config, paths)
    assert seen == [last]
    for name in ("output", "quarantine", "cache", "metrics", "ledger"):
        assert table_bytes(getattr(paths, name)) == table_bytes(getattr(clean, name)), name


def test_the_span_cache_holds_a_part_per_shard_with_exactly_its_texts(canonical_row, frame, tmp_path):
    """Issue 14, item 5: the stage holds one shard's spans at a time, so each shard has its own
    part; a smaller input's rerun drops the parts of shards it no longer has."""
    source = tmp_path / "in.parquet"
    schema = canonical_schema(MAX_TURN_CHARS)
    batch = _batch(canonical_row, frame, [[sentence, "I hear you."] for _, sentence in PII[:3]])
    for index in range(3):
        with ValidatedWriter(shards.part_path(source, index), CONVERSATION_SCHEMA, schema) as writer:
            writer.write(batch.iloc[[index]])
    config = CONFIG.model_copy(update={"executor": ExecutorConfig(kind="local")})
    paths = replace(_stage_paths(tmp_path / "run"), input=source)
    paths.output.parent.mkdir()
    paths.cache.write_bytes(b"a single-file cache of the earlier layout")
    anonymize.run(config, paths)

    stamp = fingerprint(CONFIG.privacy.analyzer)
    for index, part in enumerate(shards.parts(paths.cache)):
        texts = free_texts(batch.iloc[index])
        assert set(span_cache.load(part)) == {span_cache.span_key(stamp, t) for t in texts}
    shards.part_path(source, 2).unlink()
    anonymize.run(config, paths)
    assert [part.name for part in shards.parts(paths.cache)] == ["part-00000.parquet", "part-00001.parquet"]
