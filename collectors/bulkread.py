"""How a bulk file is read: row records, notices, member parsers and their plan, the scope's
checkpoint, and the builder that turns rows into Pages.

:mod:`collectors.bulk` drives the download and the reading loop; this module holds what that
loop, and each platform's member parsers, work with.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any, Protocol

from collectors.csvstream import CsvFormatError, CsvRow
from collectors.download import (
    DownloadedFile,
    Validators,
)
from collectors.records import (
    AdvertiserRecord,
    NormalisedAd,
    Page,
    Quarantined,
    RawPayload,
    TableRows,
)
from collectors.unchanged import KnownRows

#: Rows skipped as unchanged per Page, in batches: bounds what a resumed run scans again.
SKIPPED_PER_PAGE = 50


@dataclass(slots=True)
class TableRow:
    """One row for a platform table (see :class:`~collectors.records.TableRows`)."""

    table: str
    key: tuple[str, ...]
    values: dict[str, Any]


#: What a parser makes of one CSV row.
Item = NormalisedAd | AdvertiserRecord | TableRow


class Notices:
    """Run-summary messages, each reported once however many rows trigger it."""

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._pending: list[str] = []

    def add(self, message: str) -> None:
        self.once(message, message)

    def once(self, key: str, message: str) -> None:
        """Report ``message`` unless something was already reported under ``key``.

        For messages that quote a value: the first bad value of a column is reported, not
        every distinct one.
        """
        if key not in self._seen:
            self._seen.add(key)
            self._pending.append(message)

    def drain(self) -> list[str]:
        pending, self._pending = self._pending, []
        return pending


class MemberParser(Protocol):
    """Turns the rows of one zip member (by base name) into records."""

    member: str

    def begin(self, header: list[str], notices: Notices) -> None:
        """Check the header: report unknown columns, fail on a missing key column."""

    def parse(self, values: dict[str, str], ref: str) -> Iterable[Item]:
        """Records for one row; ``ValueError`` quarantines the row with the message."""


@dataclass(slots=True)
class FilePlan:
    """What to read from one downloaded archive, in order."""

    parsers: list[MemberParser]
    #: Members known to carry nothing to import (readme files, deprecated empty files).
    ignored: Collection[str] = ()
    report_date: date | None = None
    #: The member whose rows are ads, one per row: its unchanged rows are skipped unread.
    ad_member: str | None = None
    #: Key of the row fingerprints (:func:`collectors.unchanged.row_salt`).
    row_salt: bytes = b""


def report_columns(
    member: str,
    header: list[str],
    known: Collection[str],
    notices: Notices,
    required: Collection[str] = (),
    is_known: Callable[[str], object] | None = None,
) -> None:
    """Report columns adlib does not map, and fail if a column it cannot do without is gone.

    Unknown columns stay in the raw file; the notice tells a maintainer the schema drifted.
    ``is_known`` accepts columns by pattern (Google's per-currency columns).
    """
    missing = [column for column in required if column not in header]
    if missing:
        raise CsvFormatError(f"{member}: required column(s) {missing} missing; header is {header}")
    for column in header:
        if column not in known and not (is_known and is_known(column)):
            notices.add(f"{member}: unknown column {column!r} is not imported (kept in raw file)")


@dataclass(slots=True)
class FileCheckpoint:
    """Where reading one downloaded file stands; the JSON state of a bulk scope."""

    url: str
    sha256: str
    path: str
    size: int
    etag: str | None
    last_modified: str | None
    listing_started_at: str
    member: str | None = None
    row: int = 0
    done: bool = False
    #: When this listing completed: every ad it confirmed unchanged was seen then.
    listed_at: str | None = None
    #: When the scope's previous listing completed: the last time a vanished ad was seen.
    previous_listed_at: str | None = None

    @classmethod
    def start(cls, downloaded: DownloadedFile, previous: FileCheckpoint | None) -> FileCheckpoint:
        """A new listing of ``downloaded``, after the last one completed in ``previous``."""
        last = None
        if previous is not None:
            last = previous.listed_at if previous.done else previous.previous_listed_at
        return cls(
            url=downloaded.url,
            sha256=downloaded.sha256,
            path=downloaded.relative_path,
            size=downloaded.size,
            etag=downloaded.validators.etag,
            last_modified=downloaded.validators.last_modified,
            listing_started_at=datetime.now(UTC).isoformat(),
            previous_listed_at=last,
        )

    @classmethod
    def from_state(cls, state: Mapping[str, Any] | None) -> FileCheckpoint | None:
        """The checkpoint in ``state``, or ``None`` if there is none or it has another shape."""
        if not state:
            return None
        try:
            return cls(**{name: state[name] for name in cls.__dataclass_fields__ if name in state})
        except TypeError:
            return None

    def to_state(self) -> dict[str, Any]:
        return asdict(self)

    def validators(self) -> Validators:
        return Validators(self.etag, self.last_modified)

    def at(self, member: str, row: int) -> FileCheckpoint:
        return replace(self, member=member, row=row)

    def refreshed(self, downloaded: DownloadedFile) -> FileCheckpoint:
        """The same content under new validators (the server re-published identical bytes)."""
        return replace(
            self,
            path=downloaded.relative_path,
            etag=downloaded.validators.etag,
            last_modified=downloaded.validators.last_modified,
        )


@dataclass(slots=True)
class Start:
    """Outcome of the download step: what to read, or a checkpoint-only update."""

    checkpoint: FileCheckpoint
    #: ``False``: the file is done, only its validators changed (save them, read nothing).
    read: bool = True
    #: The file was just downloaded (not a kept copy being resumed).
    fresh: bool = False


@dataclass(slots=True)
class PageBuilder:
    """Accumulates one Page worth of records and stamps it with its checkpoint."""

    scope: str
    checkpoint: FileCheckpoint
    raw: RawPayload
    report_date: date | None
    notices: Notices
    batch_size: int
    #: Fingerprints of the scope's stored ads (``None``: read every row in full).
    known: KnownRows | None = None
    ad_member: str | None = None
    row_salt: bytes = b""
    ads: list[NormalisedAd] = field(default_factory=list)
    advertisers: list[AdvertiserRecord] = field(default_factory=list)
    tables: dict[tuple[str, tuple[str, ...]], list[dict[str, Any]]] = field(default_factory=dict)
    quarantined: list[Quarantined] = field(default_factory=list)
    rows: int = 0
    unchanged: int = 0

    def skip_unchanged(self, rows: int) -> None:
        """Count rows stored ads already have: nothing is parsed or written."""
        self.rows += rows
        self.unchanged += rows

    def add(
        self, parser: MemberParser, row: CsvRow, header: list[str], raw_hash: int | None
    ) -> None:
        """Parse one row into records (``raw_hash``: its fingerprint, for an ad row)."""
        self.rows += 1
        ref = f"{parser.member}:{row.line}"
        if len(row.fields) > len(header):
            reason = f"row has {len(row.fields)} cells, header has {len(header)}"
            self.quarantined.append(Quarantined(reason, json.dumps(row.fields), ref))
            return
        values = row.values(header)
        try:
            items = list(parser.parse(values, ref))
        except ValueError as exc:
            self.quarantined.append(Quarantined(str(exc), json.dumps(values), ref))
            return
        for item in items:
            self._keep(item, row.repaired, raw_hash)

    def _keep(self, item: Item, repaired: bool, raw_hash: int | None) -> None:
        if isinstance(item, NormalisedAd):
            if repaired:
                item.extra["encoding_repaired"] = True
            item.raw_hash = raw_hash
            self.ads.append(item)
        elif isinstance(item, AdvertiserRecord):
            self.advertisers.append(item)
        else:
            self.tables.setdefault((item.table, item.key), []).append(item.values)

    def full(self) -> bool:
        """A Page holds ``batch_size`` rows read in full; skipped rows cost no memory, so they
        only close a Page every :data:`SKIPPED_PER_PAGE` batches (a commit costs ~10 ms)."""
        read = self.rows - self.unchanged
        return read >= self.batch_size or self.rows >= self.batch_size * SKIPPED_PER_PAGE

    def pending(self) -> bool:
        return self.rows > 0

    def page(self, member: str, row: int) -> Page:
        """The accumulated records as a Page that resumes after ``row`` rows of ``member``."""
        self.checkpoint = self.checkpoint.at(member, row)
        page = Page(
            scope=self.scope,
            checkpoint=self.checkpoint.to_state(),
            ads=self.ads,
            advertisers=self.advertisers,
            tables=[TableRows(t, k, rows) for (t, k), rows in self.tables.items()],
            quarantined=self.quarantined,
            raw=self.raw,
            notices=self.notices.drain(),
            report_date=self.report_date,
            unchanged=self.unchanged,
        )
        self.ads, self.advertisers, self.tables, self.quarantined = [], [], {}, []
        self.rows = self.unchanged = 0
        return page

    def final(self) -> Page:
        """The closing Page: the file is done and its listing is complete."""
        listed_at = datetime.now(UTC)
        self.checkpoint = replace(self.checkpoint, done=True, listed_at=listed_at.isoformat())
        previous = self.checkpoint.previous_listed_at
        return Page(
            scope=self.scope,
            checkpoint=self.checkpoint.to_state(),
            raw=self.raw,
            listing_complete=True,
            listing_started_at=datetime.fromisoformat(self.checkpoint.listing_started_at),
            previous_listing_at=datetime.fromisoformat(previous) if previous else None,
            notices=self.notices.drain(),
            report_date=self.report_date,
            listing_unseen=self.known.unseen() if self.known is not None else None,
        )
