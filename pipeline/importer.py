"""`adlib import`: files a person downloaded, loaded like collected ones.

Some data only reaches a researcher by hand: Meta's Ad Library Report is downloaded from a web
page that blocks bots, and a Google or Snap bundle may come from a colleague. Each file is:

1. recognised by the collectors (:data:`collectors.RECOGNISERS`: name and first bytes), which
   also say the scope it belongs to; a file nobody recognises is refused before anything is
   imported (one line, exit 2);
2. skipped if the archive already holds it (same source, same sha256): importing a file twice
   changes nothing;
3. kept content-addressed under ``<data_dir>/raw/`` like a downloaded bulk file, and archived in
   ``raw_records`` (kind ``file``), so every row points back to it;
4. read by the source's :meth:`~collectors.base.Collector.replay`, and loaded Page by Page in
   one transaction together with its run: a damaged file leaves no row, no run and no copy.
   Every Page is *insert-only*: the file may be older than what was collected (a colleague's
   bundle from 2020 holds ads Google has since removed), so it adds the ads and rows the
   database lacks and never updates, delists or moves a checkpoint.

This module names no platform: what a file is, and how it is read, is the collectors' business.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, Engine, select, update

from collectors import collector_class, recognise
from collectors.base import CollectorContext, CollectorError
from collectors.records import RawPayload
from collectors.redact import Redactor
from pipeline.config import Config
from pipeline.load import load_page
from pipeline.lock import SourceLocks
from pipeline.rebuild import IMPORTED_URL_PREFIX
from schema.models import CollectionRun, RawRecord, table_of

_raw = table_of(RawRecord)
_runs = table_of(CollectionRun)
_CHUNK = 1 << 20


class ImportRefused(Exception):
    """A file that cannot be imported; the message is one line naming the file and the fix."""


@dataclass(frozen=True, slots=True)
class Recognised:
    """A file on the command line, and what it is."""

    path: Path
    source: str
    scope: str


@dataclass(slots=True)
class Imported:
    """What importing one file did."""

    file: Recognised
    sha256: str
    already: bool = False
    rows: int = 0
    quarantined: int = 0


def recognise_all(paths: list[Path]) -> list[Recognised]:
    """Every path recognised, or :class:`ImportRefused` for the first that is not."""
    found = []
    for path in paths:
        if not path.is_file():
            raise ImportRefused(f"{path}: no such file")
        try:
            what = recognise(path)
        except OSError as exc:
            raise ImportRefused(f"{path}: cannot read it ({exc.strerror or exc})") from None
        if what is None:
            raise ImportRefused(
                f"{path}: not a file adlib can import (a Meta Ad Library Report zip or CSV under "
                "its original name, a Google transparency bundle zip, a Snap PoliticalAds zip "
                "or CSV): check the file, or keep the name it was downloaded with"
            )
        found.append(Recognised(path, *what))
    return found


def import_file(
    config: Config, engine: Engine, file: Recognised, *, log: logging.Logger, redactor: Redactor
) -> Imported:
    """Import one recognised file (see the module docstring for the steps)."""
    sha, size = _sha256(file.path)
    result = Imported(file, sha)
    if _archived(engine, file.source, sha):
        result.already = True
        return result
    relative, created = _keep(config.data_dir, file.path, sha)
    raw = RawPayload(
        kind="file",
        url=f"{IMPORTED_URL_PREFIX}{file.path.name}",
        path=relative,
        sha256=sha,
        size_bytes=size,
    )
    settings = config.sources.get(file.source) or collector_class(file.source).Settings()
    context = CollectorContext(
        countries=list(config.countries), data_dir=config.data_dir, log=log.getChild(file.source)
    )
    collector = collector_class(file.source)(settings, context)
    try:
        with SourceLocks(engine, config.database_url, [file.source]), engine.begin() as conn:
            run_id = _open_run(conn, file)
            for page in collector.replay(file.scope, raw):
                # A file from elsewhere may be older than what was collected: it adds what the
                # database lacks and changes nothing it holds (no update, delisting or
                # checkpoint; see Page.insert_only).
                page.insert_only = True
                now = datetime.now(UTC)
                loaded = load_page(
                    conn, page, source=file.source, run_id=run_id, now=now, redactor=redactor
                )
                result.rows += sum(len(table.rows) for table in page.tables) + loaded.records
                result.quarantined += loaded.quarantined
            _close_run(conn, run_id, result)
    except CollectorError as exc:
        _discard(config.data_dir / relative, created)
        raise ImportRefused(
            f"{file.path}: {redactor.text(str(exc))}; nothing was imported"
        ) from None
    except BaseException:
        _discard(config.data_dir / relative, created)
        raise
    finally:
        collector.close()
    return result


def _sha256(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _archived(engine: Engine, source: str, sha: str) -> bool:
    with engine.connect() as conn:
        found = conn.execute(
            select(_raw.c.id).where(_raw.c.source == source, _raw.c.content_hash == sha)
        ).first()
    return found is not None


def _keep(data_dir: Path, path: Path, sha: str) -> tuple[str, bool]:
    """Copy ``path`` to ``raw/<sha[:2]>/<sha><suffix>`` (as downloads are kept); created?"""
    relative = f"raw/{sha[:2]}/{sha}{''.join(path.suffixes[-1:]).lower()}"
    target = data_dir / relative
    if target.is_file():
        return relative, False
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    shutil.copyfile(path, partial)
    os.replace(partial, target)
    return relative, True


def _discard(path: Path, created: bool) -> None:
    """Remove a copy this import made (and its folder, if that left it empty)."""
    if created:
        path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            path.parent.rmdir()


def _open_run(conn: Connection, file: Recognised) -> int:
    row = conn.execute(
        _runs.insert().returning(_runs.c.id),
        [
            {
                "source": file.source,
                "scope": file.scope,
                "started_at": datetime.now(UTC),
                "status": "running",
                "notices": [f"imported from {file.path.name}"],
            }
        ],
    )
    return int(row.scalar_one())


def _close_run(conn: Connection, run_id: int, result: Imported) -> None:
    conn.execute(
        update(_runs)
        .where(_runs.c.id == run_id)
        .values(status="success", finished_at=datetime.now(UTC), records=result.rows)
    )
