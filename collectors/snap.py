"""Snap's Political & Advocacy Ads Library, from its yearly zips.

One scope per configured year: ``{year}/PoliticalAds.zip`` holds ``PoliticalAds.csv`` (and a
readme whose field names differ from the header, so the header is what counts). The files
through 2021 have 34 columns; later ones 38, with four committee columns inserted after
``PayingAdvertiserName``; columns are read by name, so both import alike. Download, resume and
paging are :mod:`collectors.bulk`'s. Facts and sources: ``docs/platforms/snap.md``.

Snap reports exact numbers, so ``spend_lower == spend_upper`` and likewise impressions; spend
is in the ad account's currency. ``CountryCode`` is a lower-case English name
(``united states``), mapped to ISO alpha-2. ``StartDate``/``EndDate`` are the set-up delivery
window, in UTC (``2019/04/25 08:00:57Z``).
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from pydantic import Field

from collectors.bulk import (
    BulkFileCollector,
    BulkFileSettings,
    FilePlan,
    Item,
    Notices,
    report_columns,
)
from collectors.countries import country_code
from collectors.download import BulkArchive
from collectors.files import zip_names
from collectors.records import (
    AdvertiserRecord,
    CreativeRecord,
    MentionField,
    NormalisedAd,
    SpendRange,
    TargetingItem,
)
from collectors.unchanged import row_salt
from collectors.values import parse_int, parse_utc, split_items, split_list

SOURCE = "snap"
MEMBER = "PoliticalAds.csv"
DEFAULT_URL_TEMPLATE = (
    "https://storage.googleapis.com/ad-manager-political-ads-dump/political/{year}/PoliticalAds.zip"
)

#: Targeting columns → (dimension, included). Multi-value cells are comma-joined.
TARGETING_COLUMNS: dict[str, tuple[str, bool]] = {
    "Gender": ("gender", True),
    "AgeBracket": ("age", True),
    "Regions (Included)": ("region", True),
    "Regions (Excluded)": ("region", False),
    "Electoral Districts (Included)": ("electoral_district", True),
    "Electoral Districts (Excluded)": ("electoral_district", False),
    "Radius Targeting (Included)": ("radius", True),
    "Radius Targeting (Excluded)": ("radius", False),
    "Metros (Included)": ("metro", True),
    "Metros (Excluded)": ("metro", False),
    "Postal Codes (Included)": ("postal_code", True),
    "Postal Codes (Excluded)": ("postal_code", False),
    "Location Categories (Included)": ("location_category", True),
    "Location Categories (Excluded)": ("location_category", False),
    "Interests": ("interest", True),
    "OsType": ("os", True),
    "Segments": ("segment", True),
    "Language": ("language", True),
    "AdvancedDemographics": ("advanced_demographic", True),
    "Targeting Connection Type": ("connection_type", True),
    "Targeting Carrier (ISP)": ("carrier", True),
}

#: Columns kept in ``ads.extra`` under these keys (the committee ones exist from 2022 on).
EXTRA_COLUMNS = {
    "BillingAddress": "billing_address",
    "CandidateBallotInformation": "candidate_ballot_information",
    "CommitteeName": "committee_name",
    "CommitteeIdentificationNumber": "committee_identification_number",
    "DisclosureNameOfCommittee": "disclosure_name_of_committee",
    "AdvertisingJurisdiction": "advertising_jurisdiction",
}

KNOWN_COLUMNS = frozenset(
    {
        "ADID",
        "CreativeUrl",
        "Currency Code",
        "Spend",
        "Impressions",
        "StartDate",
        "EndDate",
        "OrganizationName",
        "PayingAdvertiserName",
        "CountryCode",
        "CreativeProperties",
        *TARGETING_COLUMNS,
        *EXTRA_COLUMNS,
    }
)


class SnapSettings(BulkFileSettings):
    """``sources.snap`` in ``config.yaml``."""

    url_template: str = Field(
        default=DEFAULT_URL_TEMPLATE, description="zip URL with a {year} placeholder"
    )
    years: list[int] = Field(default_factory=lambda: [2024, 2025, 2026], min_length=1)


def normalise_snap_row(values: Mapping[str, str], notices: Notices | None = None) -> NormalisedAd:
    """One ``PoliticalAds.csv`` row as an ad; an unreadable number or date raises ValueError."""
    notices = notices or Notices()
    ad_id = values.get("ADID", "").strip()
    if not ad_id:
        raise ValueError("row without ADID")
    currency = values.get("Currency Code", "").strip().upper() or None
    spend = parse_int(values.get("Spend", ""))
    impressions = parse_int(values.get("Impressions", ""))
    organisation = values.get("OrganizationName", "").strip()
    return NormalisedAd(
        source=SOURCE,
        source_ad_id=ad_id,
        advertiser=AdvertiserRecord(organisation, name=organisation) if organisation else None,
        funder=values.get("PayingAdvertiserName", "").strip() or None,
        delivery_start=parse_utc(values.get("StartDate", "")),
        delivery_stop=parse_utc(values.get("EndDate", "")),
        currency=currency,
        spend_lower=spend,
        spend_upper=spend,
        impressions_lower=impressions,
        impressions_upper=impressions,
        countries=_countries(values.get("CountryCode", ""), notices),
        creatives=snap_creatives(values),
        targeting=snap_targeting(values),
        spends=[SpendRange(currency, spend, spend)] if currency and spend is not None else [],
        extra={key: values[col] for col, key in EXTRA_COLUMNS.items() if values.get(col)},
    )


def snap_targeting(values: Mapping[str, str]) -> list[TargetingItem]:
    """Every targeting column, one item per value, in the file's column order."""
    items = []
    for column, (dimension, included) in TARGETING_COLUMNS.items():
        for value in split_items(values.get(column, "")):
            items.append(TargetingItem(dimension, value, included))
    return items


def snap_creatives(values: Mapping[str, str]) -> list[CreativeRecord]:
    """One creative per ``;``-joined URL; ``CreativeProperties`` (the call-to-action web view)
    applies to the ad, so every creative carries it."""
    properties = values.get("CreativeProperties", "").strip() or None
    urls = split_list(values.get("CreativeUrl", ""), ";")
    if not urls:
        return [CreativeRecord(0, properties=properties)] if properties else []
    return [
        CreativeRecord(position, media_url=url, media_type=_media_type(url), properties=properties)
        for position, url in enumerate(urls)
    ]


def _media_type(url: str) -> str | None:
    """``mp4`` from ``…/asset/<hex>?mediaType=mp4``."""
    found = parse_qs(urlsplit(url).query).get("mediaType")
    return found[0].lower() if found else None


def _countries(name: str, notices: Notices) -> list[str]:
    if not name.strip():
        return []
    code = country_code(name)
    if code is None:
        notices.once(
            f"country:{name}", f"{MEMBER}: country {name!r} not recognised; ad has no country"
        )
        return []
    return [code]


@dataclass(slots=True)
class PoliticalAdsParser:
    member: str = MEMBER
    notices: Notices = field(default_factory=Notices)

    def begin(self, header: list[str], notices: Notices) -> None:
        report_columns(self.member, header, KNOWN_COLUMNS, notices, required=("ADID",))
        self.notices = notices

    def parse(self, values: dict[str, str], ref: str) -> Iterable[Item]:
        ad = normalise_snap_row(values, self.notices)
        ad.raw_ref = ref
        return (ad,)


class SnapCollector(BulkFileCollector):
    """Snap's library: one scope per configured year, one zip per scope."""

    name = SOURCE
    Settings = SnapSettings
    settings: SnapSettings
    single_member = MEMBER
    #: OrganizationName (stored as the advertiser) is "the Organization within Ads Manager who
    #: is responsible for creating the Ad", in practice often the agency; PayingAdvertiserName
    #: (the funder) and, from 2022, CommitteeName with its id are the payers.
    mention_fields = (
        MentionField("agency", "advertiser"),
        MentionField("payer", "funder"),
        MentionField(
            "payer", "extra.committee_name", entity_id="extra.committee_identification_number"
        ),
    )

    def scopes(self) -> list[str]:
        return [str(year) for year in self.settings.years]

    def file_url(self, scope: str) -> str:
        return self.settings.url_template.format(year=scope)

    def plan(self, archive: BulkArchive, notices: Notices) -> FilePlan:
        ignored = [name for name in archive.members() if name.lower().startswith("readme")]
        return FilePlan(
            parsers=[PoliticalAdsParser()],
            ignored=ignored,
            ad_member=MEMBER,
            row_salt=row_salt(SOURCE),
        )


#: Columns that only Snap's ``PoliticalAds.csv`` starts with.
_HEADER_START = ("ADID", "CreativeUrl")


def recognise(path: Path) -> str | None:
    """`adlib import`: ``PoliticalAds.zip`` or ``PoliticalAds.csv``; the scope is its ads' year."""
    names = zip_names(path)
    try:
        if names is None:
            with path.open("rb") as handle:
                return _year(handle.read(64 * 1024))
        if MEMBER not in names:
            return None
        with zipfile.ZipFile(path) as archive:
            member = next(n for n in archive.namelist() if n.rsplit("/", 1)[-1] == MEMBER)
            with archive.open(member) as handle:
                return _year(handle.read(64 * 1024))
    except (OSError, zipfile.BadZipFile):
        return None


def _year(head: bytes) -> str | None:
    """The year of the first ad's ``StartDate`` (``2020/10/15 18:53:02Z``), if the header is Snap's."""
    # Real files carry invalid UTF-8 (the reader keeps such rows with U+FFFD), and 64 KiB may
    # end inside a character: neither may hide what the file is.
    lines = head.decode("utf-8-sig", errors="replace").splitlines()[:2]
    rows = list(csv.reader(io.StringIO("\n".join(lines))))
    if len(rows) < 2 or tuple(rows[0][:2]) != _HEADER_START or "StartDate" not in rows[0]:
        return None
    start = rows[1][rows[0].index("StartDate")] if len(rows[1]) == len(rows[0]) else ""
    return start[:4] if start[:4].isdigit() else None
