"""Mentions, extracted set-based from the loaded tables.

Which stored name is which role is declared per platform by the collectors
(``Collector.mention_fields``, plain data); the caller passes it in as ``{source: fields}``, so
this module names no platform and imports nothing from ``collectors``. Each field becomes one
``GROUP BY`` over ads (one row per distinct name, country and account id, with its ad count)
and one ``INSERT ... SELECT`` of the ad -> mention links: the database does the heavy part,
Python only normalises each distinct new name once.

After a collection only the ads it wrote are re-read (``scope``: a select of their ids, see
``pipeline.derived``): on a million ads, relinking every ad costs seconds and hundreds of MB
for the few thousand a night changes. Without a scope every ad is relinked (``adlib actors
resolve``, or a step whose last attempt failed); both give the same tables (tested).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Connection,
    MetaData,
    Select,
    String,
    Table,
    and_,
    cast,
    delete,
    func,
    insert,
    literal,
    select,
    true,
    update,
)

from pipeline.evidence.actors.normalise import identifiers, normalise
from pipeline.sqlutil import BulkInsert, dialect_insert
from schema.actor_tables import ActorMention, AdActorMention
from schema.models import Ad, AdBeneficiaryPayer, AdCountry, Advertiser, Funder, table_of

_ads = table_of(Ad)
_advertisers = table_of(Advertiser)
_funders = table_of(Funder)
_pairs = table_of(AdBeneficiaryPayer)
_countries = table_of(AdCountry)
_mentions = table_of(ActorMention)
_links = table_of(AdActorMention)

ROLES = ("advertiser", "payer", "beneficiary", "agency")


class MentionField(Protocol):
    """A collector's declaration (``collectors.records.MentionField``), read by attribute.

    Read-only members, as the declaration is a frozen dataclass.
    """

    @property
    def role(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def entity_id(self) -> str | None: ...


class FieldError(ValueError):
    """A collector declared a place the loader does not have."""


@dataclass(frozen=True, slots=True)
class _Place:
    """One field as SQL: what to join onto ``ads`` and the expressions to read."""

    name: ColumnElement[Any]
    entity: ColumnElement[Any]
    joins: tuple[str, ...]


def _expression(place: str) -> tuple[ColumnElement[Any], str | None]:
    if place == "advertiser":
        return _advertisers.c.name, "advertiser"
    if place == "funder":
        return _funders.c.name, "funder"
    if place in ("beneficiary_payers.payer", "beneficiary_payers.beneficiary"):
        return _pairs.c[place.split(".")[1]], "pairs"
    if place.startswith("extra.") and len(place) > len("extra."):
        return _ads.c.extra[place[len("extra.") :]].as_string(), None
    raise FieldError(f"unknown mention place {place!r}")


def _place(field: MentionField) -> _Place:
    if field.role not in ROLES:
        raise FieldError(f"unknown mention role {field.role!r}: use {', '.join(ROLES)}")
    name, join = _expression(field.name)
    joins = [join] if join else []
    entity: ColumnElement[Any] = literal("")
    if field.entity_id == "advertiser":
        entity = _advertisers.c.source_advertiser_id
        joins.append("advertiser")
    elif field.entity_id:
        entity, join = _expression(field.entity_id)
        joins += [join] if join else []
    return _Place(func.trim(name), func.coalesce(entity, ""), tuple(dict.fromkeys(joins)))


def _select(
    source: str,
    field: MentionField,
    columns: Callable[[_Place, ColumnElement[Any]], list[Any]],
    scope: Select[Any] | None,
) -> Select[Any]:
    place = _place(field)
    country = func.coalesce(_countries.c.country_code, "")
    stmt = select(*columns(place, country)).select_from(_ads)
    for join in place.joins:
        if join == "advertiser":
            stmt = stmt.join(_advertisers, _advertisers.c.id == _ads.c.advertiser_id)
        elif join == "funder":
            stmt = stmt.join(_funders, _funders.c.id == _ads.c.funder_id)
        else:
            stmt = stmt.join(_pairs, _pairs.c.ad_id == _ads.c.id)
    stmt = stmt.outerjoin(_countries, _countries.c.ad_id == _ads.c.id)
    if scope is not None:
        stmt = stmt.where(_ads.c.id.in_(scope))
    return stmt.where(_ads.c.source == source, place.name.is_not(None), place.name != "")


def _new_keys(source: str, field: MentionField, scope: Select[Any] | None) -> Select[Any]:
    """The distinct (name, country, entity) of ``field`` in the ads that no mention has yet."""

    def columns(place: _Place, country: ColumnElement[Any]) -> list[Any]:
        return [
            place.name.label("name"),
            country.label("country"),
            cast(place.entity, String).label("entity"),
        ]

    keys = _select(source, field, columns, scope).distinct().subquery()
    known = select(_mentions.c.id).where(
        _mentions.c.source == source,
        _mentions.c.role == field.role,
        _mentions.c.name == keys.c.name,
        _mentions.c.country_code == keys.c.country,
        _mentions.c.source_entity_id == keys.c.entity,
    )
    # in key order: mention ids are then the same on every engine (exports compare equal)
    new = select(keys.c.name, keys.c.country, keys.c.entity).where(~known.exists())
    return new.order_by(keys.c.name, keys.c.country, keys.c.entity)


def _link_select(source: str, field: MentionField, scope: Select[Any] | None) -> Select[Any]:
    def columns(place: _Place, country: ColumnElement[Any]) -> list[Any]:
        return [_ads.c.id, _mentions.c.id]

    place = _place(field)
    country = func.coalesce(_countries.c.country_code, "")
    stmt = _select(source, field, columns, scope).join(
        _mentions,
        and_(
            _mentions.c.source == source,
            _mentions.c.role == field.role,
            _mentions.c.name == place.name,
            _mentions.c.country_code == country,
            _mentions.c.source_entity_id == cast(place.entity, String),
        ),
    )
    return stmt.distinct()


@dataclass(frozen=True, slots=True)
class Extracted:
    mentions: int
    new: int
    links: int


def extract(
    conn: Connection,
    fields: Mapping[str, Sequence[MentionField]],
    now: datetime,
    scope: Select[Any] | None = None,
) -> Extracted:
    """Bring ``actor_mentions`` and ``ad_actor_mentions`` up to date with the loaded ads: all
    of them, or only those whose ids ``scope`` selects (the rest are current already)."""
    public_ids = _public_ids(conn)
    writer = BulkInsert(
        conn,
        _mentions,
        [
            "source",
            "role",
            "name",
            "country_code",
            "source_entity_id",
            "identifiers",
            "normalised_name",
            "ads",
            "first_seen_at",
        ],
    )  # only keys not in the table yet: plain inserts (COPY on PostgreSQL)
    added: set[tuple[str, ...]] = set()
    new: list[tuple[Any, ...]] = []
    for source, field, row in _rows(conn, fields, scope):
        key = (source, field.role, row.name, row.country, row.entity)
        if key in added:  # two fields of one role can name the same key
            continue
        added.add(key)
        raw_ids = (
            public_ids.get((source, row.entity), []) if field.entity_id == "advertiser" else []
        )
        ids = identifiers(row.name, raw_ids, row.entity if field.entity_id else "")
        if row.entity:
            ids.append(f"{source.upper()}:{row.entity}")
        new.append((*key, sorted(ids) or None, normalise(row.name), 0, now))
        if len(new) >= 5000:
            writer.write(new)
            new.clear()
    writer.write(new)
    if added and conn.dialect.name == "postgresql":
        # fresh statistics, or the planner takes the new rows for a handful and joins the ads
        # to them by scanning (minutes instead of seconds at 200,000 mentions)
        conn.exec_driver_sql("ANALYZE actor_mentions")
    links = _relink(conn, fields, scope)
    mentions = conn.execute(select(func.count()).select_from(_mentions)).scalar_one()
    return Extracted(mentions, len(added), links)


def _rows(
    conn: Connection, fields: Mapping[str, Sequence[MentionField]], scope: Select[Any] | None
) -> Iterator[tuple[str, MentionField, Any]]:
    for source in sorted(fields):
        for field in fields[source]:
            stmt = _new_keys(source, field, scope).execution_options(yield_per=10_000)
            for row in conn.execute(stmt):
                yield source, field, row


def _public_ids(conn: Connection) -> dict[tuple[str, str], list[str]]:
    rows = conn.execute(
        select(
            _advertisers.c.source, _advertisers.c.source_advertiser_id, _advertisers.c.public_ids
        ).where(_advertisers.c.public_ids.is_not(None))
    )
    return {(s, a): list(ids or []) for s, a, ids in rows}


#: The links the current ads carry, staged per resolution (temporary, dropped at the end).
_current = Table(
    "ad_actor_mentions_current",
    MetaData(),
    Column("ad_id", BigInteger, primary_key=True),
    Column("mention_id", BigInteger, primary_key=True),
    prefixes=["TEMPORARY"],
)


#: The mentions whose ad counts a scoped relink may change (temporary, like ``_current``).
_affected = Table(
    "actor_mentions_affected",
    MetaData(),
    Column("mention_id", BigInteger, primary_key=True),
    prefixes=["TEMPORARY"],
)


def _relink(
    conn: Connection, fields: Mapping[str, Sequence[MentionField]], scope: Select[Any] | None
) -> int:
    """Bring the ad -> mention links and the mentions' ad counts up to date with the ads (all
    of them, or those ``scope`` selects).

    The current links are staged in a temporary table; only the differences reach
    ``ad_actor_mentions`` and only changed counts reach ``actor_mentions``, so a nightly rerun
    on mostly unchanged data writes little. With a scope, only the mentions the scoped ads
    carried before or carry now are recounted.
    """
    _current.create(conn, checkfirst=True)
    conn.execute(delete(_current))
    for source in sorted(fields):
        for field in fields[source]:
            stmt = dialect_insert(conn, _current).from_select(
                ["ad_id", "mention_id"], _link_select(source, field, scope)
            )
            conn.execute(stmt.on_conflict_do_nothing())
    same = (_current.c.ad_id == _links.c.ad_id) & (_current.c.mention_id == _links.c.mention_id)
    stale = ~select(_current.c.ad_id).where(same).exists()
    recount: ColumnElement[bool] = true()  # which mentions, and which of their links
    counted: ColumnElement[bool] = true()
    if scope is not None:
        _affected.create(conn, checkfirst=True)
        conn.execute(delete(_affected))
        before = select(_links.c.mention_id).where(_links.c.ad_id.in_(scope))
        now_linked = select(_current.c.mention_id)
        conn.execute(insert(_affected).from_select(["mention_id"], before.union(now_linked)))
        stale = stale & _links.c.ad_id.in_(scope)
        recount = _mentions.c.id.in_(select(_affected.c.mention_id))
        counted = _links.c.mention_id.in_(select(_affected.c.mention_id))
    conn.execute(delete(_links).where(stale))
    new = select(_current.c.ad_id, _current.c.mention_id).where(
        ~select(_links.c.ad_id).where(same).exists()
    )
    conn.execute(insert(_links).from_select(["ad_id", "mention_id"], new))
    _current.drop(conn)
    counts = (
        select(_links.c.mention_id, func.count().label("n"))
        .where(counted)
        .group_by(_links.c.mention_id)
        .subquery()
    )
    conn.execute(
        update(_mentions)
        .where(_mentions.c.id == counts.c.mention_id, _mentions.c.ads != counts.c.n, recount)
        .values(ads=counts.c.n)
    )
    linked = select(_links.c.mention_id).where(_links.c.mention_id == _mentions.c.id)
    conn.execute(
        update(_mentions).where(_mentions.c.ads != 0, ~linked.exists(), recount).values(ads=0)
    )
    if scope is not None:
        _affected.drop(conn)
    return conn.execute(select(func.count()).select_from(_links)).scalar_one()
