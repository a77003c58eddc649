"""Run health per source and scope: what `adlib status` shows and `--check` enforces.

Built from ``collection_runs`` (plus, for Meta, one ``debug_token`` call), so it works the
morning after on any machine that can reach the database. Per scope:

- *failing*: its latest finished run failed (a later success clears it);
- *stale*: no successful run started within ``status.stale_after_hours`` (default 48 h);
- *never ran*: the config lists it but no run was ever recorded;
- *retired*: it has history but the config no longer lists it (a country or year removed), so
  it is shown and never alarms.

A *problem* (what makes ``--check`` exit 1) is an enabled source's current scope that is failing,
stale or never ran, or a token Meta rejected. Sources the config enables but this environment
cannot run (e.g. ``META_ACCESS_TOKEN`` unset for the monitoring user) are judged on their
history alone: if they ran before, staleness still catches a nightly job that stopped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Connection, func, select

from collectors import collector_class
from collectors.base import Collector, CollectorContext
from pipeline.config import Config
from pipeline.tokens import TokenHealth
from schema.models import CollectionRun, table_of

_runs = table_of(CollectionRun)
NEVER = "never"
T = TypeVar("T")


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
    #: The config enables this source.
    enabled: bool = True
    #: The config no longer lists this scope (only history remains).
    retired: bool = False

    @property
    def never_ran(self) -> bool:
        return self.last_status == NEVER

    @property
    def health(self) -> str:
        """One word for the table: the worst thing that is true."""
        if self.retired:
            return "retired"
        if self.never_ran:
            return "never ran"
        if self.failing:
            return "FAILING"
        return "STALE" if self.stale else "ok"

    def as_json(self) -> dict[str, object]:
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, datetime):
                data[key] = value.isoformat()
        data["health"] = self.health
        return data


@dataclass(slots=True)
class StatusReport:
    """Everything `adlib status` prints, and the verdict `--check` turns into an exit code."""

    now: datetime
    stale_after_hours: float
    scopes: list[ScopeHealth]
    unavailable: dict[str, str] = field(default_factory=dict)
    tokens: list[TokenHealth] = field(default_factory=list)
    #: ``source: advisory`` lines from the collectors (e.g. an API version near retirement).
    advisories: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        """One line per thing a person must look at; empty means healthy."""
        lines = []
        for h in self.scopes:
            if not h.enabled or h.retired:
                continue
            where = f"{h.source}/{h.scope}"
            if h.never_ran:
                if h.source not in self.unavailable:
                    lines.append(f"{where}: enabled but has never run")
            elif h.failing:
                lines.append(f"{where}: failing: {h.last_error or 'no message recorded'}")
            elif h.stale:
                since = _ago(self.now, h.last_success_at)
                lines.append(
                    f"{where}: stale: last success {since} (threshold {self.stale_after_hours:g} h)"
                )
        lines.extend(t.line() for t in self.tokens if t.problem)
        return lines

    def warnings(self) -> list[str]:
        """Worth knowing, not failing: tokens near expiry, sources this machine cannot run."""
        lines = [t.line() for t in self.tokens if t.warning]
        lines.extend(f"{name}: cannot run here: {why}" for name, why in self.unavailable.items())
        lines.extend(self.advisories)
        return lines

    def as_json(self) -> dict[str, object]:
        problems = self.problems()
        return {
            "ok": not problems,
            "checked_at": self.now.isoformat(),
            "stale_after_hours": self.stale_after_hours,
            "problems": problems,
            "warnings": self.warnings(),
            "scopes": [h.as_json() for h in self.scopes],
            "tokens": [t.as_json() for t in self.tokens],
            "unavailable": self.unavailable,
        }


def _ago(now: datetime, then: datetime | None) -> str:
    if then is None:
        return "never"
    hours = (now - then).total_seconds() / 3600
    return f"{hours:.0f} h ago" if hours < 72 else f"{hours / 24:.0f} days ago"


def _latest(
    conn: Connection, *conditions: ColumnElement[bool]
) -> dict[tuple[str, str], dict[str, Any]]:
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
        success_at = _aware(success["started_at"]) if success else None
        health.append(
            ScopeHealth(
                source=source,
                scope=scope,
                last_status=str(run["status"]),
                last_started_at=_aware(run["started_at"]),
                last_success_at=success_at,
                last_failure_at=_aware(failure["started_at"]) if failure else None,
                last_error=failure["error"] if failure else None,
                records=int(run["records"] or 0),
                new=int(run["new"] or 0),
                changed=int(run["changed"] or 0),
                total_runs=int(counts.get(key, 0)),
                stale=success_at is None or success_at < threshold,
                failing=bool(done and done["status"] == "failed"),
            )
        )
    return health


def _aware(value: object) -> datetime | None:
    """A timestamp column's value, typed (``UTCDateTime`` already returns aware UTC)."""
    return value if isinstance(value, datetime) else None


def current_scopes(config: Config, source: str) -> list[str] | None:
    """The scopes a run of ``source`` would cover with this config, or None if unknown.

    Asks the collector itself (no network: ``scopes()`` only reads settings), so the answer
    follows each platform's own notion of a scope: countries for Meta, years for Snap.
    """
    return _ask_collector(config, source, lambda collector: list(collector.scopes()))


def advisories(config: Config, source: str) -> list[str]:
    """The collector's own warnings about its settings (no network), as ``source: text``."""
    found = _ask_collector(config, source, lambda collector: collector.advisories())
    return [f"{source}: {line}" for line in found or []]


def _ask_collector(config: Config, source: str, question: Callable[[Collector], T]) -> T | None:
    """``question`` asked of the configured collector; None if it cannot even be built."""
    settings = config.sources.get(source)
    if settings is None:
        return None
    context = CollectorContext(
        countries=list(config.countries),
        data_dir=config.data_dir,
        log=logging.getLogger(f"adlib.status.{source}"),
    )
    try:
        collector = collector_class(source)(settings, context)
        try:
            return question(collector)
        finally:
            collector.close()
    except Exception:  # a collector that cannot even answer: judge by history
        return None


def build_status(
    conn: Connection,
    config: Config,
    now: datetime,
    sources: list[str] | None = None,
    tokens: list[TokenHealth] | None = None,
) -> StatusReport:
    """Combine run history with the config: mark retired scopes, add never-run ones."""
    history = scope_health(conn, now, config.status.stale_after_hours, sources)
    enabled = set(config.enabled_sources())
    wanted = [s for s in config.sources if not sources or s in sources]
    current = {name: current_scopes(config, name) for name in wanted}
    seen = {(h.source, h.scope) for h in history}
    for h in history:
        h.enabled = h.source in enabled
        scopes = current.get(h.source)
        h.retired = h.source not in config.sources or (scopes is not None and h.scope not in scopes)
    for name in wanted:
        if name not in enabled:
            continue
        for scope in current[name] or []:
            if (name, scope) not in seen:
                history.append(_never_ran(name, scope))
    history.sort(key=lambda h: (h.source, h.scope))
    return StatusReport(
        now=now,
        stale_after_hours=config.status.stale_after_hours,
        scopes=history,
        unavailable={k: v for k, v in config.unavailable.items() if k in wanted},
        tokens=list(tokens or []),
        advisories=[
            line for name in wanted if name in enabled for line in advisories(config, name)
        ],
    )


def _never_ran(source: str, scope: str) -> ScopeHealth:
    return ScopeHealth(
        source=source,
        scope=scope,
        last_status=NEVER,
        last_started_at=None,
        last_success_at=None,
        last_failure_at=None,
        last_error=None,
        records=0,
        new=0,
        changed=0,
        total_runs=0,
        stale=True,
        failing=False,
    )
