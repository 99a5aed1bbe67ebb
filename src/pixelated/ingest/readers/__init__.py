"""Input formats. Importing this package registers every built-in reader."""

from pixelated.ingest.readers import records, tables  # noqa: F401  (registration side effect)
from pixelated.ingest.readers.base import READERS, FileContext, get_reader, register

__all__ = ["READERS", "FileContext", "get_reader", "register"]
