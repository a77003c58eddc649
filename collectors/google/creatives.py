"""``creative-stats``: one row per ad, normalised onto :class:`~collectors.records.NormalisedAd`."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from collectors.bulk import Item, Notices, report_columns
from collectors.countries import country_code
from collectors.google.cells import (
    SPEND_RANGE_COLUMN,
    parse_impressions,
    spend_currencies,
    spend_ranges,
    split_geo_targeting,
)
from collectors.google.ids import BundleIds
from collectors.google.settings import CREATIVE_STATS, SOURCE
from collectors.records import AdvertiserRecord, NormalisedAd, TargetingItem
from collectors.values import parse_bool, parse_int, parse_utc, split_list

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
            is_known=SPEND_RANGE_COLUMN.match,
        )
        self.currencies = tuple(spend_currencies(header))
        self.notices = notices

    def parse(self, values: dict[str, str], ref: str) -> Iterable[Item]:
        ad = normalise_creative_row(values, self.ids, self.currencies, self.notices)
        ad.raw_ref = ref
        return (ad,)
