"""Google's Political Ads Transparency Report, from its daily bulk bundle.

Google publishes no API for election ads, only a ~300 MB zip of CSVs (one scope, ``bundle``).
The download, resume and paging rules are :mod:`collectors.bulk`'s; this module knows the
bundle: which members carry data, their columns (by name, because they drift) and how cells
are spelled. Facts and sources: ``docs/platforms/google.md``.

Members, in the order they are read:

- ``advertiser_id_mapping.csv``, ``creative_id_mapping.csv`` → ``google_id_mappings``, and an
  in-memory map so that renumbered advertisers and creatives stay one entity: every id is
  stored under the *first* id of its chain (old → new → newer), which is the id adlib saw first
  and the same whenever collection started;
- ``google-political-ads-creative-stats.csv`` → ads (one row per ad, lifetime stats);
- ``…-advertiser-stats.csv`` → advertisers (public ids, regions, elections) and
  ``google_advertiser_spend``; read after the ads so its fuller records are the last word;
- ``…-advertiser-declared-stats.csv``, ``…-advertiser-weekly-spend.csv``, ``…-geo-spend.csv``,
  ``…-advertiser-geo-spend.csv``, ``…-top-keywords-history.csv`` → their own tables
  (:mod:`schema.bulk_tables`);
- ``google-political-ads-updated.csv`` → the report date of every Page.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any

from pydantic import Field

from collectors.bulk import (
    BulkFileCollector,
    BulkFileSettings,
    FilePlan,
    Item,
    MemberParser,
    Notices,
    TableRow,
    report_columns,
)
from collectors.countries import country_code, is_country_name
from collectors.csvstream import CsvStream
from collectors.download import BulkArchive
from collectors.records import AdvertiserRecord, NormalisedAd, SpendRange, TargetingItem
from collectors.unchanged import row_salt
from collectors.values import parse_bool, parse_date, parse_int, parse_utc, split_list

SOURCE = "google"
SCOPE = "bundle"
DEFAULT_BUNDLE_URL = (
    "https://storage.googleapis.com/political-csv/google-political-ads-transparency-bundle.zip"
)

CREATIVE_STATS = "google-political-ads-creative-stats.csv"
ADVERTISER_STATS = "google-political-ads-advertiser-stats.csv"
DECLARED_STATS = "google-political-ads-advertiser-declared-stats.csv"
WEEKLY_SPEND = "google-political-ads-advertiser-weekly-spend.csv"
GEO_SPEND = "google-political-ads-geo-spend.csv"
ADVERTISER_GEO_SPEND = "google-political-ads-advertiser-geo-spend.csv"
TOP_KEYWORDS = "google-political-ads-top-keywords-history.csv"
UPDATED = "google-political-ads-updated.csv"
CAMPAIGN_TARGETING = "google-political-ads-campaign-targeting.csv"
ADVERTISER_ID_MAPPING = "advertiser_id_mapping.csv"
CREATIVE_ID_MAPPING = "creative_id_mapping.csv"

_SPEND_RANGE = re.compile(r"^Spend_Range_(Min|Max)_([A-Z]{3})$")
_SPEND_AMOUNT = re.compile(r"^(?:Total_)?Spend_([A-Z]{3})$")
_NUMBER = re.compile(r"^(\d+(?:\.\d+)?)\s*([kKmMbB]?)$")
_MULTIPLIER = {"": 1, "k": 1_000, "m": 1_000_000, "b": 1_000_000_000}


class GoogleSettings(BulkFileSettings):
    """``sources.google`` in ``config.yaml``."""

    bundle_url: str = Field(
        default=DEFAULT_BUNDLE_URL, description="URL of the transparency bundle zip"
    )


# --- ids ------------------------------------------------------------------------------------


@dataclass(slots=True)
class IdMap:
    """Renumbered ids (new → old), resolved to the first id of each chain."""

    previous: dict[str, str] = field(default_factory=dict)

    def add(self, old: str, new: str) -> None:
        if old and new and old != new:
            self.previous[new] = old

    def canonical(self, current: str) -> str:
        """The first id ``current`` was known by (itself if it was never renumbered)."""
        seen = {current}
        while current in self.previous:
            current = self.previous[current]
            if current in seen:  # a cycle in Google's file: stop where it closes
                break
            seen.add(current)
        return current


@dataclass(slots=True)
class BundleIds:
    """The bundle's two id maps."""

    advertisers: IdMap = field(default_factory=IdMap)
    creatives: IdMap = field(default_factory=IdMap)

    def fingerprint(self) -> str:
        """Both maps as one string: a row normalises differently once they change."""
        pairs = (sorted(m.previous.items()) for m in (self.advertisers, self.creatives))
        return repr(tuple(pairs))


def mapping_columns(header: Sequence[str]) -> tuple[str, str] | None:
    """The (old, new) id columns of a mapping file, found by name (the layout is undocumented)."""
    old = next((c for c in header if "old" in c.lower()), None)
    new = next((c for c in header if "new" in c.lower()), None)
    return (old, new) if old and new else None


# --- cells ----------------------------------------------------------------------------------


@lru_cache(maxsize=256)
def parse_impressions(bucket: str) -> tuple[int | None, int | None]:
    """Google's impressions bucket as (lower, upper); the top bucket has no upper bound.

    ``≤ 10k`` → (0, 10000); ``10k\u2013100k`` (en dash) or ``10k-100k`` → (10000, 100000); ``> 10M`` →
    (10000000, None); a bare number is exact. Anything else raises ``ValueError``.
    """
    text = bucket.strip().replace("\u2009", " ")
    if not text:
        return None, None
    for prefix in ("≤", "<=", "<"):
        if text.startswith(prefix):
            return 0, _count(text[len(prefix) :])
    for prefix in ("≥", ">=", ">"):
        if text.startswith(prefix):
            return _count(text[len(prefix) :]), None
    for dash in ("\u2013", "\u2014", "-"):  # en dash, em dash, hyphen
        if dash in text:
            low, _, high = text.partition(dash)
            return _count(low), _count(high)
    exact = _count(text)
    return exact, exact


def _count(text: str) -> int:
    match = _NUMBER.match(text.strip().replace(",", ""))
    if match is None:
        raise ValueError(f"not an impressions bucket: {text!r}")
    return round(float(match.group(1)) * _MULTIPLIER[match.group(2).lower()])


def split_geo_targeting(cell: str) -> list[str]:
    """Items of a geo-targeting cell, keeping media-market names whole.

    Items are joined by ``", "`` and each ends in its country (``23237,Virginia,United States``),
    but a media market's name has ``", "`` of its own (``Washington, DC (Hagerstown, MD),United
    States``). So pieces are glued together until one carries the item's own ``,`` (no space)
    before the country; a piece without one is a whole item only if it is a country's name.
    """
    items: list[str] = []
    pending: list[str] = []
    for piece in cell.split(", "):
        piece = piece.strip()
        if not piece:
            continue
        if pending:
            pending.append(piece)
            if "," in piece:
                items.append(", ".join(pending))
                pending = []
        elif "," in piece or is_country_name(piece):
            items.append(piece)
        else:
            pending.append(piece)
    items.extend(pending)  # an unterminated name: keep its pieces rather than lose them
    return items


def spend_currencies(header: Iterable[str]) -> list[str]:
    """Currencies with a ``Spend_Range_Min/Max_XXX`` column, in header order."""
    found: dict[str, None] = {}
    for column in header:
        match = _SPEND_RANGE.match(column)
        if match:
            found[match.group(2)] = None
    return list(found)


def spend_ranges(values: Mapping[str, str], currencies: Iterable[str]) -> list[SpendRange]:
    """Every currency whose range is not empty or all zero (the purchase currency first)."""
    ranges = []
    for currency, min_column, max_column in _range_columns(tuple(currencies)):
        low_text = values.get(min_column, "")
        high_text = values.get(max_column, "")
        if low_text in _EMPTY_AMOUNTS and high_text in _EMPTY_AMOUNTS:
            continue  # the common case, ~40 cells a row: skip it without parsing
        lower = parse_int(low_text)
        upper = parse_int(high_text)
        if not lower and not upper:
            continue
        if lower and not upper:
            upper = None  # an empty or zero maximum above a real minimum: the open top bucket
        ranges.append(SpendRange(currency, lower or 0, upper))
    return ranges


_EMPTY_AMOUNTS = frozenset({"", "0"})


@lru_cache(maxsize=64)
def _range_columns(currencies: tuple[str, ...]) -> tuple[tuple[str, str, str], ...]:
    """Column names per currency, built once per header rather than once per row."""
    return tuple((c, f"Spend_Range_Min_{c}", f"Spend_Range_Max_{c}") for c in currencies)


def amount_columns(header: Iterable[str]) -> dict[str, str]:
    """Currency → column for per-currency amount columns (``Spend_EUR``, ``Total_Spend_USD``)."""
    found = {}
    for column in header:
        match = _SPEND_AMOUNT.match(column)
        if match:
            found[match.group(1)] = column
    return found


def amounts(values: Mapping[str, str], columns: Mapping[str, str]) -> list[tuple[str, int]]:
    """Every published amount by currency, zeros included; only an empty cell is absent.

    In the aggregate files each currency column is a rounded conversion, so ``0`` is a value
    (spend below the rounding step) and a row of zeros still says the advertiser was listed.
    """
    found = []
    for currency, column in columns.items():
        amount = parse_int(values.get(column, ""))
        if amount is not None:
            found.append((currency, amount))
    return found


# --- creative-stats -------------------------------------------------------------------------

CREATIVE_COLUMNS = frozenset(
    {
        "Ad_ID",
        "Ad_URL",
        "Ad_Type",
        "Regions",
        "Advertiser_ID",
        "Advertiser_Name",
        "Ad_Campaigns_List",
        "Date_Range_Start",
        "Date_Range_End",
        "Num_of_Days",
        "Impressions",
        "Spend_USD",
        "First_Served_Timestamp",
        "Last_Served_Timestamp",
        "Age_Targeting",
        "Gender_Targeting",
        "Geo_Targeting_Included",
        "Geo_Targeting_Excluded",
        "Is_Funded_By_Google_Ad_Grants",
    }
)


def normalise_creative_row(
    values: Mapping[str, str],
    ids: BundleIds | None = None,
    currencies: Sequence[str] | None = None,
    notices: Notices | None = None,
) -> NormalisedAd:
    """One ``creative-stats`` row as an ad.

    ``currencies`` are the header's spend-range currencies (derived from ``values`` if not
    given). Cells in an unexpected format are left empty and reported once through
    ``notices``; a row without ``Ad_ID`` raises ``ValueError`` (quarantined).
    """
    ids = ids or BundleIds()
    notices = notices or Notices()
    ad_id = values.get("Ad_ID", "").strip()
    if not ad_id:
        raise ValueError("creative-stats row without Ad_ID")
    spends = spend_ranges(values, spend_currencies(values) if currencies is None else currencies)
    purchase = spends[0] if spends else None
    usd = next((s for s in spends if s.currency == "USD"), None)
    impressions = _lenient(parse_impressions, values.get("Impressions", ""), "Impressions", notices)
    regions = split_list(values.get("Regions", ""))
    return NormalisedAd(
        source=SOURCE,
        source_ad_id=ids.creatives.canonical(ad_id),
        advertiser=_creative_advertiser(values, ids),
        ad_type=values.get("Ad_Type") or None,
        ad_url=values.get("Ad_URL") or None,
        delivery_start=_lenient(parse_utc, values.get("Date_Range_Start", ""), "Date", notices),
        delivery_stop=_lenient(parse_utc, values.get("Date_Range_End", ""), "Date", notices),
        first_served_at=_lenient(
            parse_utc, values.get("First_Served_Timestamp", ""), "Timestamp", notices
        ),
        last_served_at=_lenient(
            parse_utc, values.get("Last_Served_Timestamp", ""), "Timestamp", notices
        ),
        currency=purchase.currency if purchase else None,
        spend_lower=purchase.lower if purchase else None,
        spend_upper=purchase.upper if purchase else None,
        spend_usd_lower=usd.lower if usd else None,
        spend_usd_upper=usd.upper if usd else None,
        impressions_lower=impressions[0] if impressions else None,
        impressions_upper=impressions[1] if impressions else None,
        countries=_region_countries(regions, notices),
        targeting=creative_targeting(values),
        spends=spends,
        extra=_creative_extra(values, ad_id, ids, regions, notices),
    )


def creative_targeting(values: Mapping[str, str]) -> list[TargetingItem]:
    """Age, gender and included/excluded geo targeting, one item per value."""
    items = [TargetingItem("age", v) for v in _split_cached(values.get("Age_Targeting", ""))]
    items += [TargetingItem("gender", v) for v in _split_cached(values.get("Gender_Targeting", ""))]
    for column, included in (("Geo_Targeting_Included", True), ("Geo_Targeting_Excluded", False)):
        items += [
            TargetingItem("geo", v, included) for v in split_geo_targeting(values.get(column, ""))
        ]
    return items


@lru_cache(maxsize=1024)
def _split_cached(text: str) -> tuple[str, ...]:
    """Age and gender cells repeat a handful of values across a million rows."""
    return tuple(split_list(text))


def _creative_advertiser(values: Mapping[str, str], ids: BundleIds) -> AdvertiserRecord | None:
    current = values.get("Advertiser_ID", "").strip()
    if not current:
        return None
    return AdvertiserRecord(
        ids.advertisers.canonical(current), name=values.get("Advertiser_Name") or None
    )


def _creative_extra(
    values: Mapping[str, str],
    ad_id: str,
    ids: BundleIds,
    regions: list[str],
    notices: Notices,
) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if regions:
        extra["regions"] = regions
    campaigns = split_list(values.get("Ad_Campaigns_List", ""))
    if campaigns:
        extra["campaigns"] = campaigns
    grants = _lenient(
        parse_bool, values.get("Is_Funded_By_Google_Ad_Grants", ""), "Ad Grants", notices
    )
    if grants is not None:
        extra["funded_by_google_ad_grants"] = grants
    days = _lenient(parse_int, values.get("Num_of_Days", ""), "Num_of_Days", notices)
    if days is not None:
        extra["num_of_days"] = days
    if ids.creatives.canonical(ad_id) != ad_id:
        extra["current_ad_id"] = ad_id
    return extra


def _region_countries(regions: list[str], notices: Notices) -> list[str]:
    """ISO codes of ``Regions``; others (``EU``) stay in ``extra.regions`` and are reported."""
    codes = []
    for region in regions:
        code = country_code(region) if len(region) == 2 else None
        if code:
            codes.append(code)
        else:
            notices.once(
                f"region:{region}",
                f"creative-stats: region {region!r} is not an ISO country; kept in ads.extra only",
            )
    return codes


def _lenient(parse: Callable[[str], Any], text: str, what: str, notices: Notices) -> Any:
    """``parse(text)``, or ``None`` with a one-time notice: a format change must not drop ads."""
    try:
        return parse(text)
    except ValueError:
        notices.once(
            f"format:{what}",
            f"creative-stats: {what} value {text!r} not understood; left empty "
            "(the format may have changed)",
        )
        return None


@dataclass(slots=True)
class CreativeStatsParser:
    ids: BundleIds
    member: str = CREATIVE_STATS
    currencies: tuple[str, ...] = ()
    notices: Notices = field(default_factory=Notices)

    def begin(self, header: list[str], notices: Notices) -> None:
        report_columns(
            self.member,
            header,
            CREATIVE_COLUMNS,
            notices,
            required=("Ad_ID",),
            is_known=_SPEND_RANGE.match,
        )
        self.currencies = tuple(spend_currencies(header))
        self.notices = notices

    def parse(self, values: dict[str, str], ref: str) -> Iterable[Item]:
        ad = normalise_creative_row(values, self.ids, self.currencies, self.notices)
        ad.raw_ref = ref
        return (ad,)


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
            is_known=_SPEND_AMOUNT.match,
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
        report_columns(self.member, header, self.known, notices, is_known=_SPEND_AMOUNT.match)
        self.columns = amount_columns(header)

    def parse(self, values: dict[str, str], ref: str) -> Iterable[Item]:
        keys = self.keys(values)
        key_names = (*keys, "currency")
        for currency, amount in amounts(values, self.columns):
            row = {**keys, "currency": currency, "spend": amount, **self.extra(values)}
            yield TableRow(self.table, key_names, row)


def _weekly_keys(ids: BundleIds) -> Callable[[Mapping[str, str]], dict[str, Any]]:
    def keys(values: Mapping[str, str]) -> dict[str, Any]:
        week = parse_date(values.get("Week_Start_Date", ""))
        if week is None:
            raise ValueError("weekly spend row without Week_Start_Date")
        return {
            "source_advertiser_id": _required_advertiser(values, ids),
            "week_start_date": week,
        }

    return keys


def _geo_keys(values: Mapping[str, str]) -> dict[str, Any]:
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


def _advertiser_geo_keys(ids: BundleIds) -> Callable[[Mapping[str, str]], dict[str, Any]]:
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


# --- declarations, keywords, id mappings ----------------------------------------------------

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


@dataclass(slots=True)
class IdMappingParser:
    member: str
    kind: str
    columns: tuple[str, str] | None = None

    def begin(self, header: list[str], notices: Notices) -> None:
        self.columns = mapping_columns(header)
        if self.columns is None:
            notices.add(f"{self.member}: no old/new id columns in {header}; ids not mapped")

    def parse(self, values: dict[str, str], ref: str) -> Iterable[Item]:
        if self.columns is None:
            return
        old, new = (values.get(c, "").strip() for c in self.columns)
        if old and new:
            yield TableRow(
                "google_id_mappings",
                ("kind", "old_id"),
                {"kind": self.kind, "old_id": old, "new_id": new},
            )


# --- the collector --------------------------------------------------------------------------


class GoogleCollector(BulkFileCollector):
    """Google's transparency bundle: one scope, one zip, every data-carrying member."""

    name = SOURCE
    Settings = GoogleSettings
    settings: GoogleSettings

    def scopes(self) -> list[str]:
        return [SCOPE]

    def file_url(self, scope: str) -> str:
        return self.settings.bundle_url

    def plan(self, archive: BulkArchive, notices: Notices) -> FilePlan:
        ids = read_id_maps(archive, notices)
        if CAMPAIGN_TARGETING in archive.members() and _has_rows(archive, CAMPAIGN_TARGETING):
            notices.add(f"{CAMPAIGN_TARGETING} has rows but is deprecated; not imported")
        return FilePlan(
            parsers=bundle_parsers(ids),
            ignored=("README.txt", UPDATED, CAMPAIGN_TARGETING),
            report_date=read_report_date(archive, notices),
            ad_member=CREATIVE_STATS,
            row_salt=row_salt(SOURCE, ids.fingerprint()),
        )


def bundle_parsers(ids: BundleIds) -> list[MemberParser]:
    """The member parsers in reading order (see the module docstring for why this order)."""
    return [
        IdMappingParser(ADVERTISER_ID_MAPPING, "advertiser"),
        IdMappingParser(CREATIVE_ID_MAPPING, "creative"),
        CreativeStatsParser(ids),
        AdvertiserStatsParser(ids),
        DeclaredStatsParser(ids),
        SpendTableParser(
            WEEKLY_SPEND,
            "google_advertiser_weekly_spend",
            frozenset({"Advertiser_ID", "Advertiser_Name", "Election_Cycle", "Week_Start_Date"}),
            _weekly_keys(ids),
            extra=lambda values: {"election_cycle": values.get("Election_Cycle") or None},
        ),
        SpendTableParser(
            GEO_SPEND,
            "google_geo_spend",
            frozenset(
                {
                    "Country",
                    "Country_Subdivision_Primary",
                    "Country_Subdivision_Secondary",
                    "State",
                    "Congressional_District",
                }
            ),
            _geo_keys,
        ),
        SpendTableParser(
            ADVERTISER_GEO_SPEND,
            "google_advertiser_geo_spend",
            frozenset(
                {"Advertiser_ID", "Advertiser_Name", "Country", "Country_Subdivision_Primary"}
            ),
            _advertiser_geo_keys(ids),
        ),
        TopKeywordsParser(),
    ]


def read_id_maps(archive: BulkArchive, notices: Notices) -> BundleIds:
    """Both id-mapping files, if present, as in-memory maps (they are small)."""
    ids = BundleIds()
    members = archive.members()
    for name, target in (
        (ADVERTISER_ID_MAPPING, ids.advertisers),
        (CREATIVE_ID_MAPPING, ids.creatives),
    ):
        if name not in members:
            continue
        with archive.open(members[name]) as binary:
            stream = CsvStream(binary, name)
            columns = mapping_columns(stream.header)
            if columns is None:
                continue  # IdMappingParser reports it when the member is read
            old_index, new_index = (stream.header.index(c) for c in columns)
            for row in stream.rows():
                if len(row.fields) > max(old_index, new_index):
                    target.add(row.fields[old_index].strip(), row.fields[new_index].strip())
    return ids


def read_report_date(archive: BulkArchive, notices: Notices) -> date | None:
    """The date in the "updated" file, whatever its header is called this year."""
    info = archive.members().get(UPDATED)
    if info is None:
        notices.add(f"{UPDATED} is not in this bundle: no report date")
        return None
    with archive.open(info) as binary:
        stream = CsvStream(binary, UPDATED)
        first = next(stream.rows(), None)
    text = first.fields[0] if first and first.fields else ""
    try:
        return parse_date(text)
    except ValueError:
        notices.add(f"{UPDATED}: {text!r} is not a date; no report date")
        return None


def _has_rows(archive: BulkArchive, name: str) -> bool:
    with archive.open(archive.members()[name]) as binary:
        return next(CsvStream(binary, name).rows(), None) is not None
