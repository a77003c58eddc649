"""The analyst views on SQLite and PostgreSQL: documented, and right.

Expected rows on ``hand_db`` are worked out by hand from tests/fixtures/analyst/ads.yaml (its
header lists the delivery days used below). On ``replica_db`` the views are checked against
the replicas' own data and against plain SQL over the base tables.
"""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import inspect

from pipeline import db
from schema.views import VIEW_NAMES, view_doc
from schema.views.search import PG_INDEXES, SQLITE_TABLES
from tests.analyst_db import ReplicaDatabase, normalised, rows


def test_every_view_exists_with_exactly_its_documented_columns(hand_db: str) -> None:
    for name in VIEW_NAMES:
        doc = view_doc(name)
        assert doc.description, f"{name}.sql has no description"
        assert all(doc.columns.values()), f"{name}.sql has an undocumented column"
        engine = db.make_engine(hand_db, readonly=True)
        with engine.connect() as conn:
            found = list(conn.exec_driver_sql(f"SELECT * FROM {name} WHERE 1 = 0").keys())
        engine.dispose()
        assert found == list(doc.columns), name


def test_v_ads_one_row_per_ad_with_everything_joined(hand_db: str) -> None:
    found = rows(
        hand_db,
        "SELECT source_ad_id, source, advertiser_name, funder_name, countries, currency,"
        " spend_lower, spend_upper, spend_mid, spend_usd_lower, spend_usd_upper,"
        " impressions_mid, body, delisted FROM v_ads ORDER BY source_ad_id",
    )
    assert normalised(found) == [
        # Google: USD ranges given; CR2 left the run-2 listing.
        ("CR1", "google", "Green Kenya", None, "KE", "KES", 5000, 25000, 15000, 40, 190, 55000, None, 0),
        ("CR2", "google", "Green Kenya", None, "KE", "KES", 0, 5000, 2500, 0, 40, 5000, None, 1),
        ("S1", "snap", "KE Youth Media", "Friends of Kenya", "KE", "USD", 250, 250, 250, None, None, 40000, None, 0),
        ("m1", "meta", "Kenya Forward", "Friends of Kenya", "KE", "KES", 1000, 1499, 1249.5, None, None, 12499.5, "Vote for better schools in Nairobi", 0),
        # m2: run 2's spend; two countries, sorted.
        ("m2", "meta", "Kenya Forward", "Friends of Kenya", "KE,US", "KES", 200, 299, 249.5, None, None, 1499.5, "Healthcare for every county", 0),
        # m3: open top buckets have no midpoint.
        ("m3", "meta", "Citizens for Transit", "Transit Now PAC", "US", "USD", 100000, None, None, None, None, None, "Better transit for all: vote YES on Measure T", 0),
        ("m4", "meta", "Pour l'École", None, "FR", "EUR", 0, 99, 49.5, None, None, 499.5, "Île-de-France : l'école d'abord", 0),
        ("m5", "meta", "New Voices KE", None, "KE", "KES", 0, 99, 49.5, None, None, 499.5, None, 0),
    ]  # fmt: skip
    times = rows(
        hand_db,
        "SELECT source_ad_id, delivery_start, delivery_stop, first_seen_at, last_seen_at,"
        " delisted_at FROM v_ads WHERE source_ad_id IN ('m2', 'CR2') ORDER BY source_ad_id",
    )
    assert normalised(times) == [
        ("CR2", "2026-01-10 00:00:00", "2026-01-19 00:00:00", "2026-03-01 02:00:00",
         "2026-03-01 02:00:00", "2026-03-08 02:00:00"),
        ("m2", "2026-02-15 00:00:00", None, "2026-03-01 02:00:00", "2026-03-08 02:00:00", None),
    ]  # fmt: skip


def test_region_demographic_and_targeting_views(hand_db: str) -> None:
    regions = rows(
        hand_db,
        "SELECT source_ad_id, advertiser_name, region, share, impressions_lower_est,"
        " impressions_upper_est FROM v_ad_regions ORDER BY source_ad_id, region",
    )
    assert normalised(regions) == [
        ("m1", "Kenya Forward", "Mombasa", 0.4, 4000, 5999.6),
        ("m1", "Kenya Forward", "Nairobi", 0.6, 6000, 8999.4),
        ("m2", "Kenya Forward", "Nairobi", 1.0, 1000, 1999),
    ]
    demographics = rows(
        hand_db,
        "SELECT source_ad_id, age_range, gender, share, impressions_lower_est"
        " FROM v_ad_demographics ORDER BY age_range, gender",
    )
    assert normalised(demographics) == [
        ("m1", "18-24", "female", 0.3, 3000),
        ("m1", "18-24", "male", 0.2, 2000),
        ("m1", "25-34", "female", 0.5, 5000),
    ]
    targeting = rows(
        hand_db,
        "SELECT source_ad_id, advertiser_name, dimension, value, included FROM v_ad_targeting"
        " ORDER BY source_ad_id, dimension, value",
    )
    assert normalised(targeting) == [
        ("CR1", "Green Kenya", "age", "25-34", 1),
        ("CR1", "Green Kenya", "gender", "female", 1),
        ("S1", "KE Youth Media", "age", "18-24", 1),
        ("m1", "Kenya Forward", "age", "18-65", 1),
        ("m1", "Kenya Forward", "gender", "women", 1),
        ("m3", "Citizens for Transit", "location", "Texas", 0),
        ("m3", "Citizens for Transit", "location", "US", 1),
    ]


def test_ad_spend_is_spread_over_delivery_days(hand_db: str) -> None:
    found = rows(
        hand_db,
        "SELECT a.source_ad_id, m.month, m.delivery_days_in_month, m.delivery_days,"
        " m.spend_lower, m.spend_upper FROM v_ad_spend_monthly m JOIN ads a ON a.id = m.ad_id"
        " WHERE a.source_ad_id IN ('m1', 'm2', 'm3', 'm5') ORDER BY a.source_ad_id, m.month",
    )
    assert normalised(found) == [
        ("m1", "2026-01", 12, 20, 600, 899.4),  # 12/20 of 1000..1499
        ("m1", "2026-02", 8, 20, 400, 599.6),
        ("m2", "2026-02", 14, 22, 127.2727, 190.2727),  # 14/22 of 200..299
        ("m2", "2026-03", 8, 22, 72.7273, 108.7273),  # running: until last seen, 03-08
        ("m3", "2026-01", 10, 10, 100000, None),
        ("m5", "2026-03", 4, 4, 0, 99),
    ]


def test_advertiser_spend_monthly_sums_honest_bounds(hand_db: str) -> None:
    found = rows(
        hand_db,
        "SELECT source, advertiser_name, country_code, month, currency, ads, multi_country_ads,"
        " spend_lower, spend_upper, impressions_lower FROM v_advertiser_spend_monthly"
        " ORDER BY advertiser_name, country_code, month, currency",
    )
    assert normalised(found) == [
        ("meta", "Citizens for Transit", "US", "2026-01", "USD", 1, 0, 100000, None, 1000000),
        ("google", "Green Kenya", "KE", "2026-01", "KES", 1, 0, 0, 5000, 0),
        ("google", "Green Kenya", "KE", "2026-02", "KES", 1, 0, 5000, 25000, 10000),
        ("snap", "KE Youth Media", "KE", "2026-02", "USD", 1, 0, 250, 250, 40000),
        ("meta", "Kenya Forward", "KE", "2026-01", "KES", 1, 0, 600, 899.4, 6000),
        # m1's February part, plus m2 (KE and US): its upper part only.
        ("meta", "Kenya Forward", "KE", "2026-02", "KES", 2, 1, 400, 789.8727, 4000),
        ("meta", "Kenya Forward", "KE", "2026-03", "KES", 1, 1, 0, 108.7273, 0),
        ("meta", "Kenya Forward", "US", "2026-02", "KES", 1, 1, 0, 190.2727, 0),
        ("meta", "Kenya Forward", "US", "2026-03", "KES", 1, 1, 0, 108.7273, 0),
        ("meta", "New Voices KE", "KE", "2026-03", "KES", 1, 0, 0, 99, 0),
        ("meta", "Pour l'École", "FR", "2026-02", "EUR", 1, 0, 0, 99, 0),
    ]


def test_funders_across_advertisers_and_platforms(hand_db: str) -> None:
    found = rows(
        hand_db,
        "SELECT funder_name, source, advertiser_name, currency, ads, spend_lower, spend_upper,"
        " first_delivery, last_delivery FROM v_funders ORDER BY funder_name, source, currency",
    )
    assert normalised(found) == [
        ("Friends of Kenya", "meta", "Kenya Forward", "KES", 2, 1200, 1798,
         "2026-01-20 00:00:00", "2026-03-08 02:00:00"),  # m2 runs: last seen
        ("Friends of Kenya", "snap", "KE Youth Media", "USD", 1, 250, 250,
         "2026-02-10 00:00:00", "2026-02-19 00:00:00"),
        ("Transit Now PAC", "meta", "Citizens for Transit", "USD", 1, 100000, None,
         "2026-01-05 00:00:00", "2026-01-14 00:00:00"),
    ]  # fmt: skip


def test_spend_history_is_a_series_with_changes(hand_db: str) -> None:
    found = rows(
        hand_db,
        "SELECT source_ad_id, observed_at, observation_number, spend_lower, spend_upper,"
        " spend_lower_change, spend_upper_change, impressions_lower_change FROM v_spend_history"
        " WHERE source_ad_id IN ('m1', 'm2') ORDER BY source_ad_id, observation_number",
    )
    assert normalised(found) == [
        ("m1", "2026-03-01 02:00:00", 1, 1000, 1499, None, None, None),  # unchanged in run 2
        ("m2", "2026-03-01 02:00:00", 1, 100, 199, None, None, None),
        ("m2", "2026-03-08 02:00:00", 2, 200, 299, 100, 100, 0),
    ]


def test_views_on_the_replica_database_agree_with_the_replicas(replica_db: ReplicaDatabase) -> None:
    url, meta = replica_db.url, replica_db.meta
    expected_countries: dict[str, set[str]] = {ad_id: set() for ad_id in meta.ad_ids}
    for country in ("KE", "US", "FR", "GB"):
        for ad_id in meta.ads_for(country):
            expected_countries[ad_id].add(country)
    found = {
        ad_id: (countries, advertiser, spend_lower)
        for ad_id, countries, advertiser, spend_lower in rows(
            url,
            "SELECT source_ad_id, countries, advertiser_name, spend_lower FROM v_ads"
            " WHERE source = 'meta'",
        )
    }
    assert set(found) == set(meta.ad_ids)
    for ad_id, (countries, advertiser, spend_lower) in found.items():
        served = meta.ad(ad_id)
        reach = {r["country"] for r in served.get("age_country_gender_reach_breakdown", [])}
        assert countries.split(",") == sorted(expected_countries[ad_id] | reach)
        assert advertiser == served["page_name"]
        assert spend_lower == int(served["spend"]["lower_bound"])


def test_views_on_the_replica_database_agree_with_the_base_tables(
    replica_db: ReplicaDatabase,
) -> None:
    url = replica_db.url
    counts = {
        "v_ads": "SELECT COUNT(*) FROM ads",
        "v_ad_regions": "SELECT COUNT(*) FROM ad_regions",
        "v_ad_demographics": "SELECT COUNT(*) FROM ad_demographics",
        "v_ad_targeting": "SELECT COUNT(*) FROM ad_targeting",
        "v_spend_history": "SELECT COUNT(*) FROM ad_observations",
        "v_funders": "SELECT COUNT(*) FROM (SELECT DISTINCT funder_id, source, advertiser_id,"
        " currency FROM ads WHERE funder_id IS NOT NULL) x",
    }
    for view, base in counts.items():
        expected = rows(url, base)[0][0]
        assert expected > 0, f"the replicas produced no rows for {view}"
        assert rows(url, f"SELECT COUNT(*) FROM {view}")[0][0] == expected, view
    # Spreading keeps totals: every ad's monthly parts add up to its bounds and its days.
    broken = rows(
        url,
        "SELECT a.id FROM ads a JOIN v_ad_spend_monthly m ON m.ad_id = a.id GROUP BY a.id,"
        " a.spend_lower HAVING SUM(m.delivery_days_in_month) <> MAX(m.delivery_days)"
        " OR ABS(SUM(m.spend_lower) - a.spend_lower) > 0.001",
    )
    assert broken == []
    single_country_lower = rows(
        url,
        "SELECT SUM(spend_lower) FROM ads WHERE id IN"
        " (SELECT ad_id FROM ad_countries GROUP BY ad_id HAVING COUNT(*) = 1)",
    )[0][0]
    monthly_lower = rows(url, "SELECT SUM(spend_lower) FROM v_advertiser_spend_monthly")[0][0]
    assert float(monthly_lower) == pytest.approx(float(single_country_lower))


def test_downgrade_removes_views_and_search_and_upgrade_rebuilds_them(
    database_url: str,
) -> None:
    engine = db.make_engine(database_url)
    db.ensure_schema(engine)
    cfg = db.alembic_config()
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0002")
        conn.commit()
    inspector = inspect(engine)
    assert not set(VIEW_NAMES) & set(inspector.get_view_names())
    assert not set(SQLITE_TABLES) & set(inspector.get_table_names())
    assert not {i["name"] for i in inspector.get_indexes("ad_creatives")} & set(PG_INDEXES)
    db.upgrade(engine)
    inspector = inspect(engine)
    assert set(VIEW_NAMES) <= set(inspector.get_view_names())
    if engine.dialect.name == "sqlite":
        assert set(SQLITE_TABLES) <= set(inspector.get_table_names())
    else:
        assert "ix_ad_creatives_search" in {
            i["name"] for i in inspector.get_indexes("ad_creatives")
        }
    engine.dispose()


def test_report_rows_are_matched_to_the_page_s_advertiser(hand_db: str) -> None:
    found = rows(
        hand_db,
        "SELECT r.report_date, r.page_id, r.spend_lower, r.spend_upper, adv.name"
        " FROM v_report_spend r LEFT JOIN advertisers adv ON adv.id = r.advertiser_id"
        " ORDER BY r.report_date, r.page_id",
    )
    assert normalised(found) == [
        ("2026-03-01", "1001", 9, 9, "Kenya Forward"),
        ("2026-03-08", "1001", 14, 14, "Kenya Forward"),
        ("2026-03-08", "5005", 0, 100, None),  # no ad of this Page in adlib
    ]
