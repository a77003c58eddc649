"""The advertiser-level members: advertiser-stats, per-currency spend tables, declarations, keywords."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from collectors.bulk import Item, Notices, TableRow, report_columns
from collectors.google.cells import SPEND_AMOUNT_COLUMN, amount_columns, amounts
from collectors.google.ids import BundleIds
from collectors.google.settings import ADVERTISER_STATS, DECLARED_STATS, TOP_KEYWORDS
from collectors.records import AdvertiserRecord
from collectors.values import parse_date, parse_int, split_list

# --- advertiser-stats -----------------------------------------------------------------------

ADVERTISER_COLUMNS = frozenset(
    {
        "Advertiser_ID",
        "Advertiser_Name",
        "Public_IDs_List",
        "Regions",
        "Elections",
        "Total_Creatives",
    }
)


def normalise_advertiser_row(
    values: Mapping[str, str], ids: BundleIds | None = None
) -> tuple[AdvertiserRecord, list[tuple[str, int]]]:
    """One ``advertiser-stats`` row: the advertiser and its total spend by currency."""
    ids = ids or BundleIds()
    current = values.get("Advertiser_ID", "").strip()
    if not current:
        raise ValueError("advertiser-stats row without Advertiser_ID")
    canonical = ids.advertisers.canonical(current)
    extra: dict[str, Any] = {
        "regions": split_list(values.get("Regions", "")),
        "elections": split_list(values.get("Elections", "")),
        "total_creatives": parse_int(values.get("Total_Creatives", "")),
    }
    if canonical != current:
        extra["current_id"] = current
    record = AdvertiserRecord(
        canonical,
        name=values.get("Advertiser_Name") or None,
        public_ids=split_list(values.get("Public_IDs_List", "").replace(";", ",")),
        extra={k: v for k, v in extra.items() if v not in (None, [])},
    )
    return record, amounts(values, amount_columns(values))


@dataclass(slots=True)
class AdvertiserStatsParser:
    ids: BundleIds
    member: str = ADVERTISER_STATS

    def begin(self, header: list[str], notices: Notices) -> None:
        report_columns(
            self.member,
            header,
            ADVERTISER_COLUMNS,
            notices,
            required=("Advertiser_ID",),
            is_known=SPEND_AMOUNT_COLUMN.match,
        )

    def parse(self, values: dict[str, str], ref: str) -> Iterable[Item]:
        record, spend = normalise_advertiser_row(values, self.ids)
        yield record
        for currency, amount in spend:
            yield TableRow(
                "google_advertiser_spend",
                ("source_advertiser_id", "currency"),
                {
                    "source_advertiser_id": record.source_advertiser_id,
                    "currency": currency,
                    "spend": amount,
                },
            )


# --- per-currency spend tables --------------------------------------------------------------


@dataclass(slots=True)
class SpendTableParser:
    """A file of keys plus one amount column per currency, stored one row per currency.

    ``keys`` maps each row to its key columns; the table's key is those columns + currency.
    """

    member: str
    table: str
    known: frozenset[str]
    keys: Callable[[Mapping[str, str]], dict[str, Any]]
    extra: Callable[[Mapping[str, str]], dict[str, Any]] = lambda values: {}
    columns: dict[str, str] = field(default_factory=dict)

    def begin(self, header: list[str], notices: Notices) -> None:
        report_columns(self.member, header, self.known, notices, is_known=SPEND_AMOUNT_COLUMN.match)
        self.columns = amount_columns(header)

    def parse(self, values: dict[str, str], ref: str) -> Iterable[Item]:
        keys = self.keys(values)
        key_names = (*keys, "currency")
        for currency, amount in amounts(values, self.columns):
            row = {**keys, "currency": currency, "spend": amount, **self.extra(values)}
            yield TableRow(self.table, key_names, row)


def weekly_keys(ids: BundleIds) -> Callable[[Mapping[str, str]], dict[str, Any]]:
    def keys(values: Mapping[str, str]) -> dict[str, Any]:
        week = parse_date(values.get("Week_Start_Date", ""))
        if week is None:
            raise ValueError("weekly spend row without Week_Start_Date")
        return {
            "source_advertiser_id": _required_advertiser(values, ids),
            "week_start_date": week,
        }

    return keys


def geo_keys(values: Mapping[str, str]) -> dict[str, Any]:
    """Current names, or the 2018 ones (``State`` = ``US-AK``, ``Congressional_District``)."""
    primary = values.get("Country_Subdivision_Primary", values.get("State", "")).strip()
    secondary = values.get(
        "Country_Subdivision_Secondary", values.get("Congressional_District", "")
    ).strip()
    country = values.get("Country", "").strip() or _country_of_subdivision(primary)
    return {
        "country": country,
        "subdivision_primary": primary,
        "subdivision_secondary": secondary,
    }


def advertiser_geo_keys(ids: BundleIds) -> Callable[[Mapping[str, str]], dict[str, Any]]:
    def keys(values: Mapping[str, str]) -> dict[str, Any]:
        return {
            "source_advertiser_id": _required_advertiser(values, ids),
            "country": values.get("Country", "").strip(),
            "subdivision_primary": values.get("Country_Subdivision_Primary", "").strip(),
        }

    return keys


def _country_of_subdivision(subdivision: str) -> str:
    """``US`` from an ISO 3166-2 code such as ``US-AK``; ``''`` otherwise."""
    prefix, dash, _ = subdivision.partition("-")
    return prefix if dash and len(prefix) == 2 and prefix.isalpha() else ""


def _required_advertiser(values: Mapping[str, str], ids: BundleIds) -> str:
    current = values.get("Advertiser_ID", "").strip()
    if not current:
        raise ValueError("row without Advertiser_ID")
    return ids.advertisers.canonical(current)


# --- declarations, keywords -----------------------------------------------------------------

#: Current column → table column, with the older README's ``NZ_`` names as alternatives.
_DECLARED = {
    "declared_name": ("Advertiser_Declared_Name", "NZ_Advertiser_Declared_Name"),
    "regulatory_id": ("Advertiser_Declared_Regulatory_ID",),
    "declared_scope": ("Advertiser_Declared_Scope",),
    "promoter_name": ("Advertiser_Declared_Promoter_Name",),
    "promoter_address": ("Advertiser_Declared_Promoter_Address", "NZ_Advertiser_Declared_Address"),
}


@dataclass(slots=True)
class DeclaredStatsParser:
    ids: BundleIds
    member: str = DECLARED_STATS
    nz_only: bool = False

    def begin(self, header: list[str], notices: Notices) -> None:
        known = {"Advertiser_ID", "Region"} | {c for names in _DECLARED.values() for c in names}
        report_columns(self.member, header, known, notices, required=("Advertiser_ID",))
        # The older files had only New Zealand declarations and no Region column.
        self.nz_only = "Region" not in header

    def parse(self, values: dict[str, str], ref: str) -> Iterable[Item]:
        row: dict[str, Any] = {
            "source_advertiser_id": _required_advertiser(values, self.ids),
            "region": "NZ" if self.nz_only else values.get("Region", "").strip(),
        }
        for column, names in _DECLARED.items():
            row[column] = next((values[n] for n in names if values.get(n)), None)
        yield TableRow("google_advertiser_declared_stats", ("source_advertiser_id", "region"), row)


@dataclass(slots=True)
class TopKeywordsParser:
    member: str = TOP_KEYWORDS

    def begin(self, header: list[str], notices: Notices) -> None:
        known = {"Election_Cycle", "Report_Date", "Region", "Elections"}
        known |= {f"{p}_{rank}" for rank in range(1, 7) for p in ("Keyword", "Spend", "Spend_USD")}
        report_columns(self.member, header, known, notices, required=("Report_Date",))

    def parse(self, values: dict[str, str], ref: str) -> Iterable[Item]:
        base = {
            "election_cycle": values.get("Election_Cycle", "").strip(),
            "report_date": parse_date(values.get("Report_Date", "")),
            "region": values.get("Region", "").strip(),
            "elections": values.get("Elections") or None,
        }
        key = ("election_cycle", "report_date", "region", "rank")
        for rank in range(1, 7):
            keyword = values.get(f"Keyword_{rank}", "").strip()
            if keyword:
                spend = values.get(f"Spend_USD_{rank}", values.get(f"Spend_{rank}", ""))
                row = {**base, "rank": rank, "keyword": keyword, "spend_usd": parse_int(spend)}
                yield TableRow("google_top_keywords", key, row)
