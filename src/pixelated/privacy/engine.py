"""PII detection: a Presidio analyzer built offline from a pinned spaCy model, plus clean-up.

`AnalyzerEngine()` with defaults downloads en_core_web_lg and tldextract fetches the public
suffix list; both fail (or hang) offline, so the NLP engine is built explicitly from the pinned
model package and tldextract is pointed at its bundled snapshot. Presidio's out-of-the-box
false positives that matter here are removed after analysis: a URL inside an email, NER
spans in lower case (spaCy's small model tags "anxiety" and "cbt" now and then), country
names (only locations below country level identify anyone), and terms on the allow list
(therapeutic vocabulary).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from importlib.metadata import version
from pathlib import Path

from pixelated.privacy.config import AnalyzerConfig

log = logging.getLogger(__name__)
# Presidio logs every recognizer load (and each skipped language) and analysis details at DEBUG;
# keep it to errors so a run's log carries counts, not noise or text.
logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
logging.getLogger("presidio-anonymizer").setLevel(logging.ERROR)

# spaCy labels Presidio maps; the rest (CARDINAL, MONEY, DATE ...) are not identifying here.
_NER_MAPPING = {
    "PERSON": "PERSON",
    "PER": "PERSON",
    "ORG": "ORGANIZATION",
    "GPE": "LOCATION",
    "LOC": "LOCATION",
    "FAC": "LOCATION",
}
_NER_ENTITIES = frozenset(_NER_MAPPING.values())
_NER_IGNORED = (
    "CARDINAL",
    "DATE",
    "EVENT",
    "LANGUAGE",
    "LAW",
    "MONEY",
    "NORP",
    "ORDINAL",
    "PERCENT",
    "PRODUCT",
    "QUANTITY",
    "TIME",
    "WORK_OF_ART",
)
# "them.One", "life...ca": a sentence run together, not a bare domain (no scheme, no www.)
_MISSING_SPACE = re.compile(r"^(?!https?://|www\.)(?:[^/]*\.\.|[^/]*\.[A-Z])")
_PIPES_NOT_NEEDED = ("parser",)  # sentence structure is not used; ~30% faster without it


@dataclass(frozen=True, order=True)
class Span:
    """One detected PII value in a text: [start, end) characters, its type and score."""

    start: int
    end: int
    entity: str
    score: float


def offline_tldextract() -> None:
    """Make tldextract (used by Presidio's email check) use its bundled suffix list only."""
    import tldextract.tldextract as tld

    if tld.TLD_EXTRACTOR.suffix_list_urls:
        tld.TLD_EXTRACTOR = tld.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)


def _country_names() -> frozenset[str]:
    from faker.providers.address.en_US import Provider

    names = {c.casefold() for c in Provider.countries}
    return frozenset(names | {"usa", "us", "u.s.", "uk", "u.k.", "america", "england", "britain"})


_NOT_NEEDED_BY_SPACY_ENGINE = ("transformers", "torch")


@contextmanager
def presidio_imports() -> Iterator[None]:
    """Import Presidio (and spaCy under it) without torch and transformers, which the spaCy
    engine never uses.

    Installed, both are imported anyway: Presidio imports transformers' `pipeline` for its
    optional Transformers engine, and spaCy's thinc imports torch. That is about 7 s of every
    anonymize worker's start. Presidio and thinc take a package for absent while sys.modules
    maps it to None: here only inside this block, and only a package the process has not
    imported yet (thinc then runs without torch, as spaCy's CPU models do anyway).
    PRESIDIO_DEVICE=cpu keeps spaCy on the CPU on any machine.
    """
    os.environ.setdefault("PRESIDIO_DEVICE", "cpu")
    blocked = [name for name in _NOT_NEEDED_BY_SPACY_ENGINE if name not in sys.modules]
    sys.modules.update(dict.fromkeys(blocked))
    try:
        yield
    finally:
        for name in blocked:
            if sys.modules.get(name, ...) is None:
                del sys.modules[name]


@cache
def _analyzer(model: str, entities: tuple[str, ...]):
    """One analyzer per process (loading spaCy takes seconds), holding only what is asked for."""
    offline_tldextract()
    with presidio_imports():
        from presidio_analyzer import AnalyzerEngine, BatchAnalyzerEngine, RecognizerRegistry
        from presidio_analyzer.nlp_engine import NlpEngineProvider

        from pixelated.privacy.recognizers import custom_recognizers

    nlp_engine = NlpEngineProvider(
        nlp_configuration={
            "nlp_engine_name": "spacy",
            "models": [{"lang_code": "en", "model_name": model}],
            "ner_model_configuration": {
                "model_to_presidio_entity_mapping": _NER_MAPPING,
                "labels_to_ignore": list(_NER_IGNORED),
                "low_confidence_score_multiplier": 0.4,
                "low_score_entity_names": [],
            },
        }
    ).create_engine()
    nlp_engine.nlp["en"].select_pipes(disable=list(_PIPES_NOT_NEEDED))
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.load_predefined_recognizers(languages=["en"], nlp_engine=nlp_engine)
    for recognizer in custom_recognizers():
        registry.add_recognizer(recognizer)
    wanted = set(entities)
    registry.recognizers = [r for r in registry.recognizers if wanted & set(r.supported_entities)]
    for recognizer in registry.recognizers:
        _skip_texts_it_cannot_match(recognizer)
    analyzer = AnalyzerEngine(nlp_engine=nlp_engine, registry=registry, supported_languages=["en"])
    log.debug("analyzer recognizers: %s", sorted(r.name for r in registry.recognizers))
    return BatchAnalyzerEngine(analyzer_engine=analyzer)


def _skip_texts_it_cannot_match(recognizer) -> None:
    """Make `recognizer` return nothing at once on a text it cannot match, with the same results.

    Presidio runs each of a recognizer's patterns through a Python loop (two clock reads and a
    result per pattern), about 5% of the analyzer's CPU, though most texts match no pattern. One
    search per pattern, with the flags Presidio compiles it with, decides that exactly; a search
    that times out leaves the decision to Presidio. phonenumbers' matcher finds candidates with
    a pattern of `\\d` runs (its _DIGIT_SEQUENCE): no digit, no phone number. The recognizer
    object stays in the registry, so context words still find it by its id.
    """
    import regex
    from presidio_analyzer import PatternRecognizer
    from presidio_analyzer.pattern_recognizer import REGEX_TIMEOUT_SECONDS
    from presidio_analyzer.predefined_recognizers import PhoneRecognizer

    if isinstance(recognizer, PatternRecognizer):
        gates = [regex.compile(p.regex, flags=recognizer.global_regex_flags) for p in recognizer.patterns]
    elif isinstance(recognizer, PhoneRecognizer):
        gates = [regex.compile(r"\d")]
    else:
        return
    analyze = recognizer.analyze

    def can_match(text: str) -> bool:
        try:
            return any(gate.search(text, timeout=REGEX_TIMEOUT_SECONDS) for gate in gates)
        except TimeoutError:
            return True

    def analyze_if_it_can_match(text: str, *args, **kwargs):
        return analyze(text, *args, **kwargs) if can_match(text) else []

    recognizer.analyze = analyze_if_it_can_match


def fingerprint(cfg: AnalyzerConfig) -> str:
    """What detection depends on: config, pinned package versions and the detection code
    (this module and the recognizers; not the pseudonymizer or the stage around them).

    Part of every span-cache key, so a changed recognizer or threshold never reuses old spans.
    """
    here = Path(__file__).parent
    code = b"".join((here / name).read_bytes() for name in ("engine.py", "recognizers.py"))
    state = {
        "cfg": cfg.model_dump(mode="json", include={"model", "entities", "score_threshold", "allow_list"}),
        "versions": [version(p) for p in ("presidio-analyzer", "spacy", cfg.model.replace("_", "-"))],
        "code": hashlib.sha256(code).hexdigest(),
    }
    return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()[:16]


class Detector:
    """Finds PII spans in batches of texts with the analyzer described by `privacy.analyzer`."""

    def __init__(self, cfg: AnalyzerConfig):
        self.cfg = cfg
        self.allow = frozenset(term.casefold() for term in cfg.allow_list)
        self.countries = _country_names()

    def detect(self, texts: list[str]) -> list[list[Span]]:
        """Spans per text, overlapping spans merged (see `resolve_overlaps`).

        Nothing to analyse (every text cached) loads no model: a cached rerun stays cheap.
        """
        if not texts:
            return []
        engine = _analyzer(self.cfg.model, self.cfg.entities)
        results = engine.analyze_iterator(
            texts,
            language="en",
            batch_size=self.cfg.nlp_batch_size,
            entities=list(self.cfg.entities),
            score_threshold=self.cfg.score_threshold,
        )
        return [self._clean(text, found) for text, found in zip(texts, results, strict=True)]

    def _clean(self, text: str, found) -> list[Span]:
        spans = [
            Span(r.start, r.end, r.entity_type, round(float(r.score), 6))
            for r in found
            if not self._false_positive(text[r.start : r.end], r.entity_type)
        ]
        return resolve_overlaps(spans)

    def _false_positive(self, value: str, entity: str) -> bool:
        folded = value.strip().casefold()
        if folded in self.allow:
            return True
        if entity in _NER_ENTITIES and value == value.lower():
            return True
        if entity == "URL" and _MISSING_SPACE.search(value):
            return True
        return entity == "LOCATION" and folded in self.countries


def resolve_overlaps(spans: list[Span]) -> list[Span]:
    """Merge overlapping spans into one covering span, typed by its best member.

    Best is the longest (the span that saw the whole value), then the highest score. Merging
    rather than picking one means no part of a value leaks when two recognizers cut it
    differently: "Postcode KY" (PERSON) and "KY 27958" (ZIP_CODE) become one span; a URL
    inside an email becomes the email; "Oak Street" inside "42 Oak Street" the address.
    """
    merged: list[tuple[int, int, list[Span]]] = []
    for span in sorted(spans):
        if merged and span.start < merged[-1][1]:
            start, end, members = merged[-1]
            merged[-1] = (start, max(end, span.end), [*members, span])
        else:
            merged.append((span.start, span.end, [span]))
    result = []
    for start, end, members in merged:
        best = max(members, key=lambda s: (s.end - s.start, s.score, s.entity))
        result.append(Span(start, end, best.entity, best.score))
    return result


def tokens_touched(text: str, spans: list[Span]) -> tuple[int, int]:
    """(whitespace tokens of `text`, those a span touches): the unit of over-redaction."""
    tokens = touched = position = 0
    for token in text.split():
        start = text.index(token, position)
        position = start + len(token)
        tokens += 1
        touched += any(s.start < position and start < s.end for s in spans)
    return tokens, touched
