"""docs/queries.md works: every cookbook query runs on SQLite and PostgreSQL and returns the
expected rows; docs/schema.md is the generated schema reference, up to date.

Expected rows are worked out by hand from tests/fixtures/analyst/ads.yaml (its header lists
the delivery days behind every monthly figure). Queries run exactly as `adlib sql` runs them
(read-only engine, bound parameters).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pipeline.dictionary import render_schema_markdown
from pipeline.query import query_rows, readonly_engine
from tests.analyst_db import ReplicaDatabase, normalised, rows

DOCS = Path(__file__).resolve().parents[2] / "docs"


@dataclass(frozen=True)
class Recipe:
    name: str
    params: dict[str, str]
    sql: str


def recipes() -> list[Recipe]:
    """The ```sql blocks of docs/queries.md: name line, ``-- :param = value`` lines, query."""
    found = []
    text = (DOCS / "queries.md").read_text(encoding="utf-8")
    for block in re.findall(r"```sql\n(.*?)```", text, flags=re.DOTALL):
        lines = block.strip().splitlines()
        name = lines[0].removeprefix("-- ").strip()
        params = {}
        for line in lines[1:]:
            match = re.fullmatch(r"-- :(\w+) = (.*)", line)
            if match:
                params[match.group(1)] = match.group(2)
        found.append(Recipe(name, params, block))
    return found


RECIPES = {recipe.name: recipe for recipe in recipes()}

#: What each recipe returns on the hand-written fixture database.
EXPECTED: dict[str, list[tuple[Any, ...]]] = {
    # No ad of the hand-written file repeats another's text: no message test.
    "message_tests_country": [],
    # KE, by delivery start: CR1 (Feb, age + gender, 5000..25000), CR2 (Jan, none), S1 (Feb,
    # age, 250); m1 (Jan: age + gender); m2 and m5 (no criteria) count in `ads` only.
    "targeting_kinds_per_advertiser": [
        ("Green Kenya", "2026-02", "age", 1, 1, 1.0, 1.0, 1.0),
        ("Green Kenya", "2026-02", "gender", 1, 1, 1.0, 1.0, 1.0),
        ("KE Youth Media", "2026-02", "age", 1, 1, 1.0, 1.0, 1.0),
        ("Kenya Forward", "2026-01", "age", 1, 1, 1.0, 1.0, 1.0),
        ("Kenya Forward", "2026-01", "gender", 1, 1, 1.0, 1.0, 1.0),
    ],
    # m3 (US): a location included and one excluded, both of unknown level: one kind.
    "targeting_kinds_combined": [("meta", 1, 1, 0, 0)],
    # One spender per platform and month except Meta's March (m2 multi-country, m5 open).
    "spend_concentration": [
        ("google", "2026-01", "KES", 1, 0.0, 5000.0, None, 1.0),
        ("google", "2026-02", "KES", 1, 5000.0, 25000.0, 1.0, 1.0),
        ("meta", "2026-01", "KES", 1, 600.0, 899.4, 1.0, 1.0),
        ("meta", "2026-02", "KES", 1, 400.0, 789.8727, 1.0, 1.0),
        ("meta", "2026-03", "KES", 2, 0.0, 207.7273, None, 1.0),
        ("snap", "2026-02", "USD", 1, 250.0, 250.0, 1.0, 1.0),
    ],
    # Kenya Forward's regions: m1 (0.6 of 10000..14999 impressions), m2 (1.0 of 1000..1999):
    # (0.6 x 10000 + 1.0 x 1000) / 11000 = 0.6364 on lower bounds.
    "delivery_skew_per_advertiser": [
        ("Kenya Forward", "demographic", 1, 0.5, 0.5, 0.9372),
        ("Kenya Forward", "region", 2, 0.6364, 0.647, 0.971),
    ],
    # m1: 8/20 of 1000..1499 in February; m2 (KE and US): 14/22 of 200..299, upper only;
    # S1: all of 250 (USD).
    "top_funders_country_month": [
        ("Friends of Kenya", "KES", 2, 400, 789.8727),
        ("Friends of Kenya", "USD", 1, 250, 250),
    ],
    # m1 12/20 + 8/20; m2 14/22 + 8/22 (all countries: m2's lower counts here).
    "advertiser_spend_over_time": [
        ("2026-01", "KES", 1, 600, 899.4),
        ("2026-02", "KES", 2, 527.2727, 789.8727),
        ("2026-03", "KES", 1, 72.7273, 108.7273),
    ],
    # KE: CR1 + CR2; m1 (m2 adds 299 to the upper bound only); S1; m5.
    "top_advertisers_country": [
        ("Green Kenya", "google", "KES", 5000, 30000),
        ("Kenya Forward", "meta", "KES", 1000, 1798),
        ("KE Youth Media", "snap", "USD", 250, 250),
        ("New Voices KE", "meta", "KES", 0, 99),
    ],
    "targeting_by_age_or_gender": [
        ("Green Kenya", "google", 1, 1, 1),
        ("KE Youth Media", "snap", 1, 1, 0),
        ("Kenya Forward", "meta", 1, 1, 1),
    ],
    # m1: 10000 x 0.6 Nairobi, x 0.4 Mombasa; m2: 1000 x 1.0 Nairobi; of 11000.
    "regional_concentration": [
        ("Nairobi", 2, 7000, 0.6364),
        ("Mombasa", 1, 4000, 0.3636),
    ],
    # m1's cells of 10000..14999.
    "audience_of_advertiser": [
        ("18-24", "female", 1, 3000, 4499.7),
        ("18-24", "male", 1, 2000, 2999.8),
        ("25-34", "female", 1, 5000, 7499.5),
    ],
    "new_advertisers": [("meta", "4004", "New Voices KE", "2026-03-08 02:00:00")],
    "vanished_ads": [
        ("google", "CR2", "Green Kenya", "2026-03-01 02:00:00", "2026-03-08 02:00:00"),
    ],
    # m1 + m2 (run 2's 200..299); S1.
    "funder_across_platforms": [
        (
            "meta",
            "Kenya Forward",
            "KES",
            2,
            1200,
            1798,
            "2026-01-20 00:00:00",
            "2026-03-08 02:00:00",
        ),
        (
            "snap",
            "KE Youth Media",
            "USD",
            1,
            250,
            250,
            "2026-02-10 00:00:00",
            "2026-02-19 00:00:00",
        ),
    ],
    "spend_history_of_ad": [
        (1, "2026-03-01 02:00:00", 100, 199, None, 1000),
        (2, "2026-03-08 02:00:00", 200, 299, 100, 1000),
    ],
    "multi_country_ads": [("meta", "m2", "Kenya Forward", "KE,US")],
    "open_ended_spend": [("meta", "USD", 1, 100000)],
    # m2 (KE, US) and m5 (KE) have no stop date; nothing running is delisted.
    "running_ads_per_country": [("KE", "meta", 2), ("US", "meta", 1)],
    # Actor ids follow the normalised names' order: citizens for transit 1, friends of kenya 2,
    # green kenya 3, ke youth media 4, kenya forward 5, ... Friends of Kenya is the Meta
    # byline (KE, and US through m2) and the Snap payer (KE).
    "actors_on_several_platforms": [(2, "Friends of Kenya", 2, 2, 1)],
    "actors_in_several_countries": [(2, "Friends of Kenya", 2, 2), (5, "Kenya Forward", 2, 1)],
    # KE Youth Media is S1's Snap organisation (agency role); S1's payer is Friends of Kenya.
    "agency_clients": [("KE Youth Media", "Friends of Kenya", "payer", 1)],
    # m1 (KE, 1000..1499): 12/20 in January, 8/20 in February; m2 (KE and US: upper bounds
    # only, run 2's 200..299): 14/22 in February, 8/22 in March, in each country; S1: 250.
    "actor_spend_by_month": [
        ("meta", "KE", "2026-01", "KES", 1, 600, 899.4),
        ("meta", "KE", "2026-02", "KES", 2, 400, 789.8727),
        ("meta", "KE", "2026-03", "KES", 1, 0, 108.7273),
        ("meta", "US", "2026-02", "KES", 1, 0, 190.2727),
        ("meta", "US", "2026-03", "KES", 1, 0, 108.7273),
        ("snap", "KE", "2026-02", "USD", 1, 250, 250),
    ],
    # The 2026-03-08 report (not 03-01): page 5005 has no ads; 1001 = m1 + m2 in KES.
    "report_vs_ads_per_page": [
        (
            "5005",
            "Quiet Page",
            "These ads ran without a disclaimer",
            "USD",
            0,
            100,
            1,
            None,
            None,
            None,
            None,
        ),
        ("1001", "Kenya Forward", "Friends of Kenya", "USD", 14, 14, 2, "KES", 2, 1200, 1798),
    ],
}


def run(url: str, recipe: Recipe, params: dict[str, str] | None = None) -> list[tuple[Any, ...]]:
    engine = readonly_engine(url)
    try:
        with query_rows(engine, recipe.sql, params or recipe.params) as (_, found):
            return list(found)
    finally:
        engine.dispose()


def test_the_cookbook_has_at_least_ten_recipes_each_with_expectations() -> None:
    assert len(RECIPES) >= 10
    assert len(RECIPES) == len(recipes()), "two recipes share a name"
    assert set(RECIPES) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_recipe_returns_the_expected_rows(hand_db: str, name: str) -> None:
    assert normalised(run(hand_db, RECIPES[name])) == EXPECTED[name]


def _replica_params(url: str) -> dict[str, str]:
    """Parameters that exist in the replica database, picked by plain SQL on base tables."""
    funder = rows(
        url,
        "SELECT f.name FROM funders f JOIN ads a ON a.funder_id = f.id"
        " GROUP BY f.name ORDER BY COUNT(*) DESC, f.name LIMIT 1",
    )[0][0]
    advertiser = rows(
        url,
        "SELECT v.name FROM advertisers v JOIN ads a ON a.advertiser_id = v.id"
        " JOIN ad_demographics d ON d.ad_id = a.id GROUP BY v.name"
        " ORDER BY COUNT(*) DESC, v.name LIMIT 1",
    )[0][0]
    source, ad, start = rows(
        url,
        "SELECT a.source, a.source_ad_id, a.delivery_start FROM ads a"
        " JOIN ad_countries c ON c.ad_id = a.id WHERE c.country_code = 'KE'"
        " AND a.delivery_start IS NOT NULL ORDER BY a.id LIMIT 1",
    )[0]
    return {
        "country": "KE",
        "month": str(start)[:7],
        "advertiser": advertiser,
        "funder": funder,
        "since": "2000-01-01",
        "source": source,
        "ad": ad,
        "actor": rows(
            url,
            "SELECT a.name FROM actors a JOIN actor_mentions m ON m.actor_id = a.id"
            " GROUP BY a.id, a.name ORDER BY SUM(m.ads) DESC, a.name LIMIT 1",
        )[0][0],
    }


#: Recipes that may rightly find nothing in one collection from the replicas.
MAY_BE_EMPTY = {"vanished_ads", "open_ended_spend", "report_vs_ads_per_page"}


def test_every_recipe_runs_on_the_replica_database(replica_db: ReplicaDatabase) -> None:
    params = _replica_params(replica_db.url)
    for recipe in RECIPES.values():
        wanted = {key: params[key] for key in recipe.params}
        found = run(replica_db.url, recipe, wanted)
        assert found or recipe.name in MAY_BE_EMPTY, f"{recipe.name} found nothing"
    # One recipe checked against the Meta replica's own data.
    meta = replica_db.meta
    reached: dict[str, int] = {}
    for country in ("KE", "US", "FR", "GB"):
        for ad_id in meta.ads_for(country):
            reached[ad_id] = reached.get(ad_id, 0) + 1
    several = {
        ad_id for source, ad_id, _, _ in run(replica_db.url, RECIPES["multi_country_ads"])
        if source == "meta"
    }  # fmt: skip
    assert {ad_id for ad_id, n in reached.items() if n > 1} <= several


def test_schema_reference_is_generated_and_current() -> None:
    expected = render_schema_markdown()
    current = (DOCS / "schema.md").read_text(encoding="utf-8")
    assert current == expected, "docs/schema.md is stale: python -m pipeline.dictionary"
