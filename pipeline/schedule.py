"""`adlib schedule`: the long-running daemon that collects each source on its cron schedule.

One APScheduler 3 ``BackgroundScheduler`` with a job per source (id = the source name,
``replace_existing``), rebuilt from ``config.yaml`` at every start in a ``MemoryJobStore``:
the config is the single source of truth, so there is no persistent job store to get out of
step with it or to share between processes (APScheduler's FAQ warns against both). Run
history lives in adlib's own ``collection_runs`` table, which `adlib status` reads.

Every job has ``coalesce=True`` (runs missed while the machine slept collapse into one),
``max_instances=1`` (a run still going when the next is due makes that one a logged skip) and a
misfire grace of ``scheduler.misfire_grace_hours``. A job never lets an exception escape: a
source that fails is recorded by the runner and logged here, and the daemon goes on. Sources run
in parallel threads, each under the same cross-process lock as `adlib collect`, so cron and the
daemon never collect one source twice at once.

Stopping: SIGTERM/SIGINT set the shared ``stop`` event (:mod:`pipeline.stopping`); a running job
finishes its current Page, commits it with its checkpoint, and the process exits 0.

Cron expressions are read the way crontab(5) reads them, not the way APScheduler 3 does where the
two differ: weekday numbers count from Sunday = 0 (APScheduler 3 counts from Monday = 0), and an
expression that restricts both day of month and day of week is refused (cron ORs them,
APScheduler ANDs them). A sixth, leading field gives seconds, for tests and demos.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobEvent,
    JobExecutionEvent,
)
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from collectors.redact import Redactor
from pipeline.config import Config, ConfigError
from pipeline.inbox import Inbox
from pipeline.lock import LockHeld
from pipeline.runner import RunReport, run_collection
from pipeline.tokens import log_tokens_after_run

_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
#: crontab(5) weekday numbers: 0 and 7 are Sunday.
_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
#: How often the main thread looks at the stop event (signals also wake it at once).
_POLL_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class JobPlan:
    """One source's job: when it runs and how to say so."""

    source: str
    trigger: BaseTrigger
    label: str

    def next_run(self, now: datetime) -> datetime | None:
        fire: datetime | None = self.trigger.get_next_fire_time(None, now)
        return fire


def cron_trigger(expression: str, timezone: ZoneInfo, where: str) -> CronTrigger:
    """A trigger for a crontab(5) expression (5 fields, or 6 with seconds first).

    Raises :class:`ConfigError` naming ``where`` (the config key) for anything else.
    """
    text = _MACROS.get(expression.strip().lower(), expression)
    fields = text.split()
    if len(fields) == 5:
        fields = ["0", *fields]
    if len(fields) != 6:
        raise ConfigError(
            f"{where}: {expression!r} is not a cron expression: use 5 fields "
            "(minute hour day-of-month month day-of-week, e.g. '0 2 * * *') or 6 with seconds "
            "first (e.g. '*/10 * * * * *', for tests)"
        )
    second, minute, hour, day, month, weekday = fields
    if day not in ("*", "?") and weekday not in ("*", "?"):
        raise ConfigError(
            f"{where}: {expression!r} restricts both day of month and day of week, which cron "
            "reads as either and APScheduler as both: keep one and use '*' for the other"
        )
    try:
        return CronTrigger(
            second=second,
            minute=minute,
            hour=hour,
            day=day.replace("?", "*"),
            month=month,
            day_of_week=_weekdays(weekday),
            timezone=timezone,
        )
    except ValueError as exc:
        raise ConfigError(f"{where}: {expression!r} is not a cron expression: {exc}") from None


def _weekdays(field: str) -> str:
    """A crontab weekday field as APScheduler weekday names (which are unambiguous)."""
    if field in ("*", "?"):
        return "*"
    days: set[int] = set()
    for part in field.lower().split(","):
        span, _, step_text = part.partition("/")
        step = int(step_text) if step_text.isdigit() and int(step_text) > 0 else None
        if step_text and step is None:
            raise ValueError(f"bad step in day-of-week {field!r}")
        if span == "*":
            first, last = 0, 6
        elif "-" in span:
            start, _, end = span.partition("-")
            first, last = _day(start), _day(end)
        else:
            first = _day(span)
            last = 6 if step else first
        if last < first:
            raise ValueError(f"day-of-week range {span!r} runs backwards")
        days.update(day % 7 for day in range(first, last + 1, step or 1))
    return ",".join(_CRON_DAYS[day] for day in sorted(days))


def _day(token: str) -> int:
    if token.isdigit() and 0 <= int(token) <= 7:
        return int(token)
    if token[:3] in _CRON_DAYS:
        return _CRON_DAYS.index(token[:3])
    raise ValueError(f"{token!r} is not a day of the week (0-7 or sun..sat)")


def plan_jobs(
    config: Config, sources: Sequence[str] = (), every: float | None = None
) -> tuple[list[JobPlan], dict[str, str]]:
    """The jobs to schedule, and the enabled sources left out with the reason.

    ``every`` (seconds) replaces every cron expression with a fixed interval: for tests and
    trying the daemon out, not for production (it ignores the platforms' publishing times).
    """
    timezone = ZoneInfo(config.scheduler.timezone)
    for name in sources:
        if name not in config.sources:
            known = ", ".join(sorted(config.sources)) or "none"
            raise ConfigError(
                f"--source {name}: not configured under sources (configured: {known})"
            )
    plans: list[JobPlan] = []
    left_out: dict[str, str] = {}
    for name in config.enabled_sources():
        if sources and name not in sources:
            continue
        if name in config.unavailable:
            left_out[name] = config.unavailable[name]
            continue
        expression = config.sources[name].schedule
        if every is not None:
            trigger: BaseTrigger = IntervalTrigger(seconds=every, timezone=timezone)
            plans.append(JobPlan(name, trigger, f"every {every:g} s (--every)"))
        elif expression:
            trigger = cron_trigger(expression, timezone, f"sources.{name}.schedule")
            plans.append(JobPlan(name, trigger, f"cron '{expression}' ({timezone.key})"))
        else:
            left_out[name] = f"no sources.{name}.schedule in the config"
    if not plans and config.inbox is None:
        raise ConfigError(
            "nothing to schedule: give an enabled source a cron expression under "
            'sources.<name>.schedule (e.g. schedule: "0 2 * * *"), or set import.inbox'
        )
    return plans, left_out


def describe_plan(plans: list[JobPlan], left_out: dict[str, str], now: datetime) -> list[str]:
    """`adlib schedule --print`: one line per job with its next run, then what is left out."""
    width = max((len(p.source) for p in plans), default=0)
    lines = []
    for plan in plans:
        upcoming = plan.next_run(now)
        when = upcoming.isoformat(sep=" ", timespec="seconds") if upcoming else "never"
        lines.append(f"{plan.source:<{width}}  next run {when}  {plan.label}")
    lines.extend(f"{name:<{width}}  not scheduled: {why}" for name, why in left_out.items())
    return lines


class Daemon:
    """The scheduler process: jobs, their outcome logging, and the orderly stop."""

    def __init__(
        self,
        config: Config,
        engine: Engine,
        plans: list[JobPlan],
        *,
        log: logging.Logger,
        redactor: Redactor,
        stop: threading.Event,
    ) -> None:
        self.config = config
        self.engine = engine
        self.plans = plans
        self._plans = {plan.source: plan for plan in plans}
        self.log = log
        self.redactor = redactor
        self.stop = stop
        grace = timedelta(hours=config.scheduler.misfire_grace_hours)
        self.scheduler = BackgroundScheduler(
            jobstores={"default": MemoryJobStore()},
            executors={"default": ThreadPoolExecutor(max_workers=len(plans) + 1)},
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": int(grace.total_seconds()),
            },
            timezone=ZoneInfo(config.scheduler.timezone),
        )
        for plan in plans:
            self.scheduler.add_job(
                self.run_source,
                plan.trigger,
                args=[plan.source],
                id=plan.source,
                name=f"collect {plan.source}",
                replace_existing=True,
            )
        if config.inbox is not None:
            self.inbox = Inbox(config, engine, log, redactor)
            every = IntervalTrigger(seconds=config.inbox_poll_seconds)
            self.scheduler.add_job(self.run_inbox, every, id="import-inbox", name="import inbox")
        self.scheduler.add_listener(
            self._on_event, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES | EVENT_JOB_ERROR
        )

    def serve(self) -> int:
        """Run until ``stop`` is set, let running jobs commit their Page, and return 0."""
        self.scheduler.start()
        for plan in self.plans:
            self.log.info(
                "scheduled: %s; next run %s",
                plan.label,
                self._next_run(plan.source),
                extra={"source": plan.source, "event": "job_scheduled"},
            )
        if self.config.inbox is not None:
            self.log.info(
                "watching the import inbox %s every %g s",
                self.config.inbox,
                self.config.inbox_poll_seconds,
                extra={"event": "inbox_watched"},
            )
        while not self.stop.wait(_POLL_SECONDS):
            pass
        self.log.info(
            "stopping: waiting for running jobs to commit their current page",
            extra={"event": "daemon_stopping"},
        )
        self.scheduler.shutdown(wait=True)
        self.log.info("stopped", extra={"event": "daemon_stopped"})
        return 0

    def run_source(self, source: str) -> None:
        """The job: one run of ``source``. Never raises; every outcome is logged."""
        if self.stop.is_set():
            return
        extra = {"source": source}
        self.log.info("run started", extra={**extra, "event": "job_started"})
        try:
            report = run_collection(
                self.config,
                self.engine,
                log=self.log,
                sources=[source],
                stop=self.stop,
                redactor=self.redactor,
            )
        except LockHeld as exc:
            self.log.warning("run skipped: %s", exc, extra={**extra, "event": "job_locked"})
            return
        except ConfigError as exc:
            self.log.error("run failed: %s", exc, extra={**extra, "event": "job_failed"})
            return
        except OperationalError as exc:  # the database is down or unreachable: no traceback
            reason = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else exc
            self.log.error(
                "run failed: cannot use the database: %s",
                reason,
                extra={**extra, "event": "job_failed"},
            )
            return
        except Exception as exc:  # a bug or a dead database must not take the daemon down
            self.log.exception(
                "run failed: %s: %s",
                type(exc).__name__,
                exc,
                extra={**extra, "event": "job_failed"},
            )
            return
        self._log_outcome(source, report)
        log_tokens_after_run(self.config, report, self.log)

    def run_inbox(self) -> None:
        """The inbox job (:mod:`pipeline.inbox`). Never raises: a file left in place is
        tried again at the next poll."""
        if self.stop.is_set():
            return
        try:
            self.inbox.poll()
        except Exception as exc:
            self.log.error(
                "inbox: %s: %s; the files stay for the next poll",
                type(exc).__name__,
                self.redactor.text(str(exc)),
                extra={"event": "inbox_failed"},
            )

    def _log_outcome(self, source: str, report: RunReport) -> None:
        outcomes = report.outcomes
        counts = {
            "scopes": len(outcomes),
            "succeeded": sum(o.status == "success" for o in outcomes),
            "failed": sum(o.status == "failed" for o in outcomes),
            "interrupted": sum(o.status == "interrupted" for o in outcomes),
            "records": sum(o.records for o in outcomes),
            "new": sum(o.new for o in outcomes),
            "changed": sum(o.changed for o in outcomes),
        }
        if source in report.skipped:
            level, verdict = logging.WARNING, f"skipped: {report.skipped[source]}"
        elif counts["failed"]:
            level, verdict = logging.ERROR, f"{counts['failed']} of {len(outcomes)} scopes failed"
        elif report.interrupted:
            level, verdict = logging.INFO, "stopped by signal after the last committed page"
        else:
            level, verdict = logging.INFO, "all scopes succeeded"
        self.log.log(
            level,
            "run finished: %s (%d ads, %d new, %d changed); next run %s",
            verdict,
            counts["records"],
            counts["new"],
            counts["changed"],
            self._next_run(source),
            extra={"source": source, "event": "job_finished", "counts": counts},
        )

    def _next_run(self, source: str) -> str:
        """From the trigger, not ``scheduler.get_job``: during ``shutdown(wait=True)`` the
        scheduler holds its job-store lock while it waits for this very job to return."""
        if self.stop.is_set():
            return "none (stopping)"
        upcoming = self._plans[source].next_run(_now(self.config))
        return upcoming.isoformat(sep=" ", timespec="seconds") if upcoming else "none"

    def _on_event(self, event: JobEvent) -> None:
        extra = {"source": event.job_id}
        if event.code == EVENT_JOB_MISSED:
            self.log.warning(
                "run due at %s skipped: more than %g h late (scheduler.misfire_grace_hours)",
                getattr(event, "scheduled_run_time", "?"),
                self.config.scheduler.misfire_grace_hours,
                extra={**extra, "event": "job_missed"},
            )
        elif event.code == EVENT_JOB_MAX_INSTANCES:
            self.log.warning(
                "run skipped: the previous run is still going",
                extra={**extra, "event": "job_overlap"},
            )
        elif isinstance(event, JobExecutionEvent) and event.exception is not None:
            self.log.error(
                "job raised %s: %s (please report it)",
                type(event.exception).__name__,
                event.exception,
                extra={**extra, "event": "job_error"},
            )


def _now(config: Config) -> datetime:
    return datetime.now(ZoneInfo(config.scheduler.timezone))
