"""MetaCollector against the Graph API replica over real loopback sockets."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from collectors import collector_class
from collectors.base import (
    CollectorContext,
    FatalError,
    ThrottledError,
    TokenRejected,
    TransientError,
)
from collectors.http import WaitTooLong
from collectors.meta import MetaCollector, MetaSettings, token_expiry
from collectors.meta.responses import GraphResponses, ReduceData, parse_usage
from collectors.records import Page
from collectors.redact import Redactor
from collectors.replicas.meta import FAULTS, MetaReplica
from collectors.replicas.server import ReplicaServer

from .conftest import RecordingSleep

TOKEN = "EAAtestTOKENforMetaReplica0042"
FIXTURES = Path(__file__).parent.parent / "fixtures" / "meta"

Serve = Callable[[MetaReplica], ReplicaServer]


@pytest.fixture
def serve() -> Iterator[Serve]:
    servers: list[ReplicaServer] = []

    def start(replica: MetaReplica) -> ReplicaServer:
        servers.append(ReplicaServer(replica).start())
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def replica(**options: Any) -> MetaReplica:
    defaults: dict[str, Any] = {"n_ads": 300, "countries": ["US", "GB"], "seed": 3, "token": TOKEN}
    return MetaReplica(**{**defaults, **options})


def collector(server: ReplicaServer, context: CollectorContext, **settings: Any) -> MetaCollector:
    options = {"base_url": server.url, "access_token": TOKEN, "page_size": 50, **settings}
    return MetaCollector(MetaSettings(**options), context)


def collect(meta: MetaCollector, scope: str = "US", state: Any = None) -> list[Page]:
    try:
        return list(meta.fetch(scope, state))
    finally:
        meta.close()


def ids(pages: list[Page]) -> list[str]:
    return [ad.source_ad_id for page in pages for ad in page.ads]


def ads_requests(server: ReplicaServer) -> list[dict[str, str]]:
    return [r.query for r in server.requests if r.path.endswith("/ads_archive")]


# -- the contract -----------------------------------------------------------------------------


def test_registered_and_configured(context: CollectorContext) -> None:
    assert collector_class("meta") is MetaCollector
    context.countries = ["US", "uk", "GB", "FR"]
    meta = MetaCollector(MetaSettings(access_token=TOKEN), context)
    assert meta.settings.base_url == "https://graph.facebook.com"  # the real API by default
    assert meta.scopes() == ["US", "GB", "FR"]
    assert meta.secrets() == [TOKEN]
    assert meta.skip_reason() is None


def test_skipped_without_a_token(context: CollectorContext) -> None:
    meta = MetaCollector(MetaSettings(), context)
    assert meta.skip_reason() == (
        "no access token: set META_ACCESS_TOKEN (see README, 'Collect for real')"
    )
    assert meta.secrets() == []


# -- paging -----------------------------------------------------------------------------------


def test_full_pass_returns_every_ad_of_the_country(serve: Serve, context: CollectorContext) -> None:
    rep = replica()
    server = serve(rep)
    settings = MetaSettings(**rep.settings(server.url), page_size=50)
    pages = collect(MetaCollector(settings, context), "US")
    assert ids(pages) == rep.ads_for("US")
    assert len(pages) == -(-len(rep.ads_for("US")) // 50)
    queries = ads_requests(server)
    first = queries[0]
    assert first["ad_reached_countries"] == "['US']"
    assert first["ad_active_status"] == "ALL"
    assert first["ad_type"] == "POLITICAL_AND_ISSUE_ADS"
    assert "ad_delivery_date_min" not in first  # first pass, no backfill_since
    assert "after" not in first and all("after" in q for q in queries[1:])
    today = datetime.now(UTC).date().isoformat()
    assert pages[0].checkpoint["pass"]["after"] == queries[1]["after"]
    assert pages[-1].checkpoint == {
        "ad_type": "POLITICAL_AND_ISSUE_ADS",
        "watermark": today,
        "pass": None,
    }


def test_ads_reaching_two_countries_appear_in_both_scopes(
    serve: Serve, context: CollectorContext
) -> None:
    rep = replica()
    server = serve(rep)
    us, gb = (
        ids(collect(collector(server, context), "US")),
        ids(collect(collector(server, context), "GB")),
    )
    shared = set(us) & set(gb)
    assert shared
    assert len(shared) < len(us)
    ad = next(
        a
        for p in collect(collector(server, context), "GB")
        for a in p.ads
        if a.source_ad_id in shared
    )
    assert ad.countries == ["GB"]  # the loader unions countries across scopes


def test_never_follows_paging_next(serve: Serve, context: CollectorContext) -> None:
    rep = replica(next_base_url="http://127.0.0.2:9")
    server = serve(rep)
    pages = collect(collector(server, context), "US")
    assert ids(pages) == rep.ads_for("US")
    first_body = json.loads(pages[0].raw.content)  # type: ignore[union-attr]
    assert first_body["paging"]["next"].startswith("http://127.0.0.2:9/")
    assert len(server.requests) == len(pages)  # every request went to base_url


def test_repeated_cursor_keeps_the_pass_open_and_fails_the_scope(
    serve: Serve, context: CollectorContext
) -> None:
    rep = replica()
    rep.force("ok", "stuck_cursor")
    server = serve(rep)
    meta = collector(server, context)
    pages: list[Page] = []
    with pytest.raises(TransientError, match="same page cursor twice"):
        pages.extend(meta.fetch("US", None))
    assert ids(pages) == rep.ads_for("US")[:100]  # the repeated page's ads are kept
    state = pages[-1].checkpoint
    assert state["pass"]["after"] == pages[0].checkpoint["pass"]["after"]  # last good cursor
    assert state["watermark"] is None  # nothing skipped ahead
    rest = collect(collector(server, context), "US", state)
    assert set(ids(pages) + ids(rest)) == set(rep.ads_for("US"))
    assert rest[-1].checkpoint["pass"] is None


def test_empty_country(serve: Serve, context: CollectorContext) -> None:
    server = serve(replica(countries=["US"]))
    (page,) = collect(collector(server, context), "KE")
    assert page.ads == [] and page.checkpoint["pass"] is None and page.raw is not None


# -- faults -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", FAULTS)
def test_each_fault_is_retried_and_the_pass_completes(
    fault: str, serve: Serve, context: CollectorContext, sleeps: RecordingSleep
) -> None:
    rep = replica(slow_seconds=1.0)
    rep.force("ok", fault)  # the second request, which carries a cursor, fails once
    server = serve(rep)
    pages = collect(collector(server, context, timeout_seconds=0.4), "US")
    assert ids(pages) == rep.ads_for("US")
    assert len(sleeps.calls) == 1
    queries = ads_requests(server)
    assert queries[1]["after"] == queries[2]["after"]  # the same cursor, asked again


def test_reduce_the_amount_of_data_halves_then_regrows_the_page_size(
    serve: Serve, context: CollectorContext
) -> None:
    rep = replica(n_ads=3000, reduce_data_above=100)
    server = serve(rep)
    pages = collect(collector(server, context, page_size=250), "US")
    assert ids(pages) == rep.ads_for("US")
    limits = [int(q["limit"]) for q in ads_requests(server)]
    assert limits[:8] == [250, 125, 62, 62, 62, 62, 62, 78]  # x1.25 after 5 successes
    assert 98 in limits and 123 in limits  # regrowth probes above the limit, then shrinks
    assert all(len(page.ads) <= 100 for page in pages)
    assert pages[0].checkpoint["pass"]["limit"] == 62


def test_random_faults_still_yield_exactly_the_country_s_ads(
    serve: Serve, context: CollectorContext
) -> None:
    rep = replica(
        n_ads=600, fault_rate=0.3, fault_seed=11, faults=[f for f in FAULTS if f != "slow"]
    )
    server = serve(rep)
    pages = collect(collector(server, context, max_retries=10), "US")
    assert ids(pages) == rep.ads_for("US")
    assert len(server.requests) > len(pages)


def test_bad_record_is_quarantined_and_the_page_still_loads(
    serve: Serve, context: CollectorContext
) -> None:
    rep = replica()
    rep.force("bad_record")
    pages = collect(collector(serve(rep), context), "US")
    (bad,) = pages[0].quarantined
    assert bad.raw_ref == rep.ads_for("US")[0]
    assert "delivery_by_region must be a list" in bad.reason
    assert TOKEN not in bad.payload and "REDACTED" in bad.payload
    assert ids(pages) == rep.ads_for("US")[1:]


# -- fatal errors and throttling ---------------------------------------------------------------


def test_invalid_token_is_fatal_with_a_clear_message(
    serve: Serve, context: CollectorContext, sleeps: RecordingSleep
) -> None:
    rep = replica()
    rep.set_token_valid(False)
    server = serve(rep)
    with pytest.raises(TokenRejected) as caught:
        collect(collector(server, context), "US")
    message = str(caught.value)
    assert message.startswith("Meta rejected the access token (code 190)")
    assert "create a new long-lived token" in message
    assert TOKEN not in message
    assert len(server.requests) == 1 and sleeps.calls == []


def test_throttling_waits_what_meta_asks(
    serve: Serve, context: CollectorContext, sleeps: RecordingSleep
) -> None:
    rep = replica(throttle_regain_minutes=2)
    rep.force("throttle_613")
    pages = collect(collector(serve(rep), context), "US")
    assert ids(pages) == rep.ads_for("US")
    assert sleeps.calls == [120]  # estimated_time_to_regain_access is in minutes


def test_throttling_longer_than_max_wait_stops_the_scope(
    serve: Serve, context: CollectorContext, sleeps: RecordingSleep
) -> None:
    rep = replica(throttle_regain_minutes=30)
    rep.force("ok", "throttle_4")
    meta = collector(serve(rep), context, max_wait_seconds=900)
    fetched = meta.fetch("US", None)
    first = next(fetched)  # the first page arrives and can be committed
    with pytest.raises(WaitTooLong, match=r"throttled for 1800 s .*retry later"):
        next(fetched)
    assert first.checkpoint["pass"]["after"]
    assert sleeps.calls == []


def test_high_usage_slows_down_before_being_throttled(
    serve: Serve, context: CollectorContext, sleeps: RecordingSleep
) -> None:
    rep = replica(usage_per_call=41)  # 41 %, then 82 %, then 100 %
    pages = collect(collector(serve(rep), context), "US")
    assert ids(pages) == rep.ads_for("US")
    assert sleeps.calls[:2] == [10.0, 90.0]  # WMP's ladder: >=80 % -> 10 s, >=95 % -> 90 s


def test_exhausted_retries_fail_the_scope(
    serve: Serve, context: CollectorContext, sleeps: RecordingSleep
) -> None:
    rep = replica()
    rep.force(*["unknown_error"] * 3)
    with pytest.raises(TransientError, match="An unknown error occurred"):
        collect(collector(serve(rep), context, max_retries=2), "US")
    assert len(sleeps.calls) == 2


def _observed_errors() -> list[dict[str, Any]]:
    return json.loads((FIXTURES / "errors_and_headers_observed.json").read_text())["errors"]


@pytest.mark.parametrize(
    ("index", "expected"),
    [
        (0, TransientError),
        (1, TransientError),
        (2, ReduceData),
        (3, TransientError),
        (4, TokenRejected),  # code 10/2332002: the token's account lacks access
    ],
)
def test_real_error_bodies_are_classified(index: int, expected: type[Exception]) -> None:
    sample = _observed_errors()[index]
    body = sample["body"].encode()
    if body.startswith(b"HTML page"):
        body = b"<html><body>Sorry, something went wrong.</body></html>"
    status = sample["http_status"] or 400
    response = httpx.Response(status, content=body, request=httpx.Request("GET", "http://x/"))
    responses = GraphResponses(Redactor([TOKEN]), throttle_wait_seconds=60)
    with pytest.raises(expected) as caught:
        responses.body(response, "graph/ads_archive")
    assert type(caught.value) is expected
    if index == 4:  # code 10 / 2332002: identity confirmation
        assert "facebook.com/ID" in str(caught.value)


def test_real_usage_headers_parse() -> None:
    raw = json.loads((FIXTURES / "errors_and_headers_observed.json").read_text())
    old = parse_usage(raw["x_business_use_case_usage_header_2019"]["value"])
    new = parse_usage(raw["x_business_use_case_usage_header_2023_example"]["value"])
    assert old is not None and (old.percent, old.regain_minutes) == (0, 0)
    assert new is not None and new.percent == 37 and new.pause_seconds() == 0


def test_an_error_at_full_usage_is_throttling() -> None:
    usage = json.dumps({"1": [{"call_count": 100, "estimated_time_to_regain_access": 0}]})
    body = json.dumps({"error": {"code": 1, "message": "An unknown error occurred"}})
    response = httpx.Response(
        500,
        content=body.encode(),
        headers={"x-business-use-case-usage": usage, "Retry-After": "5"},
        request=httpx.Request("GET", "http://x/"),
    )
    with pytest.raises(ThrottledError) as caught:
        GraphResponses(Redactor([TOKEN]), 60).body(response, "graph/ads_archive")
    assert caught.value.wait_seconds == 5


def test_a_malformed_token_echoed_by_meta_is_redacted() -> None:
    body = json.dumps({"error": {"code": 190, "message": f"Malformed access token {TOKEN}"}})
    response = httpx.Response(400, content=body.encode(), request=httpx.Request("GET", "http://x/"))
    with pytest.raises(FatalError) as caught:
        GraphResponses(Redactor([TOKEN]), 60).body(response, "graph/ads_archive")
    assert TOKEN not in str(caught.value)


# -- resume and incremental passes -----------------------------------------------------------


def test_resume_from_a_mid_pass_checkpoint_yields_the_rest(
    serve: Serve, context: CollectorContext
) -> None:
    rep = replica()
    server = serve(rep)
    everything = collect(collector(server, context), "US")
    checkpoint = json.loads(json.dumps(everything[1].checkpoint))  # as stored in the database
    resumed = collect(collector(server, context), "US", checkpoint)
    assert ids(resumed) == rep.ads_for("US")[100:]
    assert resumed[-1].checkpoint["watermark"] == checkpoint["pass"]["started"]


def test_resume_respects_a_lowered_page_size_and_since_replaces_the_pass(
    serve: Serve, context: CollectorContext
) -> None:
    rep = replica()
    server = serve(rep)
    saved = collect(collector(server, context, page_size=100), "US")[0].checkpoint
    assert saved["pass"]["limit"] == 100 and saved["pass"]["after"]
    collect(collector(server, context, page_size=50), "US", saved)
    resumed = ads_requests(server)[-1]
    assert resumed["limit"] == "50"
    context.since = date(2025, 9, 1)
    collect(collector(server, context), "US", saved)
    replaced = next(q for q in ads_requests(server) if q.get("ad_delivery_date_min"))
    assert replaced["ad_delivery_date_min"] == "2025-09-01" and "after" not in replaced


def test_rejected_saved_cursor_restarts_the_pass(
    serve: Serve, context: CollectorContext, caplog: pytest.LogCaptureFixture
) -> None:
    rep = replica()
    server = serve(rep)
    state = {
        "ad_type": "POLITICAL_AND_ISSUE_ADS",
        "watermark": None,
        "pass": {"since": None, "started": "2026-01-02", "limit": 50, "after": "bm90LWEtY3Vyc29y"},
    }
    with caplog.at_level(logging.WARNING):
        pages = collect(collector(server, context), "US", state)
    assert ids(pages) == rep.ads_for("US")
    assert any("rejected the saved cursor" in r.getMessage() for r in caplog.records)
    assert pages[-1].checkpoint["watermark"] == "2026-01-02"


def test_incremental_pass_starts_overlap_days_before_the_watermark(
    serve: Serve, context: CollectorContext
) -> None:
    rep = replica(n_ads=1000, today=date(2026, 1, 20))
    server = serve(rep)
    state = {"ad_type": "POLITICAL_AND_ISSUE_ADS", "watermark": "2026-01-10", "pass": None}
    pages = collect(collector(server, context, overlap_days=3, page_size=25), "US", state)
    assert ads_requests(server)[0]["ad_delivery_date_min"] == "2026-01-07"
    expected = rep.ads_for("US", since=date(2026, 1, 7))
    assert ids(pages) == expected
    assert 0 < len(expected) < len(rep.ads_for("US"))
    assert len(pages) > 1
    assert pages[0].checkpoint["watermark"] == "2026-01-10"  # moves only when the pass ends
    assert pages[-1].checkpoint["watermark"] == datetime.now(UTC).date().isoformat()


def test_first_pass_uses_backfill_since_and_since_overrides(
    serve: Serve, context: CollectorContext
) -> None:
    server = serve(replica())
    collect(collector(server, context, backfill_since=date(2025, 6, 1)), "US")
    context.since = date(2025, 9, 1)
    state = {"ad_type": "POLITICAL_AND_ISSUE_ADS", "watermark": "2026-01-10", "pass": None}
    collect(collector(server, context), "US", state)
    requested = {q.get("ad_delivery_date_min") for q in ads_requests(server)}
    assert requested == {"2025-06-01", "2025-09-01"}


def test_checkpoint_for_another_ad_type_is_not_reused(
    serve: Serve, context: CollectorContext
) -> None:
    server = serve(replica())
    state = {"ad_type": "ALL", "watermark": "2026-01-10", "pass": None}
    collect(collector(server, context), "US", state)
    assert "ad_delivery_date_min" not in ads_requests(server)[0]


def test_next_collection_sees_exactly_the_bumped_and_added_ads(
    serve: Serve, context: CollectorContext
) -> None:
    rep = replica()
    server = serve(rep)
    first = {ad.source_ad_id: ad for p in collect(collector(server, context), "US") for ad in p.ads}
    bumped, added = rep.bump_spend(3), rep.add_ads(2)
    state = {"ad_type": "POLITICAL_AND_ISSUE_ADS", "watermark": rep.today.isoformat(), "pass": None}
    second = {
        ad.source_ad_id: ad
        for p in collect(collector(server, context), "US", state)
        for ad in p.ads
    }
    changed = {i for i, ad in second.items() if i in first and ad != first[i]}
    us_added = [i for i in added if i in rep.ads_for("US")]
    assert changed == {i for i in bumped if i in rep.ads_for("US")}
    assert set(second) - set(first) == set(us_added)
    for ad_id in changed:
        assert second[ad_id].spend_lower > first[ad_id].spend_lower  # type: ignore[operator]


# -- secrets ----------------------------------------------------------------------------------


def test_token_never_reaches_archive_logs_or_errors(
    serve: Serve, context: CollectorContext, caplog: pytest.LogCaptureFixture
) -> None:
    rep = replica(fault_rate=0.4, fault_seed=5, faults=[f for f in FAULTS if f != "slow"])
    rep.force("bad_record")
    server = serve(rep)
    with caplog.at_level(logging.DEBUG):
        pages = collect(collector(server, context, max_retries=10), "US")
        rep.set_token_valid(False)
        with pytest.raises(FatalError) as caught:
            collect(collector(server, context), "US")
    assert ids(pages) == rep.ads_for("US")[1:]
    assert len(server.requests) > len(pages)  # faults happened and were logged
    for page in pages:
        assert page.raw is not None and page.raw.content is not None
        assert TOKEN not in page.raw.url and "access_token=REDACTED" in page.raw.url
        assert TOKEN.encode() not in page.raw.content
        assert all(TOKEN not in q.payload for q in page.quarantined)
        assert all(TOKEN not in json.dumps(ad.extra) for ad in page.ads)
    assert b"access_token=REDACTED" in pages[0].raw.content  # type: ignore[union-attr]
    assert any(r.name == "httpx" for r in caplog.records)
    assert all(TOKEN not in r.getMessage() for r in caplog.records)
    assert TOKEN not in str(caught.value)


# -- token expiry ----------------------------------------------------------------------------


def test_token_expiry(serve: Serve) -> None:
    rep = replica(token_expires_in=timedelta(days=59))
    server = serve(rep)
    expires = token_expiry(MetaSettings(base_url=server.url, access_token=TOKEN))
    assert expires is not None
    assert timedelta(days=58) < expires - datetime.now(UTC) <= timedelta(days=59)
    (request,) = server.requests
    assert request.path == f"/{MetaSettings().api_version}/debug_token"
    assert request.query["input_token"] == TOKEN


def test_token_expiry_never_and_invalid(serve: Serve) -> None:
    rep = replica(token_expires_in=None)
    server = serve(rep)
    settings = MetaSettings(base_url=server.url, access_token=TOKEN)
    assert token_expiry(settings) is None
    rep.set_token_valid(False)
    with pytest.raises(TokenRejected, match="code 190") as caught:
        token_expiry(settings)
    assert TOKEN not in str(caught.value)
    with pytest.raises(FatalError, match="no access token") as missing:
        token_expiry(MetaSettings(base_url=server.url))
    assert not isinstance(missing.value, TokenRejected)
