"""Meta's Ad Library *Report*: the per-country spend files a person downloads by hand.

The report (facebook.com/ads/library/report) needs no token, so it is what researchers without
API access have. Meta serves it as ``FacebookAdLibraryReport_<date>_<CC>_<period>.zip`` holding
``..._advertisers.csv`` (one row per Page and "paid for by" pair: amount spent and number of
ads), ``..._locations.csv`` (amount per region), ``regions/..._<Region>.csv`` (the advertisers
of one region, without the number of ads) and a ``README.txt``. What the real files do, and
what this module does about it (docs/platforms/meta.md, "The Ad Library Report"):

- A UTF-8 byte-order mark, no final newline: read as ``utf-8-sig``, lines as ``csv`` gives them.
- ``≤100`` instead of an amount: ``spend_lower = 0, spend_upper = 100``; an exact amount is
  lower = upper. Anything else that is not a whole number is quarantined with its line.
- Two layouts: 2019 files have no ``Page ID`` and may state no currency; 2020 on add ``Page
  ID`` and name the currency in the header (``Amount spent (USD)``). A currency stated neither
  by the header nor by the README ("accounts which had USD set as the ad account currency")
  stays ``None``: never guessed. Header names are matched case-insensitively (Meta changed
  "Amount Spent" to "Amount spent" in 2022).
- Bare quotes inside unquoted fields (``Bob's "Best" Page``) are literal characters; a line
  that still does not split into the header's number of fields is quarantined, never dropped.
- Report date, country, period and region come from the file name. The date is the Pacific
  time day Meta names the report by, stored as that calendar day (no time-zone shift).

Rows leave here as :class:`~collectors.records.TableRows` for ``meta_report_spend`` and
``meta_report_locations``; each row's ``row_key`` (report, region, line) makes a second import
of the same report (the zip, then a CSV extracted from it) overwrite rather than duplicate.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass
from datetime import date
from functools import partial
from pathlib import Path, PurePosixPath
from typing import IO

from collectors.base import FatalError
from collectors.download import BulkArchive
from collectors.files import is_zip
from collectors.records import JsonDict, Page, Quarantined, RawPayload, TableRows

KIND = "meta_report"
SPEND_TABLE = "meta_report_spend"
LOCATIONS_TABLE = "meta_report_locations"
#: Rows per Page: a US lifelong file has ~100,000 rows; Pages keep memory flat.
BATCH = 5000

#: File-name period token -> ``period``. ``yesterday`` is the "last day" report; the 2019
#: report offered ``to_date`` and ``this_week`` instead of the rolling windows.
PERIODS = {
    "yesterday": "last_day",
    "last_day": "last_day",
    "last_7_days": "last_7_days",
    "last_30_days": "last_30_days",
    "last_90_days": "last_90_days",
    "lifelong": "lifelong",
    "to_date": "to_date",
    "this_week": "this_week",
}
_NAME = re.compile(
    r"FacebookAdLibraryReport_(?P<date>\d{4}-\d{2}-\d{2})_(?P<country>[A-Z]{2})_"
    r"(?P<period>" + "|".join(sorted(PERIODS, key=len, reverse=True)) + r")"
    r"(?:_(?P<tail>.+))?\.(?P<ext>csv|zip|txt)",
    re.IGNORECASE,
)
_AMOUNT_HEADER = re.compile(r"amount spent(?:\s*\((?P<currency>[A-Za-z]{3})\))?", re.IGNORECASE)
_README_CURRENCY = re.compile(r"\b([A-Z]{3}) set as the ad account currency")
_AT_MOST = re.compile(r"(?:≤|<=|<)\s*(\d+)")


class ReportFileError(FatalError):
    """The file is not a report this module can read (or is damaged): nothing is imported."""


@dataclass(frozen=True, slots=True)
class ReportName:
    """What a report file's name says about its content."""

    report_date: date
    country: str
    period: str
    #: ``advertisers``, ``locations``, ``readme``, ``bundle`` (the zip) or ``region``.
    part: str
    region: str | None = None

    @property
    def scope(self) -> str:
        """The scope imports of this country's reports are recorded under."""
        return f"report:{self.country}"


def parse_name(name: str) -> ReportName | None:
    """Read date, country, period and part from a report file name, or ``None``."""
    match = _NAME.fullmatch(PurePosixPath(name.replace("\\", "/")).name)
    if match is None:
        return None
    try:
        day = date.fromisoformat(match["date"])
    except ValueError:
        return None
    tail, ext = match["tail"], match["ext"].lower()
    region = None
    if ext == "zip":
        part = "bundle" if tail is None else ""
    elif ext == "txt":
        part = "readme" if (tail or "").lower() == "readme" else ""
    elif tail is None:
        part = ""
    elif tail.lower() in ("advertisers", "locations"):
        part = tail.lower()
    else:
        part, region = "region", tail
    if not part:
        return None
    return ReportName(day, match["country"].upper(), PERIODS[match["period"].lower()], part, region)


def recognise(path: Path) -> str | None:
    """The scope a report file imports under, or ``None`` if it is not one (name and header)."""
    name = parse_name(path.name)
    if name is None or name.part == "readme":
        return None
    if name.part == "bundle":
        return name.scope if is_zip(path) else None
    return name.scope if _report_header(_first_line(path)) else None


def _first_line(path: Path) -> str:
    with path.open("rb") as handle:
        return handle.readline(4096).decode("utf-8-sig", errors="replace").strip()


def _report_header(line: str) -> bool:
    lowered = line.lower()
    return lowered.startswith(("page id,", "page name,", "location name,")) and bool(
        _AMOUNT_HEADER.search(line)
    )


def read_report(scope: str, raw: RawPayload, data_dir: Path) -> Iterator[Page]:
    """The Pages of one report file (a zip or one CSV) given as ``raw.path``.

    Raises :class:`ReportFileError` for a damaged zip, a file that is not UTF-8 or a header
    this module does not know: the caller's transaction then keeps nothing of the file.
    """
    path = Path(raw.path or "")
    if not path.is_absolute():
        path = data_dir / path
    # The kept copy is named by its hash; the name it was downloaded with is in the URL
    # (``file:<name>`` for an import, the download URL otherwise).
    original = raw.url.removeprefix("file:").rsplit("/", 1)[-1]
    if parse_name(original) is None:
        original = path.name
    name = parse_name(original)
    if name is None:
        raise ReportFileError(f"{original}: not named like a Meta Ad Library Report file")
    with ExitStack() as stack:
        members = _members(path, original, name, stack)
        currency = _readme_currency(members)
        for member_name, member_info, opener in members:
            if member_info.part in ("readme", "bundle"):
                continue
            with opener() as handle:
                yield from _pages(scope, raw, member_name, member_info, handle, currency)


#: Opens one file of the report (the CSV itself, or a zip member) as a binary stream.
_Opener = Callable[[], AbstractContextManager[IO[bytes]]]


def _members(
    path: Path, original: str, name: ReportName, stack: ExitStack
) -> list[tuple[str, ReportName, _Opener]]:
    """(member name, what its name says, opener) for each file the report consists of.

    A single CSV is its own only member, named as downloaded (``original``).
    """
    if name.part != "bundle":
        return [(original, name, lambda: path.open("rb"))]
    try:
        archive = stack.enter_context(BulkArchive(path))
    except Exception as exc:  # CorruptArchiveError, UnsafeArchiveError
        raise ReportFileError(str(exc)) from None
    found: list[tuple[str, ReportName, _Opener]] = []
    for base, info in sorted(archive.members().items()):
        member = parse_name(base)
        if member is None:
            if base.lower() == "readme.txt":
                member = ReportName(name.report_date, name.country, name.period, "readme")
            else:
                continue
        found.append((info.filename, member, partial(archive.open, info)))
    return found


def _readme_currency(members: list[tuple[str, ReportName, _Opener]]) -> str | None:
    """The currency the zip's README names ("... had USD set as the ad account currency")."""
    for _, info, opener in members:
        if info.part == "readme":
            with opener() as handle:
                text = handle.read(1 << 20).decode("utf-8-sig", errors="replace")
            match = _README_CURRENCY.search(text)
            return match.group(1) if match else None
    return None


def _pages(
    scope: str,
    raw: RawPayload,
    member: str,
    name: ReportName,
    handle: IO[bytes],
    readme_currency: str | None,
) -> Iterator[Page]:
    try:
        text = io.TextIOWrapper(handle, encoding="utf-8-sig", newline="")
        records = _records(text)
        first = next(records, None)
        if first is None:
            return
        layout = _Layout.of(first[1] or [], member, name, readme_currency)
        page = _new_page(scope, raw, layout.table)
        for line_no, cells, source in records:
            row = layout.row(cells) if cells is not None else None
            if row is None:
                page.quarantined.append(
                    Quarantined(
                        reason=f"{member} line {line_no}: {layout.problem(cells)}",
                        payload=source,
                        raw_ref=f"{member}:{line_no}",
                    )
                )
                continue
            row.update(
                row_key=_row_key(name, line_no),
                file_sha256=raw.sha256,
                member=member,
                line=line_no,
            )
            page.tables[0].rows.append(row)
            if len(page.tables[0].rows) >= BATCH:
                yield page
                page = _new_page(scope, raw, layout.table)
        yield page
    except UnicodeDecodeError as exc:
        raise ReportFileError(f"{member} is not UTF-8 text ({exc.reason})") from None


def _records(text: IO[str]) -> Iterator[tuple[int, list[str] | None, str]]:
    """``(line number, fields, text)`` per record; fields ``None`` when it cannot be split.

    Each physical line is split on its own, so one broken quote can never swallow the rest of
    the file. A quote inside an unquoted field is a literal character (Meta writes them bare);
    a field that opens a quote and does not close it on its line may span the next line (a
    quoted line break), else the line is unsplittable and reading goes on with the next one.
    """
    lines = iter(enumerate(text, start=1))
    for line_no, line in lines:
        source = line.rstrip("\r\n")
        if not source.strip():
            continue
        cells = _split(source)
        if cells is None:
            following = next(lines, None)
            if following is not None:
                joined = source + "\n" + following[1].rstrip("\r\n")
                if (cells := _split(joined)) is not None:
                    source = joined
                else:
                    yield line_no, None, source
                    line_no, source = following[0], following[1].rstrip("\r\n")
                    cells = _split(source)
        yield line_no, cells, source


def _split(line: str) -> list[str] | None:
    try:
        return next(csv.reader([line], strict=True))
    except csv.Error:
        return None


def _new_page(scope: str, raw: RawPayload, table: str) -> Page:
    page = Page(scope=scope, checkpoint={"imported": raw.sha256}, raw=raw)
    page.tables.append(TableRows(table=table, key=("row_key",), rows=[]))
    return page


def _row_key(name: ReportName, line: int) -> str:
    """A row's identity: its report (date, country, period), region or part, and line."""
    where = name.region if name.part == "region" else name.part
    text = f"{name.report_date}|{name.country}|{name.period}|{where}|{line}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class _Layout:
    """Which column holds what in one report CSV, and the values every row shares."""

    table: str
    columns: dict[str, int]
    width: int
    shared: JsonDict

    @classmethod
    def of(
        cls, header: list[str], member: str, name: ReportName, readme_currency: str | None
    ) -> _Layout:
        lowered = [cell.strip().lower() for cell in header]
        amount = next(
            (i for i, c in enumerate(header) if _AMOUNT_HEADER.fullmatch(c.strip())), None
        )
        if amount is None:
            raise ReportFileError(f"{member}: no 'Amount spent' column in {header!r}")
        stated = _AMOUNT_HEADER.fullmatch(header[amount].strip())
        currency = (stated["currency"] if stated else None) or readme_currency
        shared: JsonDict = {
            "report_date": name.report_date,
            "country_code": name.country,
            "period": name.period,
            "currency": currency.upper() if currency else None,
        }
        if lowered[0] == "location name":
            return cls(LOCATIONS_TABLE, {"location": 0, "amount": amount}, len(header), shared)
        wanted = {"page id": "page_id", "page name": "page_name", "disclaimer": "disclaimer"}
        wanted["number of ads in library"] = "ads_in_library"
        columns = {key: lowered.index(label) for label, key in wanted.items() if label in lowered}
        if "page_name" not in columns or "disclaimer" not in columns:
            raise ReportFileError(f"{member}: not a report header: {header!r}")
        columns["amount"] = amount
        shared["region"] = name.region
        return cls(SPEND_TABLE, columns, len(header), shared)

    def row(self, cells: list[str]) -> JsonDict | None:
        """The row as table columns, or ``None`` when it cannot be read (see :meth:`problem`)."""
        if len(cells) != self.width:
            return None
        spend = _amount(cells[self.columns["amount"]])
        if spend is None:
            return None
        row: JsonDict = {**self.shared, "spend_lower": spend[0], "spend_upper": spend[1]}
        for key, index in self.columns.items():
            if key == "amount":
                continue
            value = cells[index].strip()
            if key == "ads_in_library":
                if not value.isdigit():
                    return None
                row[key] = int(value)
            else:
                row[key] = value or None
        if self.table == SPEND_TABLE:
            row.setdefault("page_id", None)
            row.setdefault("ads_in_library", None)
        return row

    def problem(self, cells: list[str] | None) -> str:
        if cells is None:
            return "a quoted field that is never closed"
        if len(cells) != self.width:
            return f"{len(cells)} fields where the header has {self.width}"
        return "an amount or number of ads that is not a whole number"


def _amount(text: str) -> tuple[int, int] | None:
    """``"≤100"`` -> (0, 100); ``"4711"`` -> (4711, 4711); anything else -> ``None``."""
    value = text.strip()
    if value.isdigit():
        return int(value), int(value)
    capped = _AT_MOST.fullmatch(value)
    if capped is not None:
        return 0, int(capped.group(1))
    return None
