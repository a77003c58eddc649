"""A static-file endpoint like the object store Google and Snap publish their zips from.

Shared by the Google and Snap replicas. It serves one file from disk in chunks (so a 600 MB
benchmark bundle never sits in memory) with what the collectors rely on: ``ETag`` and
``Last-Modified``, ``304 Not Modified`` for a matching ``If-None-Match`` /
``If-Modified-Since``, ``Range`` + ``If-Range`` resumption (``206``), and injectable faults:

- ``drop``: the connection closes halfway through the body (Content-Length announced in full);
- ``5xx``: ``503 Service Unavailable``;
- ``truncated``: a complete response whose body is only the first half of the zip, so the
  transfer succeeds and the zip is unreadable (no central directory).
"""

from __future__ import annotations

import hashlib
import threading
from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Literal

from collectors.replicas.server import ReplicaRequest, ReplicaResponse

Fault = Literal["drop", "5xx", "truncated"]
_CHUNK = 1 << 20
ZIP_CONTENT_TYPE = "application/zip"


class BulkFileEndpoint:
    """Serves the current version of one file; :meth:`publish` swaps in a new version."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        self._faults: deque[Fault] = deque()
        self._modified = datetime(2026, 1, 1, tzinfo=UTC)
        self.publish(path)

    def publish(self, path: Path) -> None:
        """Serve ``path`` from now on, with a new ETag and a later Last-Modified."""
        with self._lock:
            self.path = path
            self.size = path.stat().st_size
            self.etag = f'"{_md5(path)}"'
            self._modified += timedelta(days=1)
            self.last_modified = format_datetime(self._modified, usegmt=True)

    def inject(self, fault: Fault, times: int = 1) -> None:
        """Misbehave on the next ``times`` full-body requests (304s and ranges are spared)."""
        with self._lock:
            self._faults.extend([fault] * times)

    def handle(self, request: ReplicaRequest) -> ReplicaResponse:
        with self._lock:
            path, size = self.path, self.size
            headers = {
                "ETag": self.etag,
                "Last-Modified": self.last_modified,
                "Accept-Ranges": "bytes",
            }
            if self._not_modified(request):
                return ReplicaResponse(status=304, headers=headers, content_type=ZIP_CONTENT_TYPE)
            start = self._range_start(request)
            fault = self._faults.popleft() if self._faults and start == 0 else None
        if fault == "5xx":
            return ReplicaResponse(
                status=503, body=b"Service Unavailable", content_type="text/plain"
            )
        if fault == "truncated":
            return _file_response(path, 0, size // 2, headers)
        response = _file_response(path, start, size, headers)
        if start:
            response.status = 206
            response.headers["Content-Range"] = f"bytes {start}-{size - 1}/{size}"
        if fault == "drop":
            response.drop_after = size // 2
        return response

    def _not_modified(self, request: ReplicaRequest) -> bool:
        match = request.headers.get("if-none-match")
        if match is not None:
            return self.etag in [tag.strip() for tag in match.split(",")]
        since = request.headers.get("if-modified-since")
        if since is None:
            return False
        try:
            return parsedate_to_datetime(since) >= self._modified
        except (TypeError, ValueError):
            return False

    def _range_start(self, request: ReplicaRequest) -> int:
        """Where a valid ``Range: bytes=N-`` asks to start; 0 for a full response."""
        spec = request.headers.get("range", "")
        if_range = request.headers.get("if-range")
        if not spec.startswith("bytes=") or (if_range is not None and if_range != self.etag):
            return 0
        start = spec[len("bytes=") :].partition("-")[0]
        return int(start) if start.isdigit() and int(start) < self.size else 0


def _file_response(path: Path, start: int, end: int, headers: dict[str, str]) -> ReplicaResponse:
    return ReplicaResponse(
        status=200,
        body=_chunks(path, start, end),
        headers=dict(headers),
        content_type=ZIP_CONTENT_TYPE,
        content_length=end - start,
    )


def _chunks(path: Path, start: int, end: int) -> Iterator[bytes]:
    with path.open("rb") as handle:
        handle.seek(start)
        left = end - start
        while left > 0:
            chunk = handle.read(min(_CHUNK, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk


def _md5(path: Path) -> str:
    """GCS-style ETag: the MD5 of the content (only an identifier here)."""
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
