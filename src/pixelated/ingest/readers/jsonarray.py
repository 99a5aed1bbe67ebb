"""A tolerant reader of one JSON array: one bad record costs that record, not the rest.

A streaming parser (ijson) cannot resume after a syntax error, so a bad record in the middle
of ESConv.json used to drop every record after it. Here each element is decoded on its own
(`json.JSONDecoder.raw_decode`, in C); an element that does not decode is skipped to the next
comma at depth 0 (a bracket and string aware scan). Where the damage unbalances the
brackets (a missing `}`, an unclosed string), the next record boundary is the first later
`, {` from which the rest of the file reads as the tail of the array; failing that, the
rest of the file is one lost element. The file is held in memory (our arrays are a few MB).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\n\r]*")
_TOKENS = re.compile(r'[][{}",\\]')
_RECORD_START = re.compile(r",[ \t\n\r]*\{")


UNBALANCED = "unbalanced brackets or an unclosed string"
MARKERS = ("end", "trailing", "eof", "not_an_array")  # errors of the final marker, not of a record


@dataclass(frozen=True)
class Element:
    """One top-level element: where it starts, and its value or why it has none."""

    start: int
    end: int
    value: object = None
    error: str | None = None  # None: `value` is the decoded element


def _skip(text: str, pos: int) -> int:
    return _SPACE.match(text, pos).end()


def _element_end(text: str, pos: int) -> int | None:
    """Index of the `,` or `]` at depth 0 that ends the element at `pos`; None when the
    brackets never balance (EOF first, or a stray closing brace)."""
    depth, in_string, skip, closed = 0, False, -1, False
    for match in _TOKENS.finditer(text, pos):
        index, char = match.start(), match.group()
        if index < skip:
            continue
        if in_string:
            if char == "\\":
                skip = index + 2  # the escaped character is content, whatever it is
            elif char == '"':
                in_string, closed = False, depth == 0
        elif depth == 0 and (char == "," or (closed and char in '[{"')):
            return index  # a comma, or a new value after a closed one (a missing comma)
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
        elif char == ",":
            continue  # inside a nested value
        elif depth == 0:  # a closing bracket at depth 0: the array's end, or a stray brace
            return index if char == "]" else None
        else:
            depth -= 1
            closed = depth == 0
    return None


def _decode(text: str, pos: int) -> Element:
    """The element at `pos`, decoded or, where it does not decode, skipped to its end."""
    try:
        value, end = _DECODER.raw_decode(text, pos)
    except (ValueError, RecursionError) as err:
        end = _element_end(text, pos)
        if end is None:
            return Element(pos, len(text), error=UNBALANCED)
        return Element(pos, end, error=getattr(err, "msg", type(err).__name__))
    return Element(pos, end, value)


def scan(text: str, pos: int, recover: bool = True) -> Iterator[Element]:
    """Every element of the array whose body starts at `pos`, then one final marker:
    an Element with error "end" (clean `]`), "trailing" (content after `]`) or "eof".
    A missing comma between two elements costs nothing: the next one is read where it starts."""
    while True:
        pos = _skip(text, pos)
        if pos >= len(text):
            yield Element(pos, pos, error="eof")
            return
        if text[pos] == "]":
            after = _skip(text, pos + 1)
            yield Element(after, len(text), error="end" if after == len(text) else "trailing")
            return
        element = _decode(text, pos)
        if element.error is not None and recover and not _tail_ok(text, element.end):
            element = _recovered(text, pos)
        yield element
        pos = _skip(text, element.end)
        if text.startswith(",", pos):
            pos += 1


def _tail_ok(text: str, end: int) -> bool:
    """True when the array reads on cleanly from the boundary `end` (a `,` or `]`), so a bad
    element was cut where it really ends, not inside a string or a nested value: the next
    element decodes, and the rest reaches the closing `]` with nothing after it (or the end
    of a truncated file, where only the last element may be cut off)."""
    pos = _skip(text, end)
    if not text.startswith(",", pos):
        return text.startswith("]", pos) and _skip(text, pos + 1) == len(text)
    first, previous, bad_inside = None, None, 0
    for element in scan(text, pos + 1, recover=False):
        if first is None and element.error is not None and element.error not in MARKERS:
            return False
        first = first or element
        if element.error in MARKERS:
            break
        bad_inside += previous is not None and previous.error is not None
        previous = element
    return element.error == "end" or (element.error == "eof" and bad_inside == 0)


def _recovered(text: str, pos: int) -> Element:
    """A bad element at `pos` whose end is not a clean boundary (a missing `}`, an unclosed
    string), cut at the first later `, {` from which the array reads on cleanly; failing
    that, the rest of the file is one lost element."""
    for match in _RECORD_START.finditer(text, pos + 1):
        if _tail_ok(text, match.start()):
            return Element(pos, match.start(), error=UNBALANCED)
    return Element(pos, len(text), error=f"{UNBALANCED}; no record boundary after it")


def elements(text: str) -> Iterator[Element]:
    """The elements of a JSON array document; a document that is not an array yields only a
    final marker with error "not_an_array"."""
    pos = _skip(text, 0)
    if not text.startswith("[", pos):
        yield Element(pos, len(text), error="not_an_array")
        return
    yield from scan(text, pos + 1)
