"""Row-by-row reading of the big CSV files inside bulk zips, by header name.

Shared by the Google and Snap collectors. Three things every bulk CSV needs:

- **Huge cells.** A Google targeting cell can hold megabytes of postal codes, far over the
  csv module's default field limit of 128 KiB; the limit is raised once, to
  :data:`MAX_FIELD_CHARS`, which still bounds memory for a broken file with an unclosed quote.
- **Broken encoding.** Rows are decoded as UTF-8 with invalid bytes replaced (U+FFFD) instead of
  failing the file; such rows are flagged and counted so the run summary can say so.
- **Resumable position.** Each row carries its 0-based index among data rows and the physical
  line it starts on (cells may contain newlines); a checkpoint stores the index and
  :meth:`CsvStream.rows` skips that many rows on resume without normalising them.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from collectors.base import FatalError

#: Largest cell accepted, in characters. Bounds memory when a file has an unclosed quote.
MAX_FIELD_CHARS = 256 << 20
_ERRORS = "adlib.replace-counted"
_REPLACEMENT = "\ufffd"


class _ReplacementCounter:
    """Counts decoding errors process-wide so a stream can tell whether any occurred.

    The codec error handler is registered by name, globally; a stream only compares the count
    before and after, and looks for U+FFFD in rows when it moved. Clean files pay nothing.
    """

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, exc: UnicodeError) -> tuple[str, int]:
        if not isinstance(exc, UnicodeDecodeError):
            raise exc
        self.count += 1
        return _REPLACEMENT, exc.end


_COUNTER = _ReplacementCounter()
codecs.register_error(_ERRORS, _COUNTER)
csv.field_size_limit(max(csv.field_size_limit(), MAX_FIELD_CHARS))


class CsvFormatError(FatalError):
    """The file is not CSV as expected (no header, a cell over the size limit, ...)."""


@dataclass(slots=True)
class CsvRow:
    """One data row: its position in the file and its cells in header order."""

    index: int
    line: int
    fields: list[str]
    #: The row contained bytes that were not valid UTF-8 (replaced with U+FFFD).
    repaired: bool

    def values(self, header: list[str]) -> dict[str, str]:
        """Cells by column name; a short row gets empty strings, extra cells are dropped."""
        if len(self.fields) == len(header):
            return dict(zip(header, self.fields, strict=True))
        padded = self.fields + [""] * (len(header) - len(self.fields))
        return dict(zip(header, padded, strict=False))


class CsvStream:
    """A CSV member read by header name, one row at a time.

    ``name`` only appears in error messages. The header is read on construction, so a caller
    can validate columns before the first row.
    """

    def __init__(self, binary: IO[bytes], name: str) -> None:
        self.name = name
        self._text = io.TextIOWrapper(binary, encoding="utf-8-sig", errors=_ERRORS, newline="")
        self._reader = csv.reader(self._text, strict=False)
        self._errors_seen = _COUNTER.count
        self.repaired_rows = 0
        header = self._next()
        if header is None:
            raise CsvFormatError(f"{name} is empty: expected a header line")
        self.header = [column.strip() for column in header]

    def rows(self, skip: int = 0) -> Iterator[CsvRow]:
        """Data rows in order, after skipping the first ``skip`` of them; blank lines ignored."""
        index = 0
        reader = self._reader
        while True:  # the hot loop of every bulk import: no call that is not needed
            start_line = reader.line_num + 1
            fields = self._next()
            if fields is None:
                return
            if len(fields) < 2 and (not fields or not fields[0]):
                continue
            if index >= skip:
                repaired = _COUNTER.count != self._errors_seen and self._repaired(fields)
                yield CsvRow(index, start_line, fields, repaired)
            index += 1

    def _next(self) -> list[str] | None:
        try:
            return next(self._reader)
        except StopIteration:
            return None
        except csv.Error as exc:
            raise CsvFormatError(
                f"{self.name}, line {self._reader.line_num}: {exc} (cells are limited to "
                f"{MAX_FIELD_CHARS} characters)"
            ) from exc

    def _repaired(self, fields: list[str]) -> bool:
        if not any(_REPLACEMENT in field for field in fields):
            return False
        self.repaired_rows += 1
        return True
