"""One collection run: every selected source, every scope, Page by Page.

The runner owns the order of events that makes a run safe to kill at any moment: take the
sources' locks, mark runs a previous crash left behind as interrupted, then for each scope
resume from its checkpoint and commit every Page together with the next checkpoint. A scope
that fails is recorded with its message and the run goes on with the others; the exit code
tells cron what happened (0 all good, 1 some scope failed, 2 bad config, 3 locked).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Protocol

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import SQLAlchemyError

from collectors import collector_class
from collectors.base import Collector, CollectorContext, CollectorError, ScopeSkipped
from collectors.redact import Redactor
from pipeline import faults
from pipeline.actors_step import STEP as ACTORS_STEP
from pipeline.actors_step import resolve_actors
from pipeline.adrows import PageResult
from pipeline.config import Config, ConfigError
from pipeline.derived import run_step
from pipeline.evidence.practices.refresh import refresh_indicators
from pipeline.listing import known_rows_reader
from pipeline.load import load_page
from pipeline.lock import SourceLocks, derived_lock
from pipeline.retention import prune_files
from schema.models import Checkpoint, CollectionRun, table_of

EXIT_OK = 0
EXIT_SCOPE_FAILED = 1
EXIT_USAGE = 2
EXIT_LOCKED = 3

_runs = table_of(CollectionRun)
_checkpoints = table_of(Checkpoint)


class StopRequested(Exception):
    """SIGTERM/SIGINT arrived: finish the current Page, commit it, and stop."""


@dataclass(slots=True)
class ScopeOutcome:
    """How one scope of one source ended."""

    source: str
    scope: str
    status: str
    run_id: int | None = None
    records: int = 0
    new: int = 0
    changed: int = 0
    observations: int = 0
    quarantined: int = 0
    delisted: int = 0
    pages: int = 0
    seconds: float = 0.0
    error: str | None = None
    notices: list[str] = field(default_factory=list)

    def add(self, result: PageResult) -> None:
        self.pages += 1
        self.records += result.records
        self.new += result.new
        self.changed += result.changed
        self.observations += result.observations
        self.quarantined += result.quarantined
        self.delisted += result.delisted


@dataclass
class RunReport:
    """Everything a run did, for the summary and the exit code."""

    outcomes: list[ScopeOutcome] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    interrupted: bool = False
    #: steps run on the loaded data (actors, ...) -> why they failed; the data stays
    derived_failures: dict[str, str] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        if any(o.status == "failed" for o in self.outcomes) or self.derived_failures:
            return EXIT_SCOPE_FAILED
        return EXIT_OK


class Reporter(Protocol):
    """Where progress goes: a live display on a terminal, log lines under cron."""

    def scope_started(self, source: str, scope: str) -> None: ...

    def page_loaded(self, outcome: ScopeOutcome) -> None: ...

    def scope_finished(self, outcome: ScopeOutcome) -> None: ...


class LogReporter:
    """Plain log lines: one per scope start/end and one per committed Page at DEBUG."""

    def __init__(self, log: logging.Logger) -> None:
        self.log = log

    def scope_started(self, source: str, scope: str) -> None:
        self.log.info("started", extra={"source": source, "scope": scope, "event": "scope_started"})

    def page_loaded(self, outcome: ScopeOutcome) -> None:
        self.log.debug(
            "page %d committed: %d ads so far (%d new, %d changed)",
            outcome.pages,
            outcome.records,
            outcome.new,
            outcome.changed,
            extra={"source": outcome.source, "scope": outcome.scope, "event": "page_committed"},
        )

    def scope_finished(self, outcome: ScopeOutcome) -> None:
        counts = {
            "records": outcome.records,
            "new": outcome.new,
            "changed": outcome.changed,
            "observations": outcome.observations,
            "quarantined": outcome.quarantined,
            "pages": outcome.pages,
        }
        extra = {
            "source": outcome.source,
            "scope": outcome.scope,
            "event": "scope_" + outcome.status,
        }
        if outcome.status == "failed":
            self.log.error("failed: %s", outcome.error, extra={**extra, "counts": counts})
        else:
            self.log.info(
                "%s: %d ads, %d new, %d changed, %d observations in %.1fs",
                outcome.status,
                outcome.records,
                outcome.new,
                outcome.changed,
                outcome.observations,
                outcome.seconds,
                extra={**extra, "counts": counts},
            )


def utcnow() -> datetime:
    return datetime.now(UTC)


def open_run(
    engine: Engine,
    source: str,
    scope: str,
    started_at: datetime,
    *,
    status: str = "running",
    finished_at: datetime | None = None,
) -> int:
    """Insert a ``collection_runs`` row (counters start at their column default, 0)."""
    with engine.begin() as conn:
        row = conn.execute(
            _runs.insert().returning(_runs.c.id),
            [
                {
                    "source": source,
                    "scope": scope,
                    "started_at": started_at,
                    "finished_at": finished_at,
                    "status": status,
                }
            ],
        )
        return int(row.scalar_one())


class Runner:
    """Runs collectors into the database configured in ``config``."""

    def __init__(
        self,
        config: Config,
        engine: Engine,
        *,
        log: logging.Logger,
        reporter: Reporter | None = None,
        stop: threading.Event | None = None,
        redactor: Redactor | None = None,
    ) -> None:
        self.config = config
        self.engine = engine
        self.log = log
        self.reporter = reporter or LogReporter(log)
        self.stop = stop or threading.Event()
        #: Shared with the log handlers' filters, so a collector's secrets are scrubbed
        #: from every line as soon as the collector exists.
        self.redactor = redactor or Redactor()

    def plan(self, sources: list[str] | None) -> tuple[list[str], dict[str, str]]:
        """Which sources run and which are skipped (with why); bad names raise ConfigError."""
        if sources:
            for name in sources:
                if name not in self.config.sources:
                    known = ", ".join(sorted(self.config.sources)) or "none"
                    raise ConfigError(
                        f"--source {name}: not configured under sources in config.yaml "
                        f"(configured: {known})"
                    )
                if name in self.config.unavailable:
                    raise ConfigError(f"--source {name}: {self.config.unavailable[name]}")
            return list(dict.fromkeys(sources)), {}
        runnable, skipped = [], {}
        for name in self.config.enabled_sources():
            if name in self.config.unavailable:
                skipped[name] = self.config.unavailable[name]
            else:
                runnable.append(name)
        return runnable, skipped

    def run(
        self,
        sources: list[str] | None = None,
        countries: list[str] | None = None,
        since: date | None = None,
    ) -> RunReport:
        """Collect; raises ConfigError (exit 2) and LockHeld (exit 3) before doing anything."""
        names, skipped = self.plan(sources)
        report = RunReport(skipped=dict(skipped))
        for name, reason in skipped.items():
            self.log.warning(
                "%s skipped: %s", name, reason, extra={"source": name, "event": "source_skipped"}
            )
        with SourceLocks(self.engine, self.config.database_url, names):
            self._close_abandoned_runs(names)
            for name in names:
                if self.stop.is_set():
                    report.interrupted = True
                    break
                self._run_source_alone(name, countries, since, report)
        return report

    def _run_source_alone(
        self, name: str, countries: list[str] | None, since: date | None, report: RunReport
    ) -> None:
        """Run one source so that a collector which cannot even start fails only itself.

        Scope errors are handled per scope; this catches the rest (a bug in a collector's
        constructor or ``scopes()``). Database errors still end the run: every source needs it.
        """
        try:
            self._run_source(name, countries, since, report)
        except SQLAlchemyError:
            raise
        except Exception as exc:
            self.log.exception(
                "could not run %s (please report it)",
                name,
                extra={"source": name, "event": "source_failed"},
            )
            error = self.redactor.text(f"internal error: {type(exc).__name__}: {exc}")
            report.outcomes.append(
                ScopeOutcome(source=name, scope="-", status="failed", error=error)
            )

    def _run_source(
        self, name: str, countries: list[str] | None, since: date | None, report: RunReport
    ) -> None:
        settings = self.config.sources[name]
        context = CollectorContext(
            countries=list(countries or self.config.countries),
            data_dir=self.config.data_dir,
            log=self.log.getChild(name),
            since=since,
            sleep=self._sleep,
            known_rows=known_rows_reader(self.engine),
        )
        collector = collector_class(name)(settings, context)
        self.redactor.add(collector.secrets())
        try:
            reason = collector.skip_reason()
            if reason:
                report.skipped[name] = reason
                self.log.warning(
                    "%s skipped: %s",
                    name,
                    reason,
                    extra={"source": name, "event": "source_skipped"},
                )
                return
            for scope in collector.scopes():
                if self.stop.is_set():
                    report.interrupted = True
                    return
                outcome = self._run_scope(collector, name, scope)
                report.outcomes.append(outcome)
                if outcome.status == "interrupted":
                    report.interrupted = True
                    return
        finally:
            collector.close()

    def _run_scope(self, collector: Collector, source: str, scope: str) -> ScopeOutcome:
        started = time.monotonic()
        outcome = ScopeOutcome(source=source, scope=scope, status="running")
        outcome.run_id = self._open_run(source, scope)
        self.reporter.scope_started(source, scope)
        loaded_files: set[str] = set()
        try:
            for page in collector.pages(scope, self._checkpoint(source, scope)):
                faults.point("page_fetched")
                with self.engine.begin() as conn:
                    result = load_page(
                        conn,
                        page,
                        source=source,
                        run_id=outcome.run_id,
                        now=utcnow(),
                        redactor=self.redactor,
                    )
                faults.point("after_commit")
                if page.raw is not None and page.raw.kind == "file" and page.raw.path:
                    loaded_files.add(page.raw.path)
                outcome.add(result)
                outcome.notices.extend(n for n in page.notices if n not in outcome.notices)
                self.reporter.page_loaded(outcome)
                if self.stop.is_set():
                    raise StopRequested()
            outcome.status = "success"
            self._prune(collector, source, scope, loaded_files)
        except (StopRequested, KeyboardInterrupt):
            outcome.status = "interrupted"
            outcome.error = "stopped by signal after the last committed page"
        except ScopeSkipped as exc:
            outcome.status = "skipped"
            outcome.error = self.redactor.text(str(exc))
        except CollectorError as exc:
            outcome.status = "failed"
            outcome.error = self.redactor.text(str(exc)) or type(exc).__name__
        except SQLAlchemyError as exc:
            outcome.status = "failed"
            cause = getattr(exc, "orig", None) or exc
            outcome.error = self.redactor.text(f"database error: {type(cause).__name__}: {cause}")
        except OSError as exc:
            # Disk full, permissions, a vanished data directory: the machine, not a bug.
            outcome.status = "failed"
            where = f" ({exc.filename})" if exc.filename else ""
            reason = exc.strerror or str(exc) or type(exc).__name__
            outcome.error = self.redactor.text(f"system error: {reason}{where}")
        except Exception as exc:
            outcome.status = "failed"
            outcome.error = self.redactor.text(f"internal error: {type(exc).__name__}: {exc}")
            self.log.exception(
                "internal error (please report it)", extra={"source": source, "scope": scope}
            )
        outcome.seconds = time.monotonic() - started
        self._close_run(outcome)
        self.reporter.scope_finished(outcome)
        return outcome

    def _prune(self, collector: Collector, source: str, scope: str, loaded: set[str]) -> None:
        """Apply the source's file retention once a scope has read a new file to the end.

        Retention frees disk; it never decides a scope's outcome, so a failure is a warning.
        """
        keep = collector.files_kept()
        if not loaded or keep is None:
            return
        extra = {"source": source, "scope": scope, "event": "files_pruned"}
        try:
            pruned = prune_files(
                self.engine,
                source=source,
                scope=scope,
                keep=keep,
                data_dir=self.config.data_dir,
                protect=loaded,
                now=utcnow(),
            )
        except (OSError, SQLAlchemyError) as exc:
            reason = self.redactor.text(f"{type(exc).__name__}: {exc}")
            self.log.warning("could not prune old files: %s", reason, extra=extra)
            return
        if pruned:
            size = sum(f.size_bytes for f in pruned) / 1e6
            self.log.info(
                "pruned %d old file(s), %.0f MB (keep_files: %d)", len(pruned), size, keep,
                extra=extra,
            )  # fmt: skip

    def _sleep(self, seconds: float) -> None:
        """Collectors' waits (backoff, throttling) end early when a stop is requested."""
        if self.stop.wait(max(0.0, seconds)):
            raise StopRequested()

    def _checkpoint(self, source: str, scope: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            state = conn.execute(
                select(_checkpoints.c.state).where(
                    _checkpoints.c.source == source, _checkpoints.c.scope == scope
                )
            ).scalar_one_or_none()
        return dict(state) if state else None

    def _open_run(self, source: str, scope: str) -> int:
        return open_run(self.engine, source, scope, utcnow())

    def _close_run(self, outcome: ScopeOutcome) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    update(_runs)
                    .where(_runs.c.id == outcome.run_id)
                    .values(status=outcome.status, finished_at=utcnow(), error=outcome.error)
                )
        except SQLAlchemyError as exc:
            self.log.error(
                "could not record the end of the run: %s",
                exc.__class__.__name__,
                extra={"source": outcome.source, "scope": outcome.scope},
            )

    def _close_abandoned_runs(self, sources: list[str]) -> None:
        """Runs still 'running' while we hold their source's lock belong to a dead process."""
        if not sources:
            return
        with self.engine.begin() as conn:
            conn.execute(
                update(_runs)
                .where(_runs.c.source.in_(sources), _runs.c.status == "running")
                .values(
                    status="interrupted",
                    finished_at=utcnow(),
                    error="the process ended before finishing (killed or crashed); "
                    "the next run resumed from the last checkpoint",
                )
            )


def run_collection(
    config: Config,
    engine: Engine,
    *,
    log: logging.Logger,
    sources: list[str] | None = None,
    countries: list[str] | None = None,
    since: date | None = None,
    reporter: Reporter | None = None,
    stop: threading.Event | None = None,
    redactor: Redactor | None = None,
) -> RunReport:
    """One run, as the CLI, the daemon, the demo and the benchmarks start it."""
    runner = Runner(config, engine, log=log, reporter=reporter, stop=stop, redactor=redactor)
    report = runner.run(sources=sources, countries=countries, since=since)
    if not report.interrupted:
        steps: tuple[tuple[str, Callable[[], str]], ...] = (
            (ACTORS_STEP, lambda: resolve_actors(config, engine, after_collection=True).line()),
            ("indicators", lambda: refresh_indicators(engine)),
        )
        with derived_lock(engine, config.database_url):
            for step, work in steps:
                run_step(engine, log, step, work, failures=report.derived_failures)
    return report
