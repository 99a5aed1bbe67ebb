"""Building canonical conversation records: stable ids, role mapping and content hashes."""

from __future__ import annotations

import json
import numbers
import re
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
    ValueError for a feedback value that is not a whole number in int32 range (a data problem).
    """
    unknown = set(annotations) - set(TURN_FIELDS)
    if unknown:
        raise KeyError(f"unknown turn fields {sorted(unknown)}")
    turn = dict.fromkeys(TURN_FIELDS)
    turn.update(role=role, text=text.strip() if isinstance(text, str) else text, **annotations)
    try:
        turn["feedback"] = whole_number(turn["feedback"], INT_BITS["int32"])
    except ValueError as err:
        raise ValueError(f"feedback {err}") from None
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


INT_BITS = {"int32": 32, "int64": 64}
_INTEGER = re.compile(r"\s*[+-]?\d{1,30}\s*")  # longer digit runs are out of any range


def whole_number(value, bits: int) -> int | None:
    """`value` as an int that fits a signed `bits`-bit column, or None when blank.

    Raises ValueError (never OverflowError or TypeError) for anything else: "3.7", "1e30",
    99999999999 in int32, inf, a list. The message names no value: it goes to logs.
    """
    if value is None or value == "":
        return None
    if not isinstance(value, numbers.Real | str):
        raise ValueError(f"is a {type(value).__name__}, not a number")
    if isinstance(value, numbers.Integral) or (isinstance(value, str) and _INTEGER.fullmatch(value)):
        number = int(value)
    else:
        try:
            real = float(value)
        except (ValueError, OverflowError):
            raise ValueError("is not a number") from None
        if not real.is_integer():
            raise ValueError("is not a whole number")
        number = int(real)
    if not -(2 ** (bits - 1)) <= number < 2 ** (bits - 1):
        raise ValueError(f"is out of the int{bits} range")
    return number


def _coerce(value, dtype_name: str):
    """Typed metadata value; a float like "3.7" for an int column is an error, not a truncation."""
    if dtype_name in INT_BITS:
        return whole_number(value, INT_BITS[dtype_name])
    if value is None or value == "":
        return None
    return str(value)


class MetadataError(ValueError):
    """A typed metadata value that cannot be stored; `value` is kept for the quarantine excerpt."""

    def __init__(self, column: str, value, message: str):
        super().__init__(message)
        self.column = column
        self.value = value


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

    Raises MetadataError when a typed metadata value cannot be coerced (e.g. upvotes "abc"),
    which readers turn into a quarantine entry; its message names the column, not the value.
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
        except ValueError as err:
            raise MetadataError(column, raw, f"metadata {column} {err} ({dtype})") from None
    row["extra"] = json.dumps(metadata, sort_keys=True, ensure_ascii=False, default=str)
    return row
