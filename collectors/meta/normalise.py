"""Meta ``ads_archive`` records onto :mod:`collectors.records`: every field, every API generation."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from collectors.meta.settings import (
    FIELDS,
    POLITICAL_AD_TYPE,
    PUBLIC_AD_URL,
    SOURCE,
    UNMAPPED_FIELDS,
)
from collectors.records import (
    AdvertiserRecord,
    BeneficiaryPayer,
    CreativeRecord,
    DemographicShare,
    JsonDict,
    NormalisedAd,
    ReachBreakdown,
    RegionShare,
    SpendRange,
    TargetingItem,
)

#: Fields ``normalise`` maps; anything else the API returns lands in ``NormalisedAd.extra``.
_KNOWN_FIELDS = (frozenset(FIELDS) - UNMAPPED_FIELDS) | {
    "_id",
    "ad_creative_body",
    "ad_creative_link_caption",
    "ad_creative_link_description",
    "ad_creative_link_title",
    "funding_entity",
    "region_distribution",
    "potential_reach",
    "publisher_platform",
}
_GENDERS = ("male", "female", "unknown")
#: CreativeRecord attribute, current plural field, pre-v10 singular field.
_CREATIVE_FIELDS = (
    ("body", "ad_creative_bodies", "ad_creative_body"),
    ("link_caption", "ad_creative_link_captions", "ad_creative_link_caption"),
    ("link_description", "ad_creative_link_descriptions", "ad_creative_link_description"),
    ("link_title", "ad_creative_link_titles", "ad_creative_link_title"),
)
_TOKEN_QUERY_PARAM = re.compile(r"(?i)(?<=[?&])access_token(?:=[^&#]*)?(?:&|(?=#)|$)")
_DANGLING_SEPARATOR = re.compile(r"[?&]+(?=#|$)")
_NUMERIC_ID = re.compile(r"\d+")

Key = TypeVar("Key")
Number = TypeVar("Number", int, float)


def normalise(
    raw_ad: Mapping[str, Any], scope_country: str, ad_type: str | None = None
) -> NormalisedAd:
    """Map one ``ads_archive`` record (any API generation since v3) onto :class:`NormalisedAd`.

    Older dumps use other names for the same data, so each value is read from the current field
    or its predecessor: ``ad_creative_bodies``/``ad_creative_body`` (and the link caption,
    description, title), ``bylines``/``funding_entity``, ``delivery_by_region``/
    ``region_distribution``, ``estimated_audience_size``/``potential_reach``,
    ``publisher_platforms``/``publisher_platform``. The id comes from ``id``, else ``_id`` (LEJO's
    MongoDB dumps), else the ``id=`` parameter of ``ad_snapshot_url`` (pre-2021 responses).

    Values: times are aware UTC datetimes (``+0000`` datetimes before 2020, date-only strings
    after, which become UTC midnight); range bounds arrive as strings and a missing
    ``upper_bound`` is the open top bucket, kept as ``None`` (never 0); percentages are string
    fractions, some in scientific notation (``"2.6E-5"``); genders are lower-cased; absent fields
    are ``None`` or empty lists, because Meta omits empty fields rather than sending null.

    Duplicates: Meta sometimes lists a region twice for one ad (C4D). An exact repeat (same
    region, same share) is dropped; the same region with different shares is summed, on the
    reading that the delivery was split across two entries. The same rule applies to
    demographic cells and EU reach rows, which are keyed the same way in the schema.

    Countries: the scope's country (the query for it returned the ad) plus the countries of the
    EU reach breakdown, ISO alpha-2 upper case, UK as GB.

    Raises ``ValueError`` (or ``TypeError``) for a record that cannot be read: no id, or values
    of the wrong type. The collector quarantines such records.
    """
    if not isinstance(raw_ad, Mapping):
        raise TypeError(f"an ad must be a JSON object, got {type(raw_ad).__name__}")
    ad_id = _ad_id(raw_ad)
    spend = _range(raw_ad.get("spend"), "spend")
    impressions = _range(raw_ad.get("impressions"), "impressions")
    audience = _range(
        _first(raw_ad, "estimated_audience_size", "potential_reach"), "estimated_audience_size"
    )
    currency = _text(raw_ad.get("currency"), "currency")
    reach_breakdown = _reach_breakdown(raw_ad.get("age_country_gender_reach_breakdown"))
    library, ad_type = _library(raw_ad, ad_type)
    return NormalisedAd(
        source=SOURCE,
        source_ad_id=ad_id,
        advertiser=_advertiser(raw_ad),
        funder=_text(_first(raw_ad, "bylines", "funding_entity"), "bylines"),
        ad_type=ad_type,
        library=library,
        ad_url=PUBLIC_AD_URL.format(id=ad_id),
        ad_created_at=_datetime(raw_ad.get("ad_creation_time"), "ad_creation_time"),
        delivery_start=_datetime(raw_ad.get("ad_delivery_start_time"), "ad_delivery_start_time"),
        delivery_stop=_datetime(raw_ad.get("ad_delivery_stop_time"), "ad_delivery_stop_time"),
        currency=currency,
        spend_lower=spend[0],
        spend_upper=spend[1],
        impressions_lower=impressions[0],
        impressions_upper=impressions[1],
        audience_lower=audience[0],
        audience_upper=audience[1],
        eu_total_reach=_int(raw_ad.get("eu_total_reach"), "eu_total_reach"),
        countries=unique([country_code(scope_country)] + [row.country for row in reach_breakdown]),
        languages=unique(_strings(raw_ad.get("languages"), "languages")),
        platforms=unique(
            p.lower()
            for p in _strings(
                _first(raw_ad, "publisher_platforms", "publisher_platform"), "publisher_platforms"
            )
        ),
        creatives=_creatives(raw_ad),
        regions=_regions(_first(raw_ad, "delivery_by_region", "region_distribution")),
        demographics=_demographics(raw_ad.get("demographic_distribution")),
        targeting=_targeting(raw_ad),
        reach_breakdown=reach_breakdown,
        beneficiary_payers=_beneficiary_payers(raw_ad.get("beneficiary_payers")),
        spends=[SpendRange(currency, *spend)] if currency and spend != (None, None) else [],
        extra=_extra(raw_ad),
    )


def _library(raw: Mapping[str, Any], ad_type: str | None) -> tuple[str, str | None]:
    """Which library the ad is from, and its ad type, given the ``ad_type`` queried.

    A political query (or none: an old dump) returns political ads. Any other query (``ALL``,
    the EU/UK all-ads library) returns ads of any type, and Meta publishes spend and
    impressions only for political and issue ads: a record that carries either is a political
    ad, reported as such so that the political and the all-ads pass agree about it **(inference
    from DOC-API's field table; verify live)**.
    """
    if ad_type in (None, POLITICAL_AD_TYPE):
        return "political", ad_type
    if raw.get("spend") is not None or raw.get("impressions") is not None:
        return "political", POLITICAL_AD_TYPE
    return "all_ads", ad_type


def _first(raw: Mapping[str, Any], *names: str) -> Any:
    """The value of the first of ``names`` present (current name first, then older ones)."""
    for name in names:
        if raw.get(name) is not None:
            return raw[name]
    return None


def _ad_id(raw: Mapping[str, Any]) -> str:
    value = _first(raw, "id", "_id")
    if value is None and isinstance(raw.get("ad_snapshot_url"), str):
        value = (parse_qs(urlsplit(raw["ad_snapshot_url"]).query).get("id") or [None])[0]
    if value is None:
        raise ValueError("ad has no id (no id, _id, or id= in ad_snapshot_url)")
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise TypeError(f"ad id must be a string or integer, got {type(value).__name__}")
    text = str(value).strip()
    if not _NUMERIC_ID.fullmatch(text):
        raise ValueError(f"ad id {text[:40]!r} is not a numeric Library ID")
    return text


def _text(value: Any, name: str) -> str | None:
    if value.__class__ is str or value is None:
        return value
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"{name} must be a string, got {type(value).__name__}")


def _int(value: Any, name: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a number, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, str | float):
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"{name} {value!r} is not a number") from None
        if math.isfinite(number) and number == int(number):
            return int(number)
    raise ValueError(f"{name} {value!r} is not a whole number")


def _share(value: Any, name: str) -> float | None:
    """A percentage as Meta sends it: a string fraction 0..1, possibly ``"2.6E-5"``."""
    if value is None or value == "":
        return None
    if value.__class__ is not str and (
        isinstance(value, bool) or not isinstance(value, str | int | float)
    ):
        raise TypeError(f"{name} must be a number or numeric string, got {type(value).__name__}")
    try:
        share = float(value)
    except ValueError:
        raise ValueError(f"{name} {value!r} is not a number") from None
    if not math.isfinite(share):
        raise ValueError(f"{name} {value!r} is not finite")
    return share


def _datetime(value: Any, name: str) -> datetime | None:
    """``2019-12-03T22:03:18+0000`` or ``2021-12-07`` (since ~Sep 2020) as an aware UTC time."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {type(value).__name__}")
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC)
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{name} {value!r} is not an ISO date or datetime") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _range(value: Any, name: str) -> tuple[int | None, int | None]:
    """An InsightsRangeValue; no ``upper_bound`` means the open-ended top bucket (``None``)."""
    if value is None:
        return None, None
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be an object with lower_bound/upper_bound")
    return (
        _int(value.get("lower_bound"), f"{name}.lower_bound"),
        _int(value.get("upper_bound"), f"{name}.upper_bound"),
    )


def _list(value: Any, name: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise TypeError(f"{name} must be a list, got {type(value).__name__}")
    return value


def _strings(value: Any, name: str) -> list[str]:
    """A list of strings, accepting the older singular form (one plain string)."""
    items = [value] if isinstance(value, str) else _list(value, name)
    if all(item.__class__ is str for item in items):  # what JSON gives: no per-item checks
        return items
    return [text for item in items if (text := _text(item, name)) is not None]


def _objects(value: Any, name: str) -> list[Mapping[str, Any]]:
    items = _list(value, name)
    for item in items:
        if item.__class__ is not dict and not isinstance(item, Mapping):
            raise TypeError(f"{name} must hold objects, got {type(item).__name__}")
    return items


def unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


def country_code(code: str) -> str:
    upper = code.strip().upper()
    return "GB" if upper == "UK" else upper


def _merge(rows: list[tuple[Key, Number | None]]) -> dict[Key, Number | None]:
    """Drop exact duplicate rows; sum the values of rows that share a key but differ."""
    merged_once = dict(rows)
    if len(merged_once) == len(rows):  # no key repeats: the usual case
        return merged_once
    seen: set[tuple[Key, Number | None]] = set()
    merged: dict[Key, Number | None] = {}
    for key, value in rows:
        if (key, value) in seen:
            continue
        seen.add((key, value))
        if key not in merged:
            merged[key] = value
        elif value is not None:
            current = merged[key]
            merged[key] = value if current is None else current + value
    return merged


def _advertiser(raw: Mapping[str, Any]) -> AdvertiserRecord | None:
    page_id = _text(raw.get("page_id"), "page_id")
    if not page_id:
        return None
    return AdvertiserRecord(
        source_advertiser_id=page_id, name=_text(raw.get("page_name"), "page_name")
    )


def _creatives(raw: Mapping[str, Any]) -> list[CreativeRecord]:
    """One record per card: the plural lists (or old singular strings) are aligned by index."""
    columns = {
        attribute: _strings(_first(raw, plural, singular), plural)
        for attribute, plural, singular in _CREATIVE_FIELDS
    }
    count = max(len(values) for values in columns.values())
    return [
        CreativeRecord(
            position=i,
            **{attr: values[i] if i < len(values) else None for attr, values in columns.items()},
        )
        for i in range(count)
    ]


def _regions(value: Any) -> list[RegionShare]:
    rows = _objects(value, "delivery_by_region")
    merged = _merge(
        [
            (_text(row.get("region"), "region") or "", _share(row.get("percentage"), "percentage"))
            for row in rows
        ]
    )
    return [RegionShare(region, share) for region, share in merged.items() if region]


def _demographics(value: Any) -> list[DemographicShare]:
    rows = _objects(value, "demographic_distribution")
    merged = _merge(
        [
            (
                (
                    _text(row.get("age"), "age") or "Unknown",
                    (_text(row.get("gender"), "gender") or "unknown").lower(),
                ),
                _share(row.get("percentage"), "percentage"),
            )
            for row in rows
        ]
    )
    return [DemographicShare(age, gender, share) for (age, gender), share in merged.items()]


def _reach_breakdown(value: Any) -> list[ReachBreakdown]:
    """EU ``age_country_gender_reach_breakdown``: one row per country x age x gender key."""
    cells: list[tuple[tuple[str, str, str], int | None]] = []
    for country_row in _objects(value, "age_country_gender_reach_breakdown"):
        country = country_code(_text(country_row.get("country"), "country") or "")
        if not re.fullmatch(r"[A-Z]{2}", country):
            raise ValueError(f"reach breakdown country {country!r} is not ISO alpha-2")
        for cell in _objects(country_row.get("age_gender_breakdowns"), "age_gender_breakdowns"):
            age = _text(cell.get("age_range"), "age_range") or "Unknown"
            cells.extend(
                ((country, age, gender), _int(cell[gender], f"reach.{gender}"))
                for gender in _GENDERS
                if gender in cell
            )
    return [ReachBreakdown(*key, reach) for key, reach in _merge(cells).items()]


def _beneficiary_payers(value: Any) -> list[BeneficiaryPayer]:
    return [
        BeneficiaryPayer(
            position=i,
            beneficiary=_text(row.get("beneficiary"), "beneficiary"),
            payer=_text(row.get("payer"), "payer"),
            current=row["current"] if isinstance(row.get("current"), bool) else None,
        )
        for i, row in enumerate(_objects(value, "beneficiary_payers"))
    ]


def _targeting(raw: Mapping[str, Any]) -> list[TargetingItem]:
    """EU targeting: ages and gender as values; locations with their ``excluded`` flag."""
    items = [TargetingItem("age", age) for age in _strings(raw.get("target_ages"), "target_ages")]
    items += [
        TargetingItem("gender", gender)
        for gender in _strings(raw.get("target_gender"), "target_gender")
    ]
    for location in _list(raw.get("target_locations"), "target_locations"):
        if isinstance(location, Mapping):
            name = _text(location.get("name"), "target_locations.name")
            if name:
                items.append(TargetingItem("location", name, not location.get("excluded", False)))
        elif (name := _text(location, "target_locations")) is not None:
            items.append(TargetingItem("location", name))
    return items


def strip_token(url: str) -> str:
    """``url`` without its ``access_token`` parameter (valued or bare, as in 2019 responses).

    A regex rather than a parse and re-encode: every ad carries a snapshot URL, and the
    rest of the query must come back byte for byte.
    """
    if "access_token" not in url.lower():
        return url
    stripped = _TOKEN_QUERY_PARAM.sub("", url)
    return _DANGLING_SEPARATOR.sub("", stripped)


def _extra(raw: Mapping[str, Any]) -> JsonDict:
    """The token-free snapshot URL, plus any field this module does not map (new or extra)."""
    extra: JsonDict = {k: v for k, v in raw.items() if k not in _KNOWN_FIELDS}
    snapshot = raw.get("ad_snapshot_url")
    if isinstance(snapshot, str) and snapshot:
        extra["snapshot_url"] = strip_token(snapshot)
    return extra
