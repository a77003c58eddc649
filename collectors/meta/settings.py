"""``sources.meta`` settings and the API facts they are bounded by (fields, page sizes, usage ladder)."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from collectors.base import (
    SourceSettings,
)

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
    "total_reach_by_location",
    "br_total_reach",
)
#: Requested since v24+ clients ask for them (landscape notes §2.1), but their shapes are not
#: documented: :func:`~collectors.meta.normalise.normalise` keeps them, as sent, in ``ads.extra``.
UNMAPPED_FIELDS = frozenset({"total_reach_by_location", "br_total_reach"})

#: The default Graph API version: v26.0 (2026-07-29) is the newest version whose field names a
#: published 2026 collector confirms (``target_locations`` types, ``br_total_reach``,
#: ``total_reach_by_location``; landscape notes §2.1); v27.0 (2026-11-04) is too new for that.
DEFAULT_API_VERSION = "v26.0"
#: Release dates of Graph API versions (developers.facebook.com/docs/graph-api/changelog/
#: versions; landscape notes item 0.6). Meta retires a version about two years after release.
API_RELEASES: dict[tuple[int, int], date] = {
    (19, 0): date(2024, 1, 23),
    (20, 0): date(2024, 5, 21),
    (21, 0): date(2024, 10, 2),
    (22, 0): date(2025, 1, 21),
    (23, 0): date(2025, 5, 29),
    (24, 0): date(2025, 10, 8),
    (25, 0): date(2026, 2, 18),
    (26, 0): date(2026, 7, 29),
    (27, 0): date(2026, 11, 4),
}
#: How old a version may be before `adlib status` warns (Meta's deprecation horizon).
API_VERSION_MAX_AGE_DAYS = 730

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
POLITICAL_AD_TYPE = "POLITICAL_AND_ISSUE_ADS"
TOKEN_HELP = "see docs/platforms/meta.md, 'Getting a token'"

AdType = Literal[
    "POLITICAL_AND_ISSUE_ADS",
    "ALL",
    "CREDIT_ADS",
    "EMPLOYMENT_ADS",
    "HOUSING_ADS",
    "FINANCIAL_PRODUCTS_AND_SERVICES_ADS",
]


#: Where Meta's all-ads library holds ads of any type: the EU, the EEA (Meta applies the DSA
#: there too) and, since 2025, the UK (landscape notes item 0.5).
ALL_ADS_COUNTRIES = frozenset(
    {"AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE"}
    | {"IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE"}
    | {"IS", "LI", "NO", "GB"}
)
#: Scopes ``watchlist:FR``: the watchlist's Pages in one country's all-ads library.
WATCH_PREFIX = "watchlist:"
#: ``search_page_ids`` takes at most ten ids per request (DOC-API; RADLIB stops above ten).
PAGE_IDS_PER_REQUEST = 10


class Watchlist(BaseModel):
    """``sources.meta.watchlist``: Pages whose ads of any type are collected in the EU/UK."""

    model_config = ConfigDict(extra="forbid")

    page_ids: list[str] = Field(default_factory=list, description="Facebook Page ids")
    page_ids_file: Path | None = Field(
        default=None,
        description="a file with one Page id a line ('#' starts a comment); relative to "
        "the directory adlib runs in",
    )
    countries: list[str] = Field(
        default_factory=list, description="EU/EEA or GB codes to collect the Pages' ads in"
    )

    @field_validator("countries")
    @classmethod
    def _all_ads_countries(cls, value: list[str]) -> list[str]:
        codes = ["GB" if c.strip().upper() == "UK" else c.strip().upper() for c in value]
        outside = [c for c in codes if c not in ALL_ADS_COUNTRIES]
        if outside:
            raise ValueError(
                f"{', '.join(outside)}: Meta's all-ads library covers only EU/EEA countries and "
                "GB; list political-only countries under countries instead"
            )
        return list(dict.fromkeys(codes))

    @model_validator(mode="after")
    def _read_file(self) -> Watchlist:
        ids = [str(i).strip() for i in self.page_ids]
        if self.page_ids_file is not None:
            try:
                text = self.page_ids_file.read_text(encoding="utf-8")
            except OSError as exc:
                raise ValueError(f"cannot read page_ids_file {self.page_ids_file}: {exc}") from None
            ids += [line.split("#", 1)[0].strip() for line in text.splitlines()]
        ids = [i for i in ids if i]
        bad = next((i for i in ids if not i.isdigit()), None)
        if bad is not None:
            raise ValueError(f"{bad!r} is not a Page id (digits only)")
        self.page_ids = list(dict.fromkeys(ids))
        if self.countries and not self.page_ids:
            raise ValueError("countries are listed but no page_ids (or page_ids_file) to watch")
        return self

    def batches(self) -> list[list[str]]:
        """The Page ids in groups of at most :data:`PAGE_IDS_PER_REQUEST`."""
        step = PAGE_IDS_PER_REQUEST
        return [self.page_ids[i : i + step] for i in range(0, len(self.page_ids), step)]


class MetaSettings(SourceSettings):
    """``sources.meta`` in ``config.yaml``."""

    base_url: str = Field(
        default="https://graph.facebook.com",
        description="Graph API host; point it at a replica only for tests and the demo",
    )
    api_version: str = Field(
        default=DEFAULT_API_VERSION,
        pattern=r"^v\d+\.\d+$",
        description="Graph API version; `adlib status` warns once it is two years old",
    )
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
    watchlist: Watchlist = Field(
        default_factory=Watchlist,
        description="Pages whose ads of any type are collected each night in EU/UK countries",
    )

    @field_validator("base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")


def version_released(version: str) -> tuple[date, bool] | None:
    """When ``version`` (``vNN.N``) came out: ``(date, exact)``; ``exact`` False means "before".

    A version older than the table was released before its oldest entry; one newer than the
    table (or unparsable) returns ``None``: nothing is known against it.
    """
    match = re.fullmatch(r"v(\d+)\.(\d+)", version)
    if match is None:
        return None
    key = (int(match.group(1)), int(match.group(2)))
    if key in API_RELEASES:
        return API_RELEASES[key], True
    oldest = min(API_RELEASES)
    if key < oldest:
        return API_RELEASES[oldest], False
    return None


def version_advisory(version: str, today: date) -> str | None:
    """A warning when ``version`` is more than two years old on ``today``, else ``None``."""
    released = version_released(version)
    if released is None:
        return None
    day, exact = released
    if (today - day).days <= API_VERSION_MAX_AGE_DAYS:
        return None
    when = f"on {day}" if exact else f"before {day}"
    return (
        f"sources.meta.api_version {version} was released {when}, more than two years ago; "
        f"Meta retires Graph API versions about two years after release: set api_version "
        f"to {DEFAULT_API_VERSION} (the default) or newer"
    )
