"""The anonymize stage's batch function: consent gate, span cache look-up, pseudonymization.

Every free-text field of a conversation (turn texts, `situation`, string values in `extra`)
goes through one `Pseudonymizer`, so a name in the situation and in turn 3 gets the same
stand-in. `content_hash` is left as computed from the source text: it is a 64-bit identity
for dedup and leakage checks, not text, and keeping it means formatting variants of one
dialogue still match after anonymization.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field

import pandas as pd

from pixelated.core.ledger import Rejection, row_rejection
from pixelated.privacy.cache import span_key
from pixelated.privacy.engine import Detector, Span, tokens_touched
from pixelated.privacy.pseudonym import Pseudonymizer

log = logging.getLogger(__name__)


@dataclass
class BatchResult:
    """What one batch hands back to the stage: rows, rejections, new cache entries, counts."""

    sources: pd.DataFrame
    kept: pd.DataFrame
    rejections: list[Rejection]
    new_spans: dict[str, list[Span]] = field(default_factory=dict)
    entities: Counter = field(default_factory=Counter)
    tokens: int = 0
    tokens_changed: int = 0
    cache_hits: int = 0


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


def anonymize_batch(
    payload: tuple[pd.DataFrame, dict[str, list[Span]]], cfg: dict, fingerprint: str
) -> BatchResult:
    """Anonymize one batch. `payload` is the batch and the cached spans for its texts.

    Rows without consent are dropped when `cfg["require_consent"]`; a row whose analysis
    fails is quarantined with the error type, never crashing the run.
    """
    batch, cached = payload
    result = BatchResult(batch[["source"]], batch.iloc[0:0], [])
    consented = batch
    if cfg["require_consent"]:
        no_consent = ~batch["consent"].astype(bool)
        result.rejections += [
            row_rejection(row, "no_consent", f"source {row['source']} records no consent for this use")
            for _, row in batch[no_consent].iterrows()
        ]
        consented = batch[~no_consent]
    texts_by_row = {index: free_texts(row) for index, row in consented.iterrows()}
    keys = {text: span_key(fingerprint, text) for texts in texts_by_row.values() for text in texts}
    missing = sorted({text for text, key in keys.items() if key not in cached})
    detector = Detector(cfg["analyzer"])
    try:
        found = dict(zip(missing, detector.detect(missing), strict=True))
    except Exception as error:  # one bad text must not sink the batch: retry one by one
        log.warning("batch analysis failed (%s); analysing texts one at a time", type(error).__name__)
        found = _detect_each(detector, missing)
    result.new_spans = {keys[text]: spans for text, spans in found.items() if spans is not None}
    result.cache_hits = len(keys) - len(missing)
    rows = []
    for index, texts in texts_by_row.items():
        row = consented.loc[index]
        spans = [found[t] if t in found else cached[keys[t]] for t in texts]
        failed = [i for i, s in enumerate(spans) if s is None]
        if failed:
            result.rejections.append(
                row_rejection(row, "analysis_failed", f"PII analysis failed on text field {failed[0]}")
            )
            continue
        pseudonyms = Pseudonymizer(row["conversation_id"], cfg["surrogate"])
        rows.append(_with_texts(row, [pseudonyms.apply(t, s) for t, s in zip(texts, spans, strict=True)]))
        for text, text_spans in zip(texts, spans, strict=True):
            result.entities.update(s.entity for s in text_spans)
            tokens, touched = tokens_touched(text, text_spans)
            result.tokens += tokens
            result.tokens_changed += touched
    result.kept = pd.DataFrame(rows, columns=batch.columns).astype(batch.dtypes.to_dict())
    return result


def _detect_each(detector: Detector, texts: list[str]) -> dict[str, list[Span] | None]:
    found: dict[str, list[Span] | None] = {}
    for text in texts:
        try:
            found[text] = detector.detect([text])[0]
        except Exception as error:
            log.warning("PII analysis failed on one text: %s", type(error).__name__)
            found[text] = None
    return found
