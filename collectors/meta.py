"""Meta (Facebook/Instagram) Ad Library API: ``GET /<version>/ads_archive``, one scope per country.

Facts and citations: ``docs/platforms/meta.md`` (the user-facing page) and the research notes it
cites. What this module does about them, and why:

Paging (notes §1.4). Only ``paging.cursors.after`` is used, always against the configured
``base_url``; ``paging.next`` is never followed because it carries the access token and could
point anywhere. A pass ends on an empty ``data`` or a missing ``after``. A cursor seen twice in
one pass (the server "would serve the same URL in the ``next`` field over and over", WMP) stops
the loop: the page's ads are kept, the pass stays open at the last good cursor and the scope
fails, so the next run resumes there instead of advancing the watermark past unread ads.

Incremental passes. A scope's checkpoint holds a date ``watermark`` and, while a pass is under
way, the pass itself (its ``since``, the ``after`` cursor, the page size, the day it started). A
new pass asks for ``ad_delivery_date_min = watermark - overlap_days`` (``--since`` and
``backfill_since`` override / seed it), because spend and impressions of recently delivered
ads keep changing. Completing a pass moves the watermark to the day it started. Each fetch runs
at most one pass: a run that resumes an interrupted pass finishes it, and the next run starts
fresh from the advanced watermark (the overlap covers the gap).

Errors (notes §1.5-1.6). Codes 1, 2, ``is_transient``, HTML pages, 5xx, resets, timeouts and
broken JSON are transient; 4, 17, 613, 80004 and HTTP 429 are throttling, waited out for as long
as Meta says (``estimated_time_to_regain_access`` minutes, else Retry-After, else
``throttle_wait_seconds``); 190, 10/2332002 and 100 are fatal with a message saying what to do.
"Please reduce the amount of data" halves the page size and retries the same cursor (LEJO, MOZ);
the size grows back by 1.25x after a run of successes.

Usage (notes §1.5). Every response's ``x-business-use-case-usage`` header is read; above 75 %
we pause before the next request with WMP's ladder (5/10/30/90 s at 75/80/90/95 %), and a
non-zero ``estimated_time_to_regain_access`` pauses for that long, so the limit is rarely hit.

Secrets. The token sits in the request URL, in ``paging.next`` and in every ``ad_snapshot_url``;
archived URLs and bodies, quarantined records, log lines and error messages all pass through
the :class:`~collectors.redact.Redactor`. ``ad_url`` is the public no-token library link.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qs, urlsplit

import httpx
from pydantic import Field, field_validator

from collectors.base import (
    Collector,
    CollectorContext,
    CollectorError,
    FatalError,
    SourceSettings,
    ThrottledError,
    TokenRejected,
    TransientError,
    transport_errors_as_transient,
)
from collectors.http import Retrier, describe_url, make_client, parse_retry_after
from collectors.records import (
    AdvertiserRecord,
    BeneficiaryPayer,
    CreativeRecord,
    DemographicShare,
    JsonDict,
    NormalisedAd,
    Page,
    Quarantined,
    RawPayload,
    ReachBreakdown,
    RegionShare,
    SpendRange,
    TargetingItem,
)
from collectors.redact import Redactor

SOURCE = "meta"

#: Every field of the 2024 DOC-API table (notes §1.3), requested on every page.
FIELDS: tuple[str, ...] = (
    "id",
    "ad_creation_time",
    "ad_creative_bodies",
    "ad_creative_link_captions",
    "ad_creative_link_descriptions",
    "ad_creative_link_titles",
    "ad_delivery_start_time",
    "ad_delivery_stop_time",
    "ad_snapshot_url",
    "age_country_gender_reach_breakdown",
    "beneficiary_payers",
    "bylines",
    "currency",
    "delivery_by_region",
    "demographic_distribution",
    "estimated_audience_size",
    "eu_total_reach",
    "impressions",
    "languages",
    "page_id",
    "page_name",
    "publisher_platforms",
    "spend",
    "target_ages",
    "target_gender",
    "target_locations",
)

#: Page-size bounds. Below 25 (the API's own default) paging gets needlessly slow; above 1000
#: "reduce the amount of data" errors become frequent (ambanum: >250 often failed, never more
#: than 2000 per page; RADLIB defaults to 1000).
MIN_PAGE_SIZE = 25
MAX_PAGE_SIZE = 1000
GROW_AFTER_SUCCESSES = 5
GROW_FACTOR = 1.25

#: Proactive pauses by BUC usage percentage (WMP ``race2022_utils.R:get_delay_value``).
USAGE_PAUSES: tuple[tuple[float, float], ...] = ((95, 90.0), (90, 30.0), (80, 10.0), (75, 5.0))
THROTTLE_CODES = frozenset({4, 17, 613, 80004})
#: Usage at which an error response counts as throttling (WMP's top delay step, LEJO's 97 %).
USAGE_LIMIT = 95

PUBLIC_AD_URL = "https://www.facebook.com/ads/library/?id={id}"
TOKEN_HELP = "see docs/platforms/meta.md, 'Getting a token'"

AdType = Literal[
    "POLITICAL_AND_ISSUE_ADS",
    "ALL",
    "CREDIT_ADS",
    "EMPLOYMENT_ADS",
    "HOUSING_ADS",
    "FINANCIAL_PRODUCTS_AND_SERVICES_ADS",
]


class MetaSettings(SourceSettings):
    """``sources.meta`` in ``config.yaml``."""

    base_url: str = Field(
        default="https://graph.facebook.com",
        description="Graph API host; point it at a replica only for tests and the demo",
    )
    api_version: str = Field(default="v23.0", pattern=r"^v\d+\.\d+$")
    access_token: str | None = Field(default=None, description="long-lived user access token")
    ad_type: AdType = "POLITICAL_AND_ISSUE_ADS"
    page_size: int = Field(
        default=250,
        ge=MIN_PAGE_SIZE,
        le=MAX_PAGE_SIZE,
        description="ads per request at most; halved on 'reduce the amount of data'",
    )
    overlap_days: int = Field(
        default=3, ge=0, description="days each pass re-reads before the watermark"
    )
    backfill_since: date | None = Field(
        default=None, description="where the first pass starts; empty = the whole library"
    )
    search_terms: str | None = Field(
        default="*",
        description=(
            "empty-query trick: '*' returns all ads (LEJO, full-library mirror); "
            "null sends no search_terms"
        ),
    )
    extra_fields: list[str] = Field(
        default_factory=list, description="more fields to request; kept in ads.extra"
    )
    throttle_wait_seconds: float = Field(
        default=60.0, gt=0, description="wait on a throttling error that names no duration"
    )

    @field_validator("base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")


# --------------------------------------------------------------------------------------------
# Normalisation
# --------------------------------------------------------------------------------------------

#: Fields ``normalise`` maps; anything else the API returns lands in ``NormalisedAd.extra``.
_KNOWN_FIELDS = frozenset(FIELDS) | {
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
    return NormalisedAd(
        source=SOURCE,
        source_ad_id=ad_id,
        advertiser=_advertiser(raw_ad),
        funder=_text(_first(raw_ad, "bylines", "funding_entity"), "bylines"),
        ad_type=ad_type,
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
        countries=_unique([_country(scope_country)] + [row.country for row in reach_breakdown]),
        languages=_unique(_strings(raw_ad.get("languages"), "languages")),
        platforms=_unique(
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


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


def _country(code: str) -> str:
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
        country = _country(_text(country_row.get("country"), "country") or "")
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


# --------------------------------------------------------------------------------------------
# Responses and errors
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Usage:
    """Meta's ``x-business-use-case-usage``: the highest percentage and the wait it imposes."""

    percent: float
    regain_minutes: float

    def pause_seconds(self) -> float:
        """How long to pause before the next request so as not to hit the limit."""
        if self.regain_minutes > 0:
            return self.regain_minutes * 60
        return next((pause for level, pause in USAGE_PAUSES if self.percent >= level), 0.0)


def parse_usage(header: str | None) -> Usage | None:
    """Read the header's JSON ``{"<buc id>": [{"call_count": 3, "total_time": 37, ...}]}``.

    ``object_count_pct`` is the 2019 name of ``call_count`` (WMP). A malformed header is
    ignored rather than failing a page that otherwise arrived fine.
    """
    if not header:
        return None
    try:
        parsed = json.loads(header)
    except ValueError:
        return None
    if not isinstance(parsed, dict):
        return None
    percent = regain = 0.0
    for entries in parsed.values():
        for entry in entries if isinstance(entries, list) else []:
            if not isinstance(entry, dict):
                continue
            for key in ("call_count", "object_count_pct", "total_cputime", "total_time"):
                percent = max(percent, _number_or_zero(entry.get(key)))
            regain = max(regain, _number_or_zero(entry.get("estimated_time_to_regain_access")))
    return Usage(percent, regain)


def _number_or_zero(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


class ReduceData(TransientError):
    """Meta's code 1 "Please reduce the amount of data you're asking for": ask for fewer ads."""


class CursorRejected(FatalError):
    """Meta refused the ``after`` cursor (code 100 on a request that carried one)."""


class GraphResponses:
    """Turns a Graph API response into its JSON body or the matching collector error.

    Every message that quotes Meta goes through the redactor: a code-190 message can quote
    the malformed token itself.
    """

    def __init__(self, redactor: Redactor, throttle_wait_seconds: float) -> None:
        self.redactor = redactor
        self.throttle_wait_seconds = throttle_wait_seconds

    def body(self, response: httpx.Response, what: str) -> JsonDict:
        status = response.status_code
        parsed = self._json(response)
        if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
            raise self._graph_error(response, parsed["error"], what)
        if parsed is None:
            if _is_html(response):
                raise TransientError(f"HTTP {status} HTML error page from {what}")
            if status < 400:
                raise TransientError(f"truncated or invalid JSON from {what} (HTTP {status})")
        if status == 429:
            raise ThrottledError(f"HTTP 429 from {what}", self._throttle_wait(response))
        if status >= 500:
            raise TransientError(f"HTTP {status} from {what}")
        if status >= 400 or not isinstance(parsed, dict):
            raise FatalError(f"unexpected HTTP {status} response from {what}")
        return parsed

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        try:
            return json.loads(response.content)
        except ValueError:
            return None

    def _throttle_wait(self, response: httpx.Response) -> float:
        usage = parse_usage(response.headers.get("x-business-use-case-usage"))
        if usage is not None and usage.regain_minutes > 0:
            return usage.regain_minutes * 60
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return self.throttle_wait_seconds if retry_after is None else retry_after

    def _graph_error(
        self, response: httpx.Response, error: Mapping[str, Any], what: str
    ) -> CollectorError:
        code = error.get("code")
        subcode = error.get("error_subcode")
        message = self.redactor.text(str(error.get("message") or "no message"))
        status = response.status_code
        codes = f"{code}/{subcode}" if subcode else f"{code}"
        label = f"Meta error {codes} (HTTP {status}) from {what}"
        if code == 190:
            return TokenRejected(
                f"Meta rejected the access token (code 190): create a new long-lived token "
                f"({TOKEN_HELP}) and set META_ACCESS_TOKEN. Meta said: {message}"
            )
        if code == 10 or subcode == 2332002:
            return TokenRejected(
                f"Meta refused access to the Ad Library API (code {codes}): confirm "
                f"your identity at facebook.com/ID, accept the terms at "
                f"facebook.com/ads/library/api with the account that owns the token, then "
                f"create a new token ({TOKEN_HELP}). Meta said: {message}"
            )
        if code in THROTTLE_CODES or status == 429 or _usage_exhausted(response):
            return ThrottledError(f"{label}: {message}", self._throttle_wait(response))
        if code == 1 and "reduce the amount of data" in message.lower():
            return ReduceData(f"{label}: {message}")
        if code in (1, 2) or error.get("is_transient") is True or status >= 500:
            return TransientError(f"{label}: {message}")
        if code == 100 and "after" in response.request.url.params:
            return CursorRejected(f"{label}: cursor rejected: {message}")
        if code == 100:
            return FatalError(
                f"{label}: Meta rejected a request parameter ({message}); check sources.meta "
                f"(api_version, ad_type, search_terms, extra_fields)"
            )
        return FatalError(f"{label}: {message}")


def _usage_exhausted(response: httpx.Response) -> bool:
    """An error that arrives with usage at the limit is throttling, whatever its code."""
    usage = parse_usage(response.headers.get("x-business-use-case-usage"))
    return usage is not None and (usage.percent >= USAGE_LIMIT or usage.regain_minutes > 0)


def _is_html(response: httpx.Response) -> bool:
    """Meta's "Sorry, something went wrong" page arrives as HTML, sometimes with HTTP 400."""
    content_type = response.headers.get("content-type", "")
    return "html" in content_type or response.content.lstrip().startswith(b"<")


# --------------------------------------------------------------------------------------------
# Checkpoint state
# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class PassState:
    """A pass under way: where it started and how far it got."""

    since: date | None
    started: date
    limit: int
    after: str | None = None

    def to_json(self) -> JsonDict:
        return {
            "since": _iso(self.since),
            "started": self.started.isoformat(),
            "limit": self.limit,
            "after": self.after,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> PassState:
        return cls(
            since=_date_or_none(raw.get("since")),
            started=date.fromisoformat(raw["started"]),
            limit=int(raw["limit"]),
            after=raw.get("after") or None,
        )


@dataclass(slots=True)
class MetaState:
    """A scope's checkpoint: ``{"ad_type", "watermark", "pass"}`` (JSON)."""

    ad_type: str
    watermark: date | None = None
    current: PassState | None = None

    def to_json(self) -> JsonDict:
        return {
            "ad_type": self.ad_type,
            "watermark": _iso(self.watermark),
            "pass": self.current.to_json() if self.current else None,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> MetaState:
        current = raw.get("pass")
        return cls(
            ad_type=str(raw["ad_type"]),
            watermark=_date_or_none(raw.get("watermark")),
            current=PassState.from_json(current) if current else None,
        )


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _date_or_none(value: Any) -> date | None:
    return date.fromisoformat(value) if value else None


@dataclass(slots=True)
class _PageSize:
    """Adaptive ``limit``: halve on "reduce the amount of data", grow back after successes."""

    limit: int
    ceiling: int
    streak: int = 0

    def shrink(self) -> None:
        self.limit = max(MIN_PAGE_SIZE, self.limit // 2)
        self.streak = 0

    def succeeded(self) -> None:
        self.streak += 1
        if self.streak >= GROW_AFTER_SUCCESSES and self.limit < self.ceiling:
            self.limit = min(self.ceiling, math.ceil(self.limit * GROW_FACTOR))
            self.streak = 0


@dataclass(frozen=True, slots=True)
class _Fetched:
    url: str
    content: bytes
    data: list[Any]
    after: str | None
    usage: Usage | None


# --------------------------------------------------------------------------------------------
# The collector
# --------------------------------------------------------------------------------------------


class MetaCollector(Collector):
    """Political and issue ads (or any ``ad_type``) per reached country, incrementally."""

    name = SOURCE
    Settings = MetaSettings
    settings: MetaSettings
    checks_credential = True

    def __init__(self, settings: SourceSettings, context: CollectorContext) -> None:
        super().__init__(settings, context)
        self.redactor = Redactor(self.secrets())
        self.retrier = Retrier.for_collector(settings, context, self.redactor)
        self.responses = GraphResponses(self.redactor, self.settings.throttle_wait_seconds)
        self._client: httpx.Client | None = None

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = make_client(self.settings)
        return self._client

    def skip_reason(self) -> str | None:
        if not self.settings.access_token:
            return "no access token: set META_ACCESS_TOKEN (see README, 'Collect for real')"
        return None

    def secrets(self) -> list[str]:
        return [self.settings.access_token] if self.settings.access_token else []

    def credential_expiry(self) -> datetime | None:
        with transport_errors_as_transient():
            return token_expiry(self.settings, self.client)

    def scopes(self) -> list[str]:
        return _unique(_country(code) for code in self.context.countries)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- one scope ------------------------------------------------------------------------

    def fetch(self, scope: str, state: Mapping[str, Any] | None) -> Iterator[Page]:
        current = self._load_state(scope, state)
        run = current.current if self._resumable(scope, current.current) else None
        if run is None:
            run = PassState(
                since=self._pass_since(current.watermark),
                started=datetime.now(UTC).date(),
                limit=self.settings.page_size,
            )
            self.log.info("meta %s: new pass since %s", scope, run.since or "the beginning")
        else:
            self.log.info("meta %s: resuming the pass since %s", scope, run.since or "start")
        yield from self._run_pass(scope, current, run)

    def _load_state(self, scope: str, state: Mapping[str, Any] | None) -> MetaState:
        """The saved state; a checkpoint written for another ``ad_type`` does not apply."""
        fresh = MetaState(ad_type=self.settings.ad_type)
        if not state:
            return fresh
        try:
            saved = MetaState.from_json(state)
        except (KeyError, TypeError, ValueError) as exc:
            self.log.warning("meta %s: unreadable checkpoint (%s); starting afresh", scope, exc)
            return fresh
        if saved.ad_type != self.settings.ad_type:
            self.log.warning(
                "meta %s: checkpoint is for ad_type %s, settings say %s; starting afresh",
                scope,
                saved.ad_type,
                self.settings.ad_type,
            )
            return fresh
        return saved

    def _resumable(self, scope: str, saved: PassState | None) -> bool:
        """An interrupted pass resumes unless ``--since`` asks for a different window."""
        if saved is None:
            return False
        since = self.context.since
        if since is not None and since != saved.since:
            self.log.info("meta %s: --since %s replaces the interrupted pass", scope, since)
            return False
        return True

    def _pass_since(self, watermark: date | None) -> date | None:
        if self.context.since is not None:
            return self.context.since
        if watermark is not None:
            return watermark - timedelta(days=self.settings.overlap_days)
        return self.settings.backfill_since

    def _run_pass(self, scope: str, state: MetaState, run: PassState) -> Iterator[Page]:
        ceiling = self.settings.page_size  # may have been lowered since the pass was saved
        size = _PageSize(limit=max(MIN_PAGE_SIZE, min(run.limit, ceiling)), ceiling=ceiling)
        resumed_cursor = run.after is not None
        seen: set[str] = {run.after} if run.after else set()
        while True:
            try:
                fetched = self._fetch_page(scope, run, size)
            except CursorRejected:
                if not resumed_cursor:
                    raise
                self.log.warning(
                    "meta %s: Meta rejected the saved cursor; restarting the pass from %s",
                    scope,
                    run.since or "the beginning",
                )
                run.after, resumed_cursor = None, False
                seen.clear()
                continue
            resumed_cursor = False
            size.succeeded()
            run.limit = size.limit
            if fetched.after is not None and fetched.after in seen:
                # Meta is serving a page it already served (WMP saw it loop forever). Keep
                # the ads, keep the pass open at the last good cursor and fail the scope:
                # ending the pass would advance the watermark past ads never read.
                yield self._page(
                    scope, fetched, MetaState(state.ad_type, state.watermark, run).to_json()
                )
                raise TransientError(
                    f"meta {scope}: Meta served the same page cursor twice; the pass stays "
                    "open and resumes from the last good cursor on the next run"
                )
            if not fetched.data or fetched.after is None:
                done = MetaState(state.ad_type, watermark=run.started, current=None)
                yield self._page(scope, fetched, done.to_json())
                return
            seen.add(fetched.after)
            run.after = fetched.after
            yield self._page(
                scope, fetched, MetaState(state.ad_type, state.watermark, run).to_json()
            )
            self._pause_for_usage(scope, fetched.usage)

    def _pause_for_usage(self, scope: str, usage: Usage | None) -> None:
        """Slow down before Meta throttles us (the page itself arrived and was yielded)."""
        pause = usage.pause_seconds() if usage else 0.0
        if usage is None or pause <= 0:
            return
        what = f"meta {scope}: usage at {usage.percent:.0f}%"
        pause = self.retrier.policy.check_wait(pause, what)
        self.log.info("%s; pausing %.0f s before the next request", what, pause)
        self.retrier.sleep(pause)

    # -- one request -----------------------------------------------------------------------

    def _fetch_page(self, scope: str, run: PassState, size: _PageSize) -> _Fetched:
        url = f"{self.settings.base_url}/{self.settings.api_version}/ads_archive"
        what = f"{describe_url(url)} ({scope})"

        def attempt() -> _Fetched:
            response = self.client.get(url, params=self._params(scope, run, size.limit))
            try:
                body = self.responses.body(response, what)
            except ReduceData as exc:
                size.shrink()
                raise ReduceData(f"{exc}; page size now {size.limit}") from None
            return self._fetched(response, body, what)

        return self.retrier.call(attempt, what)

    def _params(self, scope: str, run: PassState, limit: int) -> dict[str, str | int]:
        params: dict[str, str | int] = {
            "ad_reached_countries": f"['{scope}']",
            "ad_type": self.settings.ad_type,
            "ad_active_status": "ALL",
            "fields": ",".join(_unique([*FIELDS, *self.settings.extra_fields])),
            "limit": limit,
            "access_token": self.settings.access_token or "",
        }
        if self.settings.search_terms is not None:
            params["search_terms"] = self.settings.search_terms
        if run.since is not None:
            params["ad_delivery_date_min"] = run.since.isoformat()
        if run.after:
            params["after"] = run.after
        return params

    @staticmethod
    def _fetched(response: httpx.Response, body: JsonDict, what: str) -> _Fetched:
        data = body.get("data")
        if not isinstance(data, list):
            raise TransientError(f"response from {what} has no data list")
        paging = body.get("paging")
        cursors = paging.get("cursors") if isinstance(paging, dict) else None
        after = cursors.get("after") if isinstance(cursors, dict) else None
        return _Fetched(
            url=str(response.request.url),
            content=response.content,
            data=data,
            after=after if isinstance(after, str) and after else None,
            usage=parse_usage(response.headers.get("x-business-use-case-usage")),
        )

    def _page(
        self, scope: str, fetched: _Fetched, checkpoint: JsonDict, notices: list[str] | None = None
    ) -> Page:
        page = Page(
            scope=scope,
            checkpoint=checkpoint,
            raw=RawPayload(
                kind="page",
                url=self.redactor.text(fetched.url),
                content=self.redactor.bytes(fetched.content),
            ),
            notices=notices or [],
        )
        for raw_ad in fetched.data:
            try:
                page.ads.append(normalise(raw_ad, scope, self.settings.ad_type))
            except (TypeError, ValueError) as exc:
                page.quarantined.append(self._quarantine(raw_ad, exc))
        return page

    def _quarantine(self, raw_ad: Any, error: Exception) -> Quarantined:
        ad_id = raw_ad.get("id") if isinstance(raw_ad, dict) else None
        return Quarantined(
            reason=self.redactor.text(f"{type(error).__name__}: {error}"),
            payload=self.redactor.text(json.dumps(raw_ad, ensure_ascii=False)),
            raw_ref=str(ad_id) if isinstance(ad_id, str | int) else None,
        )


# --------------------------------------------------------------------------------------------
# Token expiry
# --------------------------------------------------------------------------------------------


def token_expiry(settings: MetaSettings, client: httpx.Client | None = None) -> datetime | None:
    """When the configured token expires, from Graph's ``debug_token`` (opop999's daily check).

    Returns ``None`` for a token that never expires (``expires_at`` 0). Raises
    :class:`~collectors.base.TokenRejected` when Meta says the token is invalid (or refuses
    it, codes 190 and 10), :class:`~collectors.base.FatalError` when there is no token or the
    answer cannot be read,
    :class:`~collectors.base.TransientError` when Meta cannot be reached. One attempt only:
    this is a status check, not a collection.
    """
    token = settings.access_token
    if not token:
        raise FatalError("no access token: set META_ACCESS_TOKEN (see README, 'Collect for real')")
    url = f"{settings.base_url}/{settings.api_version}/debug_token"
    what = describe_url(url)
    redactor = Redactor([token])
    own_client = client is None
    http = client or make_client(settings)
    try:
        response = http.get(url, params={"input_token": token, "access_token": token})
    except httpx.TransportError as exc:
        raise TransientError(f"{type(exc).__name__} on {what}: {redactor.text(str(exc))}") from None
    finally:
        if own_client:
            http.close()
    data = GraphResponses(redactor, settings.throttle_wait_seconds).body(response, what).get("data")
    if not isinstance(data, dict):
        raise TransientError(f"response from {what} has no data object")
    if not data.get("is_valid"):
        raise TokenRejected(
            f"Meta says the access token is not valid: create a new long-lived token ({TOKEN_HELP})"
        )
    expires_at = data.get("expires_at")
    if not isinstance(expires_at, int) or expires_at <= 0:
        return None
    return datetime.fromtimestamp(expires_at, UTC)
