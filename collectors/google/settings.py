"""``sources.google`` settings and the bundle's fixed names: the scope and its member files."""

from __future__ import annotations

from pydantic import Field

from collectors.bulk import BulkFileSettings

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


class GoogleSettings(BulkFileSettings):
    """``sources.google`` in ``config.yaml``."""

    bundle_url: str = Field(
        default=DEFAULT_BUNDLE_URL, description="URL of the transparency bundle zip"
    )
