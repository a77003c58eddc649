"""Writing a resolution: stable actor ids, display names, the mentions' links.

Ids are stable because an actor is found again by its ``key``, the normalised name it was
created from: a cluster keeps the oldest live actor whose key is one of its names. When
clusters merge, the other actors stay as rows with ``merged_into`` pointing at the survivor
(ids in researchers' notes still lead somewhere); when a curated decision splits a cluster,
the part without the old key gets a new actor. Nothing else is renumbered.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Float,
    MetaData,
    String,
    Table,
    bindparam,
    delete,
    select,
    update,
)

from pipeline.evidence.actors.normalise import has_prefix, normalise
from pipeline.evidence.actors.registry import Registry
from pipeline.evidence.actors.resolve import Resolution, resolve
from pipeline.sqlutil import BulkInsert, chunks
from schema.actor_tables import Actor, ActorMention
from schema.models import table_of

_actors = table_of(Actor)
_mentions = table_of(ActorMention)
#: Where one resolution's changed links wait for the single UPDATE (per connection, dropped).
_staged = Table(
    "actor_links_staged",
    MetaData(),
    Column("id", BigInteger, primary_key=True),
    Column("actor_id", BigInteger),
    Column("method", String(16)),
    Column("score", Float),
    prefixes=["TEMPORARY"],
)


@dataclass(frozen=True, slots=True)
class Written:
    actors: int
    new_actors: int
    merged: int
    changed_mentions: int
    resolution: Resolution


@dataclass(slots=True)
class _Mention:
    id: int
    name: str
    normalised: str
    ads: int
    current: tuple[Any, Any, Any]


def resolve_and_write(conn: Connection, registry: Registry, now: datetime) -> Written:
    """Resolve every mention in the database and write actors and links."""
    by_node: dict[str, list[_Mention]] = defaultdict(list)
    #: A name's identifiers over all its mentions, sorted once at the end (a name can have
    #: tens of thousands of mentions, each with its own committee or page id).
    known: dict[str, set[str]] = defaultdict(set)
    for row in conn.execute(
        select(
            _mentions.c.id,
            _mentions.c.name,
            _mentions.c.normalised_name,
            _mentions.c.identifiers,
            _mentions.c.ads,
            _mentions.c.actor_id,
            _mentions.c.method,
            _mentions.c.score,
        ).execution_options(yield_per=10_000)  # a server-side cursor on PostgreSQL
    ):
        node = row.normalised_name
        by_node[node].append(
            _Mention(row.id, row.name, node, row.ads, (row.actor_id, row.method, row.score))
        )
        known[node].update(row.identifiers or ())
    identifiers = {node: tuple(sorted(ids)) for node, ids in known.items()}
    resolution = resolve(identifiers, registry)
    existing = {
        r.key: (r.id, r.name, r.kind, r.curated, r.merged_into)
        for r in conn.execute(
            select(
                _actors.c.id,
                _actors.c.key,
                _actors.c.name,
                _actors.c.kind,
                _actors.c.curated,
                _actors.c.merged_into,
            )
        )
    }
    new_rows: list[tuple[Any, ...]] = []
    changes: list[dict[str, Any]] = []
    pending: list[tuple[str, tuple[str, ...]]] = []
    survivors: dict[tuple[str, ...], int] = {}
    merged = 0
    for cluster in resolution.clusters:
        curated_key = normalise(cluster.curated.name) if cluster.curated else None
        keys = [k for k in (curated_key, *cluster.nodes) if k]
        found = sorted(
            {existing[k] for k in keys if k in existing}, key=lambda a: (a[4] is not None, a[0])
        )
        name = cluster.curated.name if cluster.curated else _display_name(cluster.nodes, by_node)
        kind = cluster.curated.kind if cluster.curated else None
        curated = cluster.curated is not None
        if not found:
            key = curated_key or cluster.nodes[0]
            new_rows.append((key, name, kind, curated, now, now))
            pending.append((key, cluster.nodes))
            continue
        survivor = found[0]
        survivors[cluster.nodes] = survivor[0]
        if (survivor[1], survivor[2], bool(survivor[3]), survivor[4]) != (
            name,
            kind,
            curated,
            None,
        ):
            changes.append(_change(survivor[0], name, kind, curated, None, now))
        for other in found[1:]:
            if other[4] != survivor[0]:
                merged += 1
                changes.append(_change(other[0], other[1], other[2], other[3], survivor[0], now))
    if changes:
        conn.execute(
            update(_actors).where(_actors.c.id == bindparam("pk")),
            changes,
        )
    BulkInsert(
        conn, _actors, ["key", "name", "kind", "curated", "first_seen_at", "updated_at"]
    ).write(new_rows)
    new_ids = _ids_of(conn, [key for key, _ in pending])
    for key, nodes in pending:
        survivors[nodes] = new_ids[key]
    changed = _link_mentions(conn, resolution, survivors, by_node)
    return Written(len(resolution.clusters), len(new_rows), merged, changed, resolution)


def _change(
    pk: int, name: str, kind: str | None, curated: bool, merged_into: int | None, now: datetime
) -> dict[str, Any]:
    return {
        "pk": pk,
        "name": name,
        "kind": kind,
        "curated": bool(curated),
        "merged_into": merged_into,
        "updated_at": now,
    }


def _display_name(nodes: tuple[str, ...], by_node: dict[str, list[_Mention]]) -> str:
    """The most used published spelling (ads, then mentions, then alphabetical), preferring
    spellings without a "paid for by" prefix."""
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for node in nodes:
        for mention in by_node[node]:
            totals[mention.name][0] += mention.ads
            totals[mention.name][1] += 1
    if len(totals) == 1:
        return next(iter(totals))
    return min(totals, key=lambda n: (has_prefix(n), -totals[n][0], -totals[n][1], n))


def _ids_of(conn: Connection, keys: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for part in chunks(keys, 900):
        rows = conn.execute(select(_actors.c.key, _actors.c.id).where(_actors.c.key.in_(part)))
        found.update({key: pk for key, pk in rows})
    return found


def _link_mentions(
    conn: Connection,
    resolution: Resolution,
    survivors: dict[tuple[str, ...], int],
    by_node: dict[str, list[_Mention]],
) -> int:
    """Point every mention whose actor, method or score changed at its actor.

    The changes are staged in a temporary table (COPY on PostgreSQL) and applied by one
    ``UPDATE ... FROM``: one statement per mention would cost minutes at national scale.
    """
    staged: list[tuple[int, int, str, float | None]] = []
    for cluster in resolution.clusters:
        actor_id = survivors[cluster.nodes]
        for node in cluster.nodes:
            mentions = by_node[node]
            method, score = resolution.methods.get(node) or (
                ("exact", None) if len(mentions) > 1 or len(cluster.nodes) > 1 else ("new", None)
            )
            for mention in mentions:
                if mention.current != (actor_id, method, score):
                    staged.append((mention.id, actor_id, method, score))
    if not staged:
        return 0
    _staged.create(conn, checkfirst=True)
    conn.execute(delete(_staged))
    writer = BulkInsert(conn, _staged, ["id", "actor_id", "method", "score"])
    for part in chunks(staged, 20_000):
        writer.write(part)
    conn.execute(
        update(_mentions)
        .where(_mentions.c.id == _staged.c.id)
        .values(actor_id=_staged.c.actor_id, method=_staged.c.method, score=_staged.c.score)
    )
    _staged.drop(conn)
    return len(staged)
