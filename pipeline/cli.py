"""The `adlib` command.

Exit codes (the contract cron and monitoring rely on): 0 everything succeeded; 1 some scope
failed (the others were still committed); 2 bad config, arguments or database; 3 another run
holds the lock. Errors are one line on stderr naming the problem and the fix; tracebacks are
for bugs only.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from datetime import UTC, date, datetime
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from collectors.redact import Redactor
from pipeline import db
from pipeline.config import Config, ConfigError, config_path, load_config
from pipeline.lock import LockHeld, schema_lock
from pipeline.logs import route_to_adlib, setup_logging
from pipeline.runner import (
    EXIT_LOCKED,
    EXIT_USAGE,
    LogReporter,
    Reporter,
    RunReport,
    run_collection,
)
from pipeline.status import build_status
from pipeline.stopping import StopOnSignals
from pipeline.tabular import table_console, write_rows
from pipeline.tokens import check_tokens, log_tokens_after_run

F = TypeVar("F", bound=Callable[..., Any])

#: Annotated: cli_report and cli_actors import it while this module imports them (a cycle).
_config_option: Callable[[F], F] = click.option(
    "--config",
    "config_file",
    metavar="PATH",
    default=None,
    help="config file (default: $ADLIB_CONFIG or ./config.yaml)",
)


def _log_options(func: F) -> F:
    """``--log-file`` and ``--log-format``, shared by the commands that collect."""
    func = click.option(
        "--log-format",
        type=click.Choice(["text", "json"]),
        help="log line format (json: one object a line; default: log.format)",
    )(func)
    return click.option(
        "--log-file", metavar="PATH", help="also append the log to PATH (default: log.file)"
    )(func)


class UsageProblem(click.ClickException):
    """A one-line error with exit code 2."""

    exit_code = EXIT_USAGE

    def show(self, file: Any = None) -> None:
        click.echo(f"adlib: error: {self.format_message()}", err=True)


def _fails_cleanly(func: F) -> F:
    """Turn the errors a user can fix into one line and the contract's exit code."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (ConfigError, db.DatabaseError) as exc:
            raise UsageProblem(str(exc)) from None
        except LockHeld as exc:
            click.echo(f"adlib: {exc}", err=True)
            sys.exit(EXIT_LOCKED)
        except OperationalError as exc:
            raise UsageProblem(f"cannot use the database: {_first_line(exc.orig)}") from None

    return wrapper  # type: ignore[return-value]


def _first_line(exc: object) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _load(config_file: str | None) -> Config:
    return load_config(config_path(config_file))


def _engine(config: Config, *, readonly: bool = False) -> Engine:
    engine = db.make_engine(config.database_url, readonly=readonly)
    if not readonly:
        with schema_lock(engine, config.database_url):
            db.ensure_schema(engine)
    return engine


def _parse_date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UsageProblem(f"{option} {value!r} is not a date: use YYYY-MM-DD") from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="adlib-collector", prog_name="adlib")
def cli() -> None:
    """Collect political ad-library data into one SQL database, query it, export it."""


@cli.command()
@_config_option
@click.option(
    "--source", "sources", multiple=True, metavar="NAME", help="only this source (repeatable)"
)
@click.option(
    "--country", "countries", multiple=True, metavar="CC", help="only this country (repeatable)"
)
@click.option("--since", metavar="DATE", help="collect ads delivered since DATE (YYYY-MM-DD)")
@_log_options
@click.option(
    "-q", "--quiet", is_flag=True, help="console: only warnings and errors (the log file keeps all)"
)
@click.option(
    "--summary/--no-summary",
    default=None,
    help="print the end-of-run table (default: only when stdout is a terminal)",
)
@_fails_cleanly
def collect(
    config_file: str | None,
    sources: Sequence[str],
    countries: Sequence[str],
    since: str | None,
    log_file: str | None,
    log_format: str | None,
    quiet: bool,
    summary: bool | None,
) -> None:
    """Run every enabled source once (the nightly cron job).

    Exit 0: all scopes succeeded; 1: some scope failed (the others are committed);
    2: bad config or arguments; 3: another run holds the lock. SIGTERM or Ctrl-C stops after
    the current page is committed; a second one exits at once.

    Not on a terminal (cron), there is no progress display and no summary table; with a log
    file, the console only carries warnings and errors, so cron mails only when it matters.
    """
    config = _load(config_file)
    since_date = _parse_date(since, "--since")
    codes = [_country(c) for c in countries]
    redactor = Redactor()
    fmt = log_format or config.log.format
    file = log_file or config.log.file
    quiet_console = quiet or (file is not None and not sys.stderr.isatty())
    log = setup_logging(
        level=config.log.level,
        fmt=fmt,
        file=file,
        redactor=redactor,
        console_level="WARNING" if quiet_console else None,
    )
    engine = _engine(config)
    stop = threading.Event()
    with ExitStack() as stack:
        stack.enter_context(StopOnSignals(stop, log))
        reporter: Reporter = LogReporter(log)
        if sys.stderr.isatty() and not quiet and fmt == "text":
            from pipeline.progress import RichReporter

            reporter = stack.enter_context(RichReporter(log, Console(stderr=True)))
        report = run_collection(
            config,
            engine,
            log=log,
            sources=list(sources) or None,
            countries=codes or None,
            since=since_date,
            reporter=reporter,
            stop=stop,
            redactor=redactor,
        )
    log_tokens_after_run(config, report, log)
    if summary if summary is not None else (sys.stdout.isatty() and not quiet):
        print_summary(report)
    sys.exit(report.exit_code)


def _country(value: str) -> str:
    code = value.strip().upper()
    if len(code) != 2 or not code.isalpha():
        raise UsageProblem(f"--country {value!r} is not an ISO 3166-1 alpha-2 code (e.g. KE)")
    return "GB" if code == "UK" else code


def print_summary(report: RunReport) -> None:
    """The end-of-run table (one row per scope), then errors, skipped sources and notices.

    The table takes its full width off a terminal and the lines after it are plain (never
    wrapped), as in `adlib status`: under cron this is the mail a person reads.
    """
    table = Table(title="adlib collect")
    for column in (
        "source",
        "scope",
        "status",
        "ads",
        "new",
        "changed",
        "observations",
        "quarantined",
    ):
        table.add_column(
            column, justify="left" if column in ("source", "scope", "status") else "right"
        )
    for o in report.outcomes:
        counts = (o.records, o.new, o.changed, o.observations, o.quarantined)
        table.add_row(o.source, o.scope, o.status, *(f"{n:,}" for n in counts))
    for name in report.skipped:
        table.add_row(name, "-", "skipped", "", "", "", "", "")
    table_console(table, sys.stdout).print(table)
    for o in report.outcomes:
        if o.error:
            click.echo(f"{o.source}/{o.scope}: {o.error}")
    for name, reason in report.skipped.items():
        click.echo(f"{name} skipped: {reason}")
    for o in report.outcomes:
        for notice in o.notices:
            click.echo(f"{o.source}/{o.scope}: note: {notice}")
    for step, reason in report.derived_failures.items():
        click.echo(f"{step} failed (collected data kept): {reason}")


@cli.command()
@_config_option
@click.option("--json", "as_json", is_flag=True, help="machine-readable output (for scripts)")
@click.option("--csv", "as_csv", is_flag=True, help="one CSV row per source and scope")
@click.option(
    "--check",
    is_flag=True,
    help="print only problems and warnings, one line each; exit 1 if an enabled source is "
    "failing, stale or never ran, or its token is rejected",
)
@click.option("--source", "sources", multiple=True, metavar="NAME", help="only this source")
@click.option(
    "--no-token-check", is_flag=True, help="do not ask the platforms when their tokens expire"
)
@_fails_cleanly
def status(
    config_file: str | None,
    as_json: bool,
    as_csv: bool,
    check: bool,
    sources: Sequence[str],
    no_token_check: bool,
) -> None:
    """Per source and scope: last success, last failure and its message, the last run's ads,
    new and changed, staleness (status.stale_after_hours, default 48 h) and token expiry.

    With --check, exit 1 when there is a problem (for monitoring), else 0; without --json or
    --csv it prints only the problem and warning lines (nothing when all is well).
    """
    from pipeline.status_view import print_csv, print_json, print_problems, print_table

    if as_json and as_csv:
        raise UsageProblem("--json and --csv: choose one output format")
    config = _load(config_file)
    for name in sources:
        if name not in config.sources:
            raise UsageProblem(f"--source {name}: not configured under sources in config.yaml")
    engine = db.make_engine(config.database_url, readonly=True)
    now = datetime.now(UTC)
    wanted = [s for s in config.enabled_sources() if not sources or s in sources]
    tokens = [] if no_token_check else check_tokens(config, wanted, now)
    with engine.connect() as conn:
        report = build_status(conn, config, now, list(sources) or None, tokens)
    if as_json:
        print_json(report)
    elif as_csv:
        print_csv(report)
    elif check:
        print_problems(report)
    else:
        print_table(report)
    if check and report.problems():
        sys.exit(1)


@cli.command()
@_config_option
@click.option(
    "--source", "sources", multiple=True, metavar="NAME", help="only this source (repeatable)"
)
@click.option(
    "--every",
    type=click.FloatRange(min=1),
    metavar="SECONDS",
    help="for testing: run every SECONDS instead of the cron expressions",
)
@click.option("--print", "print_only", is_flag=True, help="list each job's next run and exit")
@_log_options
@_fails_cleanly
def schedule(
    config_file: str | None,
    sources: Sequence[str],
    every: float | None,
    print_only: bool,
    log_file: str | None,
    log_format: str | None,
) -> None:
    """Run as a daemon: collect each source on its cron expression (sources.NAME.schedule).

    Expressions are crontab(5) syntax in scheduler.timezone (default UTC); a sixth, leading
    field gives seconds. SIGTERM or Ctrl-C lets running jobs commit their current page, then
    exits 0. Exit 2: bad config; the daemon never exits because a source failed.
    """
    from pipeline.schedule import Daemon, describe_plan, plan_jobs

    config = _load(config_file)
    plans, left_out = plan_jobs(config, sources, every)
    if print_only:
        for line in describe_plan(plans, left_out, datetime.now(UTC)):
            click.echo(line)
        return
    redactor = Redactor()
    log = setup_logging(
        level=config.log.level,
        fmt=log_format or config.log.format,
        file=log_file or config.log.file,
        redactor=redactor,
    )
    # Errors only: the daemon logs missed and overlapping runs itself, with the source named.
    route_to_adlib("apscheduler", logging.ERROR)
    for name, why in left_out.items():
        log.warning("not scheduled: %s", why, extra={"source": name, "event": "job_left_out"})
    engine = _engine(config)
    stop = threading.Event()
    with StopOnSignals(stop, log):
        code = Daemon(config, engine, plans, log=log, redactor=redactor, stop=stop).serve()
    sys.exit(code)


@cli.command()
@_config_option
@click.argument("query", required=False)
@click.option(
    "-f",
    "--file",
    "query_file",
    type=click.File("r", encoding="utf-8"),
    help="read the SQL from a file (- for stdin), e.g. a docs/queries.md recipe",
)
@click.option(
    "-p",
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="bound parameter :NAME (repeatable); use CAST(:NAME AS type), not :NAME::type",
)
@click.option("--csv", "as_csv", is_flag=True, help="CSV output")
@click.option("--json", "as_json", is_flag=True, help="JSON output (a list of objects)")
@_fails_cleanly
def sql(
    config_file: str | None,
    query: str | None,
    query_file: Any,
    params: Sequence[str],
    as_csv: bool,
    as_json: bool,
) -> None:
    """Run one read-only SQL statement against the configured database.

    Writes are refused on SQLite and PostgreSQL alike (exit 2, nothing changes). Values are
    passed as bound parameters, never pasted into the SQL:
    adlib sql "SELECT * FROM v_ads WHERE source = :src LIMIT 5" -p src=meta
    adlib sql -f top_funders.sql -p country=KE -p month=2026-02 --csv

    Prints a table (the first 1,000 rows), or every row with --csv or --json.
    """
    from pipeline.query import QueryError, bind_params, query_rows, readonly_engine

    if (query is None) == (query_file is None):
        raise UsageProblem("give the SQL either as QUERY or with --file, not both")
    config = _load(config_file)
    try:
        engine = readonly_engine(config.database_url)
        sql_text = query if query is not None else query_file.read()
        with query_rows(engine, sql_text, bind_params(params)) as (columns, rows):
            write_rows(columns, rows, "csv" if as_csv else "json" if as_json else "table")
    except QueryError as exc:
        raise UsageProblem(str(exc)) from None


@cli.command()
@_config_option
@click.argument("query")
@click.option(
    "--country", "countries", multiple=True, metavar="CC", help="only ads that reached CC"
)
@click.option("--source", "sources", multiple=True, metavar="NAME", help="only this platform")
@click.option("--since", metavar="DATE", help="only ads still delivering on or after DATE")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(min=1))
@click.option("--csv", "as_csv", is_flag=True, help="CSV output")
@click.option("--json", "as_json", is_flag=True, help="JSON output (a list of objects)")
@_fails_cleanly
def search(
    config_file: str | None,
    query: str,
    countries: Sequence[str],
    sources: Sequence[str],
    since: str | None,
    limit: int,
    as_csv: bool,
    as_json: bool,
) -> None:
    """Full-text search over ad text, advertiser and funder names; newest ads first.

    QUERY: words (all must match), "a phrase", prefix*, -excluded, a OR b. Put -- before a
    query that starts with -. Example:
    adlib search '"climate change" tax*' --country KE --since 2026-01-01
    """
    from pipeline.query import readonly_engine, require_head
    from pipeline.search import SearchFilters, SearchSyntaxError, print_results
    from pipeline.search import search as run_search

    config = _load(config_file)
    filters = SearchFilters(
        [_country(c) for c in countries], list(sources), _parse_date(since, "--since")
    )
    engine = readonly_engine(config.database_url)
    require_head(engine, "adlib search")
    try:
        with engine.connect() as conn:
            columns, rows, total = run_search(conn, query, filters, limit)
    except SearchSyntaxError as exc:
        raise UsageProblem(f"search: {exc}") from None
    print_results(columns, rows, total, "csv" if as_csv else "json" if as_json else "table")


@cli.command()
@_config_option
@click.option(
    "--country", "countries", multiple=True, required=True, metavar="CC", help="repeatable"
)
@click.option("--since", metavar="DATE", help="only ads still delivering on or after DATE")
@click.option("--until", metavar="DATE", help="only ads that started delivering by DATE")
@click.option("--source", "sources", multiple=True, metavar="NAME", help="only this platform")
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet"]), default="csv")
@click.option("--out", "out_dir", required=True, metavar="DIR", help="new or empty directory")
@click.option("--zip", "as_zip", is_flag=True, help="also pack the files into DIR.zip")
@_fails_cleanly
def export(
    config_file: str | None,
    countries: Sequence[str],
    since: str | None,
    until: str | None,
    sources: Sequence[str],
    fmt: str,
    out_dir: str,
    as_zip: bool,
) -> None:
    """Export the ads that reached a country: one file per table, manifest.json with row
    counts and sha256 per file, DATA_DICTIONARY.md. Same database and arguments give
    byte-identical CSV files (manifest.json carries the export time)."""
    from pipeline.export import ExportError, ExportRequest, run_export
    from pipeline.query import readonly_engine

    config = _load(config_file)
    request = ExportRequest(
        countries=[_country(c) for c in countries],
        out=Path(out_dir),
        fmt=fmt,
        since=_parse_date(since, "--since"),
        until=_parse_date(until, "--until"),
        sources=list(sources),
        zip=as_zip,
    )
    try:
        result = run_export(readonly_engine(config.database_url), request)
    except ExportError as exc:
        raise UsageProblem(str(exc)) from None
    for written in result.files:
        rows = "" if written.rows is None else f"{written.rows:>12,} rows  "
        click.echo(f"{rows:>19}{written.path}")
    click.echo(f"manifest: {request.out / 'manifest.json'}")
    if result.zip_path is not None:
        click.echo(f"zip: {result.zip_path}")


@cli.command()
@click.option(
    "--dir",
    "out_dir",
    default="adlib-demo",
    show_default=True,
    metavar="DIR",
    help="where the demo database and its config.yaml go (replaced if present)",
)
@_fails_cleanly
def demo(out_dir: str) -> None:
    """Run the real collectors and pipeline against bundled replicas, offline, into SQLite."""
    from pipeline.demo import run_demo

    sys.exit(run_demo(Path(out_dir)))


# Command groups in modules of their own; they build on the helpers above.
from pipeline.cli_actors import actors  # noqa: E402
from pipeline.cli_db import db_group  # noqa: E402
from pipeline.cli_import import import_command  # noqa: E402
from pipeline.cli_report import report  # noqa: E402

for _command in (actors, db_group, import_command, report):
    cli.add_command(_command)


def main() -> None:
    """Entry point of the `adlib` console script."""
    cli(prog_name="adlib")
