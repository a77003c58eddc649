"""Writes a Page's ads: advertisers, funders, the ads themselves and their child rows.

Ads are upserted on ``(source, source_ad_id)``. Two hashes decide what else is written:
``content_hash`` covers every reported value (a change rewrites the ad's child rows) and
``observation_hash`` covers the metrics researchers track over time (spend, impressions,
audience, reach, delivery dates; a change appends one ``ad_observations`` row). An ad seen
again unchanged only gets its ``last_seen_at`` moved, so a rerun writes no history (bulk rows
the collector skipped as unchanged never reach this module at all). Countries are additive:
Meta reports an ad once per country query that returned it, so the union over scopes is the
truth and a scope never removes another scope's country.

Writes are batched: the driver's own ``executemany`` (``COPY`` on PostgreSQL), never row by
row. :mod:`pipeline.load` wraps this in the Page's transaction with its checkpoint.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from functools import cache
from operator import attrgetter
from typing import Any

from sqlalchemy import Connection, Table, bindparam, select, update
from sqlalchemy.exc import DataError

from collectors.records import AdvertiserRecord, NormalisedAd, Quarantined
from pipeline.derived import ads_written, advertisers_renamed
from pipeline.sqlutil import IN_CHUNK, BulkInsert, chunks, insert_ignore
from schema.models import (
    Ad,
    AdBeneficiaryPayer,
    AdCountry,
    AdCreative,
    AdDemographic,
    AdLanguage,
    AdObservation,
    AdPlatform,
    AdReachBreakdown,
    AdRegion,
    AdSpend,
    AdTargeting,
    Advertiser,
    Funder,
    table_of,
)
from schema.views.search import index_ads

_ads: Table = table_of(Ad)
_advertisers: Table = table_of(Advertiser)
_funders: Table = table_of(Funder)
_countries: Table = table_of(AdCountry)
_observations: Table = table_of(AdObservation)

_OBSERVED = (
    "currency",
    "spend_lower",
    "spend_upper",
    "impressions_lower",
    "impressions_upper",
    "audience_lower",
    "audience_upper",
    "eu_total_reach",
    "delivery_start",
    "delivery_stop",
)

_SCALARS = (
    "ad_type",
    "library",
    "ad_url",
    "ad_created_at",
    "delivery_start",
    "delivery_stop",
    "first_served_at",
    "last_served_at",
    "currency",
    "spend_lower",
    "spend_upper",
    "spend_usd_lower",
    "spend_usd_upper",
    "impressions_lower",
    "impressions_upper",
    "audience_lower",
    "audience_upper",
    "eu_total_reach",
)


@dataclass(slots=True)
class PageResult:
    """What one Page did to the database (added to the run's counters)."""

    records: int = 0
    new: int = 0
    changed: int = 0
    observations: int = 0
    quarantined: int = 0
    delisted: int = 0

    def add_writes(self, other: PageResult) -> None:
        """Count the ads ``other`` (one committed savepoint's attempt) wrote."""
        self.records += other.records
        self.new += other.new
        self.changed += other.changed
        self.observations += other.observations


@dataclass(slots=True, frozen=True)
class AdWriter:
    """Writes a Page's ads (advertisers, funders, ads, children) where and as whom it was fetched."""

    conn: Connection
    scope: str
    source: str
    run_id: int
    now: datetime
    raw_id: int | None
    #: An insert-only Page (`adlib import`): known advertisers keep their stored name and ids.
    insert_only: bool = False

    def write(
        self,
        records: Sequence[NormalisedAd],
        advertisers: list[AdvertiserRecord],
        result: PageResult,
    ) -> None:
        """Advertisers (the ads' own and ``advertisers``), funders, ads and their children."""
        conn, now = self.conn, self.now
        ads = _dedupe(records)
        advertiser_records = [ad.advertiser for ad in ads if ad.advertiser] + advertisers
        advertiser_ids = _upsert_advertisers(
            conn, self.source, advertiser_records, now, refresh=not self.insert_only
        )
        funder_ids = _ensure_funders(conn, {ad.funder for ad in ads if ad.funder}, now)
        if ads:
            _load_ads(
                conn, ads, self.scope, self.source, self.run_id, now, self.raw_id,
                advertiser_ids, funder_ids, result,
            )  # fmt: skip

    def write_storable(
        self, ads: list[NormalisedAd], advertisers: list[AdvertiserRecord], result: PageResult
    ) -> list[Quarantined]:
        """Write ``ads`` after the Page's batch failed; return the ads this database refused.

        ``unstorable`` catches what no engine stores, but some values only one engine refuses:
        PostgreSQL enforces ``VARCHAR(n)`` (a 20-letter "currency") and numeric ranges, SQLite
        does not. If the batch fails with such a ``DataError``, each ad is written in its own
        savepoint and the ones refused are quarantined with the database's reason, so one odd
        value never stalls its scope. Failures that are not about a value (lost connection,
        disk full) propagate and the caller's transaction rolls back.
        """
        if self._attempt(ads, advertisers, result) is None:
            return []
        self.write([], advertisers, result)
        refused: list[Quarantined] = []
        for ad in ads:
            error = self._attempt([ad], [], result)
            if error is not None:
                reason = str(error.orig).strip().splitlines()[0]
                refused.append(set_aside(ad, f"the database refused a value: {reason}"))
        return refused

    def _attempt(
        self, ads: list[NormalisedAd], advertisers: list[AdvertiserRecord], result: PageResult
    ) -> DataError | None:
        """Write ``ads`` in a savepoint: None once committed and counted in ``result``, else
        the ``DataError`` it was rolled back for (nothing of it written or counted)."""
        attempt = PageResult()
        savepoint = self.conn.begin_nested()
        try:
            self.write(ads, advertisers, attempt)
        except DataError as error:
            savepoint.rollback()
            return error
        savepoint.commit()
        result.add_writes(attempt)
        return None


def _dedupe(ads: Sequence[NormalisedAd]) -> list[NormalisedAd]:
    """One record per ad id (the last wins); countries are merged, not lost."""
    by_id: dict[str, NormalisedAd] = {}
    for ad in ads:
        previous = by_id.get(ad.source_ad_id)
        if previous is not None:
            ad.countries = sorted(set(previous.countries) | set(ad.countries))
        by_id[ad.source_ad_id] = ad
    return list(by_id.values())


def _digest(value: Any) -> str:
    return hashlib.blake2b(repr(value).encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def observation_hash(ad: NormalisedAd) -> str:
    """Hash of the metrics whose change makes a new ``ad_observations`` row."""
    return _digest(_observed_of(ad))


@cache
def _fields_of(cls: type[Any]) -> Callable[[Any], Any]:
    """A C-level getter of a record class's fields (values as a tuple, or the single value)."""
    return attrgetter(*cls.__slots__)


def _values(items: list[Any]) -> list[Any]:
    """Child records as plain tuples: their repr is fast and stable, unlike a dataclass's."""
    if not items:
        return items
    # A plain ``type``: mypy does not see ``type[Any]`` as Hashable, which the cache needs.
    record_type: type = type(items[0])
    return list(map(_fields_of(record_type), items))


_scalars_of = attrgetter(*_SCALARS)
_observed_of = attrgetter(*_OBSERVED)


def content_hash(ad: NormalisedAd) -> str:
    """Hash of everything the platform reported, except where the row sits and countries."""
    advertiser = ad.advertiser
    return _digest(
        (
            _scalars_of(ad),
            (advertiser.source_advertiser_id, advertiser.name) if advertiser else None,
            ad.funder,
            sorted(ad.extra.items()),
            ad.languages,
            ad.platforms,
            _values(ad.creatives),
            _values(ad.regions),
            _values(ad.demographics),
            _values(ad.targeting),
            _values(ad.reach_breakdown),
            _values(ad.beneficiary_payers),
            _values(ad.spends),
        )
    )


def _upsert_advertisers(
    conn: Connection,
    source: str,
    records: Iterable[AdvertiserRecord],
    now: datetime,
    *,
    refresh: bool = True,
) -> dict[str, int]:
    """Insert new advertisers, refresh changed ones (if ``refresh``); return source id -> id.

    An ad only knows its advertiser's id and name, while a bulk advertiser file knows the
    public ids too: empty values never overwrite known ones.
    """
    merged: dict[str, AdvertiserRecord] = {}
    for record in records:
        known = merged.get(record.source_advertiser_id)
        if known is None:
            merged[record.source_advertiser_id] = AdvertiserRecord(
                record.source_advertiser_id,
                record.name,
                list(record.public_ids),
                dict(record.extra),
            )
            continue
        known.name = record.name or known.name
        known.public_ids = record.public_ids or known.public_ids
        known.extra.update(record.extra)
    if not merged:
        return {}
    existing = _select_advertisers(conn, source, list(merged))
    fresh = [
        {
            "source": source,
            "source_advertiser_id": key,
            "name": rec.name,
            "public_ids": rec.public_ids or None,
            "extra": rec.extra or None,
            "first_seen_at": now,
            "updated_at": now,
        }
        for key, rec in merged.items()
        if key not in existing
    ]
    if fresh:
        conn.execute(insert_ignore(conn, _advertisers, ["source", "source_advertiser_id"]), fresh)
    changes = []
    renamed: list[int] = []  # their ads name them: the actors step must relink those
    for key, (pk, name, public_ids, extra) in existing.items() if refresh else ():
        rec = merged[key]
        new_name = rec.name or name
        new_ids = rec.public_ids or public_ids
        new_extra = {**(extra or {}), **rec.extra} or None
        if new_name != name:
            renamed.append(pk)
        if (new_name, new_ids, new_extra) != (name, public_ids, extra):
            changes.append(
                {
                    "b_id": pk,
                    "name": new_name,
                    "public_ids": new_ids,
                    "extra": new_extra,
                    "updated_at": now,
                }
            )
    if changes:
        conn.execute(_advertisers.update().where(_advertisers.c.id == bindparam("b_id")), changes)
        advertisers_renamed(conn, renamed)
    if fresh:
        existing = _select_advertisers(conn, source, list(merged))
    return {key: value[0] for key, value in existing.items()}


def _select_advertisers(
    conn: Connection, source: str, keys: Sequence[str]
) -> dict[str, tuple[Any, ...]]:
    t = _advertisers
    found: dict[str, tuple[Any, ...]] = {}
    for part in chunks(keys, IN_CHUNK):
        rows = conn.execute(
            select(t.c.source_advertiser_id, t.c.id, t.c.name, t.c.public_ids, t.c.extra).where(
                t.c.source == source, t.c.source_advertiser_id.in_(part)
            )
        )
        for key, pk, name, public_ids, extra in rows:
            found[key] = (pk, name, public_ids, extra)
    return found


def _ensure_funders(conn: Connection, names: set[str], now: datetime) -> dict[str, int]:
    if not names:
        return {}
    ordered = sorted(names)
    conn.execute(
        insert_ignore(conn, _funders, ["name"]),
        [{"name": n, "first_seen_at": now} for n in ordered],
    )
    found: dict[str, int] = {}
    for part in chunks(ordered, IN_CHUNK):
        rows = conn.execute(select(_funders.c.name, _funders.c.id).where(_funders.c.name.in_(part)))
        found.update({name: pk for name, pk in rows})
    return found


def _load_ads(
    conn: Connection,
    ads: list[NormalisedAd],
    scope: str,
    source: str,
    run_id: int,
    now: datetime,
    raw_id: int | None,
    advertiser_ids: dict[str, int],
    funder_ids: dict[str, int],
    result: PageResult,
) -> None:
    existing = _existing_ads(conn, source, [ad.source_ad_id for ad in ads])
    new_rows: list[dict[str, Any]] = []
    new_ads: list[NormalisedAd] = []
    changed_rows: list[dict[str, Any]] = []
    changed_ads: list[tuple[int, NormalisedAd]] = []
    observe: list[tuple[int | None, NormalisedAd]] = []
    unchanged_ids: list[int] = []
    fingerprinted: list[dict[str, Any]] = []
    for ad in ads:
        c_hash, o_hash = content_hash(ad), observation_hash(ad)
        found = existing.get(ad.source_ad_id)
        if found is not None and found[1] == c_hash:
            if ad.raw_hash is None or ad.raw_hash == found[3]:
                unchanged_ids.append(found[0])
            else:  # same content from other raw cells (or stored before fingerprints)
                fingerprinted.append({"b_id": found[0], "b_raw": ad.raw_hash})
            continue
        row = _ad_row(ad, scope, now, raw_id, advertiser_ids, funder_ids, c_hash, o_hash)
        if found is None:
            row.update(source=source, source_ad_id=ad.source_ad_id, first_seen_at=now)
            new_rows.append(row)
            new_ads.append(ad)
            observe.append((None, ad))
        else:
            row["b_id"] = found[0]
            changed_rows.append(row)
            changed_ads.append((found[0], ad))
            if found[2] != o_hash:
                observe.append((found[0], ad))
    result.records += len(ads)
    result.new += len(new_rows)
    result.changed += len(changed_rows)
    ids: dict[str, int] = {key: value[0] for key, value in existing.items()}
    if new_rows:
        columns = list(new_rows[0])
        BulkInsert(conn, _ads, columns).write([tuple(row.values()) for row in new_rows])
        inserted = _existing_ads(conn, source, [row["source_ad_id"] for row in new_rows])
        ids.update({key: value[0] for key, value in inserted.items()})
    if changed_rows:
        conn.execute(_ads.update().where(_ads.c.id == bindparam("b_id")), changed_rows)
        _delete_children(conn, [pk for pk, _ in changed_ads])
    seen = {"last_seen_at": now, "delisted_at": None, "scope": scope}
    for part in chunks(unchanged_ids, IN_CHUNK):
        conn.execute(update(_ads).where(_ads.c.id.in_(part)).values(**seen))
    if fingerprinted:
        statement = (
            _ads.update()
            .where(_ads.c.id == bindparam("b_id"))
            .values(**seen, raw_hash=bindparam("b_raw"))
        )
        conn.execute(statement, fingerprinted)
    rewritten = [(ids[ad.source_ad_id], ad) for ad in new_ads] + changed_ads
    _insert_children(conn, rewritten)
    # Full-text search (issue 5): re-index the creative text of new and changed ads in this
    # transaction. SQLite FTS5 only; a no-op on PostgreSQL, whose GIN indexes follow the rows.
    index_ads(conn, [ad_id for ad_id, _ in rewritten])
    elsewhere = _insert_countries(
        conn,
        [(ids[ad.source_ad_id], ad) for ad in new_ads],
        [(ids[ad.source_ad_id], ad) for ad in ads if ad.source_ad_id in existing],
    )
    ads_written(conn, [ad_id for ad_id, _ in rewritten] + elsewhere)
    if observe:
        writer = BulkInsert(conn, _observations, ("ad_id", "observed_at", "run_id", *_OBSERVED))
        writer.write(
            [
                (pk or ids[ad.source_ad_id], now, run_id, *(getattr(ad, n) for n in _OBSERVED))
                for pk, ad in observe
            ]
        )
        result.observations += len(observe)


def _existing_ads(
    conn: Connection, source: str, keys: Sequence[str]
) -> dict[str, tuple[int, str, str, int | None]]:
    """Stored ``(id, content_hash, observation_hash, raw_hash)`` by source ad id."""
    t = _ads
    columns = (t.c.source_ad_id, t.c.id, t.c.content_hash, t.c.observation_hash, t.c.raw_hash)
    found: dict[str, tuple[int, str, str, int | None]] = {}
    for part in chunks(keys, IN_CHUNK):
        rows = conn.execute(
            select(*columns).where(t.c.source == source, t.c.source_ad_id.in_(part))
        )
        for key, pk, c_hash, o_hash, raw_hash in rows:
            found[key] = (pk, c_hash, o_hash, raw_hash)
    return found


def _ad_row(
    ad: NormalisedAd,
    scope: str,
    now: datetime,
    raw_id: int | None,
    advertiser_ids: dict[str, int],
    funder_ids: dict[str, int],
    c_hash: str,
    o_hash: str,
) -> dict[str, Any]:
    row: dict[str, Any] = {name: getattr(ad, name) for name in _SCALARS}
    row.update(
        scope=scope,
        advertiser_id=advertiser_ids.get(ad.advertiser.source_advertiser_id)
        if ad.advertiser
        else None,
        funder_id=funder_ids.get(ad.funder) if ad.funder else None,
        extra=ad.extra or None,
        last_seen_at=now,
        changed_at=now,
        delisted_at=None,
        content_hash=c_hash,
        observation_hash=o_hash,
        raw_record_id=raw_id,
        raw_ref=ad.raw_ref,
        raw_hash=ad.raw_hash,
    )
    return row


#: Child tables filled from a list of record dataclasses whose fields are the columns.
_CHILDREN: tuple[tuple[Table, str], ...] = (
    (table_of(AdCreative), "creatives"),
    (table_of(AdRegion), "regions"),
    (table_of(AdDemographic), "demographics"),
    (table_of(AdTargeting), "targeting"),
    (table_of(AdReachBreakdown), "reach_breakdown"),
    (table_of(AdBeneficiaryPayer), "beneficiary_payers"),
    (table_of(AdSpend), "spends"),
)
#: Child tables filled from a list of plain strings.
_LISTS: tuple[tuple[Table, str, str], ...] = (
    (table_of(AdLanguage), "languages", "language"),
    (table_of(AdPlatform), "platforms", "platform"),
)


#: Child tables keyed ``(ad_id, id)``: ``id`` numbers an ad's rows 0, 1, ... in record order.
_NUMBERED = frozenset(table.name for table, _ in _CHILDREN if "id" in table.primary_key.columns)


def _delete_children(conn: Connection, ad_ids: list[int]) -> None:
    tables = [table for table, _ in _CHILDREN] + [table for table, _, _ in _LISTS]
    for part in chunks(ad_ids, IN_CHUNK):
        for table in tables:
            conn.execute(table.delete().where(table.c.ad_id.in_(part)))


def _insert_children(conn: Connection, ads: list[tuple[int, NormalisedAd]]) -> None:
    """Child rows of new and changed ads; each record's dataclass fields are the columns."""
    for table, attr in _CHILDREN:
        rows: list[tuple[Any, ...]] = []
        fields: tuple[str, ...] = ()
        for ad_id, ad in ads:
            items = _unique_children(table, getattr(ad, attr))
            if not items:
                continue
            if not fields:
                fields = type(items[0]).__slots__
            record_type: type = type(items[0])  # a plain ``type``: see _values
            getter = _fields_of(record_type)
            if table.name in _NUMBERED:
                rows.extend((ad_id, i, *values) for i, values in enumerate(map(getter, items)))
            elif len(fields) == 1:
                rows.extend((ad_id, value) for value in map(getter, items))
            else:
                rows.extend((ad_id, *values) for values in map(getter, items))
        numbered = ("id",) if table.name in _NUMBERED else ()
        BulkInsert(conn, table, ("ad_id", *numbered, *fields)).write(rows)
    for table, attr, column in _LISTS:
        rows = [(ad_id, value) for ad_id, ad in ads for value in dict.fromkeys(getattr(ad, attr))]
        BulkInsert(conn, table, ("ad_id", column)).write(rows)


def _unique_children(table: Table, items: list[Any]) -> list[Any]:
    """Drop items whose primary key repeats within one ad (the first wins).

    Collectors already merge platform duplicates with a documented rule; this is the last
    guard that keeps one odd record from failing a whole page on a key violation.
    """
    if len(items) < 2:
        return items
    key_cols = _KEY_COLUMNS[table.name]
    if not key_cols:
        return items
    keys = list(map(attrgetter(*key_cols), items))
    if len(set(keys)) == len(keys):
        return items
    seen: set[Any] = set()
    unique = []
    for key, item in zip(keys, items, strict=True):
        if key not in seen:
            seen.add(key)
            unique.append(item)
    return unique


#: The per-ad key of each child table (its primary key without ``ad_id``).
_KEY_COLUMNS: dict[str, tuple[str, ...]] = {
    table.name: tuple(c.name for c in table.primary_key.columns if c.name not in ("ad_id", "id"))
    for table, _ in _CHILDREN
}


def _insert_countries(
    conn: Connection,
    new: list[tuple[int, NormalisedAd]],
    stored: list[tuple[int, NormalisedAd]],
) -> list[int]:
    """Add the countries of ``new`` ads and those ``stored`` ads were not known in yet (a
    country is never removed: an ad seen in two scopes runs in both); the ids of the stored
    ads that got one, since a country is part of an actor mention's key."""
    known: set[tuple[int, str]] = set()
    query = select(_countries.c.ad_id, _countries.c.country_code)
    for part in chunks([ad_id for ad_id, ad in stored if ad.countries], IN_CHUNK):
        for ad_id, code in conn.execute(query.where(_countries.c.ad_id.in_(part))):
            known.add((ad_id, code))
    added = [
        (ad_id, code)
        for ad_id, ad in stored
        for code in dict.fromkeys(ad.countries)
        if (ad_id, code) not in known
    ]
    rows = [(ad_id, code) for ad_id, ad in new for code in dict.fromkeys(ad.countries)]
    BulkInsert(conn, _countries, ("ad_id", "country_code")).write(rows + added)
    return list(dict.fromkeys(ad_id for ad_id, _ in added))


def set_aside(ad: NormalisedAd, reason: str) -> Quarantined:
    """``ad`` as a quarantine item: its fields as ASCII JSON, so the row itself always stores."""
    payload = json.dumps(asdict(ad), ensure_ascii=True, default=str)
    return Quarantined(reason, payload, ad.raw_ref or ad.source_ad_id)
