"""Retention of bulk files: keep the newest N downloaded files of a scope, delete older ones.

adlib keeps each distinct bulk file (Google's bundle, a Snap year's zip) as the original file,
because that file is the provenance of every ad read from it. Google publishes a new ~300 MB
bundle every day, so without a limit the data directory grows by ~100 GB a year. After a scope
has loaded a file, the files of that scope beyond the newest ``keep`` are deleted and their
``raw_records`` rows get ``pruned_at``. The row itself (URL, sha256, size, fetch time) stays, so
every ad still names the exact file it came from, and the file can be recognised by its sha256
if a copy turns up again.

Nothing here knows a platform: it works on ``raw_records`` rows of kind ``file``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, select, update

from schema.models import RawRecord, table_of

_raw = table_of(RawRecord)


@dataclass(frozen=True, slots=True)
class PrunedFile:
    """A bulk file deleted from the data directory (``size_bytes`` as archived)."""

    path: str
    size_bytes: int


def prune_files(
    engine: Engine,
    *,
    source: str,
    scope: str,
    keep: int,
    data_dir: Path,
    protect: set[str],
    now: datetime,
) -> list[PrunedFile]:
    """Delete the files of ``(source, scope)`` beyond the newest ``keep``; return them.

    ``protect`` are the files the run just loaded: they are kept and count towards ``keep``
    whatever their archive date (a file Google republishes byte for byte keeps its first
    fetch time). A file is deleted before its row is marked, so a crash in between leaves an
    unmarked row whose missing file the next pass marks; never a marked row with a file left
    behind. A path another unpruned row still points to (the same bytes under another source)
    is marked but not deleted.
    """
    if keep < 1:
        raise ValueError("keep must be at least 1: the file just loaded is always kept")
    with engine.connect() as conn:
        rows = conn.execute(
            select(_raw.c.id, _raw.c.path, _raw.c.size_bytes)
            .where(
                _raw.c.source == source,
                _raw.c.scope == scope,
                _raw.c.kind == "file",
                _raw.c.path.is_not(None),
                _raw.c.pruned_at.is_(None),
            )
            .order_by(_raw.c.fetched_at.desc(), _raw.c.id.desc())
        ).all()
    kept = [row.path for row in rows if row.path in protect]
    stale = []
    for row in rows:
        if row.path in kept:
            continue
        if len(kept) < keep:
            kept.append(row.path)
        else:
            stale.append(row)
    if not stale:
        return []
    stale_ids = [row.id for row in stale]
    with engine.connect() as conn:
        shared = set(
            conn.scalars(
                select(_raw.c.path).where(
                    _raw.c.path.in_([row.path for row in stale]),
                    _raw.c.pruned_at.is_(None),
                    _raw.c.id.not_in(stale_ids),
                )
            )
        )
    root = data_dir.resolve()
    pruned = []
    for row in stale:
        target = (data_dir / row.path).resolve()
        if row.path not in shared and root in target.parents:
            target.unlink(missing_ok=True)
        pruned.append(PrunedFile(row.path, row.size_bytes or 0))
    with engine.begin() as conn:
        conn.execute(update(_raw).where(_raw.c.id.in_(stale_ids)).values(pruned_at=now))
    return pruned
