"""The Google collector: one scope, one zip, and the plan for reading its members."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from collectors.bulk import BulkFileCollector, FilePlan, MemberParser, Notices
from collectors.csvstream import CsvStream
from collectors.download import BulkArchive
from collectors.files import zip_names
from collectors.google.aggregates import (
    AdvertiserStatsParser,
    DeclaredStatsParser,
    SpendTableParser,
    TopKeywordsParser,
    advertiser_geo_keys,
    geo_keys,
    weekly_keys,
)
from collectors.google.creatives import CreativeStatsParser
from collectors.google.ids import BundleIds, IdMappingParser, read_id_maps
from collectors.google.settings import (
    ADVERTISER_GEO_SPEND,
    ADVERTISER_ID_MAPPING,
    CAMPAIGN_TARGETING,
    CREATIVE_ID_MAPPING,
    CREATIVE_STATS,
    GEO_SPEND,
    SCOPE,
    SOURCE,
    UPDATED,
    WEEKLY_SPEND,
    GoogleSettings,
)
from collectors.unchanged import row_salt
from collectors.values import parse_date


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
    """The member parsers in reading order (see the package docstring for why this order)."""
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
            weekly_keys(ids),
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
            geo_keys,
        ),
        SpendTableParser(
            ADVERTISER_GEO_SPEND,
            "google_advertiser_geo_spend",
            frozenset(
                {"Advertiser_ID", "Advertiser_Name", "Country", "Country_Subdivision_Primary"}
            ),
            advertiser_geo_keys(ids),
        ),
        TopKeywordsParser(),
    ]


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


def recognise(path: Path) -> str | None:
    """`adlib import`: Google's bundle is a zip holding ``google-political-ads-creative-stats.csv``."""
    names = zip_names(path)
    return SCOPE if names is not None and CREATIVE_STATS in names else None
