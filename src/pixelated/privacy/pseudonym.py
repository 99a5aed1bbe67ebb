"""Consistent pseudonyms within one conversation, applied with Presidio's anonymizer.

The same value gets the same stand-in in every turn (`<PERSON_1>` stays one person), so a
dialogue stays coherent for training; a first or last name alone maps to the full name seen
earlier ("John Smith" ... "John" -> both `<PERSON_1>`). `surrogate: fake` swaps placeholders
for realistic values from Faker, seeded by conversation and slot, so runs are reproducible.
"""

from __future__ import annotations

import hashlib
import re
from functools import cache
from typing import get_args

from pixelated.privacy.config import Surrogate
from pixelated.privacy.engine import Span, presidio_imports

SURROGATES = get_args(Surrogate)

# Faker generator per entity type for `surrogate: fake`; others fall back to the placeholder.
_FAKE = {
    "PERSON": lambda f: f.name(),
    "ORGANIZATION": lambda f: f.company(),
    "LOCATION": lambda f: f.city(),
    "EMAIL_ADDRESS": lambda f: f.free_email(),
    "PHONE_NUMBER": lambda f: f.numerify("555-###-####"),
    "URL": lambda f: f.url(),
    "SOCIAL_HANDLE": lambda f: "@" + f.user_name(),
    "STREET_ADDRESS": lambda f: f.street_address(),
    "ZIP_CODE": lambda f: f.zipcode(),
    "DATE_OF_BIRTH": lambda f: f.date_of_birth(minimum_age=18, maximum_age=80).strftime("%B %d, %Y"),
}


@cache
def _anonymizer():
    with presidio_imports():
        from presidio_anonymizer import AnonymizerEngine

    return AnonymizerEngine()


def _key(value: str) -> str:
    return " ".join(value.split()).casefold()


class Pseudonymizer:
    """Stand-ins for one conversation: a slot number per (type, value), in order of appearance."""

    def __init__(self, conversation_id: str, surrogate: Surrogate = "placeholder"):
        if surrogate not in SURROGATES:
            raise ValueError(f"privacy.surrogate={surrogate!r}; expected one of {SURROGATES}")
        self.conversation_id = conversation_id
        self.surrogate = surrogate
        self.slots: dict[str, dict[str, int]] = {}

    def slot(self, entity: str, value: str) -> int:
        known = self.slots.setdefault(entity, {})
        key = _key(value)
        if key not in known and entity == "PERSON":
            parts = set(key.split())
            for name, number in known.items():
                if parts <= set(name.split()) or set(name.split()) <= parts:
                    known[key] = number
                    break
        return known.setdefault(key, len(set(known.values())) + 1)

    def stand_in(self, entity: str, value: str) -> str:
        number = self.slot(entity, value)
        if self.surrogate == "placeholder":
            return f"<{entity}_{number}>"
        if entity == "AGE":
            age = 18 + int(self._digest(entity, number), 16) % 60
            return re.sub(r"\d+", str(age), value, count=1)
        make = _FAKE.get(entity)
        if make is None:
            return f"<{entity}_{number}>"
        return make(_faker(int(self._digest(entity, number), 16)))

    def _digest(self, entity: str, number: int) -> str:
        return hashlib.sha256(f"{self.conversation_id}:{entity}:{number}".encode()).hexdigest()[:12]

    def apply(self, text: str, spans: list[Span]) -> str:
        """`text` with every span replaced by its stand-in (Presidio's anonymizer does the edit)."""
        if not spans:
            return text
        anonymizer = _anonymizer()  # first: it imports Presidio's package (see presidio_imports)
        from presidio_anonymizer.entities import OperatorConfig, RecognizerResult

        operators = {
            entity: OperatorConfig("custom", {"lambda": lambda value, e=entity: self.stand_in(e, value)})
            for entity in {s.entity for s in spans}
        }
        # Presidio replaces right to left; number slots left to right so <X_1> comes first.
        for span in spans:
            self.slot(span.entity, text[span.start : span.end])
        results = [RecognizerResult(s.entity, s.start, s.end, s.score) for s in spans]
        return anonymizer.anonymize(text=text, analyzer_results=results, operators=operators).text


@cache
def _faker_instance():
    from faker import Faker

    return Faker("en_US")


def _faker(seed: int):
    faker = _faker_instance()
    faker.seed_instance(seed)
    return faker
