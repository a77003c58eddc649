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

One job per module: ``settings`` (config key, scope, member names), ``ids`` (renumbered ids and
the mapping files), ``cells`` (impressions, geo targeting, spend ranges and amounts),
``creatives`` (creative-stats rows as ads), ``aggregates`` (advertiser-stats, spend tables,
declarations, keywords) and ``collector`` (the collector and its reading plan).
"""

from collectors.google.aggregates import (
    AdvertiserStatsParser,
    DeclaredStatsParser,
    SpendTableParser,
    TopKeywordsParser,
    normalise_advertiser_row,
)
from collectors.google.cells import parse_impressions, split_geo_targeting
from collectors.google.collector import GoogleCollector, bundle_parsers
from collectors.google.creatives import CreativeStatsParser, normalise_creative_row
from collectors.google.ids import BundleIds, IdMap, IdMappingParser
from collectors.google.settings import CREATIVE_STATS, SCOPE, SOURCE, GoogleSettings

__all__ = [
    "CREATIVE_STATS",
    "SCOPE",
    "SOURCE",
    "AdvertiserStatsParser",
    "BundleIds",
    "CreativeStatsParser",
    "DeclaredStatsParser",
    "GoogleCollector",
    "GoogleSettings",
    "IdMap",
    "IdMappingParser",
    "SpendTableParser",
    "TopKeywordsParser",
    "bundle_parsers",
    "normalise_advertiser_row",
    "normalise_creative_row",
    "parse_impressions",
    "split_geo_targeting",
]
