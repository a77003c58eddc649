"""`adlib demo`: the whole pipeline, offline, in well under a minute.

Starts every bundled platform replica on loopback, writes a config that points the real
collectors at them, runs two real collections (two nights: the replicas move on in between)
into a fresh SQLite file, writes a practices report on one country, prints the run summary
and an example query. Nothing here is a shortcut: the same collectors, retries, loader and
schema run as in production; only the base URLs differ.
"""

from __future__ import annotations

import importlib
import logging
import shutil
from contextlib import ExitStack
from pathlib import Path

import yaml
from rich.console import Console
from rich.markup import escape
from sqlalchemy import Engine

from collectors.redact import Redactor
from collectors.replicas import DEMOS, ReplicaServer
from collectors.replicas.demo import DemoReplica
from pipeline import db
from pipeline.config import parse_config
from pipeline.logs import setup_logging
from pipeline.runner import run_collection

EXAMPLE_QUERY = """\
SELECT a.source, c.country_code AS country, COUNT(*) AS ads,
       SUM(a.spend_lower) AS spend_lower_sum, a.currency
FROM ads a JOIN ad_countries c ON c.ad_id = a.id
GROUP BY a.source, c.country_code, a.currency
ORDER BY ads DESC LIMIT 10"""
#: The country of the demo's practices report: every platform replica covers it.
REPORT_COUNTRY = "US"


DEMO_CONFIG_HEADER = """\
# Written by `adlib demo`: lets `adlib sql/status/export/report` read the demo database.
# The sources are listed so that `adlib status` knows their scopes; they are disabled
# because the replicas they point at stopped when the demo ended.
"""


def _stopped(settings: dict[str, object]) -> dict[str, object]:
    """A replica's source settings, disabled and without its (demo) secret."""
    kept = {k: v for k, v in settings.items() if k != "access_token"}
    return {"enabled": False, **kept}


def available_replicas() -> dict[str, DemoReplica]:
    """The demo replica of every platform listed in ``collectors.replicas.DEMOS``."""
    replicas = {}
    for name, target in DEMOS.items():
        module_name, _, attr = target.partition(":")
        replicas[name] = getattr(importlib.import_module(module_name), attr)()
    return replicas


def _actors_summary(console: Console, engine: Engine, out_dir: Path) -> None:
    """Two lines on the actors layer: how many actors, and who is on several platforms."""
    from pipeline.evidence.actors.catalogue import ListFilter, list_actors

    with engine.connect() as conn:
        everyone = list_actors(conn, ListFilter())
        cross = list_actors(conn, ListFilter(min_sources=2))
    agencies = sum(1 for row in everyone if "agency" in row[6].split(","))
    console.print(
        f"\n[bold]Actors[/]: {len(everyone)} resolved from the platforms' names, "
        f"{agencies} seen as agencies, {len(cross)} on two or more platforms: "
        + ", ".join(escape(str(row[1])) for row in cross[:5]),
        markup=True,
        highlight=False,
    )
    console.print(
        f"See them: [bold]adlib actors list --config {out_dir / 'config.yaml'} --min-sources 2[/]"
    )


def run_demo(out_dir: Path) -> int:
    """Run the demo into ``out_dir``; returns the collect exit code."""
    # Commands and paths are printed whole, never wrapped: a reader copies them.
    console = Console(soft_wrap=True)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    database_url = f"sqlite:///{(out_dir / 'adlib.sqlite').resolve()}"
    replicas = available_replicas()
    redactor = Redactor()
    log = setup_logging(level="WARNING", redactor=redactor)
    with ExitStack() as stack:
        sources = {}
        countries: list[str] = []
        for name, replica in replicas.items():
            server = stack.enter_context(ReplicaServer(replica.handler))
            sources[name] = replica.settings(server.url)
            countries.extend(c for c in replica.countries if c not in countries)
        config = parse_config(
            {
                "database": {"url": database_url},
                "data_dir": str(out_dir / "data"),
                "countries": countries,
                "sources": sources,
            },
            base_dir=out_dir.resolve(),
        )
        engine = db.make_engine(config.database_url)
        db.ensure_schema(engine)
        console.print(
            f"[bold]adlib demo[/]: collecting from local replicas of {', '.join(replicas)} "
            f"into {out_dir / 'adlib.sqlite'}"
        )
        with console.status("collecting..."):
            report = run_collection(config, engine, log=log, redactor=redactor)
            # A second night: the platforms move on, so history and changes have content.
            for replica in replicas.values():
                if replica.advance is not None:
                    replica.advance()
            if report.exit_code == 0:
                report = run_collection(config, engine, log=log, redactor=redactor)
    from pipeline.cli import print_summary, write_rows

    print_summary(report)
    (out_dir / "config.yaml").write_text(
        DEMO_CONFIG_HEADER
        + yaml.safe_dump(
            {
                "database": {"url": database_url},
                "data_dir": str((out_dir / "data").resolve()),
                "countries": countries,
                "sources": {name: _stopped(settings) for name, settings in sources.items()},
            },
            sort_keys=False,
        )
    )
    console.print("\n[bold]Example query[/] (ads and summed lower spend bounds per country):")
    console.print(EXAMPLE_QUERY, style="dim")
    with engine.connect() as conn:
        result = conn.exec_driver_sql(EXAMPLE_QUERY)
        write_rows(list(result.keys()), [tuple(r) for r in result], "table")
    _actors_summary(console, engine, out_dir)
    console.print(
        f"\nTry your own: [bold]adlib sql --config {out_dir / 'config.yaml'} "
        '"SELECT source, COUNT(*) FROM ads GROUP BY source"[/]'
    )
    from pipeline.evidence.report.build import ReportRequest, build_report

    written = build_report(engine, ReportRequest(REPORT_COUNTRY, out_dir / "report"))
    console.print(f"\n[bold]Practices report[/] on {REPORT_COUNTRY} (open it in a browser):")
    print(written.index.resolve())
    logging.getLogger("adlib").handlers.clear()
    return report.exit_code
