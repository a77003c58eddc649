"""`adlib actors ...`: resolve, list, show, review and decide who is behind the ads.

docs/actors.md is the guide; the exit codes are the CLI's (2: bad config, registry or
argument, one line naming the problem and the fix).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click
from sqlalchemy import Engine

from pipeline import lock
from pipeline.actors_step import resolve_actors
from pipeline.cells import safe_texts
from pipeline.cli import UsageProblem, _config_option, _country, _engine, _fails_cleanly, _load
from pipeline.config import Config
from pipeline.evidence.actors import catalogue
from pipeline.evidence.actors.registry import (
    KINDS,
    Registry,
    RegistryError,
    add_decision,
    load_registry,
)
from pipeline.tabular import write_rows


def _safe(rows: Sequence[Sequence[Any]]) -> list[list[Any]]:
    """Cells a spreadsheet would run as a formula are made safe (names come from strangers)."""
    return [[safe_texts([v])[0] if isinstance(v, str) else v for v in row] for row in rows]


def _output(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], fmt: str, out: Any = None
) -> None:
    write_rows(columns, _safe(rows) if fmt == "csv" else rows, fmt, out)


def _setup(config_file: str | None) -> tuple[Config, Engine]:
    config = _load(config_file)
    return config, _engine(config)


def _resolve(config: Config, engine: Engine) -> None:
    try:
        with lock.derived_lock(engine, config.database_url):
            summary = resolve_actors(config, engine)
    except RegistryError as exc:
        raise UsageProblem(str(exc)) from None
    for warning in summary.warnings:
        click.echo(f"adlib: warning: {config.actors_registry}: {warning}", err=True)
    click.echo(summary.line())


@click.group("actors")
def actors() -> None:
    """Who is behind the ads: actors resolved across platforms, roles and spellings."""


@actors.command("resolve")
@_config_option
@_fails_cleanly
def resolve_command(config_file: str | None) -> None:
    """Extract mentions from the loaded ads and resolve them to actors now.

    `adlib collect` does this after every run; run it yourself after editing the registry.
    """
    _resolve(*_setup(config_file))


@actors.command("list")
@_config_option
@click.option("--country", metavar="CC", help="only actors with ads in this country")
@click.option("--source", metavar="NAME", help="only actors on this platform")
@click.option("--kind", type=click.Choice(KINDS), help="only actors of this (curated) kind")
@click.option("--min-sources", default=1, type=click.IntRange(min=1), help="on N+ platforms")
@click.option("--min-countries", default=0, type=click.IntRange(min=0), help="in N+ countries")
@click.option("--csv", "as_csv", is_flag=True, help="CSV output")
@click.option("--json", "as_json", is_flag=True, help="JSON output (a list of objects)")
@_fails_cleanly
def list_command(
    config_file: str | None,
    country: str | None,
    source: str | None,
    kind: str | None,
    min_sources: int,
    min_countries: int,
    as_csv: bool,
    as_json: bool,
) -> None:
    """List actors with their platforms, countries, roles and ad counts (most ads first).

    adlib actors list --min-sources 2          # actors on two or more platforms
    adlib actors list --min-countries 2 --csv  # actors in two or more countries
    """
    _, engine = _setup(config_file)
    filters = catalogue.ListFilter(
        _country(country) if country else None, source, kind, min_sources, min_countries
    )
    with engine.connect() as conn:
        rows = catalogue.list_actors(conn, filters)
    _output(catalogue.LIST_COLUMNS, rows, "csv" if as_csv else "json" if as_json else "table")


@actors.command("show")
@_config_option
@click.argument("id_or_name")
@_fails_cleanly
def show_command(config_file: str | None, id_or_name: str) -> None:
    """One actor: names, roles, platforms, countries, ads, spend, dates and linked actors."""
    _, engine = _setup(config_file)
    with engine.connect() as conn:
        actor_id = catalogue.find_actor(conn, id_or_name)
        if actor_id is None:
            raise UsageProblem(
                f"no actor {id_or_name!r}: give an id or a name from `adlib actors list`"
            )
        record = catalogue.actor_record(conn, actor_id)
    first, last, ads = record.seen
    click.echo(f"actor {record.id}: {record.name}")
    click.echo(f"kind: {record.kind or 'unknown'}{' (curated)' if record.curated else ''}")
    click.echo(f"ads: {ads}; first delivered {first or '-'}; last seen {last or '-'}")
    for title, columns, rows in (
        ("Names (as published)", catalogue.NAME_COLUMNS, record.names),
        ("Spend per currency (sums of the ads' bounds)", catalogue.SPEND_COLUMNS, record.spend),
        ("Linked actors (on the same ads)", catalogue.LINKED_COLUMNS, record.linked),
    ):
        click.echo(f"\n{title}:")
        write_rows(columns, rows, "table")


@actors.command("review")
@_config_option
@click.option("--csv", "csv_file", type=click.Path(dir_okay=False), help="write CSV to FILE")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(min=1))
@_fails_cleanly
def review_command(config_file: str | None, csv_file: str | None, limit: int) -> None:
    """Pairs the resolver was unsure of, with scores and evidence, for a person to decide.

    Decide each with `adlib actors decide same A B` or `adlib actors decide different A B`.
    """
    config, engine = _setup(config_file)
    registry = _registry(config)
    with engine.connect() as conn:
        rows = catalogue.review(conn, registry, limit)
    if csv_file:
        with open(csv_file, "w", encoding="utf-8", newline="") as out:
            _output(catalogue.REVIEW_COLUMNS, rows, "csv", out)
        click.echo(f"{len(rows)} pairs written to {csv_file}")
    else:
        _output(catalogue.REVIEW_COLUMNS, rows, "table")


@actors.command("decide")
@_config_option
@click.argument("decision", type=click.Choice(["same", "different"]))
@click.argument("left")
@click.argument("right")
@_fails_cleanly
def decide_command(config_file: str | None, decision: str, left: str, right: str) -> None:
    """Record that two names are the same actor (or never are) in the registry, then resolve."""
    config, engine = _setup(config_file)
    section = "same" if decision == "same" else "never_same"
    try:
        add_decision(config.actors_registry, section, left, right)
    except RegistryError as exc:
        raise UsageProblem(str(exc)) from None
    click.echo(f"{config.actors_registry}: {section} [{left!r}, {right!r}]")
    _resolve(config, engine)


@actors.command("pages")
@_config_option
@click.option("--kind", type=click.Choice(KINDS), help="only actors of this (curated) kind")
@click.option("--country", metavar="CC", help="only accounts that ran ads in this country")
@click.option(
    "--source",
    metavar="NAME",
    help="the platform whose accounts to list (default: each source with a watchlist setting)",
)
@_fails_cleanly
def pages_command(
    config_file: str | None, kind: str | None, country: str | None, source: str | None
) -> None:
    """The advertiser accounts (Meta Pages) of matching actors: a watchlist's page_ids_file.

    One account id a line, each followed by its actor's name as a comment, e.g.
    `adlib actors pages --kind party --country FR > pages.txt`.
    """
    config, engine = _setup(config_file)
    sources = [source] if source else _watchlist_sources(config)
    if not sources:
        raise UsageProblem("no configured source keeps a watchlist: pass --source NAME")
    with engine.connect() as conn:
        found = catalogue.advertiser_accounts(
            conn, sources=sources, kind=kind, country=_country(country) if country else None
        )
    click.echo(
        f"# adlib actors pages: {len(found)} account(s) of {', '.join(sources)}"
        + (f", kind {kind}" if kind else "")
        + (f", country {_country(country)}" if country else "")
    )
    for account, name in found:
        click.echo(f"{account}  # {_one_line(name)}")


def _watchlist_sources(config: Config) -> list[str]:
    """Sources whose settings take a watchlist of accounts (collected beyond political ads)."""
    return [
        name
        for name, settings in config.sources.items()
        if "watchlist" in type(settings).model_fields
    ]


def _one_line(text: str) -> str:
    """A name from strangers as one comment line: no line breaks or control characters."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def _registry(config: Config) -> Registry:
    try:
        return load_registry(config.actors_registry)
    except RegistryError as exc:
        raise UsageProblem(str(exc)) from None
