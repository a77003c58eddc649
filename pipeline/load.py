"""The loader: maps a collector's Page onto the schema, in one transaction with its checkpoint.

Per Page: the raw payload is archived, the ads are written (:mod:`pipeline.adrows`), then the
platform tables, quarantined records, delisted marks (:mod:`pipeline.listing`), and the Page's
checkpoint and the run's counters, all in the same transaction, so a crash at any point
resumes from exactly the data that is in the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, select, update
from sqlalchemy.exc import DataError

from collectors.records import NormalisedAd, Page, Quarantined, TableRows, unstorable
from collectors.redact import Redactor
from pipeline import faults
from pipeline.adrows import AdWriter, PageResult, set_aside
from pipeline.archive import archive
from pipeline.listing import close_listing
from pipeline.sqlutil import IN_CHUNK, chunks, upsert
from schema.models import Ad, Base, Checkpoint, CollectionRun, QuarantinedRecord, table_of

_ads: Table = table_of(Ad)
_checkpoints: Table = table_of(Checkpoint)
_runs: Table = table_of(CollectionRun)
_quarantine_rows: Table = table_of(QuarantinedRecord)


def load_page(
    conn: Connection,
    page: Page,
    *,
    source: str,
    run_id: int,
    now: datetime,
    redactor: Redactor,
) -> PageResult:
    """Write ``page`` and its checkpoint inside the caller's transaction."""
    result = PageResult(records=page.unchanged)
    raw_id = None
    if page.raw is not None:
        raw_id = archive(
            conn,
            source=source,
            scope=page.scope,
            run_id=run_id,
            raw=page.raw,
            redactor=redactor,
            fetched_at=now,
        )
    if page.insert_only:
        page.ads = _not_stored(conn, source, page.ads)
    quarantined = list(page.quarantined)
    # Optimistic: checking every value of every record up front costs a third of a bulk
    # import, and a value no database stores is rare. On failure, roll back to the savepoint
    # and find the offending ads (see AdWriter.write_storable); the rest of the Page loads.
    writer = AdWriter(conn, page.scope, source, run_id, now, raw_id, page.insert_only)
    savepoint = conn.begin_nested()
    try:
        writer.write(page.ads, page.advertisers, result)
    except Exception as error:
        storable, rejected = _split_unstorable(page.ads)
        if not rejected and not isinstance(error, DataError):
            # Not about a value (disk full, lost connection): re-raise it as it is. Rolling
            # back first would fail on its own when the engine has already ended the
            # transaction (SQLite on SQLITE_FULL) and hide this error behind "no such savepoint".
            raise
        savepoint.rollback()
        result = PageResult(records=page.unchanged)
        quarantined += rejected
        quarantined += writer.write_storable(storable, page.advertisers, result)
    else:
        savepoint.commit()
    faults.point("in_batch")
    for rows in page.tables:
        _write_table_rows(conn, rows, insert_only=page.insert_only)
    if quarantined:
        _quarantine(conn, page.scope, quarantined, source, run_id, raw_id, now, redactor)
        result.quarantined = len(quarantined)
    if page.insert_only:
        _count(conn, run_id, result, page.notices)
        return result
    if page.listing_complete and page.listing_started_at is not None:
        result.delisted = close_listing(conn, page, source, now)
    _save_checkpoint(conn, source, page, now)
    _count(conn, run_id, result, page.notices)
    return result


def _not_stored(conn: Connection, source: str, ads: list[NormalisedAd]) -> list[NormalisedAd]:
    """The ads of ``ads`` that the database does not hold yet (for insert-only Pages)."""
    ids = sorted({ad.source_ad_id for ad in ads})
    stored: set[str] = set()
    for part in chunks(ids, IN_CHUNK):
        query = select(_ads.c.source_ad_id).where(
            _ads.c.source == source, _ads.c.source_ad_id.in_(part)
        )
        stored.update(conn.execute(query).scalars())
    return [ad for ad in ads if ad.source_ad_id not in stored]


def _write_table_rows(conn: Connection, rows: TableRows, *, insert_only: bool) -> None:
    """Upsert a platform table's rows (deduplicated on the key: PostgreSQL requires it);
    ``insert_only``: add new rows and fill empty cells, never replace a stored value."""
    table = Base.metadata.tables.get(rows.table)
    if table is None:
        raise ValueError(f"collector sent rows for unknown table {rows.table!r}")
    unique = {tuple(row[k] for k in rows.key): row for row in rows.rows}
    if not unique:
        return
    columns = list(dict.fromkeys(col for row in unique.values() for col in row))
    filled = [{col: row.get(col) for col in columns} for row in unique.values()]
    statement = upsert(conn, table, rows.key, columns, fill_only=insert_only)
    for part in chunks(filled, 1000):
        conn.execute(statement, list(part))


def _split_unstorable(ads: Sequence[NormalisedAd]) -> tuple[list[NormalisedAd], list[Quarantined]]:
    """Set aside ads no database can hold (lone surrogates, NUL, numbers beyond 64 bits).

    Any collector may pass such a value through from a platform's JSON or CSV; written with the
    rest, it would fail the Page's whole transaction and stall the scope on every rerun.
    Quarantined instead, it is kept (escaped) with its reason and the rest of the Page loads.
    """
    storable: list[NormalisedAd] = []
    rejected: list[Quarantined] = []
    for ad in ads:
        reason = unstorable(ad)
        if reason is None:
            storable.append(ad)
            continue
        rejected.append(set_aside(ad, reason))
    return storable, rejected


def _storable_text(value: str) -> str:
    """``value`` with lone surrogates and NUL escaped, so a quarantine row itself never fails."""
    if value.isascii() and "\x00" not in value:
        return value
    escaped = value.encode("utf-8", "backslashreplace").decode("utf-8")
    return escaped.replace("\x00", "\\x00")


def _quarantine(
    conn: Connection,
    scope: str,
    items: list[Quarantined],
    source: str,
    run_id: int,
    raw_id: int | None,
    now: datetime,
    redactor: Redactor,
) -> None:
    conn.execute(
        _quarantine_rows.insert(),
        [
            {
                "run_id": run_id,
                "source": source,
                "scope": scope,
                "raw_record_id": raw_id,
                "raw_ref": _storable_text(item.raw_ref) if item.raw_ref else None,
                "reason": _storable_text(redactor.text(item.reason)),
                "payload": _storable_text(redactor.text(item.payload)),
                "quarantined_at": now,
            }
            for item in items
        ],
    )


def _save_checkpoint(conn: Connection, source: str, page: Page, now: datetime) -> None:
    row = {
        "source": source,
        "scope": page.scope,
        "state": page.checkpoint,
        "updated_at": now,
        "report_date": page.report_date,
    }
    columns = ["state", "updated_at"] + (["report_date"] if page.report_date else [])
    conn.execute(upsert(conn, _checkpoints, ["source", "scope"], columns), [row])


def _count(conn: Connection, run_id: int, result: PageResult, notices: list[str]) -> None:
    t = _runs
    values: dict[str, Any] = {
        "pages": t.c.pages + 1,
        "records": t.c.records + result.records,
        "new": t.c.new + result.new,
        "changed": t.c.changed + result.changed,
        "observations": t.c.observations + result.observations,
        "quarantined": t.c.quarantined + result.quarantined,
    }
    if notices:
        current = conn.execute(select(t.c.notices).where(t.c.id == run_id)).scalar_one() or []
        values["notices"] = list(dict.fromkeys([*current, *notices]))
    conn.execute(update(t).where(t.c.id == run_id).values(**values))
