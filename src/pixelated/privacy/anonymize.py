"""anonymize: replace PII in every free-text field with consistent pseudonyms (Presidio + spaCy).

Every free-text value of a conversation (turn texts, the typed text columns such as
`situation` and `topic`, every string or number in `extra` however nested) goes through one
`Pseudonymizer`, so a name in the situation and in turn 3 gets the same
stand-in. `content_hash` is left as computed from the source text: it is a 64-bit identity
for dedup and leakage checks, not text, and keeping it means formatting variants of one
dialogue still match after anonymization.

Analysis is the slow part. Spans are cached per text (`cache.py`), and what the cache lacks is
analysed on the executor's workers in tasks of `privacy.analyzer.texts_per_task` distinct
texts, not whole batches: the workers stay evenly busy to the end of the input, and a text
shared by several batches (counsel-chat answers repeat their question) is analysed once. Each
batch then gets its pseudonyms in this process, which is light work. The cache is a folder
with one part per input shard, holding exactly the texts of that shard, so the stage holds
one shard's spans at a time, however large the input.
"""

from __future__ import annotations

import json
import logging
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import pandas as pd
import pyarrow as pa_arrow
from pydantic import Field

from pixelated.core import resources
from pixelated.core.config import Config, ExecutorConfig, ValidateConfig
from pixelated.core.executor import mapping
from pixelated.core.ledger import Rejection, row_rejection
from pixelated.core.runner import BatchResult, Output, TablePaths, run_shards, table_shards
from pixelated.core.schema import CONVERSATION_SCHEMA, METADATA_COLUMNS
from pixelated.core.shards import Shard, part_path, prepare_folder, remove_beyond
from pixelated.core.tableio import count_rows
from pixelated.core.validation import canonical_schema, validate_batch
from pixelated.privacy import cache as span_cache
from pixelated.privacy.cache import span_key
from pixelated.privacy.config import AnalyzerConfig, PrivacyConfig
from pixelated.privacy.engine import Detector, Span, fingerprint, tokens_touched
from pixelated.privacy.pseudonym import Pseudonymizer

log = logging.getLogger(__name__)

Found = dict[str, list[Span] | None]  # span-cache key -> spans; None where the analysis failed
Payload = tuple[pd.DataFrame, Found]  # a batch and the spans known for its texts


class AnonymizeConfig(Config):
    privacy: PrivacyConfig
    validate_: ValidateConfig = Field(alias="validate")
    executor: ExecutorConfig = ExecutorConfig()


@dataclass(frozen=True)
class AnonymizePaths(TablePaths):
    """The table in and out, plus the span cache (kept across runs) and reports/anonymize.json."""

    cache: Path
    metrics: Path


@dataclass
class BatchStats:
    """A batch's counts for reports/anonymize.json: entities replaced, tokens they touch."""

    entities: Counter = field(default_factory=Counter)
    tokens: int = 0
    tokens_changed: int = 0

    def count(self, texts: list[str], spans: list[list[Span]]) -> None:
        """Count the entities replaced in one row's texts and the whitespace tokens they touch."""
        for text, text_spans in zip(texts, spans, strict=True):
            self.entities.update(s.entity for s in text_spans)
            tokens, touched = tokens_touched(text, text_spans)
            self.tokens += tokens
            self.tokens_changed += touched

    def add(self, other: BatchStats) -> None:
        self.entities.update(other.entities)
        self.tokens += other.tokens
        self.tokens_changed += other.tokens_changed

    def as_dict(self) -> dict:
        """The counts a shard's marker keeps."""
        return {
            "entities": dict(sorted(self.entities.items())),
            "tokens": self.tokens,
            "tokens_changed": self.tokens_changed,
        }

    @classmethod
    def from_dict(cls, counts: dict) -> BatchStats:
        return cls(
            entities=Counter(counts["entities"]),
            tokens=counts["tokens"],
            tokens_changed=counts["tokens_changed"],
        )

    def metrics(self, consent_required: bool) -> dict:
        return {
            "entities_replaced": dict(sorted(self.entities.items())),
            "tokens": self.tokens,
            "tokens_changed": self.tokens_changed,
            "tokens_changed_ratio": round(self.tokens_changed / self.tokens, 6) if self.tokens else 0.0,
            "consent_required": consent_required,
        }


TextTasks = Callable[[Iterable[list[str]]], Iterator[Found]]  # maps `detect_task` over tasks, in order


class SpanCacheRun:
    """The span cache over one run, a part per input shard, and the run's totals.

    It is the runner's `ShardStats`. When a shard starts, its part is loaded, and the texts of
    each batch that it lacks are analysed (`payloads`); after the shard, the part is saved
    holding exactly that shard's texts, and the shard's counts go to its marker. A shard an
    earlier run finished keeps its part as it is (`replay`). Memory holds one shard's spans:
    the cache does not grow with the input, nor across data versions."""

    def __init__(self, folder: Path, fingerprint: str, texts_per_task: int):
        prepare_folder(folder)  # a single-file cache of the earlier layout is dropped
        self.folder = folder
        self.fingerprint = fingerprint
        self.texts_per_task = texts_per_task
        self.totals = BatchStats()
        self.shards = 0
        self.analysed = self.served = 0  # distinct texts per batch: analysed now, or known
        self._index = -1
        self._cached: Found = {}
        self._used: set[str] = set()
        self._shard = BatchStats()

    def payloads(self, index: int, batches: Iterable[pd.DataFrame], detect: TextTasks) -> Iterator[Payload]:
        """Shard `index`'s batches, each with the spans of all its texts.

        The texts the cache lacks go to `detect` in tasks of `texts_per_task`, those of later
        batches queued behind those of earlier ones, so the workers keep busy while batches
        remain; a text already queued for an earlier batch is not queued again. A
        batch is yielded once its last task is back (tasks come back in order)."""
        self._index, self._cached, self._used = index, span_cache.load(part_path(self.folder, index)), set()
        waiting: deque[tuple[pd.DataFrame, list[str]]] = deque()  # batches whose tasks are out
        ends_batch: deque[bool] = deque()  # for each task queued: is it its batch's last?

        def tasks() -> Iterator[list[str]]:
            queued: set[str] = set()
            for batch in batches:
                keys = {
                    span_key(self.fingerprint, t): t for _, row in batch.iterrows() for t in free_texts(row)
                }
                new = sorted(
                    text for key, text in keys.items() if key not in self._cached and key not in queued
                )
                queued.update(keys)
                self._used.update(keys)
                self.analysed += len(new)
                self.served += len(keys) - len(new)
                waiting.append((batch, list(keys)))
                size = self.texts_per_task
                chunks = [new[start : start + size] for start in range(0, len(new), size)] or [[]]
                ends_batch.extend([False] * (len(chunks) - 1) + [True])
                yield from chunks

        for found in detect(tasks()):
            self._cached.update(found)
            if ends_batch.popleft():
                batch, keys = waiting.popleft()
                yield batch, {key: self._cached[key] for key in keys}

    def collect(self, result: BatchResult) -> None:
        """`run_shards`'s `on_result`: add up the counts."""
        self._shard.add(result.stats)

    def take(self) -> dict:
        """After a shard: save its part, pruned to its texts (a failed analysis is not kept),
        and return its counts."""
        kept = {key: self._cached[key] for key in self._used if self._cached.get(key) is not None}
        span_cache.save(part_path(self.folder, self._index), kept)
        self._cached, self._used = {}, set()
        counts, self._shard = self._shard, BatchStats()
        return self._count(counts)

    def replay(self, counts: dict, shard: Shard) -> None:
        """A shard an earlier run finished: its counts (its part was saved then)."""
        self._count(BatchStats.from_dict(counts))

    def _count(self, counts: BatchStats) -> dict:
        self.totals.add(counts)
        self.shards += 1
        return counts.as_dict()

    def close(self) -> None:
        """Drop the parts of shards this input no longer has."""
        remove_beyond(self.folder, self.shards)


def run(cfg: AnonymizeConfig, paths: AnonymizePaths) -> None:
    """The stage: anonymize `paths.input` shard by shard, reusing the span cache, then save it
    pruned to this input's texts and write the entity and token counts.

    The executor's workers analyse texts (`detect_task`); batches are assembled here, so
    `run_shards` maps them locally (the executor kind is not part of a shard's marker)."""
    max_chars = cfg.validate_.max_turn_chars
    analyzer = cfg.privacy.analyzer
    stamp = fingerprint(analyzer)
    spans = SpanCacheRun(paths.cache, stamp, analyzer.texts_per_task)
    assemble_here = cfg.model_copy(update={"executor": cfg.executor.model_copy(update={"kind": "local"})})
    with mapping(partial(detect_task, cfg=analyzer, fingerprint=stamp), cfg.executor) as detect:
        shards = (
            Shard(shard.index, spans.payloads(shard.index, shard.payloads, detect))
            for shard in table_shards(paths.input, cfg.executor.batch_size)
        )
        run_shards(
            "anonymize",
            partial(checked_batch, cfg=cfg.privacy, fingerprint=stamp, max_turn_chars=max_chars),
            shards,
            outputs=Output(paths.output, CONVERSATION_SCHEMA, canonical_schema(max_chars)),
            quarantine=paths.quarantine,
            ledger=paths.ledger,
            config=assemble_here,
            inputs=[paths.input],
            total=count_rows(paths.input),
            on_result=spans.collect,
            stats=spans,
        )
    spans.close()
    log.info("anonymize: %d texts analysed, %d served from the span cache", spans.analysed, spans.served)
    resources.note(texts_analysed=spans.analysed, span_cache_hits=spans.served)
    metrics = spans.totals.metrics(consent_required=cfg.privacy.require_consent)
    paths.metrics.parent.mkdir(parents=True, exist_ok=True)
    paths.metrics.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")


def detect_task(texts: list[str], cfg: AnalyzerConfig, fingerprint: str) -> Found:
    """One worker task: the spans of `texts`, by span-cache key."""
    found = _detect(Detector(cfg), texts)
    return {span_key(fingerprint, text): spans for text, spans in found.items()}


# Typed metadata columns holding free text (topic, emotion_type, ...): they reach splits,
# exports and the bias report's group keys, so they pass the detector like turn text.
TEXT_COLUMNS = tuple(
    name for name, dtype in METADATA_COLUMNS.items() if dtype == pa_arrow.string() and name != "situation"
)
Slot = tuple  # where a free text sits: ("turn", i), ("column", name) or ("extra", *json path)


def text_slots(row) -> list[tuple[Slot, str]]:
    """Every free-text value of a row and where it sits, in a fixed order: turns, situation,
    every string or number anywhere in `extra` (nested too), then the typed text columns."""
    slots: list[tuple[Slot, str]] = [(("turn", i), turn["text"] or "") for i, turn in enumerate(row["turns"])]
    if isinstance(row["situation"], str):
        slots.append((("column", "situation"), row["situation"]))
    slots += [
        (("extra", *path), text) for path, text in _leaves(json.loads(row["extra"]) if row["extra"] else {})
    ]
    slots += [(("column", name), row[name]) for name in TEXT_COLUMNS if isinstance(row[name], str)]
    return slots


def free_texts(row) -> list[str]:
    return [text for _, text in text_slots(row)]


def _leaves(value, path: tuple = ()) -> Iterator[tuple[tuple, str]]:
    """(path, text) for every string and number in a JSON value, dict keys in sorted order."""
    if isinstance(value, dict):
        for key in sorted(value):
            yield from _leaves(value[key], (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, (*path, index))
    elif isinstance(value, str):
        yield path, value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield path, str(value)  # an SSN or phone number stored as a number


def _with_texts(row, texts: list[str]) -> dict:
    """`row` with its free texts replaced, in the order `text_slots` listed them; a number in
    `extra` stays a number unless the detector replaced it."""
    row = dict(row)
    extra = json.loads(row["extra"]) if row["extra"] else {}
    turns = [dict(turn) for turn in row["turns"]]
    for (slot, old), new in zip(text_slots(row), texts, strict=True):
        if slot[0] == "turn":
            turns[slot[1]]["text"] = new
        elif slot[0] == "column":
            row[slot[1]] = new
        elif new != old:
            _set(extra, slot[1:], new)
    row["turns"] = turns
    if row["extra"]:
        row["extra"] = json.dumps(extra, sort_keys=True, ensure_ascii=False, default=str)
    return row


def _set(data, path: tuple, value: str) -> None:
    for key in path[:-1]:
        data = data[key]
    data[path[-1]] = value


def checked_batch(payload: Payload, cfg: PrivacyConfig, fingerprint: str, max_turn_chars: int) -> BatchResult:
    """`anonymize_batch`, then the canonical schema again: a stand-in can push a turn over
    validate.max_turn_chars, and that row is quarantined rather than crashing the writer."""
    result = anonymize_batch(payload, cfg, fingerprint)
    result.kept, too_long = validate_batch(result.kept, max_turn_chars)
    result.rejections += too_long
    return result


def anonymize_batch(payload: Payload, cfg: PrivacyConfig, fingerprint: str) -> BatchResult:
    """Anonymize one batch. `payload` is the batch and the spans known for its texts (the
    stage knows all of them); the rest are analysed here.

    Rows without consent are dropped when `cfg.require_consent`; a row whose analysis fails
    is quarantined with the error type, never crashing the run.
    """
    batch, known = payload
    consented, rejections = _consent_gate(batch, cfg.require_consent)
    texts_by_row = {index: free_texts(row) for index, row in consented.iterrows()}
    keys = {text: span_key(fingerprint, text) for texts in texts_by_row.values() for text in texts}
    found = _detect(Detector(cfg.analyzer), sorted(text for text, key in keys.items() if key not in known))
    stats = BatchStats()
    rows = []
    for index, texts in texts_by_row.items():
        row = consented.loc[index]
        spans = [found[t] if t in found else known[keys[t]] for t in texts]
        failed = [i for i, s in enumerate(spans) if s is None]
        if failed:
            rejections.append(
                row_rejection(row, "analysis_failed", f"PII analysis failed on text field {failed[0]}")
            )
            continue
        pseudonyms = Pseudonymizer(row["conversation_id"], cfg.surrogate)
        rows.append(_with_texts(row, [pseudonyms.apply(t, s) for t, s in zip(texts, spans, strict=True)]))
        stats.count(texts, spans)
    kept = pd.DataFrame(rows, columns=batch.columns).astype(batch.dtypes.to_dict())
    return BatchResult(batch["source"], kept, rejections, stats)


def _consent_gate(batch: pd.DataFrame, require_consent: bool) -> tuple[pd.DataFrame, list[Rejection]]:
    if not require_consent:
        return batch, []
    no_consent = ~batch["consent"].astype(bool)
    rejections = [
        row_rejection(row, "no_consent", f"source {row['source']} records no consent for this use")
        for _, row in batch[no_consent].iterrows()
    ]
    return batch[~no_consent], rejections


def _detect(detector: Detector, texts: list[str]) -> dict[str, list[Span] | None]:
    try:
        return dict(zip(texts, detector.detect(texts), strict=True))
    except Exception as error:  # one bad text must not sink the batch: retry one by one
        log.warning("batch analysis failed (%s); analysing texts one at a time", type(error).__name__)
        return _detect_each(detector, texts)


def _detect_each(detector: Detector, texts: list[str]) -> dict[str, list[Span] | None]:
    found: dict[str, list[Span] | None] = {}
    for text in texts:
        try:
            found[text] = detector.detect([text])[0]
        except Exception as error:
            log.warning("PII analysis failed on one text: %s", type(error).__name__)
            found[text] = None
    return found
