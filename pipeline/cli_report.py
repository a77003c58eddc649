"""`adlib report`: the per-country practices report (see pipeline.evidence.report.build)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from pipeline import db
from pipeline.cli import UsageProblem, _config_option, _fails_cleanly, _load, _parse_date


@click.command()
@_config_option
@click.option("--country", required=True, metavar="CC", help="ISO 3166-1 alpha-2 code, e.g. KE")
@click.option("--since", metavar="DATE", help="only ads still delivering on or after DATE")
@click.option("--until", metavar="DATE", help="only ads that started delivering by DATE")
@click.option("--source", "sources", multiple=True, metavar="NAME", help="only this platform")
@click.option("--out", "out_dir", required=True, metavar="DIR", help="new or empty directory")
@click.option("--force", is_flag=True, help="replace a previous report in DIR")
@_fails_cleanly
def report(
    config_file: str | None,
    country: str,
    since: str | None,
    until: str | None,
    sources: Sequence[str],
    out_dir: str,
    force: bool,
) -> None:
    """Write a static report on a country's political ads: DIR/index.html (opens offline,
    self-contained), DIR/data/*.csv (the numbers behind every chart and table) and
    DIR/manifest.json. Sections: coverage, spend over time, top actors or advertisers,
    targeting, message tests, delivery by age, gender and region, changes, methods."""
    from pipeline.evidence.report.build import ReportError, ReportRequest, build_report
    from pipeline.query import readonly_engine

    config = _load(config_file)
    request = ReportRequest(
        country=country,
        out=Path(out_dir),
        since=_parse_date(since, "--since"),
        until=_parse_date(until, "--until"),
        sources=list(sources),
        force=force,
    )
    engine = readonly_engine(config.database_url)
    at, head = db.current_revision(engine), db.head_revision()
    if at != head:
        raise UsageProblem(
            f"the database is at schema {at or 'empty'}, this adlib needs {head}: "
            "run `adlib db upgrade` (or `adlib collect`) first"
        )
    try:
        result = build_report(engine, request)
    except ReportError as exc:
        raise UsageProblem(str(exc)) from None
    click.echo(
        f"{result.ads:,} ads; {len(result.files)} files; manifest: {request.out / 'manifest.json'}"
    )
    click.echo(f"report: {result.index}")
