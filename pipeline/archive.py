"""The raw archive: every fetched page or bulk file, once, with secrets removed.

API pages are stored gzip-compressed inside ``raw_records`` and deduplicated by the sha256 of
their (redacted) content, so re-fetching an unchanged page costs no space. Bulk files stay the
original file on disk, content-addressed under the data directory; their row here records the
path and hash so every ad can point back to the file, member and line it came from.
"""

from __future__ import annotations

import gzip
import hashlib
from datetime import datetime

from sqlalchemy import Connection, select

from collectors.records import RawPayload
from collectors.redact import Redactor
from pipeline.sqlutil import insert_ignore
from schema.models import RawRecord, table_of

_raw = table_of(RawRecord)


def archive(
    conn: Connection,
    *,
    source: str,
    scope: str,
    run_id: int,
    raw: RawPayload,
    redactor: Redactor,
    fetched_at: datetime,
) -> int:
    """Store ``raw`` (if not stored already) and return its ``raw_records.id``."""
    url = redactor.text(raw.url)
    if raw.kind == "page":
        content = redactor.bytes(raw.content or b"")
        content_hash = hashlib.sha256(content).hexdigest()
        payload: bytes | None = gzip.compress(content, compresslevel=6, mtime=0)
        size: int | None = len(content)
    else:
        if not raw.sha256:
            raise ValueError("a bulk file must come with its sha256")
        content_hash, payload, size = raw.sha256, None, raw.size_bytes
    row = {
        "source": source,
        "run_id": run_id,
        "scope": scope,
        "fetched_at": fetched_at,
        "kind": raw.kind,
        "url": url,
        "content_hash": content_hash,
        "size_bytes": size,
        "payload": payload,
        "path": raw.path,
    }
    conn.execute(insert_ignore(conn, _raw, ["source", "content_hash"]), [row])
    found = conn.execute(
        select(_raw.c.id).where(_raw.c.source == source, _raw.c.content_hash == content_hash)
    ).scalar_one()
    return int(found)


def read_page(conn: Connection, raw_record_id: int) -> bytes:
    """The stored body of an archived page, decompressed (for audits and reprocessing)."""
    payload = conn.execute(select(_raw.c.payload).where(_raw.c.id == raw_record_id)).scalar_one()
    return gzip.decompress(payload) if payload else b""
