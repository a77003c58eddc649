"""CSV rows by header name from a byte stream: huge cells, broken bytes, positions, skipping."""

from __future__ import annotations

import csv as stdlib_csv
import io

import pytest

from collectors import csvstream
from collectors.csvstream import CsvFormatError, CsvRow, CsvStream
from collectors.unchanged import KnownRows

SALT = b"k" * 32


def stream(data: bytes) -> CsvStream:
    return CsvStream(io.BufferedReader(io.BytesIO(data)), "test.csv")


def test_rows_by_header_with_positions_and_multiline_cells() -> None:
    csv = stream(b'id,text\n1,"two\nlines"\n\n2,plain\n')
    rows = list(csv.rows())
    assert csv.header == ["id", "text"]
    assert [(r.index, r.line) for r in rows] == [(0, 2), (1, 5)]
    assert rows[0].values(csv.header) == {"id": "1", "text": "two\nlines"}


def test_skip_resumes_after_committed_rows() -> None:
    csv = stream(b"id\n" + b"".join(b"%d\n" % i for i in range(10)))
    assert [r.fields[0] for r in csv.rows(skip=7)] == ["7", "8", "9"]


def test_invalid_bytes_are_replaced_and_counted() -> None:
    csv = stream(b"id,name\n1,ok\n2,Caf\xe9\n3,\xff\xfe fine\n4,ok\n")
    rows = list(csv.rows())
    assert [r.repaired for r in rows] == [False, True, True, False]
    assert rows[1].fields[1] == "Caf\ufffd"
    assert csv.repaired_rows == 2


def test_multi_megabyte_cell_is_read() -> None:
    big = "x" * (3 << 20)
    csv = stream(f'id,geo\n1,"{big}"\n'.encode())
    (row,) = csv.rows()
    assert len(row.fields[1]) == 3 << 20


def test_bom_and_header_spaces_are_ignored() -> None:
    csv = stream("\ufeffAd_ID , Regions\nCR1,US\n".encode())
    assert csv.header == ["Ad_ID", "Regions"]


def test_short_rows_are_padded() -> None:
    csv = stream(b"a,b,c\n1,2\n")
    (row,) = csv.rows()
    assert row.values(csv.header) == {"a": "1", "b": "2", "c": ""}


def test_empty_file_is_an_error() -> None:
    with pytest.raises(CsvFormatError, match="empty"):
        stream(b"")


#: Files whose records a quote count alone would misjudge: a stray quote inside an unquoted
#: cell, escaped quotes, multi-line cells, CRLF and blank lines, a quote-only line.
TRICKY = [
    b'id,text\n1,5" screen\n2,"multi\nline"\n3,plain\n',
    b'id,text\n1,5" screen\n2,"opens\nhere, ""quoted"" and\n\nends"\n3,x\n',
    b'id,text\r\n1,"a ""b"" c"\r\n\r\n2,"x\r\ny"\r\n"3","z"\r\n',
    b'id,text\n1,ab"c"d\n2,"e\n3,f\n4,g"\n5,h\n',
    b'id,text\n"\n1,a\n',
    b'id,text\n1,"unclosed\n2,b\n',
]


@pytest.mark.parametrize("small", [False, True])
@pytest.mark.parametrize("data", TRICKY)
def test_rows_are_what_the_csv_module_reads(
    data: bytes, small: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows come from one csv reader over the whole member, even where a chunk of lines with
    an even count of quotes is not one record; such rows get no fingerprint."""
    if small:  # batch and chunk limits that cut through every record above
        monkeypatch.setattr(csvstream, "BATCH_BYTES", 8)
        monkeypatch.setattr(csvstream, "CHUNK_LINES", 2)
    expected = [r for r in stdlib_csv.reader(io.StringIO(data.decode(), newline=""), strict=False)][
        1:
    ]
    expected = [r for r in expected if len(r) > 1 or (r and r[0])]
    rows = list(stream(data).rows(salt=SALT))
    assert [r.fields for r in rows] == expected
    assert [r.index for r in rows] == list(range(len(expected)))
    again = [r.fingerprint for r in stream(data).rows(salt=SALT)]
    assert again == [r.fingerprint for r in rows]  # the same bytes, the same fingerprints


def test_stray_quote_rows_are_never_fingerprinted() -> None:
    """Rows whose chunk is not one whole record are read in full every time."""
    rows = list(stream(TRICKY[0] + b"4,after\n").rows(salt=SALT))
    assert [r.fields[0] for r in rows] == ["1", "2", "3", "4"]
    assert all(r.fingerprint is None for r in rows)
    rows = list(stream(TRICKY[3]).rows(salt=SALT))  # quotes that balance on their line
    assert [r.fields for r in rows] == [["1", 'ab"c"d'], ["2", "e\n3,f\n4,g"], ["5", "h"]]
    assert all(r.fingerprint is not None for r in rows)


def _known(rows: list[CsvRow]) -> KnownRows:
    return KnownRows([sorted((r.fingerprint, ad_id) for ad_id, r in enumerate(rows))])


def _unchanged(rows: list[CsvRow]) -> dict[int, bool]:
    """Each row's index: whether it came in a run of unchanged rows."""
    by_index = {}
    for row in rows:
        for index in range(row.index - max(row.unchanged, 1) + 1, row.index + 1):
            by_index[index] = row.unchanged > 0
    return by_index


@pytest.mark.parametrize("small", [False, True])
def test_known_rows_are_skipped_unparsed_and_marked_seen(
    small: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if small:
        monkeypatch.setattr(csvstream, "BATCH_BYTES", 40)
    lines = [b'%d,"text %d\nsecond line"\n' % (i, i) for i in range(10)]
    first = list(stream(b"id,text\n" + b"".join(lines)).rows(salt=SALT))
    assert len({r.fingerprint for r in first}) == 10
    known = _known(first)
    lines[4] = b'4,"changed"\n'
    del lines[7]  # ad 7 is gone
    rows = list(stream(b"id,text\n" + b"".join(lines)).rows(salt=SALT, known=known))
    assert _unchanged(rows) == {i: i != 4 for i in range(9)}
    (changed,) = (r for r in rows if not r.unchanged)
    assert (changed.index, changed.line, changed.fields) == (4, 10, ["4", "changed"])
    assert all(r.fields == [] for r in rows if r.unchanged)
    assert known.unseen() == [4, 7]


def test_known_rows_before_a_resumed_position_are_seen_not_yielded() -> None:
    data = b"id\n" + b"".join(b"%d\n" % i for i in range(6))
    known = _known(list(stream(data).rows(salt=SALT)))
    rows = list(stream(data).rows(4, salt=SALT, known=known))
    assert _unchanged(rows) == {4: True, 5: True}
    assert known.unseen() == []


def test_an_unclosed_quote_stops_a_chunk_at_its_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stray quote must not make the rest of the file one chunk held in memory, and the
    rows after the limit are fingerprinted again."""
    monkeypatch.setattr(csvstream, "CHUNK_LINES", 3)
    data = b'id,text\n1,5" tall\n' + b"".join(b"%d,x\n" % i for i in range(2, 9))
    source = stream(data)
    assert source._fill()
    assert max(chunk.count(b"\n") for chunk in source._batch.chunks) == 3
    rows = list(source.rows(salt=SALT))
    assert [r.fields[0] for r in rows] == [str(i) for i in range(1, 9)]
    assert [r.fingerprint is None for r in rows] == [True] * 3 + [False] * 5
