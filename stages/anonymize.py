"""anonymize: replace PII in every free-text field with consistent pseudonyms (Presidio + spaCy).

Reads data/raw/validated.parquet (the last raw table); everything downstream sees only this
stage's output. Drops rows without consent when privacy.require_consent is true.
"""

import argparse
import json
import logging
from collections import Counter
from functools import partial
from pathlib import Path

from pixelated.core.executor import map_batches
from pixelated.core.ledger import Ledger
from pixelated.core.runner import load_params, setup_logging
from pixelated.core.schema import CONVERSATION_SCHEMA
from pixelated.core.tableio import QuarantineWriter, ValidatedWriter, count_rows, read_batches
from pixelated.core.validation import canonical_schema, validate_batch
from pixelated.privacy import cache as span_cache
from pixelated.privacy.anonymize import anonymize_batch, free_texts
from pixelated.privacy.cache import span_key
from pixelated.privacy.engine import fingerprint

log = logging.getLogger("pixelated.anonymize")


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("input", "output", "quarantine", "ledger", "cache", "metrics"):
        parser.add_argument(f"--{name}", required=True, type=Path)
    parser.add_argument("--params", default="params.yaml", type=Path)
    return parser.parse_args()


def main() -> None:
    args = _args()
    params = load_params(args.params)
    setup_logging(params)
    cfg, executor = params["privacy"], params["executor"]
    max_turn_chars = int(params["validate"]["max_turn_chars"])
    stamp = fingerprint(cfg["analyzer"])
    cached = span_cache.load(args.cache)
    used: set[str] = set()

    def payloads():
        """Each batch with the cached spans of its texts, so workers skip what is known."""
        for batch in read_batches(args.input, int(executor["batch_size"])):
            keys = {span_key(stamp, t) for _, row in batch.iterrows() for t in free_texts(row)}
            used.update(keys)
            yield batch, {k: cached[k] for k in keys if k in cached}

    results = map_batches(
        partial(anonymize_batch, cfg=cfg, fingerprint=stamp),
        payloads(),
        kind=executor["kind"],
        workers=int(executor["workers"]),
    )
    ledger, entities = Ledger("anonymize"), Counter()
    tokens = changed = hits = 0
    with (
        ValidatedWriter(args.output, CONVERSATION_SCHEMA, canonical_schema(max_turn_chars)) as writer,
        QuarantineWriter(args.quarantine, "anonymize") as quarantine,
    ):
        for result in results:
            # a stand-in can push a turn over validate.max_turn_chars: quarantine, don't crash
            kept, invalid = validate_batch(result.kept, max_turn_chars)
            ledger.count_frame_in(result.sources)
            ledger.count_frame_out(kept)
            for rejection in [*result.rejections, *invalid]:
                ledger.count_drop(rejection.reason, source=rejection.source)
            writer.write(kept)
            quarantine.add([*result.rejections, *invalid])
            cached.update(result.new_spans)
            entities.update(result.entities)
            tokens, changed, hits = (
                tokens + result.tokens,
                changed + result.tokens_changed,
                hits + result.cache_hits,
            )
            log.info("anonymize: %d/%d conversations", ledger.rows_in, count_rows(args.input))
    ledger.write(args.ledger)
    span_cache.save(args.cache, {key: cached[key] for key in used if key in cached})
    log.info("anonymize: %d of %d texts served from the span cache", hits, len(used))
    stats = {
        "entities_replaced": dict(sorted(entities.items())),
        "tokens": tokens,
        "tokens_changed": changed,
        "tokens_changed_ratio": round(changed / tokens, 6) if tokens else 0.0,
        "consent_required": bool(cfg["require_consent"]),
    }
    args.metrics.parent.mkdir(parents=True, exist_ok=True)
    args.metrics.write_text(json.dumps(stats, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
