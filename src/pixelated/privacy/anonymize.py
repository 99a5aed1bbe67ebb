"""anonymize: replace PII in every free-text field with consistent pseudonyms (Presidio + spaCy).

Every free-text field of a conversation (turn texts, `situation`, string values in `extra`)
goes through one `Pseudonymizer`, so a name in the situation and in turn 3 gets the same
stand-in. `content_hash` is left as computed from the source text: it is a 64-bit identity
for dedup and leakage checks, not text, and keeping it means formatting variants of one
dialogue still match after anonymization.

Analysis is the slow part, so spans are cached per text (`cache.py`): each batch travels with
the cached spans of its texts, workers analyse only the rest, and the run saves the cache
pruned to the texts of this input.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import pandas as pd
from pydantic import Field

from pixelated.core.config import Config, ExecutorConfig, ValidateConfig
from pixelated.core.ledger import Rejection, row_rejection
from pixelated.core.runner import BatchResult, Output, TablePaths, run_batches
from pixelated.core.schema import CONVERSATION_SCHEMA
from pixelated.core.tableio import count_rows, read_batches
from pixelated.core.validation import canonical_schema, validate_batch
from pixelated.privacy import cache as span_cache
from pixelated.privacy.cache import span_key
from pixelated.privacy.config import PrivacyConfig
from pixelated.privacy.engine import Detector, Span, fingerprint, tokens_touched
from pixelated.privacy.pseudonym import Pseudonymizer

log = logging.getLogger(__name__)

Payload = tuple[pd.DataFrame, dict[str, list[Span]]]  # a batch and the cached spans of its texts


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
    """A batch's side results: new span-cache entries and the counts for reports/anonymize.json."""

    new_spans: dict[str, list[Span]] = field(default_factory=dict)
    entities: Counter = field(default_factory=Counter)
    tokens: int = 0
    tokens_changed: int = 0
    cache_hits: int = 0

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
        self.cache_hits += other.cache_hits

    def metrics(self, consent_required: bool) -> dict:
        return {
            "entities_replaced": dict(sorted(self.entities.items())),
            "tokens": self.tokens,
            "tokens_changed": self.tokens_changed,
            "tokens_changed_ratio": round(self.tokens_changed / self.tokens, 6) if self.tokens else 0.0,
            "consent_required": consent_required,
        }


class SpanCacheRun:
    """The span cache over one run: what was cached, the keys this input uses, the totals."""

    def __init__(self, cached: dict[str, list[Span]], fingerprint: str):
        self.cached = cached
        self.fingerprint = fingerprint
        self.used: set[str] = set()
        self.totals = BatchStats()

    def payloads(self, batches: Iterable[pd.DataFrame]) -> Iterator[Payload]:
        """Each batch with the cached spans of its texts, so workers skip what is known."""
        for batch in batches:
            keys = {span_key(self.fingerprint, t) for _, row in batch.iterrows() for t in free_texts(row)}
            self.used.update(keys)
            yield batch, {k: self.cached[k] for k in keys if k in self.cached}

    def collect(self, result: BatchResult) -> None:
        """`run_batches`'s `on_result`: keep new spans for later batches, add up the counts."""
        self.cached.update(result.stats.new_spans)
        self.totals.add(result.stats)

    def in_use(self) -> dict[str, list[Span]]:
        """The entries to save: exactly the texts of this input, so the cache does not grow."""
        return {key: self.cached[key] for key in self.used if key in self.cached}


def run(cfg: AnonymizeConfig, paths: AnonymizePaths) -> None:
    """The stage: anonymize `paths.input` batch by batch, reusing the span cache, then save it
    pruned to this input's texts and write the entity and token counts."""
    max_chars = cfg.validate_.max_turn_chars
    stamp = fingerprint(cfg.privacy.analyzer)
    spans = SpanCacheRun(span_cache.load(paths.cache), stamp)
    run_batches(
        "anonymize",
        partial(checked_batch, cfg=cfg.privacy, fingerprint=stamp, max_turn_chars=max_chars),
        spans.payloads(read_batches(paths.input, cfg.executor.batch_size)),
        outputs=Output(paths.output, CONVERSATION_SCHEMA, canonical_schema(max_chars)),
        quarantine=paths.quarantine,
        ledger=paths.ledger,
        executor=cfg.executor,
        total=count_rows(paths.input),
        on_result=spans.collect,
    )
    span_cache.save(paths.cache, spans.in_use())
    log.info("anonymize: %d of %d texts served from the span cache", spans.totals.cache_hits, len(spans.used))
    metrics = spans.totals.metrics(consent_required=cfg.privacy.require_consent)
    paths.metrics.parent.mkdir(parents=True, exist_ok=True)
    paths.metrics.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")


def free_texts(row) -> list[str]:
    """Every free-text value of a row, in a fixed order: turns, situation, extra's strings."""
    texts = [turn["text"] or "" for turn in row["turns"]]
    if isinstance(row["situation"], str):
        texts.append(row["situation"])
    texts.extend(value for _, value in _extra_strings(row["extra"]))
    return texts


def _extra_strings(extra: str) -> list[tuple[str, str]]:
    data = json.loads(extra) if extra else {}
    return sorted((k, v) for k, v in data.items() if isinstance(v, str))


def _with_texts(row, texts: list[str]) -> dict:
    """`row` with its free texts replaced, in the order `free_texts` listed them."""
    row = dict(row)
    n = len(row["turns"])
    row["turns"] = [{**turn, "text": text} for turn, text in zip(row["turns"], texts[:n], strict=True)]
    rest = texts[n:]
    if isinstance(row["situation"], str):
        row["situation"], rest = rest[0], rest[1:]
    strings = _extra_strings(row["extra"])
    if strings:
        data = json.loads(row["extra"])
        data.update({key: value for (key, _), value in zip(strings, rest, strict=True)})
        row["extra"] = json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)
    return row


def checked_batch(payload: Payload, cfg: PrivacyConfig, fingerprint: str, max_turn_chars: int) -> BatchResult:
    """`anonymize_batch`, then the canonical schema again: a stand-in can push a turn over
    validate.max_turn_chars, and that row is quarantined rather than crashing the writer."""
    result = anonymize_batch(payload, cfg, fingerprint)
    result.kept, too_long = validate_batch(result.kept, max_turn_chars)
    result.rejections += too_long
    return result


def anonymize_batch(payload: Payload, cfg: PrivacyConfig, fingerprint: str) -> BatchResult:
    """Anonymize one batch. `payload` is the batch and the cached spans for its texts.

    Rows without consent are dropped when `cfg.require_consent`; a row whose analysis fails
    is quarantined with the error type, never crashing the run.
    """
    batch, cached = payload
    consented, rejections = _consent_gate(batch, cfg.require_consent)
    texts_by_row = {index: free_texts(row) for index, row in consented.iterrows()}
    keys = {text: span_key(fingerprint, text) for texts in texts_by_row.values() for text in texts}
    missing = sorted({text for text, key in keys.items() if key not in cached})
    found = _detect(Detector(cfg.analyzer), missing)
    stats = BatchStats(
        new_spans={keys[text]: spans for text, spans in found.items() if spans is not None},
        cache_hits=len(keys) - len(missing),
    )
    rows = []
    for index, texts in texts_by_row.items():
        row = consented.loc[index]
        spans = [found[t] if t in found else cached[keys[t]] for t in texts]
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
