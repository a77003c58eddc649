"""The Graph API replica itself: shapes, query semantics, paging, usage and errors over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from typing import Any

import httpx
import pytest

from collectors.replicas.meta import EU, MetaReplica
from collectors.replicas.server import ReplicaServer

TOKEN = "EAAreplicaOWNtests77"
FIELDS = "id,ad_delivery_stop_time,spend"


@pytest.fixture(scope="module")
def rep() -> MetaReplica:
    return MetaReplica(n_ads=1500, countries=["US", "FR", "KE"], seed=9, token=TOKEN)


@pytest.fixture(scope="module")
def http(rep: MetaReplica) -> Iterator[httpx.Client]:
    with ReplicaServer(rep) as server, httpx.Client(base_url=server.url) as client:
        yield client


def get(http: httpx.Client, **params: Any) -> httpx.Response:
    query = {"access_token": TOKEN, "ad_reached_countries": "['US']", **params}
    return http.get("/v23.0/ads_archive", params={k: v for k, v in query.items() if v is not None})


def test_generated_ads_have_the_real_shapes(rep: MetaReplica) -> None:
    ads = [rep.ad(ad_id) for ad_id in rep.ad_ids]
    assert all(isinstance(ad["ad_creative_bodies"], list) for ad in ads)
    assert all(len(ad["ad_delivery_start_time"]) == 10 for ad in ads)  # date-only
    assert any("ad_delivery_stop_time" not in ad for ad in ads)  # running ads
    assert any("upper_bound" not in ad["impressions"] for ad in ads)  # open top bucket
    assert any("upper_bound" not in ad["estimated_audience_size"] for ad in ads)
    shares = [row["percentage"] for ad in ads for row in ad["delivery_by_region"]]
    assert all(isinstance(s, str) for s in shares) and any("E-" in s for s in shares)
    assert any(
        len(ad["delivery_by_region"]) > len({r["region"] for r in ad["delivery_by_region"]})
        for ad in ads
    )
    demographics = [row for ad in ads for row in ad["demographic_distribution"]]
    assert {row["gender"] for row in demographics} == {"female", "male", "unknown"}
    assert "13-17" in {row["age"] for row in demographics}
    assert all(1 <= len(ad["delivery_by_region"]) <= 13 for ad in ads)
    assert all(4 <= len(ad["demographic_distribution"]) <= 20 for ad in ads)
    assert all(f"access_token={TOKEN}" in ad["ad_snapshot_url"] for ad in ads)
    eu = [ad for ad in ads if "age_country_gender_reach_breakdown" in ad]
    assert eu and all(ad["currency"] == "EUR" or ad["beneficiary_payers"] for ad in eu)
    assert {row["country"] for ad in eu for row in ad["age_country_gender_reach_breakdown"]} <= EU


def test_generation_is_deterministic() -> None:
    one, two = MetaReplica(n_ads=50, seed=4), MetaReplica(n_ads=50, seed=4)
    assert [one.ad(i) for i in one.ad_ids] == [two.ad(i) for i in two.ad_ids]
    assert MetaReplica(n_ads=50, seed=5).ad_ids != one.ad_ids


def test_some_ads_reach_two_countries(rep: MetaReplica) -> None:
    us, fr = set(rep.ads_for("US")), set(rep.ads_for("FR"))
    assert us & fr and us - fr


def test_paging_walks_the_whole_country_and_next_carries_the_token(
    rep: MetaReplica, http: httpx.Client
) -> None:
    seen: list[str] = []
    after = None
    while True:
        response = get(http, fields=FIELDS, ad_active_status="ALL", limit=400, after=after)
        assert response.status_code == 200
        body = response.json()
        seen += [ad["id"] for ad in body["data"]]
        if "paging" not in body:
            break
        assert f"access_token={TOKEN}" in body["paging"]["next"]
        assert '"next":"http:\\/\\/' in response.text  # Graph escapes "/" as "\\/"
        after = body["paging"]["cursors"]["after"]
    assert seen == rep.ads_for("US")


def test_active_status_defaults_to_active(rep: MetaReplica, http: httpx.Client) -> None:
    body = get(http, fields=FIELDS, limit=1000).json()
    assert all("ad_delivery_stop_time" not in ad for ad in body["data"])
    assert [ad["id"] for ad in body["data"]] == rep.ads_for("US", status="ACTIVE")


def test_date_min_drops_ads_that_stopped_before_it(rep: MetaReplica, http: httpx.Client) -> None:
    since = rep.today.replace(day=1)
    query = {"fields": FIELDS, "ad_active_status": "ALL", "limit": 1000}
    body = get(http, **query, ad_delivery_date_min=since.isoformat()).json()
    stops = [ad.get("ad_delivery_stop_time") for ad in body["data"]]
    assert all(stop is None or date.fromisoformat(stop) >= since for stop in stops)
    assert [ad["id"] for ad in body["data"]] == rep.ads_for("US", since=since)


def test_only_requested_fields_and_unknown_field_is_code_100(http: httpx.Client) -> None:
    (ad,) = get(http, fields="spend", limit=1).json()["data"]
    assert set(ad) == {"id", "spend"}
    error = get(http, fields="spend,funding_entity").json()["error"]
    assert error["code"] == 100 and "funding_entity" in error["message"]


def test_cursor_is_bound_to_its_query(http: httpx.Client) -> None:
    after = get(http, limit=5, ad_active_status="ALL").json()["paging"]["cursors"]["after"]
    response = get(
        http, limit=5, ad_active_status="ALL", ad_reached_countries="['FR']", after=after
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == 100
    assert get(http, limit=5, ad_active_status="ALL", after="garbage!").status_code == 400


def test_errors_for_missing_country_token_and_path(http: httpx.Client) -> None:
    assert get(http, ad_reached_countries=None).json()["error"]["code"] == 100
    bad_token = get(http, access_token="EAAwrong")
    assert bad_token.status_code == 400
    assert bad_token.json()["error"] == {
        "message": "Invalid OAuth 2.0 Access Token",
        "type": "OAuthException",
        "code": 190,
        "fbtrace_id": bad_token.json()["error"]["fbtrace_id"],
    }
    assert http.get("/v23.0/nothing", params={"access_token": TOKEN}).status_code == 400


def test_usage_header_rises_with_calls() -> None:
    def call_count(client: httpx.Client) -> int:
        header = json.loads(get(client, limit=1).headers["x-business-use-case-usage"])
        (entries,) = header.values()
        assert set(entries[0]) == {
            "type",
            "call_count",
            "total_cputime",
            "total_time",
            "estimated_time_to_regain_access",
        }
        return int(entries[0]["call_count"])

    replica = MetaReplica(n_ads=10, usage_per_call=10, token=TOKEN)
    with ReplicaServer(replica) as server, httpx.Client(base_url=server.url) as client:
        assert [call_count(client) for _ in range(3)] == [10, 20, 30]


def test_forced_throttle_and_unknown_outcome() -> None:
    replica = MetaReplica(n_ads=10, token=TOKEN, throttle_regain_minutes=3, throttle_retry_after=1)
    replica.force("throttle_613")
    with ReplicaServer(replica) as server, httpx.Client(base_url=server.url) as client:
        response = get(client)
    assert response.json()["error"]["code"] == 613
    assert response.headers["Retry-After"] == "1"
    (usage,) = json.loads(response.headers["x-business-use-case-usage"]).values()
    assert usage[0]["call_count"] == 100 and usage[0]["estimated_time_to_regain_access"] == 3
    with pytest.raises(ValueError, match="unknown outcome"):
        replica.force("meteor_strike")
    with pytest.raises(ValueError, match="unknown fault kinds"):
        MetaReplica(faults=["meteor_strike"])


def test_mutations() -> None:
    replica = MetaReplica(n_ads=400, seed=2)
    before = {i: replica.ad(i) for i in replica.ad_ids}
    bumped = replica.bump_spend(4)
    changed = [i for i in before if replica.ad(i) != before[i]]
    assert sorted(changed) == sorted(bumped)
    assert all("ad_delivery_stop_time" not in replica.ad(i) for i in bumped)  # running ads
    added = replica.add_ads(3)
    assert all(replica.ad(i) == before[i] for i in before if i not in bumped)
    assert all(replica.ad(i)["ad_delivery_start_time"] == replica.today.isoformat() for i in added)
    with pytest.raises(ValueError, match="running ads"):
        replica.bump_spend(10_000)


def test_debug_token(http: httpx.Client) -> None:
    params = {"input_token": TOKEN, "access_token": TOKEN}
    data = http.get("/v23.0/debug_token", params=params).json()["data"]
    assert data["is_valid"] is True and data["expires_at"] > 0 and "ads_read" in data["scopes"]
    other = http.get("/v23.0/debug_token", params={**params, "input_token": "EAAother"}).json()
    assert other["data"]["is_valid"] is False
