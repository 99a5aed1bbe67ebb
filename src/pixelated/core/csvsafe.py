"""CSV cells that a spreadsheet will not run as formulas, and that read back unchanged.

OWASP's CSV-injection guidance: a cell starting with `=`, `+`, `-`, `@`, tab or CR may be
executed by Excel or LibreOffice, so it is written with a leading single quote. Our own CSV
readers strip that quote again, so every value round-trips exactly. To keep that exact, a
value that already starts with quotes followed by a trigger (`'=x`) gets one more quote,
and only such values lose one when read; any other leading quote is left alone.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"


def _quoted_trigger(value: str) -> bool:
    """True for a value whose first character after any leading quotes is a trigger."""
    return value.lstrip(QUOTE).startswith(TRIGGERS)


def neutralize(value):
    """A cell value safe to open in a spreadsheet; anything but text is returned as is."""
    if isinstance(value, str) and _quoted_trigger(value):
        return QUOTE + value
    return value


def restore(value):
    """The value `neutralize` was given: the one added quote is removed."""
    if isinstance(value, str) and value.startswith(QUOTE) and _quoted_trigger(value):
        return value[1:]
    return value


def neutralize_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy with every text cell neutralized (numbers stay numbers)."""
    out = frame.copy()
    for column in _text_columns(out):
        out[column] = out[column].map(neutralize, na_action="ignore")
    return out


def restore_frame(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for column in _text_columns(out):
        out[column] = out[column].map(restore, na_action="ignore")
    return out


def to_csv(frame: pd.DataFrame, path: str | Path, **kwargs) -> None:
    """`DataFrame.to_csv` with formula cells neutralized. pandas does not quote a bare CR when
    the line terminator is "\n", which would split the row; a frame holding one is written
    with every text cell quoted (a clean frame's bytes are unchanged)."""
    safe = neutralize_frame(frame)
    has_cr = any(safe[c].astype(str).str.contains("\r", regex=False).any() for c in _text_columns(safe))
    safe.to_csv(path, quoting=csv.QUOTE_NONNUMERIC if has_cr else csv.QUOTE_MINIMAL, **kwargs)


def _is_text(column: pd.Series) -> bool:
    return column.dtype == object or isinstance(column.dtype, pd.StringDtype)


def _text_columns(frame: pd.DataFrame) -> list:
    return [c for c in frame.columns if _is_text(frame[c])]


def read_csv(path: str | Path, **kwargs) -> pd.DataFrame:
    """`pandas.read_csv` for a CSV this project wrote: text cells come back as written."""
    return restore_frame(pd.read_csv(path, **kwargs))
