"""SnapCollector.fetch end to end against the yearly-zip replica, over real loopback sockets."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from collectors.records import Page
from collectors.replicas.bulkfile import BulkFileEndpoint
from collectors.replicas.server import ReplicaServer
from collectors.replicas.snap import HEADER_38, SnapReplica, sample_rows
from collectors.snap import SnapCollector, SnapSettings
from tests.collectors.bulk_helpers import collect, context

ADS = 12


@pytest.fixture
def replica(tmp_path: Path) -> SnapReplica:
    return SnapReplica(tmp_path / "replica", years=(2019, 2020, 2023), ads=ADS)


@pytest.fixture
def server(replica: SnapReplica) -> Iterator[ReplicaServer]:
    with ReplicaServer(replica.handle) as running:
        yield running


@pytest.fixture
def collector(
    tmp_path: Path, replica: SnapReplica, server: ReplicaServer
) -> Iterator[SnapCollector]:
    settings = SnapSettings(**replica.settings(server.url), batch_size=5)
    running = SnapCollector(settings, context(tmp_path / "data"))
    yield running
    running.close()


def ads_of(pages: list[Page]) -> dict[str, object]:
    return {ad.source_ad_id: ad for page in pages for ad in page.ads}


def test_one_scope_per_year(collector: SnapCollector) -> None:
    assert collector.scopes() == ["2019", "2020", "2023"]
    assert collector.file_url("2020").endswith("/political/2020/PoliticalAds.zip")


@pytest.mark.parametrize("year", [2019, 2020])
def test_sample_rows_import_with_their_values(collector: SnapCollector, year: int) -> None:
    ads = {ad.source_ad_id: ad for page in collect(collector, str(year)) for ad in page.ads}
    assert len(ads) == ADS + 5
    for row in sample_rows(year):
        ad = ads[row["ADID"]]
        assert ad.spend_lower == int(row["Spend"])
        assert ad.impressions_upper == int(row["Impressions"])
        assert ad.raw_ref is not None and ad.raw_ref.startswith("PoliticalAds.csv:")


def test_38_column_year(collector: SnapCollector) -> None:
    pages = collect(collector, "2023")
    ads = [ad for page in pages for ad in page.ads]
    assert len(ads) == ADS
    assert all("committee_identification_number" in ad.extra for ad in ads)
    notices = [n for p in pages for n in p.notices]
    assert not any("unknown column" in n for n in notices)
    assert not any("readme" in n for n in notices)


def test_broken_bytes_are_kept_and_counted(collector: SnapCollector) -> None:
    pages = collect(collector, "2020")
    repaired = [ad for page in pages for ad in page.ads if ad.extra.get("encoding_repaired")]
    assert len(repaired) == 1
    assert repaired[0].advertiser is not None
    assert repaired[0].advertiser.name == "Caf\ufffd Politique"
    assert any("1 row(s) had invalid UTF-8" in n for p in pages for n in p.notices)


def test_last_page_completes_the_listing(collector: SnapCollector) -> None:
    pages = collect(collector, "2019")
    assert [p.listing_complete for p in pages] == [False] * (len(pages) - 1) + [True]
    assert [p.checkpoint["row"] for p in pages if p.ads] == [5, 10, 15, 17]


def test_resume_and_unchanged(collector: SnapCollector, server: ReplicaServer) -> None:
    first = collect(collector, "2019")
    resumed = collect(collector, "2019", first[1].checkpoint)
    assert list(ads_of(first[:2])) + list(ads_of(resumed)) == list(ads_of(first))
    count = len(server.requests)
    assert collect(collector, "2019", first[-1].checkpoint) == []
    assert len(server.requests) == count + 1


def test_changed_year_is_read_again(collector: SnapCollector, replica: SnapReplica) -> None:
    state = collect(collector, "2020")[-1].checkpoint
    changed = set(replica.change_ads(2020, 0.2))
    ads = ads_of(collect(collector, "2020", state))
    assert changed <= set(ads) and len(ads) == ADS + 5


def test_unknown_member_is_reported_and_readme_ignored(tmp_path: Path) -> None:
    path = tmp_path / "PoliticalAds.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("PoliticalAds.csv", ",".join(HEADER_38) + "\n")
        archive.writestr("readme.txt", "fields")
        archive.writestr("PoliticalAds_extra.csv", "a\n1\n")
    endpoint = BulkFileEndpoint(path)
    with ReplicaServer(endpoint.handle) as running:
        settings = SnapSettings(url_template=running.url + "/{year}.zip", years=[2024])
        pages = collect(SnapCollector(settings, context(tmp_path / "data")), "2024")
    notices = [n for page in pages for n in page.notices]
    assert notices == ["member PoliticalAds_extra.csv is not imported (kept in the raw file)"]
    assert pages[-1].listing_complete and not any(page.ads for page in pages)
