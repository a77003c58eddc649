"""`adlib db ...`: the database itself: migrate it, or re-derive it from the raw archive."""

from __future__ import annotations

import sys

import click

from collectors.redact import Redactor
from pipeline import db
from pipeline.cli import UsageProblem, _config_option, _engine, _fails_cleanly, _load
from pipeline.lock import schema_lock
from pipeline.logs import setup_logging


@click.group("db")
def db_group() -> None:
    """Database maintenance."""


@db_group.command("upgrade")
@_config_option
@_fails_cleanly
def db_upgrade(config_file: str | None) -> None:
    """Apply schema migrations (back up first; `collect` migrates new databases itself)."""
    config = _load(config_file)
    engine = db.make_engine(config.database_url)
    with schema_lock(engine, config.database_url):
        before = db.current_revision(engine)
        db.upgrade(engine)
        after = db.current_revision(engine)
    click.echo(f"database at {after} (was {before or 'empty'})")


@db_group.command("rebuild")
@_config_option
@click.option(
    "--to",
    "target_url",
    required=True,
    metavar="DATABASE_URL",
    help="a new, empty database to rebuild into (sqlite:///... or postgresql://...)",
)
@_fails_cleanly
def db_rebuild(config_file: str | None, target_url: str) -> None:
    """Re-derive every table of a new database from the configured database's raw archive.

    Every archived API page and kept bulk file is replayed, oldest first, through today's
    normalisers and loader, without a request to any platform. Exit 0 when every record was
    replayed; 1 when some scope is incomplete (bulk files deleted by retention); 2 when the
    target is not new.
    """
    from pipeline.progress import ProgressLine
    from pipeline.rebuild import RebuildRefused, rebuild

    config = _load(config_file)
    source = _engine(config, readonly=True)
    target = db.make_engine(target_url)
    log = setup_logging(level="WARNING", redactor=Redactor())
    try:
        with ProgressLine("rebuilding from the raw archive") as progress:
            report = rebuild(config, source, target, log=log, progress=progress.update)
    except RebuildRefused as exc:
        raise UsageProblem(str(exc)) from None
    finally:
        target.dispose()
    replayed = sum(s.records for s in report.scopes.values())
    ads = sum(s.ads for s in report.scopes.values())
    click.echo(
        f"rebuilt {target.url.render_as_string(hide_password=True)}: {replayed:,} of "
        f"{report.records:,} raw records replayed, {ads:,} ads loaded"
    )
    for line in report.incomplete():
        click.echo(f"PROBLEM {line}")
    sys.exit(report.exit_code)
