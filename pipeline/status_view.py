"""How `adlib status` prints a :class:`~pipeline.status.StatusReport`: a table, or JSON.

The table is for people; ``--json`` is the stable interface for scripts. Both end with the
problems and warnings, so the last lines of a monitoring probe's output say what is wrong.
"""

from __future__ import annotations

import json
from datetime import datetime

import click
from rich.console import Console
from rich.table import Table

from pipeline.status import StatusReport

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


def print_json(report: StatusReport) -> None:
    click.echo(json.dumps(report.as_json(), indent=2, default=str))


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
    Console().print(table)
    # Plain lines, never wrapped: monitoring shows them and people grep them.
    for token in report.tokens:
        if not token.problem and not token.warning:
            click.echo(token.line())
    problems = report.problems()
    for line in problems:
        click.echo(f"PROBLEM {line}")
    for line in report.warnings():
        click.echo(f"warning {line}")
    if not problems:
        click.echo("OK: every enabled source is fresh and succeeding")


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "never"
