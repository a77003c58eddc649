"""The fetch loop shared by collectors whose scope is one bulk zip (Google's bundle, Snap's years).

A :class:`BulkFileCollector` subclass says which URL a scope downloads and which zip members it
reads with which :class:`MemberParser`; this module does the rest, once for every such source:

1. download conditionally (:mod:`collectors.download`); a 304 for a finished file yields nothing;
2. decide whether to resume: the same file (same sha256) as an unfinished checkpoint resumes at
   the committed member and row, anything else starts a new listing at row 0;
3. stream each member row by row (:mod:`collectors.csvstream`), skip the rows of the ad member
   that a stored ad already has (:mod:`collectors.unchanged`), turn the others into records
   with the member's parser, and yield a :class:`~collectors.records.Page` every ``batch_size`` rows whose
   checkpoint names the member and the rows done;
4. end with a Page marked ``listing_complete``, so ads missing from the file get delisted
   (only those no row confirmed, when rows were skipped).

The checkpoint (``FileCheckpoint.to_state``) is plain JSON::

    {"url", "sha256", "path", "size", "etag", "last_modified",
     "listing_started_at": ISO-8601, "member": base name or null, "row": int, "done": bool,
     "listed_at": ISO-8601 when the listing completed (or null),
     "previous_listed_at": ISO-8601 when the scope's previous complete listing did (or null)}
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from abc import abstractmethod
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, ClassVar, Protocol

import httpx
from pydantic import Field

from collectors.base import Collector, FatalError, SourceSettings
from collectors.csvstream import CsvFormatError, CsvRow, CsvStream
from collectors.download import (
    BulkArchive,
    CorruptArchiveError,
    DownloadedFile,
    Downloader,
    Validators,
    ZipLimits,
)
from collectors.http import Retrier, make_client
from collectors.records import (
    AdvertiserRecord,
    NormalisedAd,
    Page,
    Quarantined,
    RawPayload,
    TableRows,
)
from collectors.unchanged import KnownRows, row_hasher


class BulkFileSettings(SourceSettings):
    """Keys shared by bulk-file sources (``sources.google``, ``sources.snap``)."""

    batch_size: int = Field(default=2000, ge=1, description="rows per committed Page")
    max_download_bytes: int = Field(
        default=2 << 30, gt=0, description="refuse a download larger than this (bytes)"
    )
    max_member_bytes: int = Field(
        default=16 << 30, gt=0, description="refuse a zip member inflating past this (bytes)"
    )
    max_compression_ratio: float = Field(
        default=200.0, gt=1, description="refuse a zip member compressed more than this (x:1)"
    )
    keep_files: int | None = Field(
        default=14,
        ge=1,
        description="downloaded files kept per scope, the newest (null: keep every file)",
    )
    skip_unchanged: bool = Field(
        default=True,
        description="skip rows a stored ad already has, unread (false: normalise every row)",
    )


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
class _Start:
    """Outcome of the download step: what to read, or a checkpoint-only update."""

    checkpoint: FileCheckpoint
    #: ``False``: the file is done, only its validators changed (save them, read nothing).
    read: bool = True
    #: The file was just downloaded (not a kept copy being resumed).
    fresh: bool = False


@dataclass(slots=True)
class _PageBuilder:
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

    def skip_unchanged(self) -> None:
        """Count a row a stored ad already has: nothing is parsed or written."""
        self.rows += 1
        self.unchanged += 1

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


class BulkFileCollector(Collector):
    """A collector whose every scope is one zip file at one URL."""

    Settings = BulkFileSettings
    settings: BulkFileSettings
    #: Extension of the kept file under ``<data_dir>/raw``.
    file_suffix = ".zip"
    #: A file downloaded by hand is added insert-only (``Page.insert_only``), never as a listing.
    imports_files = True
    #: The zip member a bare CSV stands for, when the platform's zip holds one CSV (Snap).
    single_member: ClassVar[str | None] = None

    _client: httpx.Client | None = None

    @abstractmethod
    def file_url(self, scope: str) -> str:
        """The URL of the file this scope reads."""

    @abstractmethod
    def plan(self, archive: BulkArchive, notices: Notices) -> FilePlan:
        """The member parsers for this archive (may read small members, e.g. id mappings)."""

    def fetch(self, scope: str, state: Mapping[str, Any] | None) -> Iterator[Page]:
        previous = FileCheckpoint.from_state(state)
        start = self._download(scope, previous)
        if start is None:
            self.log.info("%s %s: file unchanged, nothing to do", self.name, scope)
            return
        if not start.read:
            yield Page(scope=scope, checkpoint=start.checkpoint.to_state())
            return
        yield from self._read(scope, start.checkpoint, fresh=start.fresh)

    def files_kept(self) -> int | None:
        return self.settings.keep_files

    def replay(self, scope: str, raw: RawPayload) -> Iterator[Page]:
        """A kept file read again, as the listing it was when fetched; nothing is downloaded.

        Every row takes the full path (no unchanged-row skipping: the target may be empty),
        and the closing Page delists what this listing no longer held, as on the night it
        was first read.
        """
        if raw.kind != "file" or not raw.path:
            raise FatalError(f"{self.name} replays kept bulk files, not {raw.kind} records")
        path = self.context.data_dir / raw.path  # an absolute path stays as it is
        try:
            relative = path.relative_to(self.context.data_dir)
        except ValueError:
            raise FatalError(
                f"{path} is not under the data directory {self.context.data_dir}"
            ) from None
        checkpoint = FileCheckpoint(
            url=raw.url,
            sha256=raw.sha256 or "",
            path=str(relative),
            size=raw.size_bytes if raw.size_bytes is not None else path.stat().st_size,
            etag=None,
            last_modified=None,
            listing_started_at=(raw.fetched_at or datetime.now(UTC)).isoformat(),
        )
        if zipfile.is_zipfile(path) or self.single_member is None:
            yield from self._read(scope, checkpoint, fresh=False)
            return
        # A bare CSV (someone unzipped the download): read it as the one member it was.
        with tempfile.TemporaryDirectory(dir=self.context.data_dir) as tmp:
            wrapped = Path(tmp) / "wrapped.zip"
            with zipfile.ZipFile(wrapped, "w", zipfile.ZIP_STORED) as archive:
                archive.write(path, self.single_member)
            yield from self._read(scope, checkpoint, fresh=False, archive_path=wrapped)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # --- download and resume decision ------------------------------------------------------

    def _download(self, scope: str, previous: FileCheckpoint | None) -> _Start | None:
        url = self.file_url(scope)
        if previous is not None and previous.url != url:
            previous = None
        downloaded = self._downloader().fetch(url, self._ask_with(previous), self.file_suffix)
        if downloaded is None:
            assert previous is not None
            return None if previous.done else _Start(previous)
        if previous is None or downloaded.sha256 != previous.sha256:
            return _Start(FileCheckpoint.start(downloaded, previous), fresh=True)
        refreshed = previous.refreshed(downloaded)
        if not previous.done:
            return _Start(refreshed)
        return None if refreshed == previous else _Start(refreshed, read=False)

    def _ask_with(self, previous: FileCheckpoint | None) -> Validators | None:
        """Ask conditionally only if a 304 leaves us able to continue.

        A finished file needs nothing more; an unfinished one needs its kept copy on disk.
        """
        if previous is None:
            return None
        if previous.done or (self.context.data_dir / previous.path).exists():
            return previous.validators()
        return None

    def _downloader(self) -> Downloader:
        if self._client is None:
            self._client = make_client(self.settings)
        return Downloader(
            self._client,
            self.context.data_dir,
            max_bytes=self.settings.max_download_bytes,
            retrier=Retrier.for_collector(self.settings, self.context),
        )

    # --- reading ---------------------------------------------------------------------------

    def _read(
        self,
        scope: str,
        checkpoint: FileCheckpoint,
        fresh: bool,
        archive_path: Path | None = None,
    ) -> Iterator[Page]:
        path = archive_path or self.context.data_dir / checkpoint.path
        limits = ZipLimits(self.settings.max_member_bytes, self.settings.max_compression_ratio)
        try:
            archive = BulkArchive(path, limits)
        except CorruptArchiveError:
            if fresh:
                path.unlink(missing_ok=True)
            raise
        with archive:
            notices = Notices()
            plan = self.plan(archive, notices)
            builder = _PageBuilder(
                scope=scope,
                checkpoint=checkpoint,
                raw=RawPayload(
                    "file",
                    checkpoint.url,
                    None,
                    checkpoint.path,
                    checkpoint.sha256,
                    checkpoint.size,
                ),
                report_date=plan.report_date,
                notices=notices,
                batch_size=self.settings.batch_size,
                known=self._known_rows(scope, plan),
                ad_member=plan.ad_member,
                row_salt=plan.row_salt,
            )
            members = archive.members()
            self._report_unread(members, plan, notices)
            resume_at = _resume_index(plan.parsers, checkpoint.member)
            for index, parser in enumerate(plan.parsers):
                info = members.get(parser.member)
                if info is None:
                    if index >= resume_at:
                        notices.add(f"{parser.member} is not in this file")
                    continue
                # A member finished before the checkpoint is skipped whole; the ad member's
                # rows are still fingerprinted so that they count as seen for delisting.
                if index < resume_at and parser.member != builder.ad_member:
                    continue
                if index < resume_at and builder.known is None:
                    continue
                skip = checkpoint.row if parser.member == checkpoint.member else 0
                with archive.open(info) as binary:
                    stream = CsvStream(binary, parser.member)
                    if index < resume_at:
                        _confirm_all(stream, builder)
                        continue
                    yield from self._read_member(parser, stream, skip, builder)
            yield builder.final()

    def _known_rows(self, scope: str, plan: FilePlan) -> KnownRows | None:
        reader = self.context.known_rows
        if plan.ad_member is None or reader is None or not self.settings.skip_unchanged:
            return None
        return KnownRows(reader(self.name, scope))

    def _read_member(
        self, parser: MemberParser, stream: CsvStream, skip: int, builder: _PageBuilder
    ) -> Iterator[Page]:
        parser.begin(stream.header, builder.notices)
        done = skip
        fingerprint = row_hasher(builder.row_salt) if parser.member == builder.ad_member else None
        known = builder.known if fingerprint is not None else None
        # Rows before a resumed checkpoint are committed; when rows are being skipped as
        # unchanged, they are still fingerprinted so that they count as seen for delisting.
        for row in stream.rows(0 if known is not None else skip):
            raw_hash = fingerprint(row.fields) if fingerprint is not None else None
            unchanged = known is not None and known.confirm(raw_hash)  # type: ignore[arg-type]
            if row.index < skip:
                continue
            if unchanged:
                builder.skip_unchanged()
            else:
                builder.add(parser, row, stream.header, raw_hash)
            done = row.index + 1
            if builder.full():
                yield builder.page(parser.member, done)
        if stream.repaired_rows:
            builder.notices.add(
                f"{parser.member}: {stream.repaired_rows} row(s) had invalid UTF-8 bytes, "
                "kept with U+FFFD in their place"
            )
        if builder.pending():
            yield builder.page(parser.member, done)

    def _report_unread(self, members: Mapping[str, Any], plan: FilePlan, notices: Notices) -> None:
        read = {parser.member for parser in plan.parsers}
        for name in sorted(members):
            if name not in read and name not in plan.ignored:
                notices.add(f"member {name} is not imported (kept in the raw file)")


def _resume_index(parsers: list[MemberParser], member: str | None) -> int:
    """Index of the checkpoint's member among the parsers (0 for a fresh start)."""
    names = [parser.member for parser in parsers]
    return names.index(member) if member in names else 0


def _confirm_all(stream: CsvStream, builder: _PageBuilder) -> None:
    """Fingerprint every row of a finished ad member, only to mark stored ads as seen."""
    assert builder.known is not None
    fingerprint = row_hasher(builder.row_salt)
    for row in stream.rows():
        builder.known.confirm(fingerprint(row.fields))
