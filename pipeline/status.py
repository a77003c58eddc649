"""Run health per source and scope: what `adlib status` shows and `--check` enforces.

Built from ``collection_runs`` only, so it works the morning after on any machine that can
reach the database. A scope is *failing* when its latest finished run failed, and *stale* when
it has had no successful run within ``status.stale_after_hours`` (default 48 h).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, func, select

from schema.models import CollectionRun

_runs = CollectionRun.__table__


@dataclass(slots=True)
class ScopeHealth:
    """One line of `adlib status`."""

    source: str
    scope: str
    last_status: str
    last_started_at: datetime | None
    last_success_at: datetime | None
    last_failure_at: datetime | None
    last_error: str | None
    records: int
    new: int
    changed: int
    total_runs: int
    stale: bool
    failing: bool

    def as_json(self) -> dict[str, object]:
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, datetime):
                data[key] = value.isoformat()
        return data


def _latest(conn: Connection, *conditions: object) -> dict[tuple[str, str], dict[str, object]]:
    """The latest run per (source, scope) among runs matching ``conditions``."""
    ranked = (
        select(
            _runs,
            func.row_number()
            .over(partition_by=(_runs.c.source, _runs.c.scope), order_by=_runs.c.id.desc())
            .label("rank"),
        )
        .where(*conditions)
        .subquery()
    )
    rows = conn.execute(select(ranked).where(ranked.c.rank == 1)).mappings()
    return {(row["source"], row["scope"]): dict(row) for row in rows}


def scope_health(
    conn: Connection, now: datetime, stale_after_hours: float, sources: list[str] | None = None
) -> list[ScopeHealth]:
    """Health of every (source, scope) that has ever run, optionally limited to ``sources``."""
    finished = _runs.c.status.in_(("success", "failed", "interrupted"))
    latest = _latest(conn, _runs.c.status != "skipped")
    last_success = _latest(conn, _runs.c.status == "success")
    last_failure = _latest(conn, _runs.c.status == "failed")
    last_finished = _latest(conn, finished)
    counts = {
        (source, scope): n
        for source, scope, n in conn.execute(
            select(_runs.c.source, _runs.c.scope, func.count()).group_by(
                _runs.c.source, _runs.c.scope
            )
        )
    }
    threshold = now - timedelta(hours=stale_after_hours)
    health = []
    for key in sorted(latest):
        source, scope = key
        if sources and source not in sources:
            continue
        run = latest[key]
        success = last_success.get(key)
        failure = last_failure.get(key)
        done = last_finished.get(key)
        success_at = success["started_at"] if success else None
        health.append(
            ScopeHealth(
                source=source,
                scope=scope,
                last_status=str(run["status"]),
                last_started_at=run["started_at"],  # type: ignore[arg-type]
                last_success_at=success_at,  # type: ignore[arg-type]
                last_failure_at=failure["started_at"] if failure else None,  # type: ignore[arg-type]
                last_error=failure["error"] if failure else None,  # type: ignore[arg-type]
                records=int(run["records"] or 0),  # type: ignore[call-overload]
                new=int(run["new"] or 0),  # type: ignore[call-overload]
                changed=int(run["changed"] or 0),  # type: ignore[call-overload]
                total_runs=int(counts.get(key, 0)),
                stale=success_at is None or success_at < threshold,  # type: ignore[operator]
                failing=bool(done and done["status"] == "failed"),
            )
        )
    return health
