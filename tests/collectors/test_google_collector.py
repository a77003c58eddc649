"""GoogleCollector.fetch end to end against the bundle replica, over real loopback sockets."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from collectors.base import TransientError
from collectors.download import CorruptArchiveError
from collectors.google import CREATIVE_STATS, GoogleCollector, GoogleSettings
from collectors.records import Page
from collectors.replicas.google import GoogleBundleReplica
from collectors.replicas.server import ReplicaServer
from tests.collectors.bulk_helpers import collect, context, files_under

ADS = 45
BATCH = 10


@pytest.fixture
def replica(tmp_path: Path) -> GoogleBundleReplica:
    return GoogleBundleReplica(tmp_path / "replica", ads=ADS)


@pytest.fixture
def server(replica: GoogleBundleReplica) -> Iterator[ReplicaServer]:
    with ReplicaServer(replica.handle) as running:
        yield running


@pytest.fixture
def collector(
    tmp_path: Path, replica: GoogleBundleReplica, server: ReplicaServer
) -> Iterator[GoogleCollector]:
    settings = GoogleSettings(**replica.settings(server.url) | {"max_retries": 0}, batch_size=BATCH)
    running = GoogleCollector(settings, context(tmp_path / "data"))
    yield running
    running.close()


def ad_ids(pages: list[Page]) -> list[str]:
    return [ad.source_ad_id for page in pages for ad in page.ads]


def test_full_bundle(collector: GoogleCollector, replica: GoogleBundleReplica) -> None:
    pages = collect(collector, "bundle")
    assert len(ad_ids(pages)) == ADS == len(set(ad_ids(pages)))
    creative_pages = [p for p in pages if p.ads]
    assert [len(p.ads) for p in creative_pages] == [10, 10, 10, 10, 5]
    assert [p.checkpoint["row"] for p in creative_pages] == [10, 20, 30, 40, 45]
    assert all(p.checkpoint["member"] == CREATIVE_STATS for p in creative_pages)
    *body, last = pages
    assert not any(p.listing_complete for p in body)
    assert last.listing_complete and last.checkpoint["done"] is True
    assert last.listing_started_at is not None
    assert last.listing_started_at.isoformat() == pages[0].checkpoint["listing_started_at"]
    assert {p.report_date for p in pages} == {date(2026, 11, 22)}
    assert all(p.raw is not None and p.raw.kind == "file" for p in pages)
    raw = pages[0].raw
    assert raw is not None and raw.sha256 and raw.path == f"raw/{raw.sha256[:2]}/{raw.sha256}.zip"
    tables = {t.table for p in pages for t in p.tables}
    assert tables == {
        "google_id_mappings",
        "google_advertiser_spend",
        "google_advertiser_declared_stats",
        "google_advertiser_weekly_spend",
        "google_geo_spend",
        "google_advertiser_geo_spend",
        "google_top_keywords",
    }
    advertisers = {a.source_advertiser_id: a for p in pages for a in p.advertisers}
    assert advertisers["AR17375362763735433217"].public_ids == ["FEC ID C00473827"]
    notices = [n for p in pages for n in p.notices]
    assert len(notices) == len(set(notices))


def test_renumbered_ids_stay_one_entity(
    collector: GoogleCollector, replica: GoogleBundleReplica
) -> None:
    pages = collect(collector, "bundle")
    ads = {ad.source_ad_id: ad for page in pages for ad in page.ads}
    assert replica.renumbered_creative is not None
    old_creative, new_creative = replica.renumbered_creative
    assert new_creative not in ads
    assert ads[old_creative].extra["current_ad_id"] == new_creative
    old_advertiser, new_advertiser = replica.renumbered_advertiser
    owners = {ad.advertiser.source_advertiser_id for ad in ads.values() if ad.advertiser}
    assert old_advertiser in owners and new_advertiser not in owners
    advertisers = {a.source_advertiser_id: a for p in pages for a in p.advertisers}
    assert advertisers[old_advertiser].extra["current_id"] == new_advertiser


def test_unchanged_bundle_costs_one_request_and_yields_nothing(
    collector: GoogleCollector, server: ReplicaServer, tmp_path: Path
) -> None:
    state = collect(collector, "bundle")[-1].checkpoint
    before = files_under(tmp_path / "data")
    count = len(server.requests)
    assert collect(collector, "bundle", state) == []
    assert len(server.requests) == count + 1
    assert "if-none-match" in server.requests[-1].headers
    assert files_under(tmp_path / "data") == before


def test_same_bytes_under_a_new_etag_only_update_the_checkpoint(
    collector: GoogleCollector, replica: GoogleBundleReplica
) -> None:
    state = collect(collector, "bundle")[-1].checkpoint
    replica.endpoint.publish(replica.endpoint.path)  # re-published: new Last-Modified
    replica.endpoint.etag = '"republished"'
    (page,) = collect(collector, "bundle", state)
    assert not page.ads and not page.listing_complete
    assert page.checkpoint["etag"] == '"republished"'
    assert page.checkpoint["sha256"] == state["sha256"] and page.checkpoint["done"]
    assert collect(collector, "bundle", page.checkpoint) == []


def test_resume_from_a_mid_file_checkpoint_yields_only_the_rest(
    collector: GoogleCollector,
) -> None:
    first = collect(collector, "bundle")
    index = next(i for i, p in enumerate(first) if p.checkpoint["row"] == 20 and p.ads)
    resumed = collect(collector, "bundle", first[index].checkpoint)
    assert ad_ids(first[: index + 1]) + ad_ids(resumed) == ad_ids(first)
    assert resumed[0].checkpoint["row"] == 30
    assert resumed[-1].listing_complete
    assert resumed[-1].listing_started_at == first[-1].listing_started_at


def test_resume_after_the_remote_file_changed_restarts_from_row_zero(
    collector: GoogleCollector, replica: GoogleBundleReplica
) -> None:
    first = collect(collector, "bundle")
    middle = next(p for p in first if p.checkpoint["row"] == 20 and p.ads).checkpoint
    replica.change_ads(0.1)
    restarted = collect(collector, "bundle", middle)
    assert len(ad_ids(restarted)) == ADS
    assert restarted[0].checkpoint["sha256"] != middle["sha256"]
    assert restarted[-1].checkpoint["listing_started_at"] > middle["listing_started_at"]


def test_resume_without_the_kept_file_downloads_again(
    collector: GoogleCollector, server: ReplicaServer, tmp_path: Path
) -> None:
    first = collect(collector, "bundle")
    middle = next(p for p in first if p.checkpoint["row"] == 20 and p.ads).checkpoint
    (tmp_path / "data" / middle["path"]).unlink()
    resumed = collect(collector, "bundle", middle)
    assert "if-none-match" not in server.requests[-1].headers
    assert ad_ids(resumed)[0] == ad_ids(first)[20]


def test_dropped_connection_fails_the_scope_and_the_next_run_succeeds(
    collector: GoogleCollector, replica: GoogleBundleReplica, tmp_path: Path
) -> None:
    replica.inject("drop")
    with pytest.raises(TransientError, match="peer closed connection"):
        collect(collector, "bundle")
    assert files_under(tmp_path / "data") == []
    assert len(ad_ids(collect(collector, "bundle"))) == ADS


def test_truncated_zip_fails_the_scope_and_the_next_run_succeeds(
    collector: GoogleCollector, replica: GoogleBundleReplica, tmp_path: Path
) -> None:
    replica.inject("truncated")
    with pytest.raises(CorruptArchiveError, match="not a readable zip"):
        collect(collector, "bundle")
    assert files_under(tmp_path / "data") == []
    assert len(ad_ids(collect(collector, "bundle"))) == ADS


def test_server_errors_fail_the_scope_clearly(
    collector: GoogleCollector, replica: GoogleBundleReplica
) -> None:
    replica.inject("5xx")
    with pytest.raises(TransientError, match="HTTP 503"):
        collect(collector, "bundle")


def test_2020_layout_with_folder_and_old_columns(
    collector: GoogleCollector, replica: GoogleBundleReplica
) -> None:
    replica.set_layout("2020")
    pages = collect(collector, "bundle")
    assert len(ad_ids(pages)) == ADS
    assert {p.report_date for p in pages} == {date(2020, 6, 18)}
    declared = [r for p in pages for t in p.tables if t.table.endswith("declared_stats")
                for r in t.rows]  # fmt: skip
    assert declared[0]["region"] == "NZ" and declared[0]["promoter_address"]
    notices = [n for p in pages for n in p.notices]
    assert not any("unknown column" in n or "not imported" in n for n in notices)
    weekly = [r for p in pages for t in p.tables if t.table.endswith("weekly_spend")
              for r in t.rows]  # fmt: skip
    assert len(weekly) == 5 and weekly[0]["election_cycle"] == "US-Federal-2018"
