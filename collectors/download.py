"""Streaming download of bulk files, and safe access to the members of a downloaded zip.

Google publishes a ~300 MB bundle every day and Snap one zip per year; both change rarely
between two runs. So a download:

- asks conditionally (``If-None-Match`` / ``If-Modified-Since`` from the last checkpoint): an
  unchanged file costs one request and writes nothing;
- streams to a temporary file under ``<data_dir>/tmp`` while hashing, refusing to go past the
  configured size cap, so memory stays flat and a half-written file is never mistaken for a
  finished one;
- resumes a dropped transfer with ``Range`` + ``If-Range`` when the server allows it (a 300 MB
  transfer that breaks at 290 MB should not start over), and otherwise restarts it;
- keeps the finished file content-addressed at ``<data_dir>/raw/<sha[:2]>/<sha><suffix>``: the
  same bytes downloaded twice are stored once, and the raw archive points at that path.

Zip members are opened by base name (Google's older bundles had a top folder, newer ones have
none), after refusing archives whose member names would escape an extraction directory and
members whose declared size or compression ratio is absurd (a zip bomb). Nothing is extracted:
members are streamed straight from the zip.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import posixpath
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import IO

import httpx

from collectors.base import FatalError, TransientError
from collectors.http import Retrier, describe_url, parse_retry_after, status_error

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
#: Network reads are smaller: what httpx buffers when a connection drops is lost to a resume.
_NET_CHUNK = 64 << 10


class UnsafeArchiveError(FatalError):
    """A zip that adlib refuses to read: escaping member names, zip bombs, oversized members."""


class CorruptArchiveError(TransientError):
    """A zip that cannot be read (truncated, bad CRC).

    Transient because the usual cause is a file caught mid-upload or a broken transfer: the
    next run downloads it again.
    """


@dataclass(frozen=True, slots=True)
class Validators:
    """What the server said identifies a version of the file (kept in the checkpoint)."""

    etag: str | None = None
    last_modified: str | None = None

    def conditional_headers(self) -> dict[str, str]:
        """Headers that turn a GET into "only if changed since"."""
        headers = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        return headers

    @classmethod
    def from_response(cls, response: httpx.Response) -> Validators:
        return cls(response.headers.get("ETag"), response.headers.get("Last-Modified"))


@dataclass(frozen=True, slots=True)
class DownloadedFile:
    """A complete download, kept content-addressed under the data directory."""

    url: str
    path: Path
    #: ``path`` relative to the data directory (what :class:`RawPayload.path` records).
    relative_path: str
    sha256: str
    size: int
    validators: Validators


class _PartialFile:
    """The temporary file a download streams into, with its running hash and size."""

    def __init__(self, tmp_dir: Path) -> None:
        tmp_dir.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix="download-", suffix=".part", dir=tmp_dir)
        self.path = Path(name)
        self._out = os.fdopen(handle, "wb")
        self.size = 0
        self.hasher = hashlib.sha256()
        #: Validators of the response this partial content came from (for ``If-Range``).
        self.validators = Validators()
        self.accepts_ranges = False

    def write(self, chunk: bytes) -> None:
        self._out.write(chunk)
        self.hasher.update(chunk)
        self.size += len(chunk)

    def reset(self) -> None:
        self._out.seek(0)
        self._out.truncate()
        self.size = 0
        self.hasher = hashlib.sha256()

    def resumable(self) -> bool:
        """A range request is only safe when the server can tell us the file is unchanged."""
        return self.size > 0 and self.accepts_ranges and bool(self.validators.etag)

    def finish(self) -> None:
        """Flush and close, so the file can be moved into place."""
        self._out.close()

    def discard(self) -> None:
        self._out.close()
        self.path.unlink(missing_ok=True)


class Downloader:
    """Downloads one URL at a time into ``data_dir``; see the module docstring for the rules.

    Retries follow the source's policy (:class:`collectors.http.Retrier`: back-off with jitter,
    ``Retry-After`` honoured up to ``max_wait_seconds``); the partial file survives between
    attempts, so a retry after a dropped connection asks only for the missing bytes.
    """

    def __init__(
        self, client: httpx.Client, data_dir: Path, *, max_bytes: int, retrier: Retrier
    ) -> None:
        self.client = client
        self.data_dir = data_dir
        self.max_bytes = max_bytes
        self.retrier = retrier

    def fetch(
        self, url: str, previous: Validators | None = None, suffix: str = ".zip"
    ) -> DownloadedFile | None:
        """Download ``url``; ``None`` means the server answered 304 to ``previous``.

        Raises :class:`TransientError` when every attempt failed (dropped connections, 5xx,
        truncated bodies) and :class:`FatalError` for answers no retry can change (404, a file
        over the size cap). Either way no partial file is left behind.
        """
        partial = _PartialFile(self.data_dir / "tmp")
        try:
            changed = self.retrier.call(
                lambda: self._attempt(url, previous, partial), describe_url(url)
            )
            return self._keep(url, partial, suffix) if changed else None
        finally:
            partial.discard()

    def _attempt(self, url: str, previous: Validators | None, partial: _PartialFile) -> bool:
        """One GET into ``partial``; ``False`` for 304 Not Modified."""
        headers = self._request_headers(previous, partial)
        with self.client.stream("GET", url, headers=headers) as response:
            if response.status_code == 304 and "If-Range" not in headers:
                return False
            self._check_status(url, response)
            self._prepare_partial(response, partial)
            self._stream_body(url, response, partial)
        return True

    def _request_headers(
        self, previous: Validators | None, partial: _PartialFile
    ) -> dict[str, str]:
        headers = {"Accept-Encoding": "identity"}
        if partial.resumable():
            assert partial.validators.etag is not None
            headers["Range"] = f"bytes={partial.size}-"
            headers["If-Range"] = partial.validators.etag
            return headers
        partial.reset()
        if previous is not None:
            headers.update(previous.conditional_headers())
        return headers

    def _check_status(self, url: str, response: httpx.Response) -> None:
        status = response.status_code
        where = describe_url(url)
        if status in (200, 206):
            return
        wait = parse_retry_after(response.headers.get("Retry-After"))
        raise status_error(status, where, wait) or FatalError(
            f"unexpected HTTP {status} for {where}: expected the file (200) or a range (206)"
        )

    def _prepare_partial(self, response: httpx.Response, partial: _PartialFile) -> None:
        """Append to ``partial`` for a matching 206; start over for a 200 or a stray range."""
        if response.status_code == 206 and _range_start(response) == partial.size:
            return
        partial.reset()
        if response.status_code == 206:
            raise TransientError("server answered a range that does not continue the partial file")
        partial.validators = Validators.from_response(response)
        partial.accepts_ranges = response.headers.get("Accept-Ranges", "").lower() == "bytes"

    def _stream_body(self, url: str, response: httpx.Response, partial: _PartialFile) -> None:
        expected = _expected_total(response, partial.size)
        if expected is not None and expected > self.max_bytes:
            raise FatalError(self._too_big(url, expected))
        for chunk in response.iter_raw(_NET_CHUNK):
            if partial.size + len(chunk) > self.max_bytes:
                raise FatalError(self._too_big(url, partial.size + len(chunk)))
            partial.write(chunk)
        if expected is not None and partial.size != expected:
            raise TransientError(f"body ended at {partial.size} of {expected} bytes")

    def _keep(self, url: str, partial: _PartialFile, suffix: str) -> DownloadedFile:
        sha = partial.hasher.hexdigest()
        relative = PurePosixPath("raw", sha[:2], f"{sha}{suffix}")
        final = self.data_dir / relative
        final.parent.mkdir(parents=True, exist_ok=True)
        partial.finish()
        if final.exists():
            partial.discard()
        else:
            os.replace(partial.path, final)
        log.info("downloaded %s: %d bytes, sha256 %s", describe_url(url), partial.size, sha)
        return DownloadedFile(url, final, str(relative), sha, partial.size, partial.validators)

    def _too_big(self, url: str, size: int) -> str:
        return (
            f"{url} is {size} bytes, over max_download_bytes ({self.max_bytes}); "
            "raise the setting if the file really grew"
        )


def _range_start(response: httpx.Response) -> int | None:
    """First byte of a ``Content-Range: bytes START-END/TOTAL`` answer."""
    value = response.headers.get("Content-Range", "")
    unit, _, spec = value.partition(" ")
    start, _, _ = spec.partition("-")
    if unit.lower() != "bytes" or not start.isdigit():
        return None
    return int(start)


def _expected_total(response: httpx.Response, already: int) -> int | None:
    """The complete file size the partial file should reach, if the server announced it."""
    length = response.headers.get("Content-Length")
    if length is None or not length.isdigit():
        return None
    return already + int(length)


# --- zip members ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ZipLimits:
    """Refusal thresholds for members, checked on the central directory before any read."""

    max_member_bytes: int = 16 << 30
    max_compression_ratio: float = 200.0


class BulkArchive:
    """A downloaded zip, opened for streaming its members by base name.

    Opening validates the whole central directory: a truncated file fails here with
    :class:`CorruptArchiveError`, before any row is read, and an archive with an escaping
    member name is refused as a whole with :class:`UnsafeArchiveError`.
    """

    def __init__(self, path: Path, limits: ZipLimits | None = None) -> None:
        self.path = path
        self.limits = limits or ZipLimits()
        try:
            self._zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, EOFError, OSError) as exc:
            raise CorruptArchiveError(
                f"{path.name} is not a readable zip ({exc}); the download was probably "
                "truncated or the file was being replaced: the next run fetches it again"
            ) from exc
        try:
            for info in self._zip.infolist():
                check_member_name(info.filename)
        except UnsafeArchiveError:
            self._zip.close()
            raise

    def members(self) -> dict[str, zipfile.ZipInfo]:
        """Files in the archive by base name; a base name present twice is refused."""
        found: dict[str, zipfile.ZipInfo] = {}
        for info in self._zip.infolist():
            if info.is_dir():
                continue
            name = PurePosixPath(info.filename.replace("\\", "/")).name
            if name in found:
                raise UnsafeArchiveError(
                    f"{self.path.name}: two members named {name!r} "
                    f"({found[name].filename!r}, {info.filename!r}); cannot tell which to read"
                )
            found[name] = info
        return found

    @contextmanager
    def open(self, info: zipfile.ZipInfo) -> Iterator[IO[bytes]]:
        """Stream one member after checking its declared size and compression ratio.

        ``zipfile`` stops at the declared size and checks the CRC at the end, so a member
        cannot inflate past what the limits accepted; read errors become
        :class:`CorruptArchiveError`.
        """
        self._check_limits(info)
        try:
            with self._zip.open(info) as member:
                yield io.BufferedReader(
                    _GuardedMember(member, self.path.name, info.filename), _CHUNK
                )
        except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
            raise _corrupt(self.path.name, info.filename, exc) from exc

    def _check_limits(self, info: zipfile.ZipInfo) -> None:
        limits = self.limits
        if info.file_size > limits.max_member_bytes:
            raise UnsafeArchiveError(
                f"{self.path.name}: member {info.filename!r} inflates to {info.file_size} bytes, "
                f"over the limit of {limits.max_member_bytes}"
            )
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > limits.max_compression_ratio:
            raise UnsafeArchiveError(
                f"{self.path.name}: member {info.filename!r} has a compression ratio of "
                f"{ratio:.0f}:1 (limit {limits.max_compression_ratio:.0f}:1); refusing a "
                "possible zip bomb"
            )

    def close(self) -> None:
        self._zip.close()

    def __enter__(self) -> BulkArchive:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def check_member_name(name: str) -> None:
    """Refuse a member name that would land outside the directory it is extracted into."""
    normalised = name.replace("\\", "/")
    root = "/extract-root"
    target = posixpath.normpath(posixpath.join(root, normalised))
    if (
        normalised.startswith("/")
        or (len(normalised) > 1 and normalised[1] == ":")
        or not target.startswith(root + "/")
    ):
        raise UnsafeArchiveError(
            f"zip member name {name!r} escapes the target directory; refusing the archive"
        )


def _corrupt(archive: str, member: str, exc: BaseException) -> CorruptArchiveError:
    return CorruptArchiveError(
        f"{archive}: member {member!r} is damaged ({type(exc).__name__}: {exc}); "
        "the next run downloads the file again"
    )


class _GuardedMember(io.RawIOBase):
    """Raw stream over a zip member that turns mid-stream zip errors into CorruptArchiveError.

    Callers wrap it in ``io.BufferedReader``/``io.TextIOWrapper``, so the C line splitting of
    those classes does the work, not a Python ``readline``.
    """

    def __init__(self, member: IO[bytes], archive: str, name: str) -> None:
        super().__init__()
        self._member = member
        self._archive = archive
        self._name = name

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        try:
            data = self._member.read(len(buffer))
        except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
            raise _corrupt(self._archive, self._name, exc) from exc
        buffer[: len(data)] = data
        return len(data)
