"""Row-by-row reading of the big CSV files inside bulk zips, by header name.

Shared by the Google and Snap collectors. What every bulk CSV needs:

- **Huge cells.** A Google targeting cell can hold megabytes of postal codes, far over the
  csv module's default field limit of 128 KiB; the limit is raised once, to
  :data:`MAX_FIELD_CHARS`, which still bounds memory for a broken file with an unclosed quote.
- **Broken encoding.** Rows are decoded as UTF-8 with invalid bytes replaced (U+FFFD) instead of
  failing the file; such rows are flagged and counted so the run summary can say so.
- **Resumable position.** Each row carries its 0-based index among data rows and the physical
  line it starts on (cells may contain newlines); a checkpoint stores the index and
  :meth:`CsvStream.rows` skips that many rows on resume without normalising them.
- **Unchanged rows cost no parse.** A row's raw bytes are found without the csv parser: a
  record ends at a line end where the count of ``"`` so far is even (an escaped ``""`` counts
  two). Each such *chunk* is fingerprinted from its bytes; one whose fingerprint a stored ad
  has is not decoded or parsed at all. Every other chunk goes to one ``csv.reader`` that
  reads the stream's lines in order, so the cells are exactly what the csv module makes of
  the file: if a chunk is not one whole record for it (a stray ``"`` inside an unquoted
  cell), the reader takes further chunks as it needs them, and rows from such chunks get no
  fingerprint (they are read in full every time, which is always correct).
"""

from __future__ import annotations

import codecs
import csv
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import repeat
from typing import IO

from collectors.base import FatalError
from collectors.unchanged import KnownRows, row_hasher

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


#: The cells of a run of rows taken as unchanged: they were not parsed.
UNPARSED: list[str] = []
#: Bytes of lines read ahead at once (their chunks are fingerprinted and looked up together).
BATCH_BYTES = 1 << 21
#: A chunk of lines with an odd count of quotes stops growing here and goes to the reader
#: as it is (a stray quote must not make the rest of the file one chunk).
CHUNK_LINES = 1000
_BOM = codecs.BOM_UTF8
_QUOTE = b'"'


@dataclass(slots=True)
class CsvRow:
    """One data row: its position in the file and its cells in header order.

    Or, with ``unchanged`` > 0, a run of that many rows ending at ``index`` that stored ads
    already have: they were not parsed (``fields`` is empty).
    """

    index: int
    line: int
    fields: list[str]
    #: The row contained bytes that were not valid UTF-8 (replaced with U+FFFD).
    repaired: bool
    #: The fingerprint of the row's raw bytes (``None``: not asked for, or not one chunk).
    fingerprint: int | None = None
    unchanged: int = 0

    def values(self, header: list[str]) -> dict[str, str]:
        """Cells by column name; a short row gets empty strings, extra cells are dropped."""
        if len(self.fields) == len(header):
            return dict(zip(header, self.fields, strict=True))
        padded = self.fields + [""] * (len(header) - len(self.fields))
        return dict(zip(header, padded, strict=False))


@dataclass(slots=True)
class _Batch:
    """Chunks read ahead: their bytes, the physical line each starts on, and how many of them
    are taken (by :meth:`CsvStream.rows`, or by the reader when it runs over a chunk)."""

    chunks: list[bytes]
    lines: list[int]
    taken: int = 0


class CsvStream:
    """A CSV member read by header name, one row at a time.

    ``name`` only appears in error messages. The header is read on construction, so a caller
    can validate columns before the first row.
    """

    def __init__(self, binary: IO[bytes], name: str) -> None:
        self.name = name
        self._binary = binary
        self._line = 0  # physical lines read so far
        self._batch = _Batch([], [])
        self._feed: deque[tuple[int, bytes]] = deque()  # the reader's lines, not read yet
        self._row_line = 0  # the physical line the record being parsed starts on
        self._overrun = False  # the reader took chunks beyond the one it was given
        # the reader's lines, one at a time; it ends for good at the member's end
        self._reader = csv.reader(iter(self._next_line, None), strict=False)
        self._errors_seen = _COUNTER.count
        self.repaired_rows = 0
        records = self._parse(self._take()) if self._fill() else []
        if not records:
            raise CsvFormatError(f"{name} is empty: expected a header line")
        self.header = [column.strip() for column in records[0][1]]

    def rows(
        self, skip: int = 0, *, salt: bytes | None = None, known: KnownRows | None = None
    ) -> Iterator[CsvRow]:
        """Data rows in order from the ``skip``-th on; blank lines ignored.

        With ``salt`` each row carries its fingerprint. With ``known`` too, rows whose
        fingerprint a stored ad has come back as runs marked ``unchanged``, unparsed, and those
        ads are marked seen (also before ``skip``: a resumed listing still sees every row).
        """
        fingerprint = row_hasher(salt) if salt is not None else None
        index = 0
        while self._fill():
            batch = self._batch
            first = batch.taken
            prints = fingerprint(batch.chunks[first:]) if fingerprint else None
            found = known.lookup(prints) if known is not None and prints is not None else None
            # the chunks to parse (positions from ``first``): those no stored ad has, or all
            if found is None:
                todo = list(range(len(batch.chunks) - first))
            else:
                todo = (found < 0).nonzero()[0].tolist()
            todo.reverse()  # popped from the end: the next chunk to parse
            while batch.taken < len(batch.chunks):
                while todo and todo[-1] + first < batch.taken:
                    todo.pop()  # taken by the reader in an overrun
                end = todo[-1] + first if todo else len(batch.chunks)
                if end > batch.taken:  # a run of unchanged rows
                    assert known is not None and found is not None
                    run = end - batch.taken
                    known.mark(found[batch.taken - first : end - first])
                    index += run
                    if index > skip:
                        last = batch.lines[end - 1]
                        yield CsvRow(index - 1, last, UNPARSED, False, None, min(run, index - skip))
                    batch.taken = end
                    continue
                position = batch.taken - first
                records = self._parse(self._take())
                single = len(records) == 1 and not self._overrun
                for line, fields in records:
                    if len(fields) < 2 and (not fields or not fields[0]):
                        continue
                    if index >= skip:
                        repaired = _COUNTER.count != self._errors_seen and self._repaired(fields)
                        print_ = int(prints[position]) if prints is not None and single else None
                        yield CsvRow(index, line, fields, repaired, print_)
                    index += 1

    def _fill(self) -> bool:
        """Read the next lines ahead as chunks, if every chunk read so far is taken; whether
        any chunk is left to take."""
        batch = self._batch
        if batch.taken < len(batch.chunks):
            return True
        lines = self._binary.readlines(BATCH_BYTES)
        if not lines:
            return False
        if self._line == 0 and lines[0].startswith(_BOM):
            lines[0] = lines[0][len(_BOM) :]
        first = self._line + 1
        self._line += len(lines)
        odd = [i for i, count in enumerate(map(bytes.count, lines, repeat(_QUOTE))) if count & 1]
        if not odd:
            self._batch = _Batch(lines, list(range(first, self._line + 1)))
            return True
        chunks: list[bytes] = []
        starts: list[int] = []
        done = 0
        odd.reverse()
        while odd:
            opening = odd.pop()
            chunks += lines[done:opening]
            starts += range(first + done, first + opening)
            closing = odd.pop() if odd and odd[-1] - opening < CHUNK_LINES else None
            if closing is None:  # the chunk goes on after this batch, or is too long
                group = lines[opening : opening + CHUNK_LINES]
                done = opening + len(group)
                if len(group) < CHUNK_LINES and done == len(lines):
                    group += self._more(CHUNK_LINES - len(group))
                odd = [i for i in odd if i >= done]
            else:
                group = lines[opening : closing + 1]
                done = closing + 1
            chunks.append(b"".join(group))
            starts.append(first + opening)
        chunks += lines[done:]
        starts += range(first + done, first + len(lines))
        self._batch = _Batch(chunks, starts)
        return True

    def _more(self, limit: int) -> list[bytes]:
        """Lines after a batch that ended inside a chunk: up to the one that closes it."""
        group = []
        for line in self._binary:
            self._line += 1
            group.append(line)
            if line.count(_QUOTE) & 1 or len(group) >= limit:
                break
        return group

    def _take(self) -> tuple[int, bytes]:
        """The next chunk, with the line it starts on; read ahead if none is left."""
        if not self._fill():
            raise StopIteration
        batch = self._batch
        batch.taken += 1
        return batch.lines[batch.taken - 1], batch.chunks[batch.taken - 1]

    def _parse(self, chunk: tuple[int, bytes]) -> list[tuple[int, list[str]]]:
        """The records the csv reader makes of ``chunk`` (and of what it needs after it)."""
        self._queue(chunk)
        self._overrun = False
        records = []
        while self._feed:
            self._row_line = 0
            try:
                fields = next(self._reader)
            except StopIteration:
                break
            except csv.Error as exc:
                raise CsvFormatError(
                    f"{self.name}, line {self._row_line or chunk[0]}: {exc} (cells are limited "
                    f"to {MAX_FIELD_CHARS} characters)"
                ) from exc
            records.append((self._row_line, fields))
        return records

    def _queue(self, chunk: tuple[int, bytes]) -> None:
        """Hand a chunk's lines to the reader, split as ``newline=""`` text would be."""
        number, data = chunk
        for line in data.splitlines(keepends=True):
            self._feed.append((number, line))
            number += line.endswith(b"\n")

    def _next_line(self) -> str:
        """The reader's next line: the chunk's, else the next chunk's (an overrun)."""
        if not self._feed:
            self._queue(self._take())  # StopIteration at the end: the reader ends too
            self._overrun = True
        number, line = self._feed.popleft()
        if not self._row_line:
            self._row_line = number
        return line.decode("utf-8", _ERRORS)

    def _repaired(self, fields: list[str]) -> bool:
        if not any(_REPLACEMENT in field for field in fields):
            return False
        self.repaired_rows += 1
        return True
