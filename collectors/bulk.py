"""The fetch loop shared by collectors whose scope is one bulk zip (Google's bundle, Snap's years).

A :class:`BulkFileCollector` subclass says which URL a scope downloads and which zip members it
reads with which :class:`MemberParser`; this module does the rest, once for every such source
(what it reads with, the checkpoint and the Page builder, is in :mod:`collectors.bulkread`):

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

import sys
import tempfile
import zipfile
from abc import abstractmethod
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import httpx
from pydantic import Field

from collectors.base import Collector, FatalError, SourceSettings
from collectors.bulkread import (
    FileCheckpoint,
    FilePlan,
    Item,
    MemberParser,
    Notices,
    PageBuilder,
    Start,
    TableRow,
    report_columns,
)
from collectors.csvstream import CsvStream
from collectors.download import (
    BulkArchive,
    CorruptArchiveError,
    Downloader,
    Validators,
    ZipLimits,
)
from collectors.files import is_zip
from collectors.http import Retrier, make_client
from collectors.records import (
    Page,
    RawPayload,
)
from collectors.unchanged import KnownRows

#: What each platform's member parsers import from here (defined in collectors.bulkread).
__all__ = [
    "BulkFileCollector",
    "BulkFileSettings",
    "FileCheckpoint",
    "FilePlan",
    "Item",
    "MemberParser",
    "Notices",
    "TableRow",
    "report_columns",
]


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


class BulkFileCollector(Collector):
    """A collector whose every scope is one zip file at one URL."""

    Settings = BulkFileSettings
    settings: BulkFileSettings
    #: Extension of the kept file under ``<data_dir>/raw``.
    file_suffix = ".zip"
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
        if is_zip(path) or self.single_member is None:
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

    def _download(self, scope: str, previous: FileCheckpoint | None) -> Start | None:
        url = self.file_url(scope)
        if previous is not None and previous.url != url:
            previous = None
        downloaded = self._downloader().fetch(url, self._ask_with(previous), self.file_suffix)
        if downloaded is None:
            assert previous is not None
            return None if previous.done else Start(previous)
        if previous is None or downloaded.sha256 != previous.sha256:
            return Start(FileCheckpoint.start(downloaded, previous), fresh=True)
        refreshed = previous.refreshed(downloaded)
        if not previous.done:
            return Start(refreshed)
        return None if refreshed == previous else Start(refreshed, read=False)

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
            builder = PageBuilder(
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
        self, parser: MemberParser, stream: CsvStream, skip: int, builder: PageBuilder
    ) -> Iterator[Page]:
        parser.begin(stream.header, builder.notices)
        done = skip
        ad_rows = parser.member == builder.ad_member
        salt = builder.row_salt if ad_rows else None
        # Rows before a resumed checkpoint are committed and not yielded; when rows are being
        # skipped as unchanged, they are still fingerprinted so that they count as seen.
        for row in stream.rows(skip, salt=salt, known=builder.known if ad_rows else None):
            if row.unchanged:
                builder.skip_unchanged(row.unchanged)
            else:
                builder.add(parser, row, stream.header, row.fingerprint)
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


def _confirm_all(stream: CsvStream, builder: PageBuilder) -> None:
    """Fingerprint every row of a finished ad member, only to mark stored ads as seen."""
    for _ in stream.rows(sys.maxsize, salt=builder.row_salt, known=builder.known):  # none yielded
        pass
