"""The practice views on the hand-written fixture (tests/fixtures/practices/ads.yaml), both engines.

Expected rows are derived by hand in that file's comments; ads are named by source_ad_id.
"""

from __future__ import annotations

import math

import pytest

from tests.analyst_db import normalised, rows


def _ids(url: str, *names: str) -> list[int]:
    found = dict(rows(url, "SELECT source_ad_id, id FROM ads"))
    return [found[n] for n in names]


def test_message_test_clusters_follow_text_and_delivery_overlap(practices_db: str) -> None:
    g1, g2, g3, g6, g7 = _ids(practices_db, "g1", "g2", "g3", "g6", "g7")
    clusters = rows(
        practices_db, "SELECT cluster_id, ad_id FROM message_test_variants ORDER BY ad_id"
    )
    # g4 (same text as g1, two months later), g5 (another message) and b1 (same text, another
    # advertiser) are not variants; g6/g7 are an exact re-use run side by side.
    assert clusters == [(g1, g1), (g1, g2), (g1, g3), (g6, g6), (g6, g7)]


def test_v_message_tests_one_row_per_cluster_and_country(practices_db: str) -> None:
    g1, g6 = _ids(practices_db, "g1", "g6")
    found = normalised(
        rows(
            practices_db,
            "SELECT cluster_id, advertiser_source_id, country_code, variants, first_start, "
            "last_stop, spend_lower, spend_upper, currency, example_body "
            "FROM v_message_tests ORDER BY cluster_id, country_code",
        )
    )
    school = "Our schools need teachers, not cuts. Vote Green on 12 May."
    water = "<img src=x onerror=alert(1)> Clean water for every village."
    assert found == [
        # g3 also reached UG: its lower bound counts nowhere, its open upper bound everywhere.
        (
            g1,
            "501",
            "KE",
            3,
            "2026-03-01 00:00:00",
            "2026-03-20 00:00:00",
            300,
            None,
            "KES",
            school,
        ),
        (g1, "501", "UG", 1, "2026-03-14 00:00:00", "2026-03-20 00:00:00", 0, None, "KES", school),
        (g6, "501", "KE", 2, "2026-04-01 00:00:00", "2026-04-12 00:00:00", 100, 198, "KES", water),
    ]


def test_v_message_tests_carries_the_principal_actor(practices_db: str) -> None:
    actor = rows(practices_db, "SELECT id FROM actors WHERE name = 'Green Future Party'")[0][0]
    assert {r[0] for r in rows(practices_db, "SELECT actor_id FROM v_message_tests")} == {actor}


def test_v_message_test_monthly(practices_db: str) -> None:
    found = normalised(
        rows(
            practices_db,
            "SELECT advertiser_name, month, ads, ads_in_clusters, clusters, largest_cluster, "
            "share_in_clusters FROM v_message_test_monthly WHERE source = 'meta' "
            "ORDER BY advertiser_name, month",
        )
    )
    assert found == [
        ("<img src=x onerror=alert(2)>Blue Alliance", "2026-03", 1, 0, 0, None, 0.0),
        ("Green Future", "2026-03", 4, 3, 1, 3, 0.75),
        ("Green Future", "2026-04", 2, 2, 1, 2, 1.0),
        ("Green Future", "2026-05", 1, 0, 0, None, 0.0),
    ]


def test_targeting_kinds_per_ad(practices_db: str) -> None:
    found = rows(
        practices_db,
        "SELECT a.source_ad_id, s.kinds, s.kind_list, s.postal_codes, s.radius_areas "
        "FROM v_ad_targeting_summary s JOIN ads a ON a.id = s.ad_id ORDER BY a.source_ad_id",
    )
    assert found == [
        ("b1", 2, "age,geo_region", 0, 0),
        ("g1", 4, "age,custom_audience,gender,geo_postal_code", 2, 0),
        ("g2", 3, "age,geo_radius,interest", 0, 1),
        ("s1", 2, "device,third_party_segment", 0, 0),
    ]


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("23237,Virginia,United States", "geo_postal_code"),
        ("Austin,Texas,United States", "geo_metro"),
        ("Washington, DC (Hagerstown, MD),United States", "geo_metro"),
        ("Texas,United States", "geo_region"),
        ("United States", "geo_country"),
    ],
)
def test_geo_items_get_their_level_from_their_shape(engine: object, value: str, kind: str) -> None:
    from sqlalchemy import text

    with engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(
            text(
                "INSERT INTO ads (source, source_ad_id, first_seen_at, last_seen_at, changed_at, "
                "content_hash, observation_hash) VALUES ('google', 'CR1', :t, :t, :t, 'h', 'h')"
            ),
            {"t": "2026-01-01 00:00:00"},
        )
        ad_id = conn.execute(text("SELECT id FROM ads")).scalar_one()
        conn.execute(
            text(
                "INSERT INTO ad_targeting (ad_id, id, dimension, value, included) "
                "VALUES (:a, 0, 'geo', :v, :i)"
            ),
            {"a": ad_id, "v": value, "i": True},
        )
        assert conn.execute(text("SELECT kind FROM v_ad_targeting_kinds")).scalar_one() == kind


def test_v_targeting_monthly_shares_are_bounds(practices_db: str) -> None:
    found = normalised(
        rows(
            practices_db,
            "SELECT kind, ads, ads_using, share_ads, mean_kinds, spend_using_lower, "
            "spend_using_upper, share_spend_lower, share_spend_upper FROM v_targeting_monthly "
            "WHERE advertiser_name = 'Green Future' AND country_code = 'KE' ORDER BY kind",
        )
    )
    # March, KE: g1 [100,199] 4 kinds, g2 [200,299] 3 kinds, g3 [300,open) 0, g5 [10,19] 0.
    # Upper share of radius (g2): 299 / (299 + (100 + 300 + 10)) = 0.4217; the lower share is
    # unbounded below by g3's open upper bound, so NULL.
    assert found == [
        ("age", 4, 2, 0.5, 1.75, 300, 498, None, round(498 / (498 + 310), 4)),
        ("custom_audience", 4, 1, 0.25, 1.75, 100, 199, None, round(199 / (199 + 510), 4)),
        ("gender", 4, 1, 0.25, 1.75, 100, 199, None, round(199 / (199 + 510), 4)),
        ("geo_postal_code", 4, 1, 0.25, 1.75, 100, 199, None, round(199 / (199 + 510), 4)),
        ("geo_radius", 4, 1, 0.25, 1.75, 200, 299, None, round(299 / (299 + 410), 4)),
        ("interest", 4, 1, 0.25, 1.75, 200, 299, None, round(299 / (299 + 410), 4)),
    ]


def test_delivery_skew(practices_db: str) -> None:
    found = normalised(
        rows(
            practices_db,
            "SELECT a.source_ad_id, k.breakdown, k.cells, k.largest_share, k.entropy "
            "FROM v_delivery_skew k JOIN ads a ON a.id = k.ad_id ORDER BY a.source_ad_id",
        )
    )
    entropy_g1 = -(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25)) / math.log(3)
    entropy_b1 = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25)) / math.log(2)
    assert found == [
        ("b1", "region", 2, 0.75, round(entropy_b1, 4)),
        ("g1", "demographic", 3, 0.5, round(entropy_g1, 4)),
        ("g2", "region", 1, 1.0, None),
    ]


def test_advertiser_skew_is_impression_weighted(practices_db: str) -> None:
    found = normalised(
        rows(
            practices_db,
            "SELECT breakdown, ads, largest_share_by_lower, largest_share_by_upper "
            "FROM v_advertiser_delivery_skew WHERE advertiser_name = 'Green Future' "
            "ORDER BY breakdown",
        )
    )
    assert found == [("demographic", 1, 0.5, 0.5), ("region", 1, 1.0, 1.0)]


def test_spend_concentration_on_each_bound(practices_db: str) -> None:
    found = normalised(
        rows(
            practices_db,
            "SELECT unit, month, spenders, spend_lower, spend_upper, top10_share_lower, "
            "top10_share_upper FROM v_spend_concentration "
            "WHERE country_code = 'KE' AND source = 'meta' ORDER BY unit, month",
        )
    )
    # March: advertisers 501 (g1 100 + g2 200 + g5 10; g3 is multi-country) and 502 (1000);
    # the open upper bound of g3 leaves the month's upper bound, and its share, unbounded.
    # Each advertiser resolves to its own actor (501 to the curated "Green Future Party").
    assert found == [
        ("actor", "2026-03", 2, 1310, None, 1.0, None),
        ("actor", "2026-04", 1, 100, 198, 1.0, 1.0),
        ("actor", "2026-05", 1, 10, 19, 1.0, 1.0),
        ("advertiser", "2026-03", 2, 1310, None, 1.0, None),
        ("advertiser", "2026-04", 1, 100, 198, 1.0, 1.0),
        ("advertiser", "2026-05", 1, 10, 19, 1.0, 1.0),
    ]
