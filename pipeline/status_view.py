"""How `adlib status` prints a :class:`~pipeline.status.StatusReport`: a table, CSV, JSON, or
only what is wrong.

The table is for people; ``--json`` and ``--csv`` are the stable interfaces for scripts; with
``--check`` alone a monitoring probe gets one line per problem or warning and nothing else, so
a mail from cron is exactly the list of things to look at.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime

import click
from rich.table import Table

from pipeline.status import ScopeHealth, StatusReport
from pipeline.tabular import table_console, write_rows

_COLUMNS = (
    "source",
    "scope",
    "last run",
    "status",
    "last success",
    "ads",
    "new",
    "changed",
    "health",
    "last failure",
)


#: ``--csv`` columns: one row per scope, times in ISO 8601 (UTC), empty when never.
CSV_COLUMNS = (
    "source",
    "scope",
    "health",
    "last_status",
    "last_started_at",
    "last_success_at",
    "last_failure_at",
    "last_error",
    "ads",
    "new",
    "changed",
    "total_runs",
    "enabled",
)


def print_json(report: StatusReport) -> None:
    click.echo(json.dumps(report.as_json(), indent=2, default=str))


def print_csv(report: StatusReport) -> None:
    """One row per scope; problems and warnings are in ``--json`` (a CSV has one shape)."""
    write_rows(CSV_COLUMNS, (_csv_row(h) for h in report.scopes), "csv")


def _csv_row(h: ScopeHealth) -> tuple[object, ...]:
    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return (
        h.source,
        h.scope,
        h.health,
        h.last_status,
        iso(h.last_started_at),
        iso(h.last_success_at),
        iso(h.last_failure_at),
        h.last_error,
        h.records,
        h.new,
        h.changed,
        h.total_runs,
        h.enabled,
    )


def print_problems(report: StatusReport) -> None:
    """Only what needs a person: ``PROBLEM ...`` and ``warning ...`` lines, nothing if healthy."""
    for line in report.problems():
        click.echo(f"PROBLEM {line}")
    for line in report.warnings():
        click.echo(f"warning {line}")


def print_table(report: StatusReport) -> None:
    """One row per scope (counts are the last run's), then tokens, problems and warnings."""
    table = Table(title=f"adlib status (stale after {report.stale_after_hours:g} h)")
    for column in _COLUMNS:
        table.add_column(column, justify="right" if column in ("ads", "new", "changed") else "left")
    for h in report.scopes:
        failure = f"{_when(h.last_failure_at)}: {h.last_error}" if h.last_failure_at else ""
        table.add_row(
            h.source,
            h.scope,
            _when(h.last_started_at),
            h.last_status,
            _when(h.last_success_at),
            f"{h.records:,}",
            f"{h.new:,}",
            f"{h.changed:,}",
            h.health,
            failure,
        )
    # sys.stdout, as every other table (pipeline.tabular); click 8.5 deprecates get_text_stream.
    table_console(table, sys.stdout).print(table)
    # Plain lines, never wrapped: monitoring shows them and people grep them.
    for token in report.tokens:
        if not token.problem and not token.warning:
            click.echo(token.line())
    print_problems(report)
    if not report.problems():
        click.echo("OK: every enabled source is fresh and succeeding")


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "never"
