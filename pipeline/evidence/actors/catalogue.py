"""Reading the resolved actors back: the list, one actor's record, the review queue.

Every value from the platforms goes to the database as a bound parameter; the filters of
``list`` are applied in Python over one grouped query, which stays small (one row per actor,
platform, role and country) even for a national election's worth of ads.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, text

from pipeline.evidence.actors.normalise import normalise
from pipeline.evidence.actors.registry import Registry
from pipeline.evidence.actors.resolve import resolve
from pipeline.sqlutil import chunks

LIST_COLUMNS = (
    "actor_id",
    "name",
    "kind",
    "curated",
    "sources",
    "countries",
    "roles",
    "names",
    "ads",
)


@dataclass
class _Row:
    id: int
    name: str
    kind: str | None
    curated: bool
    sources: set[str] = field(default_factory=set)
    countries: set[str] = field(default_factory=set)
    roles: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)
    ads: int = 0


@dataclass(frozen=True, slots=True)
class ListFilter:
    country: str | None = None
    source: str | None = None
    kind: str | None = None
    min_sources: int = 1
    min_countries: int = 0


def list_actors(conn: Connection, filters: ListFilter) -> list[tuple[Any, ...]]:
    """One row per live actor (``LIST_COLUMNS``), most ads first."""
    rows: dict[int, _Row] = {}
    for r in conn.execute(
        text(
            "SELECT a.id, a.name, a.kind, a.curated, m.source, m.role, m.name AS published,"
            " m.country_code FROM actors a JOIN actor_mentions m ON m.actor_id = a.id"
        )
    ):
        row = rows.setdefault(r.id, _Row(r.id, r.name, r.kind, bool(r.curated)))
        row.sources.add(r.source)
        row.roles.add(r.role)
        row.names.add(r.published)
        if r.country_code:
            row.countries.add(r.country_code)
    for actor_id, ads in conn.execute(
        text(
            "SELECT m.actor_id, COUNT(DISTINCT am.ad_id) FROM ad_actor_mentions am"
            " JOIN actor_mentions m ON m.id = am.mention_id"
            " WHERE m.actor_id IS NOT NULL GROUP BY m.actor_id"
        )
    ):
        if actor_id in rows:
            rows[actor_id].ads = ads
    kept = [
        r
        for r in rows.values()
        if (filters.country is None or filters.country in r.countries)
        and (filters.source is None or filters.source in r.sources)
        and (filters.kind is None or r.kind == filters.kind)
        and len(r.sources) >= filters.min_sources
        and len(r.countries) >= filters.min_countries
    ]
    kept.sort(key=lambda r: (-r.ads, r.id))
    return [
        (
            r.id,
            r.name,
            r.kind,
            r.curated,
            ",".join(sorted(r.sources)),
            ",".join(sorted(r.countries)),
            ",".join(sorted(r.roles)),
            len(r.names),
            r.ads,
        )
        for r in kept
    ]


def find_actor(conn: Connection, id_or_name: str) -> int | None:
    """An actor by id (following merges) or by a name it is published or known under."""
    if id_or_name.isdigit():
        seen: set[int] = set()
        current: int | None = int(id_or_name)
        while current is not None and current not in seen:
            seen.add(current)
            row = conn.execute(
                text("SELECT id, merged_into FROM actors WHERE id = :id"), {"id": current}
            ).first()
            if row is None:
                return None
            if row.merged_into is None:
                return int(row.id)
            current = row.merged_into
        return None
    found = conn.execute(
        text(
            "SELECT actor_id FROM actor_mentions WHERE actor_id IS NOT NULL AND"
            " (LOWER(name) = LOWER(:n) OR normalised_name = :norm)"
            " UNION SELECT id FROM actors WHERE merged_into IS NULL AND LOWER(name) = LOWER(:n)"
            " ORDER BY 1"
        ),
        {"n": id_or_name, "norm": normalise(id_or_name)},
    ).first()
    return int(found[0]) if found else None


@dataclass
class ActorRecord:
    id: int
    name: str
    kind: str | None
    curated: bool
    names: list[tuple[Any, ...]]
    spend: list[tuple[Any, ...]]
    seen: tuple[Any, Any, int]
    linked: list[tuple[Any, ...]]


NAME_COLUMNS = ("source", "role", "name", "country_code", "ads")
SPEND_COLUMNS = ("currency", "ads", "spend_lower", "spend_upper")
LINKED_COLUMNS = ("actor_id", "name", "their_role", "this_actor_role", "shared_ads")


def actor_record(conn: Connection, actor_id: int) -> ActorRecord:
    """Everything ``adlib actors show`` prints about one actor."""
    head = conn.execute(
        text("SELECT id, name, kind, curated FROM actors WHERE id = :id"), {"id": actor_id}
    ).one()
    params = {"id": actor_id}
    names = conn.execute(
        text(
            "SELECT source, role, name, country_code, ads FROM v_actor_names"
            " WHERE actor_id = :id ORDER BY source, role, ads DESC, name, country_code"
        ),
        params,
    )
    ads_of_actor = (
        "SELECT DISTINCT am.ad_id FROM ad_actor_mentions am"
        " JOIN actor_mentions m ON m.id = am.mention_id WHERE m.actor_id = :id"
    )
    spend = conn.execute(
        text(
            "SELECT a.currency, COUNT(*) AS ads, SUM(COALESCE(a.spend_lower, 0)) AS spend_lower,"
            " CASE WHEN COUNT(a.spend_upper) = COUNT(*) THEN SUM(a.spend_upper) END"
            f" AS spend_upper FROM ads a WHERE a.id IN ({ads_of_actor})"
            " GROUP BY a.currency ORDER BY a.currency"
        ),
        params,
    )
    seen = conn.execute(
        text(
            "SELECT MIN(COALESCE(a.delivery_start, a.ad_created_at, a.first_seen_at)),"
            " MAX(COALESCE(a.delivery_stop, a.last_seen_at)), COUNT(*)"
            f" FROM ads a WHERE a.id IN ({ads_of_actor})"
        ),
        params,
    ).one()
    linked = conn.execute(
        text(
            "SELECT o.actor_id, o.actor_name, o.role, me.role, COUNT(DISTINCT o.ad_id) AS ads"
            " FROM v_ad_actors me JOIN v_ad_actors o"
            " ON o.ad_id = me.ad_id AND o.actor_id <> me.actor_id"
            " WHERE me.actor_id = :id GROUP BY o.actor_id, o.actor_name, o.role, me.role"
            " ORDER BY ads DESC, o.actor_id LIMIT 50"
        ),
        params,
    )
    return ActorRecord(
        head.id,
        head.name,
        head.kind,
        bool(head.curated),
        [tuple(r) for r in names],
        [tuple(r) for r in spend],
        (seen[0], seen[1], seen[2]),
        [tuple(r) for r in linked],
    )


REVIEW_COLUMNS = (
    "score",
    "reason",
    "left",
    "right",
    "left_actor",
    "right_actor",
    "left_sources",
    "right_sources",
    "left_countries",
    "right_countries",
    "left_example_ads",
    "right_example_ads",
)


def review(conn: Connection, registry: Registry, limit: int | None = None) -> list[tuple[Any, ...]]:
    """The pairs the resolver was unsure of, best score first, with their evidence."""
    nodes: dict[str, set[str]] = defaultdict(set)
    for name, ids in conn.execute(text("SELECT normalised_name, identifiers FROM actor_mentions")):
        nodes[name].update(_ids(ids))
    candidates = resolve(nodes, registry).review[:limit]
    wanted = sorted({n for c in candidates for n in (c.left, c.right)})
    evidence = _evidence(conn, wanted)
    rows = []
    for c in candidates:
        left, right = evidence[c.left], evidence[c.right]
        rows.append(
            (
                c.score,
                c.reason,
                left["name"],
                right["name"],
                left["actor"],
                right["actor"],
                left["sources"],
                right["sources"],
                left["countries"],
                right["countries"],
                left["ads"],
                right["ads"],
            )
        )
    return rows


def _ids(value: Any) -> Iterable[str]:
    if isinstance(value, str):  # SQLite hands JSON back as text in a text() query
        return json.loads(value) or []
    return value or []


def _evidence(conn: Connection, nodes: Sequence[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for part in chunks(list(nodes), 500):
        marks = ", ".join(f":n{i}" for i in range(len(part)))
        params = {f"n{i}": n for i, n in enumerate(part)}
        grouped: dict[str, dict[str, Any]] = defaultdict(
            lambda: {"names": defaultdict(int), "sources": set(), "countries": set(), "ads": []}
        )
        for r in conn.execute(
            text(
                "SELECT m.normalised_name, m.name, m.source, m.country_code, m.ads, m.actor_id"
                f" FROM actor_mentions m WHERE m.normalised_name IN ({marks})"
            ),
            params,
        ):
            g = grouped[r.normalised_name]
            g["names"][r.name] += r.ads
            g["sources"].add(r.source)
            g["actor"] = r.actor_id
            if r.country_code:
                g["countries"].add(r.country_code)
        for r in conn.execute(
            text(
                "SELECT m.normalised_name, MIN(a.source || ':' || a.source_ad_id) AS example"
                " FROM actor_mentions m JOIN ad_actor_mentions am ON am.mention_id = m.id"
                f" JOIN ads a ON a.id = am.ad_id WHERE m.normalised_name IN ({marks})"
                " GROUP BY m.normalised_name, m.source"
            ),
            params,
        ):
            grouped[r.normalised_name]["ads"].append(r.example)
        for node, g in grouped.items():
            found[node] = {
                "name": min(g["names"], key=lambda n: (-g["names"][n], n)),
                "actor": g.get("actor"),
                "sources": ",".join(sorted(g["sources"])),
                "countries": ",".join(sorted(g["countries"])),
                "ads": " ".join(sorted(g["ads"])),
            }
    return found


def advertiser_accounts(
    conn: Connection, *, sources: Sequence[str], kind: str | None, country: str | None
) -> list[tuple[str, str]]:
    """``(account id, actor name)`` of the advertiser-role accounts of matching actors.

    What a watchlist needs: the accounts (Meta Pages) through which actors of a kind advertise
    in a country. Sorted by actor name, then account, so a file written from it diffs well.
    """
    params: dict[str, Any] = {f"s{i}": source for i, source in enumerate(sources)}
    marks = ", ".join(f":s{i}" for i in range(len(sources)))
    where = [f"m.role = 'advertiser' AND m.source_entity_id <> '' AND m.source IN ({marks})"]
    if kind is not None:
        where.append("a.kind = :kind")
        params["kind"] = kind
    if country is not None:
        where.append("m.country_code = :country")
        params["country"] = country
    sql = f"""
        SELECT DISTINCT m.source_entity_id, a.name
        FROM actor_mentions m JOIN actors a ON a.id = m.actor_id
        WHERE {" AND ".join(where)}
        ORDER BY a.name, m.source_entity_id
    """
    return [(str(r[0]), str(r[1])) for r in conn.execute(text(sql), params)]
