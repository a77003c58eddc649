"""Watchlists: the ads of any type of listed Pages in the EU/UK all-ads library."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from collectors.base import CollectorContext
from collectors.meta import MetaSettings
from collectors.meta.settings import Watchlist

from .test_meta_collector import TOKEN, Serve, ads_requests, collect, collector, ids, replica, serve

__all__ = ["serve"]  # the fixture, imported for this module's tests

PAGES = [str(100_000_000 + n) for n in range(12)]  # two requests: 10 + 2 ids


def watching(**options: object) -> dict[str, object]:
    return {"watchlist": {"page_ids": PAGES, "countries": ["FR"], **options}}


def test_watchlist_settings(tmp_path: Path) -> None:
    listed = tmp_path / "pages.txt"
    listed.write_text("# parties\n100000001\n100000002  # a comment\n\n100000001\n", "utf-8")
    settings = Watchlist(page_ids=["100000003"], page_ids_file=listed, countries=["fr", "uk"])
    assert settings.page_ids == ["100000003", "100000001", "100000002"]
    assert settings.countries == ["FR", "GB"]
    assert [len(b) for b in Watchlist(page_ids=PAGES, countries=["FR"]).batches()] == [10, 2]
    with pytest.raises(ValidationError, match="covers only EU/EEA countries and GB"):
        Watchlist(page_ids=PAGES, countries=["US"])
    with pytest.raises(ValidationError, match="is not a Page id"):
        Watchlist(page_ids=["Kenya Forward"], countries=["FR"])
    with pytest.raises(ValidationError, match="no page_ids"):
        Watchlist(countries=["FR"])


def test_watchlist_collects_the_pages_ads_of_any_type(
    serve: Serve, context: CollectorContext
) -> None:
    meta_replica = replica(countries=["US", "FR"], all_ads=80)
    server = serve(meta_replica)
    meta = collector(server, context, **watching())
    assert meta.scopes() == ["US", "GB", "watchlist:FR"]
    pages = collect(meta, "watchlist:FR")
    expected = meta_replica.ads_for("FR", ad_type="ALL", page_ids=PAGES)
    assert sorted(ids(pages)) == sorted(expected)
    assert len(ids(pages)) == len(set(ids(pages)))
    for request in ads_requests(server):
        assert request["ad_type"] == "ALL" and request["ad_reached_countries"] == "['FR']"
        assert 1 <= len(request["search_page_ids"].strip("[]").split(",")) <= 10
    ads = [ad for page in pages for ad in page.ads]
    political = set(meta_replica.ads_for("FR"))
    assert {ad.library for ad in ads} == {"political", "all_ads"}
    for ad in ads:
        assert ad.advertiser is not None and ad.advertiser.source_advertiser_id in PAGES
        if ad.source_ad_id in political:
            assert (ad.library, ad.ad_type) == ("political", "POLITICAL_AND_ISSUE_ADS")
        else:
            assert (ad.library, ad.ad_type) == ("all_ads", "ALL")
            assert (ad.spend_lower, ad.spend_upper, ad.impressions_lower) == (None, None, None)
            assert ad.targeting and ad.reach_breakdown and ad.beneficiary_payers
            assert ad.countries == ["FR"]
    assert pages[-1].listing_complete and pages[-1].listing_started_at is not None
    assert not any(page.listing_complete for page in pages[:-1])
    assert pages[-1].checkpoint == {"watchlist": None}


def test_an_interrupted_watchlist_resumes_where_it_stopped(
    serve: Serve, context: CollectorContext
) -> None:
    meta_replica = replica(countries=["FR"], all_ads=80)
    server = serve(meta_replica)
    everything = collect(collector(server, context, **watching()), "watchlist:FR")
    assert len(everything) >= 3
    first = everything[0]
    rest = collect(collector(server, context, **watching()), "watchlist:FR", first.checkpoint)
    assert ids([first, *rest]) == ids(everything)
    assert rest[-1].listing_started_at == everything[-1].listing_started_at
    other = watching(page_ids=PAGES[:3])  # another list: the saved pass does not apply
    again = collect(collector(server, context, **other), "watchlist:FR", first.checkpoint)
    assert set(ids(again)) == set(meta_replica.ads_for("FR", ad_type="ALL", page_ids=PAGES[:3]))


def test_replica_all_ads_only_in_the_eu_and_uk_and_at_most_ten_pages(
    serve: Serve, context: CollectorContext
) -> None:
    meta_replica = replica(countries=["US", "GB"], all_ads=40)
    assert meta_replica.ads_for("US", ad_type="ALL") == meta_replica.ads_for("US")
    assert len(meta_replica.ads_for("GB", ad_type="ALL")) == len(meta_replica.ads_for("GB")) + 40
    server = serve(meta_replica)
    settings = MetaSettings(base_url=server.url, access_token=TOKEN)
    assert settings.watchlist.countries == []
    answer = httpx.get(
        f"{server.url}/{settings.api_version}/ads_archive",
        params={
            "access_token": TOKEN,
            "ad_reached_countries": "['GB']",
            "ad_type": "ALL",
            "search_page_ids": f"[{','.join(PAGES[:11])}]",
        },
    )
    assert answer.status_code == 400 and answer.json()["error"]["code"] == 100
