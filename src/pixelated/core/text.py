"""Text normalisation shared by every phase, and the disclaimer every released artefact carries."""

from __future__ import annotations

import re
import unicodedata

DISCLAIMER = "This data is for research on support conversations. It is not clinical advice."

_WHITESPACE = re.compile(r"\s+")
_PUNCTUATION_SPACING = re.compile(r"\s+([,.!?;:'])")
_APOSTROPHE = re.compile(r"(\w)' (s|t|re|ve|ll|d|m)\b")


def normalize_text(text: str) -> str:
    """Text as compared for content identity: NFKC, lower case, tokenization spacing undone.

    ESConv variants differ only in tokenization ("Hi , what" vs "Hi, what"); normalizing
    makes their content hashes agree.
    """
    text = unicodedata.normalize("NFKC", text).lower()
    text = _PUNCTUATION_SPACING.sub(r"\1", text)
    return _WHITESPACE.sub(" ", text).strip()


def normalize_for_measure(text: str | None) -> str:
    """`normalize_text` plus split contractions rejoined ("it' s" -> "it's"), for scoring."""
    return _APOSTROPHE.sub(r"\1'\2", normalize_text(text or ""))
