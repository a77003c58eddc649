"""Full-text search over ads: `adlib search`.

The index itself (what is searchable, how each engine stores it, and how the loader keeps it
current) is :mod:`schema.views.search`. This module turns a researcher's query into SQL for
either engine.

Query syntax, the same on both engines::

    climate tax          both words, anywhere in the ad (creative text, advertiser, funder)
    "clean energy"       the words next to each other, in this order
    clim*                a word starting with "clim"
    climate OR energy    either side (OR binds loosest: a b OR c means (a and b) or c)
    -coal                not the word coal

Each word or phrase matches an ad if it occurs in the ad's creative text, in its advertiser's
name or in its funder's name, so ``citizens schools`` finds the schools ads of "Citizens for
Schools". Punctuation separates words (``covid-19`` is the phrase ``covid 19``); case is
ignored. Results are ordered by delivery start, newest first, then by ad id, so both engines
list the same ads in the same order.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, text

from pipeline.cells import iso_utc
from pipeline.tabular import write_rows
from schema.types import UTCDateTime
from schema.views.search import CREATIVE_TEXT_COLUMNS, pg_vector

_WORD = re.compile(r"[^\W_]+")
_TOKEN = re.compile(r'(-?)"([^"]*)"?|(\S+)')


class SearchSyntaxError(ValueError):
    """A query that cannot be searched for (nothing to look for, only exclusions)."""


@dataclass(frozen=True, slots=True)
class Term:
    """A word or phrase (lower-case words), optionally a prefix, optionally excluded."""

    words: tuple[str, ...]
    prefix: bool = False
    negated: bool = False


@dataclass(slots=True)
class Clause:
    """Terms that must all hold (the excluded ones must all be absent)."""

    terms: list[Term] = field(default_factory=list)


def parse_query(query: str) -> list[Clause]:
    """Parse the search syntax into clauses joined by OR (see the module docstring)."""
    clauses = [Clause()]
    for match in _TOKEN.finditer(query):
        negated_phrase, phrase, bare = match.groups()
        if bare == "OR":
            clauses.append(Clause())
            continue
        negated = bool(negated_phrase) if phrase is not None else bare.startswith("-")
        raw = phrase if phrase is not None else bare.lstrip("-")
        prefix = raw.rstrip().endswith("*")
        words = tuple(w.lower() for w in _WORD.findall(raw))
        if words:
            clauses[-1].terms.append(Term(words, prefix, negated))
    clauses = [c for c in clauses if c.terms]
    if not clauses:
        raise SearchSyntaxError("nothing to search for: give at least one word")
    for clause in clauses:
        if all(term.negated for term in clause.terms):
            raise SearchSyntaxError("a search needs a word to look for, not only -exclusions")
    return clauses


def _fts5_term(term: Term) -> str:
    """A term in FTS5 syntax: a quoted phrase (words are letters and digits only)."""
    return '"' + " ".join(term.words) + '"' + (" *" if term.prefix else "")


def _tsquery_term(term: Term) -> str:
    """A term as a ``to_tsquery`` string: words joined by ``<->``, ``:*`` for a prefix."""
    return " <-> ".join(term.words) + (":*" if term.prefix else "")


def _term_ads(dialect: str, param: str) -> str:
    """SQL selecting the ids of ads whose text, advertiser or funder matches ``:param``."""
    if dialect == "sqlite":
        text_ads = f"SELECT rowid FROM ad_search WHERE ad_search MATCH :{param}"
        advertisers = f"SELECT rowid FROM advertiser_search WHERE advertiser_search MATCH :{param}"
        funders = f"SELECT rowid FROM funder_search WHERE funder_search MATCH :{param}"
    else:
        query = f"to_tsquery('simple'::regconfig, :{param})"
        vector = pg_vector(*CREATIVE_TEXT_COLUMNS)
        text_ads = f"SELECT ad_id FROM ad_creatives WHERE {vector} @@ {query}"
        advertisers = f"SELECT id FROM advertisers WHERE {pg_vector('name')} @@ {query}"
        funders = f"SELECT id FROM funders WHERE {pg_vector('name')} @@ {query}"
    return (
        f"{text_ads} UNION SELECT id FROM ads WHERE advertiser_id IN ({advertisers}) "
        f"UNION SELECT id FROM ads WHERE funder_id IN ({funders})"
    )


def match_condition(dialect: str, clauses: list[Clause]) -> tuple[str, dict[str, str]]:
    """A condition on ``v.ad_id`` for ``clauses``, and its bound parameters."""
    render = _fts5_term if dialect == "sqlite" else _tsquery_term
    params: dict[str, str] = {}
    ors = []
    for clause in clauses:
        ands = []
        for term in clause.terms:
            name = f"t{len(params)}"
            params[name] = render(term)
            negation = "NOT " if term.negated else ""
            ands.append(f"v.ad_id {negation}IN ({_term_ads(dialect, name)})")
        ors.append("(" + " AND ".join(ands) + ")")
    return "(" + " OR ".join(ors) + ")", params


@dataclass(slots=True)
class SearchFilters:
    """Restrictions besides the text: countries reached, platforms, delivery since a day."""

    countries: Sequence[str] = ()
    sources: Sequence[str] = ()
    since: date | None = None


#: Columns of a search result, in output order.
RESULT_COLUMNS = (
    "ad_id",
    "source",
    "source_ad_id",
    "advertiser_name",
    "funder_name",
    "countries",
    "delivery_start",
    "delivery_stop",
    "currency",
    "spend_lower",
    "spend_upper",
    "body",
)


def search(
    conn: Connection, query: str, filters: SearchFilters, limit: int | None = 50
) -> tuple[list[str], list[tuple[Any, ...]], int]:
    """Ads matching ``query`` and ``filters``: (columns, rows up to ``limit``, total matches)."""
    condition, params = match_condition(conn.dialect.name, parse_query(query))
    where = [condition]
    binds: list[Any] = []
    if filters.countries:
        where.append(
            "EXISTS (SELECT 1 FROM ad_countries c "
            "WHERE c.ad_id = v.ad_id AND c.country_code IN :countries)"
        )
        binds.append(bindparam("countries", list(filters.countries), expanding=True))
    if filters.sources:
        where.append("v.source IN :sources")
        binds.append(bindparam("sources", list(filters.sources), expanding=True))
    if filters.since is not None:
        where.append("COALESCE(v.delivery_stop, v.last_seen_at) >= :since")
        since = datetime(filters.since.year, filters.since.month, filters.since.day, tzinfo=UTC)
        binds.append(bindparam("since", since, type_=UTCDateTime()))
    matched = f"FROM v_ads v WHERE {' AND '.join(where)}"
    total = conn.execute(text(f"SELECT COUNT(*) {matched}").bindparams(*binds), params).scalar()
    order = (
        "ORDER BY CASE WHEN v.delivery_start IS NULL THEN 1 ELSE 0 END, "
        "v.delivery_start DESC, v.ad_id"
    )
    sql = f"SELECT {', '.join('v.' + c for c in RESULT_COLUMNS)} {matched} {order}"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    rows = conn.execute(text(sql).bindparams(*binds), params)
    found = [
        tuple(iso_utc(v) if c in _TIMES else v for c, v in zip(RESULT_COLUMNS, row, strict=True))
        for row in rows
    ]
    return list(RESULT_COLUMNS), found, int(total or 0)


_TIMES = frozenset({"delivery_start", "delivery_stop"})
#: Columns of the terminal table: one line per ad where the width allows.
DISPLAY_COLUMNS = ["source", "ad", "advertiser", "funder", "countries", "start", "spend", "text"]


def display_rows(rows: list[tuple[Any, ...]], width: int = 60) -> list[tuple[str, ...]]:
    """Search results for people: start as a day, spend as one range, text shortened."""
    index = {name: i for i, name in enumerate(RESULT_COLUMNS)}
    shown: list[tuple[str, ...]] = []
    for row in rows:
        value = {name: row[i] for name, i in index.items()}
        body = " ".join((value["body"] or "").split())
        shown.append(
            (
                value["source"],
                value["source_ad_id"],
                value["advertiser_name"] or "",
                value["funder_name"] or "",
                value["countries"] or "",
                (value["delivery_start"] or "")[:10],
                _spend(value["spend_lower"], value["spend_upper"], value["currency"]),
                body if len(body) <= width else body[: width - 1] + "…",
            )
        )
    return shown


def print_results(columns: list[str], rows: list[tuple[Any, ...]], total: int, fmt: str) -> None:
    """Search results as CSV or JSON (every column), or a table and a count for people."""
    if fmt != "table":
        write_rows(columns, rows, fmt)
        return
    write_rows(DISPLAY_COLUMNS, display_rows(rows), "table")
    more = f", first {len(rows)} shown (--limit)" if total > len(rows) else ""
    print(f"{total:,} matching ads{more}")


def _spend(lower: int | None, upper: int | None, currency: str | None) -> str:
    if lower is None and upper is None:
        return ""
    if upper is None:
        return f"{lower:,}+ {currency or ''}".strip()
    if lower == upper:
        return f"{lower:,} {currency or ''}".strip()
    return f"{lower or 0:,}-{upper:,} {currency or ''}".strip()
