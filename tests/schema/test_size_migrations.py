"""The migrations that shrink the database keep every row and round-trip.

0009 clusters child tables by ad (ad_targeting keyed (ad_id, id)); 0010 drops the zero
fraction of SQLite timestamps.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, select, text

from pipeline import db
from schema.models import Ad, Base, table_of
from schema.views import include_object

_NOW = "2026-11-30 12:00:00"
#: Targeting ids from the old global sequence, interleaved between the two ads.
_TARGETING = [
    (10, 2, "geo", "Ohio,United States", True),
    (11, 1, "age", "18-24", True),
    (12, 2, "geo", "99501,Alaska,United States", False),
    (13, 1, "gender", "Female", True),
]
_CHILDREN = {
    "ad_countries": ("(ad_id, country_code)", [(1, "US"), (2, "US"), (2, "GB")]),
    "ad_spend": ("(ad_id, currency, lower, upper)", [(1, "USD", 0, 100), (2, "EUR", 100, None)]),
    "ad_languages": ("(ad_id, language)", [(1, "en"), (2, "de")]),
    "ad_platforms": ("(ad_id, platform)", [(2, "facebook")]),
    "ad_regions": ("(ad_id, region, share)", [(1, "Ohio", 0.5)]),
    "ad_demographics": ("(ad_id, age_range, gender, share)", [(1, "18-24", "female", 0.25)]),
    "ad_reach_breakdown": (
        "(ad_id, country, age_range, gender, reach)",
        [(2, "DE", "65+", "male", 7)],
    ),
}


def _insert_at_0008(engine: Engine) -> None:
    with engine.begin() as conn:
        for ad_id in (1, 2):
            conn.execute(
                text(
                    "INSERT INTO ads (id, source, source_ad_id, library, first_seen_at, "
                    "last_seen_at, changed_at, content_hash, observation_hash) VALUES "
                    "(:id, 'google', :key, 'political', :t, :t, :t, 'c', 'o')"
                ),
                {"id": ad_id, "key": f"CR{ad_id}", "t": _NOW},
            )
        conn.execute(
            text("INSERT INTO ad_targeting (id, ad_id, dimension, value, included) "
                 "VALUES (:i, :a, :d, :v, :inc)"),
            [dict(zip(("i", "a", "d", "v", "inc"), row, strict=True)) for row in _TARGETING],
        )  # fmt: skip
        for table, (columns, rows) in _CHILDREN.items():
            names = columns.strip("()").split(", ")
            marks = ", ".join(f":{name}" for name in names)
            conn.execute(
                text(f"INSERT INTO {table} {columns} VALUES ({marks})"),
                [dict(zip(names, row, strict=True)) for row in rows],
            )


def _rows(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        found = {
            table: [tuple(r) for r in conn.execute(text(f"SELECT * FROM {table} ORDER BY 1, 2"))]
            for table in _CHILDREN
        }
        found["ad_targeting"] = [
            tuple(r)
            for r in conn.execute(
                text("SELECT ad_id, id, dimension, value, included FROM ad_targeting ORDER BY 1, 2")
            )
        ]
    return found


def _downgrade(engine: Engine, revision: str) -> None:
    cfg = db.alembic_config()
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)
        conn.commit()


def test_0009_numbers_targeting_per_ad_and_keeps_every_row(database_url: str) -> None:
    engine = db.make_engine(database_url)
    db.upgrade(engine, "0008")
    _insert_at_0008(engine)
    before = _rows(engine)
    db.upgrade(engine)
    after = _rows(engine)
    # The same rows as a fresh database written by adlib: ids 0, 1, ... per ad, in old order.
    assert after["ad_targeting"] == [
        (1, 0, "age", "18-24", True),
        (1, 1, "gender", "Female", True),
        (2, 0, "geo", "Ohio,United States", True),
        (2, 1, "geo", "99501,Alaska,United States", False),
    ]
    assert {t: after[t] for t in _CHILDREN} == {t: before[t] for t in _CHILDREN}
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": False, "include_object": include_object}
        )
        assert compare_metadata(context, Base.metadata) == []
        if engine.dialect.name == "sqlite":
            clustered = conn.execute(
                text(
                    "SELECT name FROM sqlite_schema WHERE sql LIKE '%WITHOUT ROWID%' "
                    "AND name NOT LIKE '%search%'"
                )
            ).scalars()
            assert set(clustered) == {*_CHILDREN, "ad_targeting"}
    # Down again: ids unique over the table in (ad, order) order; every other row as it was.
    _downgrade(engine, "0008")
    down = _rows(engine)
    assert [row[1] for row in down["ad_targeting"]] == [1, 2, 3, 4]
    assert [row[2:] for row in down["ad_targeting"]] == [row[2:] for row in after["ad_targeting"]]
    assert {t: down[t] for t in _CHILDREN} == {t: before[t] for t in _CHILDREN}
    engine.dispose()


def test_0010_stores_sqlite_timestamps_without_a_zero_fraction(database_url: str) -> None:
    engine = db.make_engine(database_url)
    db.upgrade(engine, "0009")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO ads (id, source, source_ad_id, library, delivery_start, "
                "first_seen_at, last_seen_at, changed_at, content_hash, observation_hash) "
                "VALUES (1, 'google', 'CR1', 'political', :day, :t, :t, :t, 'c', 'o')"
            ),
            {"day": "2024-01-09 00:00:00.000000", "t": "2026-11-30 12:00:00.438220"},
        )
    db.upgrade(engine)
    day = datetime(2024, 1, 9, tzinfo=UTC)
    with engine.begin() as conn:
        # Written by adlib now: the same spelling as the migrated row.
        conn.execute(
            table_of(Ad).insert().values(
                id=2, source="google", source_ad_id="CR2", delivery_start=day,
                first_seen_at=day, last_seen_at=day, changed_at=day,
                content_hash="c", observation_hash="o",
            )
        )  # fmt: skip
        stored = conn.execute(
            text("SELECT delivery_start, first_seen_at FROM ads ORDER BY id")
        ).all()
        typed = conn.execute(select(Ad.delivery_start, Ad.first_seen_at).order_by(Ad.id)).all()
    fraction = datetime(2026, 11, 30, 12, 0, 0, 438220, tzinfo=UTC)
    assert typed == [(day, fraction), (day, day)]
    if engine.dialect.name == "sqlite":
        assert [tuple(r) for r in stored] == [
            ("2024-01-09 00:00:00", "2026-11-30 12:00:00.438220"),
            ("2024-01-09 00:00:00", "2024-01-09 00:00:00"),
        ]
        _downgrade(engine, "0009")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT delivery_start FROM ads")).scalars().all() == [
                "2024-01-09 00:00:00.000000",
                "2024-01-09 00:00:00.000000",
            ]
    engine.dispose()
