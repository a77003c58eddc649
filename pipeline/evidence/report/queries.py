"""The numbers of the report: one SQL query per table, over the selected ads.

Every table of the report (and every chart) is one of these queries, written to
``data/<name>.csv`` as is, so each number can be traced back to SQL over the views and from
there to ads. One table is computed in Python by a view's rules instead, because the view is
too slow for a large country: ``advertiser_spend_monthly``
(:mod:`pipeline.evidence.report.monthly`, tested equal to ``v_advertiser_spend_monthly``);
the spend and concentration tables are sums of its rows. ``{ads}`` in a query is the selection of ``adlib export`` (same country, dates
and platforms), as a subquery of ad ids; ``:country`` is the report's country. Ranges stay
ranges (lower and upper sums, an open upper bound makes a sum NULL) and currencies are never
added together: every spend column sits beside its currency.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

from pipeline.evidence.report.monthly import COLUMNS, advertiser_spend_monthly
from pipeline.export import AdSelection


@dataclass(frozen=True, slots=True)
class Query:
    """One table of the report: a file name, its SQL, and what a reader should know."""

    name: str
    sql: str
    #: Cap on rows shown in the HTML page (the CSV file always has every row).
    shown: int = 50


@dataclass(slots=True)
class Table:
    """The result of a :class:`Query`."""

    name: str
    columns: list[str]
    rows: list[tuple[Any, ...]]
    shown: int

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


_SELECTED = "SELECT a.id FROM ads a WHERE {where}"

QUERIES: tuple[Query, ...] = (
    Query(
        "coverage",
        """
        SELECT a.source,
               COUNT(*) AS ads,
               MIN(a.first_seen_at) AS first_collected,
               MAX(a.last_seen_at) AS last_collected,
               MIN(COALESCE(a.delivery_start, a.ad_created_at)) AS first_delivery,
               MAX(COALESCE(a.delivery_stop, a.delivery_start)) AS last_delivery,
               SUM(CASE WHEN a.spend_lower IS NOT NULL THEN 1 ELSE 0 END) AS with_spend,
               SUM(CASE WHEN a.impressions_lower IS NOT NULL THEN 1 ELSE 0 END)
                   AS with_impressions,
               SUM(CASE WHEN EXISTS (SELECT 1 FROM ad_creatives c
                   WHERE c.ad_id = a.id AND c.body IS NOT NULL) THEN 1 ELSE 0 END) AS with_text,
               SUM(CASE WHEN EXISTS (SELECT 1 FROM ad_targeting t WHERE t.ad_id = a.id)
                   THEN 1 ELSE 0 END) AS with_targeting,
               SUM(CASE WHEN EXISTS (SELECT 1 FROM ad_demographics d WHERE d.ad_id = a.id)
                   THEN 1 ELSE 0 END) AS with_demographics,
               SUM(CASE WHEN EXISTS (SELECT 1 FROM ad_regions r WHERE r.ad_id = a.id)
                   THEN 1 ELSE 0 END) AS with_regions
        FROM ads a WHERE a.id IN ({ads})
        GROUP BY a.source ORDER BY a.source
        """,
    ),
    Query(
        "runs",
        """
        SELECT r.source,
               COUNT(*) AS runs,
               SUM(CASE WHEN r.status = 'success' THEN 1 ELSE 0 END) AS successful,
               SUM(CASE WHEN r.status = 'failed' THEN 1 ELSE 0 END) AS failed,
               MIN(r.started_at) AS first_run,
               MAX(r.finished_at) AS last_run,
               SUM(r.quarantined) AS quarantined_records
        FROM collection_runs r
        WHERE r.source IN (SELECT DISTINCT a.source FROM ads a WHERE a.id IN ({ads}))
        GROUP BY r.source ORDER BY r.source
        """,
    ),
    Query(
        "top_actors",
        """
        SELECT p.actor_id, p.actor_name, p.kind, a.source,
               (SELECT @sorted_list(g.actor_name) FROM (
                    SELECT DISTINCT g0.actor_name FROM v_ad_actors g0
                    JOIN v_ad_actors p2 ON p2.ad_id = g0.ad_id
                    WHERE g0.role = 'agency' AND p2.actor_id = p.actor_id AND p2.principal = 1
                    ORDER BY g0.actor_name) g) AS agencies,
               COUNT(*) AS ads, a.currency,
               SUM(COALESCE(a.spend_lower, 0)) AS spend_lower,
               CASE WHEN COUNT(a.spend_upper) = COUNT(*) THEN SUM(a.spend_upper) END
                   AS spend_upper
        FROM v_ad_actors p JOIN ads a ON a.id = p.ad_id
        WHERE p.principal = 1 AND a.id IN ({ads})
        GROUP BY p.actor_id, p.actor_name, p.kind, a.source, a.currency
        ORDER BY ads DESC, p.actor_name, a.source LIMIT 100
        """,
        shown=20,
    ),
    Query(
        "top_advertisers",
        """
        SELECT a.source, v.source_advertiser_id, v.name AS advertiser_name,
               COUNT(*) AS ads, a.currency,
               SUM(COALESCE(a.spend_lower, 0)) AS spend_lower,
               CASE WHEN COUNT(a.spend_upper) = COUNT(*) THEN SUM(a.spend_upper) END
                   AS spend_upper
        FROM ads a LEFT JOIN advertisers v ON v.id = a.advertiser_id
        WHERE a.id IN ({ads})
        GROUP BY a.source, v.source_advertiser_id, v.name, a.currency
        ORDER BY ads DESC, advertiser_name LIMIT 100
        """,
        shown=20,
    ),
    Query(
        "targeting_kind_lists",
        """
        SELECT s.source, s.kind_list, s.kinds, COUNT(*) AS ads,
               SUM(s.postal_codes) AS postal_codes, SUM(s.radius_areas) AS radius_areas,
               MAX(s.postal_codes) AS max_postal_codes_per_ad,
               MAX(s.radius_areas) AS max_radius_areas_per_ad
        FROM v_ad_targeting_summary s
        WHERE s.ad_id IN ({ads})
        GROUP BY s.source, s.kind_list, s.kinds ORDER BY s.source, s.kind_list
        """,
        shown=0,
    ),
    Query(
        "message_tests",
        """
        SELECT t.cluster_id, t.source, t.advertiser_name, t.actor_id,
               (SELECT COUNT(*) FROM message_test_variants w WHERE w.cluster_id = t.cluster_id)
                   AS variants_all,
               t.variants, t.first_start, t.last_stop, t.currency, t.spend_lower,
               t.spend_upper, t.example_body
        FROM v_message_tests t
        WHERE t.country_code = :country AND t.cluster_id IN ({ads})
          AND t.cluster_id IN (
              SELECT w.cluster_id FROM message_test_variants w
              JOIN ad_countries c ON c.ad_id = w.ad_id AND c.country_code = :country
              GROUP BY w.cluster_id ORDER BY COUNT(*) DESC, w.cluster_id LIMIT 500)
        ORDER BY variants_all DESC, t.variants DESC, t.cluster_id
        """,
        shown=15,
    ),
    Query(
        "demographics",
        """
        SELECT d.age_range, d.gender, COUNT(*) AS ads,
               SUM(d.share * a.impressions_lower) AS impressions_lower,
               CASE WHEN COUNT(a.impressions_upper) = COUNT(*)
                   THEN SUM(d.share * a.impressions_upper) END AS impressions_upper
        FROM ad_demographics d JOIN ads a ON a.id = d.ad_id
        WHERE d.ad_id IN ({ads})
        GROUP BY d.age_range, d.gender ORDER BY d.age_range, d.gender
        """,
        shown=0,
    ),
    Query(
        "regions",
        """
        SELECT r.region, COUNT(*) AS ads,
               SUM(r.share * a.impressions_lower) AS impressions_lower,
               CASE WHEN COUNT(a.impressions_upper) = COUNT(*)
                   THEN SUM(r.share * a.impressions_upper) END AS impressions_upper
        FROM ad_regions r JOIN ads a ON a.id = r.ad_id
        WHERE r.ad_id IN ({ads})
        GROUP BY r.region ORDER BY impressions_lower DESC, r.region LIMIT 200
        """,
        shown=20,
    ),
    Query(
        "changes",
        """
        SELECT a.source, a.source_ad_id, v.name AS advertiser_name,
               (SELECT COUNT(*) FROM ad_observations o WHERE o.ad_id = a.id) AS observations,
               a.first_seen_at, a.changed_at, a.delisted_at, a.currency,
               a.spend_lower, a.spend_upper
        FROM ads a LEFT JOIN advertisers v ON v.id = a.advertiser_id
        WHERE a.id IN ({ads})
          AND (a.delisted_at IS NOT NULL
               OR (SELECT COUNT(*) FROM ad_observations o WHERE o.ad_id = a.id) > 1)
        ORDER BY CASE WHEN a.delisted_at IS NULL THEN 1 ELSE 0 END, a.delisted_at DESC,
                 a.changed_at DESC, a.id LIMIT 1000
        """,
        shown=25,
    ),
)


def run_queries(
    conn: Connection, selection: AdSelection, country: str, months: tuple[str, str]
) -> dict[str, Table]:
    """Every query of :data:`QUERIES`, in one transaction (the caller's)."""
    from schema.views import render

    tables = {}
    for query in QUERIES:
        sql = render(query.sql, conn.dialect.name).replace("{ads}", _SELECTED)
        sql = sql.replace("{where}", selection.where)
        binds = [b for b in selection.binds if re.search(rf":{b.key}\b", sql)]
        statement = text(sql).bindparams(*binds)
        params = {"country": country, "since_month": months[0], "until_month": months[1]}
        used = {k: v for k, v in params.items() if re.search(rf":{k}\b", sql)}
        result = conn.execute(statement, used)
        tables[query.name] = Table(
            query.name, list(result.keys()), [tuple(r) for r in result], query.shown
        )
    sources = [row["source"] for row in tables["coverage"].records()]
    monthly = Table(
        "advertiser_spend_monthly",
        COLUMNS,
        advertiser_spend_monthly(conn, country, sources, months),
        0,
    )
    tables[monthly.name] = monthly
    kind_lists = tables["targeting_kind_lists"]
    for derived in (
        spend_by_platform(monthly),
        concentration(monthly),
        targeting_kinds(kind_lists, tables["coverage"]),
        targeting_combinations(kind_lists),
    ):
        tables[derived.name] = derived
    return tables


def targeting_kinds(kind_lists: Table, coverage: Table) -> Table:
    """``targeting_kinds``: per kind and platform, the ads that used it, from the kind lists.

    ``ads`` is the platform's ads in the report; ``ads_with_targeting`` those with any
    published criterion.
    """
    ads = {row["source"]: row["ads"] for row in coverage.records()}
    using: dict[tuple[str, str], int] = {}
    targeted: dict[str, int] = {}
    for row in kind_lists.records():
        targeted[row["source"]] = targeted.get(row["source"], 0) + row["ads"]
        for kind in row["kind_list"].split(","):
            key = (kind, row["source"])
            using[key] = using.get(key, 0) + row["ads"]
    rows = [
        (kind, source, n, targeted[source], ads[source])
        for (kind, source), n in sorted(using.items())
    ]
    columns = ["kind", "source", "ads_using", "ads_with_targeting", "ads"]
    return Table("targeting_kinds", columns, rows, 0)


def targeting_combinations(kind_lists: Table) -> Table:
    """``targeting_combinations``: ads by number of kinds combined, per platform."""
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for row in kind_lists.records():
        groups.setdefault((row["source"], row["kinds"]), []).append(row)
    rows = [
        (
            source,
            kinds,
            sum(r["ads"] for r in members),
            sum(r["postal_codes"] for r in members),
            sum(r["radius_areas"] for r in members),
            max(r["max_postal_codes_per_ad"] for r in members),
            max(r["max_radius_areas_per_ad"] for r in members),
        )
        for (source, kinds), members in sorted(groups.items())
    ]
    columns = [
        "source",
        "kinds",
        "ads",
        "postal_codes",
        "radius_areas",
        "max_postal_codes_per_ad",
        "max_radius_areas_per_ad",
    ]
    return Table("targeting_combinations", columns, rows, 0)


def _upper_sum(values: list[Any]) -> Any:
    """The sum of upper bounds, or ``None`` (open) when any is open."""
    return None if any(v is None for v in values) else sum(values)


def spend_by_platform(monthly: Table) -> Table:
    """``spend_monthly``: the advertiser rows summed per platform, currency and month."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for row in monthly.records():
        groups.setdefault((row["source"], row["currency"], row["month"]), []).append(row)
    rows = [
        (
            *key,
            sum(r["ads"] for r in members),
            sum(r["spend_lower"] for r in members),
            _upper_sum([r["spend_upper"] for r in members]),
        )
        for key, members in sorted(groups.items())
    ]
    columns = ["source", "currency", "month", "ads", "spend_lower", "spend_upper"]
    return Table("spend_monthly", columns, rows, 0)


def concentration(monthly: Table, top: int = 10) -> Table:
    """``concentration``: v_spend_concentration's advertiser rows for the report's country.

    Computed from the rows the report already read rather than by a second pass of the view
    over every ad (its monthly spread dominates the report's time on a large database); a
    test checks that both give the same numbers.
    """
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for row in monthly.records():
        groups.setdefault((row["source"], row["currency"], row["month"]), []).append(row)
    rows = []
    for (source, currency, month), members in sorted(groups.items()):
        lower = [float(r["spend_lower"]) for r in members]
        uppers = [r["spend_upper"] for r in members]
        total_lower, total_upper = sum(lower), _upper_sum(uppers)
        top_lower = sum(sorted(lower, reverse=True)[:top])
        share_upper = None
        if total_upper:
            share_upper = sum(sorted(map(float, uppers), reverse=True)[:top]) / total_upper
        rows.append(
            (
                "advertiser",
                source,
                month,
                currency,
                len(members),
                total_lower,
                total_upper,
                top_lower / total_lower if total_lower else None,
                share_upper,
            )
        )
    columns = [
        "unit",
        "source",
        "month",
        "currency",
        "spenders",
        "spend_lower",
        "spend_upper",
        "top10_share_lower",
        "top10_share_upper",
    ]
    return Table("concentration", columns, rows, 0)
