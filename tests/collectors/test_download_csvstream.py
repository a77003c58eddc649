"""CSV rows by header name from a byte stream: huge cells, broken bytes, positions, skipping."""

from __future__ import annotations

import io

import pytest

from collectors.csvstream import CsvFormatError, CsvStream


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
