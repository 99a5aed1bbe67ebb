"""Building canonical conversation records: stable ids, role mapping and content hashes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pixelated.core.hashing import stable_id
from pixelated.core.schema import METADATA_COLUMNS, TURN_FIELDS
from pixelated.core.text import normalize_text

if TYPE_CHECKING:
    from pixelated.ingest.config import SourceConfig

# Role names seen across common datasets, mapped onto the canonical three. A source may
# extend or override this in config (`role_map`); names left unmapped are kept verbatim so
# that `validate` can quarantine them with the offending name in the reason.
DEFAULT_ROLE_MAP = {
    "seeker": "seeker",
    "usr": "seeker",
    "user": "seeker",
    "client": "seeker",
    "patient": "seeker",
    "speaker": "seeker",
    "human": "seeker",
    "helper": "helper",
    "sys": "helper",
    "assistant": "helper",
    "supporter": "helper",
    "listener": "helper",
    "therapist": "helper",
    "counselor": "helper",
    "counsellor": "helper",
    "gpt": "helper",
    "system": "system",
}


def source_role_map(extra: Mapping[str, str]) -> dict[str, str]:
    """The default role names extended (or overridden) by a source's own, matched lower-case."""
    return {**DEFAULT_ROLE_MAP, **{name.lower(): role for name, role in extra.items()}}


def content_hash(turns: list[dict]) -> str:
    """Hash of the normalized (role, text) sequence; annotations do not change it."""
    canonical = [[t["role"], normalize_text(t["text"] or "")] for t in turns]
    return stable_id(json.dumps(canonical, ensure_ascii=False))


def map_role(raw, role_map: dict[str, str]) -> str | None:
    if raw is None:
        return None
    name = str(raw).strip()
    return role_map.get(name.lower(), name)


def make_turn(role, text, **annotations) -> dict:
    """One canonical turn, text stripped of surrounding whitespace.

    Raises KeyError for an annotation key that is not a turn field (a config mistake) and
    ValueError for a feedback value that is not a number (a data problem).
    """
    unknown = set(annotations) - set(TURN_FIELDS)
    if unknown:
        raise KeyError(f"unknown turn fields {sorted(unknown)}")
    turn = dict.fromkeys(TURN_FIELDS)
    turn.update(role=role, text=text.strip() if isinstance(text, str) else text, **annotations)
    if turn["feedback"] is not None:
        turn["feedback"] = int(turn["feedback"])
    return turn


@dataclass(frozen=True)
class SourceInfo:
    """Per-source facts from config that every record of that source carries."""

    name: str
    license: str
    commercial_use: bool
    consent: bool
    consent_basis: str

    @classmethod
    def from_config(cls, name: str, source: SourceConfig) -> SourceInfo:
        return cls(
            name=name,
            license=source.license,
            commercial_use=source.commercial_use,
            consent=source.consent,
            consent_basis=source.consent_basis,
        )


def _coerce(value, dtype_name: str):
    """Typed metadata value; a float like "3.7" for an int column is an error, not a truncation."""
    if value is None or value == "":
        return None
    if dtype_name == "int64":
        number = float(value)
        if not number.is_integer():
            raise ValueError(f"{value!r} is not a whole number")
        return int(number)
    return str(value)


def make_conversation(
    source: SourceInfo,
    record_id: str,
    turns: list[dict],
    *,
    source_file: str,
    source_line: int,
    source_sha256: str,
    metadata: dict | None = None,
    thread_id: str | None = None,
    source_split: str | None = None,
) -> dict:
    """A canonical row. Metadata keys that are typed columns fill them; the rest go to `extra`.

    Raises ValueError when a typed metadata value cannot be coerced (e.g. upvotes "abc"),
    which readers turn into a quarantine entry.
    """
    metadata = dict(metadata or {})
    row = {
        "conversation_id": stable_id(source.name, record_id),
        "source": source.name,
        "source_record_id": record_id,
        "thread_id": stable_id(source.name, thread_id or record_id),
        "license": source.license,
        "commercial_use": source.commercial_use,
        "consent": source.consent,
        "consent_basis": source.consent_basis,
        "source_file": source_file,
        "source_line": source_line,
        "source_sha256": source_sha256,
        "source_split": source_split,
        "turns": turns,
        "n_turns": len(turns),
        "content_hash": content_hash(turns),
    }
    for column, dtype in METADATA_COLUMNS.items():
        raw = metadata.pop(column, None)
        try:
            row[column] = _coerce(raw, str(dtype))
        except (TypeError, ValueError) as err:
            raise ValueError(f"metadata {column}={raw!r} is not {dtype}") from err
    row["extra"] = json.dumps(metadata, sort_keys=True, ensure_ascii=False, default=str)
    return row
