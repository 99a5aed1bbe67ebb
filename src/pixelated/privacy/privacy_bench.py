"""PII benchmark: plant generated values into real turns, detect, and score per entity type.

Values come from Faker (seeded; US and UK locales), each inside a short sentence joined to a
real turn from the shared data, so detection runs on realistic context. Scores:

- `recall`: share of planted values whose every letter and digit is covered by some detected
  span (nothing of the value leaks, whatever type the detector gave it);
- `recall_typed`: share with an overlapping span of the planted type;
- `precision`: share of detected spans that overlap a planted value; spans in the real text
  count as false positives even when they are real PII, so this is a lower bound;
- `over_redaction`: whitespace tokens of the real turns that a span touched, and their share.
"""

from __future__ import annotations

import json
import logging
import random
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from pixelated.core.config import Config
from pixelated.core.hashing import seeded_key
from pixelated.core.sampling import BottomK
from pixelated.core.tableio import read_batches
from pixelated.privacy.config import PrivacyConfig
from pixelated.privacy.engine import Detector, Span, tokens_touched

log = logging.getLogger(__name__)

MIN_WORDS, MAX_CHARS = 5, 400  # carriers: real sentences, not one-word acknowledgements
BATCH_ROWS = 2000  # conversations read at a time when drawing carriers


class PrivacyBenchConfig(Config):
    privacy: PrivacyConfig


@dataclass(frozen=True)
class BenchPaths:
    """The table the carrier turns come from, and reports/privacy.json."""

    input: Path
    metrics: Path


@dataclass(frozen=True)
class Planted:
    text: str
    entity: str
    start: int
    end: int
    carrier_end: int  # text[:carrier_end] is the real turn


def fakers(seed: int):
    from faker import Faker

    us, uk = Faker("en_US"), Faker("en_GB")
    us.seed_instance(seed)
    uk.seed_instance(seed + 1)
    return us, uk


# Birth dates of seekers aged 13 to 90 in 2026, a fixed range: Faker's date_of_birth counts ages
# back from today, so the planted dates, and the report, would change with the day of the run.
_BIRTH_DATES = (date(1936, 1, 1), date(2013, 12, 31))
_DATE_FORMATS = ("%m/%d/%Y", "%B %d, %Y", "%d %B %Y", "%Y-%m-%d", "%b %d, %Y", "%d/%m/%Y")
_AGES = ("{} years old", "{} year old", "{}yo", "aged {}", "I'm {}", "I am {}", "{}-year-old")


def generators(us, uk, rng: random.Random) -> dict[str, tuple]:
    """entity -> (value maker, sentence templates); `{}` is where the value goes."""
    return {
        "PERSON": (
            lambda: (lambda f: f"{f.first_name()} {f.last_name()}")(rng.choice((us, uk))),
            (
                "My friend {} told me to reach out.",
                "I keep thinking about what {} said.",
                "{} doesn't talk to me anymore.",
            ),
        ),
        "ORGANIZATION": (
            lambda: rng.choice(
                (
                    us.company(),
                    f"{us.last_name()} High School",
                    f"University of {us.city()}",
                    f"{us.last_name()} College",
                )
            ),
            ("I work at {} and it is draining.", "Things at {} have been hard.", "I got into {} this year."),
        ),
        "LOCATION": (
            lambda: rng.choice((us.city(), uk.city(), us.state())),
            ("I moved to {} last year.", "My family lives in {}.", "Since I left {} I feel alone."),
        ),
        "EMAIL_ADDRESS": (
            lambda: rng.choice((us.email(), us.free_email(), uk.email(), us.company_email())),
            ("You can email me at {}.", "My email is {} if that helps.", "Write to {} please."),
        ),
        "PHONE_NUMBER": (
            lambda: rng.choice((us, uk)).phone_number(),
            ("Call me at {} tonight.", "My number is {}.", "Text {} if you can."),
        ),
        "URL": (
            lambda: rng.choice((us.url(), us.uri(), uk.url())),
            ("I wrote about it on {}.", "Here is my blog: {}", "See {} for my story."),
        ),
        "SOCIAL_HANDLE": (
            lambda: "@" + rng.choice((us, uk)).user_name(),
            ("Follow me on Instagram {}.", "DM me at {}.", "My twitter is {} lol."),
        ),
        "STREET_ADDRESS": (
            lambda: rng.choice((us, uk)).street_address().replace("\n", ", "),
            ("I live at {} with my parents.", "We moved to {} last month.", "My address is {}."),
        ),
        "ZIP_CODE": (
            lambda: rng.choice((us.zipcode(), uk.postcode(), f"{us.state_abbr()} {us.zipcode()}")),
            ("My zip code is {}.", "I live in {}, near the park.", "Postcode {} if you need it."),
        ),
        "DATE_OF_BIRTH": (
            lambda: us.date_between_dates(*_BIRTH_DATES).strftime(rng.choice(_DATE_FORMATS)),
            ("I was born on {}.", "My birthday is {}.", "DOB {} if it matters."),
        ),
        "AGE": (
            lambda: rng.choice(_AGES).format(rng.randint(13, 89)),
            ("{} and I feel lost.", "Honestly, {} and still struggling.", "{}, and nobody understands."),
        ),
    }


def plant(carriers: list[str], per_type: int, seed: int) -> list[Planted]:
    """`per_type` planted texts per entity type, each a real turn plus a sentence with a value."""
    rng = random.Random(seed)
    us, uk = fakers(seed)
    planted = []
    for entity, (make, templates) in generators(us, uk, rng).items():
        for _ in range(per_type):
            value = make()
            carrier = rng.choice(carriers).strip()
            prefix, suffix = rng.choice(templates).split("{}")
            text = f"{carrier} {prefix}{value}{suffix}"
            start = len(carrier) + 1 + len(prefix)
            planted.append(Planted(text, entity, start, start + len(value), len(carrier)))
    return planted


def _leaks(item: Planted, spans: list[Span]) -> bool:
    covered = set()
    for span in spans:
        covered.update(range(span.start, span.end))
    return any(
        ch.isalnum() and i not in covered for i, ch in enumerate(item.text) if item.start <= i < item.end
    )


def _overlaps(span: Span, start: int, end: int) -> bool:
    return span.start < end and start < span.end


def score(planted: list[Planted], detected: list[list[Span]]) -> dict:
    """Recall and precision per entity type, overall precision and over-redaction."""
    per_type: dict[str, Counter] = defaultdict(Counter)
    predicted: dict[str, Counter] = defaultdict(Counter)
    tokens = touched = 0
    for item, spans in zip(planted, detected, strict=True):
        counts = per_type[item.entity]
        counts["planted"] += 1
        counts["found"] += not _leaks(item, spans)
        counts["found_typed"] += any(
            s.entity == item.entity and _overlaps(s, item.start, item.end) for s in spans
        )
        for span in spans:
            hit = _overlaps(span, item.start, item.end)
            predicted[span.entity]["spans"] += 1
            predicted[span.entity]["hits"] += hit
            predicted[span.entity]["hits_typed"] += hit and span.entity == item.entity
        n, t = tokens_touched(item.text[: item.carrier_end], [s for s in spans if s.start < item.carrier_end])
        tokens, touched = tokens + n, touched + t
    all_spans = sum(c["spans"] for c in predicted.values())
    all_hits = sum(c["hits"] for c in predicted.values())
    return {
        "entities": {
            entity: {
                "planted": c["planted"],
                "recall": round(c["found"] / c["planted"], 4),
                "recall_typed": round(c["found_typed"] / c["planted"], 4),
                "precision_typed": _ratio(predicted[entity]["hits_typed"], predicted[entity]["spans"]),
            }
            for entity, c in sorted(per_type.items())
        },
        "detected_by_type": {e: dict(sorted(c.items())) for e, c in sorted(predicted.items())},
        "precision": _ratio(all_hits, all_spans),
        "over_redaction": {"tokens": tokens, "tokens_changed": touched, "ratio": _ratio(touched, tokens)},
    }


def _ratio(a: int, b: int) -> float:
    return round(a / b, 4) if b else 0.0


TARGETS = {"EMAIL_ADDRESS": 0.99, "PHONE_NUMBER": 0.99, "URL": 0.99, "PERSON": 0.90, "STREET_ADDRESS": 0.90}
PRECISION_TARGET = 0.90


def run(cfg: PrivacyBenchConfig, paths: BenchPaths) -> None:
    """The stage: draw carriers from `paths.input`, benchmark, write the metrics JSON."""
    bench = cfg.privacy.bench
    result = benchmark(carriers(paths.input, bench.max_carriers, bench.seed), cfg.privacy)
    paths.metrics.parent.mkdir(parents=True, exist_ok=True)
    paths.metrics.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    log.info("privacy_bench: precision %.4f, targets met: %s", result["precision"], result["targets"]["met"])


def carriers(path: Path, limit: int, seed: int) -> list[str]:
    """Up to `limit` distinct real turn texts, drawn by seed from every turn in the table: those
    with the smallest seeded hash (a bottom-k sample), in that order. The table is read a batch
    at a time and only the `limit` texts drawn so far are held: a set of every text held the
    whole dataset."""
    drawn = BottomK(limit)
    held: set[str] = set()  # the texts drawn, so a repeat is not offered twice
    for text in _eligible_texts(path):
        if text in held:
            continue
        held.add(text)
        held.difference_update(drawn.offer(int(seeded_key(seed, text), 16), text))
    return drawn.by_rank()


def _eligible_texts(path: Path) -> Iterator[str]:
    """Every turn text of the table long enough to carry a value, BATCH_ROWS conversations at a time."""
    for batch in read_batches(path, BATCH_ROWS, columns=["turns"]):
        for turns in batch["turns"]:
            for turn in turns:
                text = turn["text"]
                if text and len(text.split()) >= MIN_WORDS and len(text) <= MAX_CHARS:
                    yield text


def benchmark(carriers: list[str], cfg: PrivacyConfig) -> dict:
    """Plant, detect with the configured analyzer, score, check targets."""
    planted = plant(carriers, cfg.bench.per_type, cfg.bench.seed)
    detected = Detector(cfg.analyzer).detect([p.text for p in planted])
    result = score(planted, detected)
    result["targets"] = {
        "recall": TARGETS,
        "precision": PRECISION_TARGET,
        "met": all(result["entities"][e]["recall"] >= t for e, t in TARGETS.items())
        and result["precision"] >= PRECISION_TARGET,
    }
    result["carriers"] = len(carriers)
    return result
