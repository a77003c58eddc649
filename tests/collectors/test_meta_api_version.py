"""A current Graph API: the default version, the newer fields, a field a version removed."""

from __future__ import annotations

from datetime import date

import pytest

from collectors.base import CollectorContext, FatalError
from collectors.meta import MetaSettings, normalise
from collectors.meta.settings import DEFAULT_API_VERSION, version_advisory

from .test_meta_collector import Serve, ads_requests, collect, collector, ids, replica, serve

__all__ = ["serve"]  # the fixture, imported for this module's tests


def test_default_version_is_current_and_requests_the_newer_fields(
    serve: Serve, context: CollectorContext
) -> None:
    assert MetaSettings().api_version == DEFAULT_API_VERSION == "v26.0"
    server = serve(replica(n_ads=40))
    pages = collect(collector(server, context, api_version=MetaSettings().api_version))
    assert pages and all(r.path == "/v26.0/ads_archive" for r in server.requests)
    asked = set(ads_requests(server)[0]["fields"].split(","))
    newer = {"total_reach_by_location", "br_total_reach", "beneficiary_payers", "target_ages"}
    assert newer <= asked
    assert not any(page.notices for page in pages)


def test_a_field_the_version_removed_is_dropped_once_and_the_pass_completes(
    serve: Serve, context: CollectorContext
) -> None:
    meta_replica = replica(removed_fields=["br_total_reach", "total_reach_by_location"])
    server = serve(meta_replica)
    pages = collect(collector(server, context))
    assert ids(pages) == meta_replica.ads_for("US")
    notices = list(dict.fromkeys(n for page in pages for n in page.notices))
    assert len(notices) == 2
    assert all("has no field" in n for n in notices)
    assert {n.split("'")[1] for n in notices} == {"br_total_reach", "total_reach_by_location"}
    requests = ads_requests(server)
    assert len(requests) == len(pages) + 2  # one refused request per removed field
    later = [set(r["fields"].split(",")) for r in requests[2:]]
    assert all(not {"br_total_reach", "total_reach_by_location"} & fields for fields in later)


def test_a_field_that_cannot_be_dropped_still_fails_the_scope(
    serve: Serve, context: CollectorContext
) -> None:
    server = serve(replica(removed_fields=["id"]))
    with pytest.raises(FatalError, match="nonexisting field"):
        collect(collector(server, context))


def test_the_newer_fields_are_kept_as_sent_in_extra() -> None:
    raw = {
        "id": "123",
        "br_total_reach": 45000,
        "total_reach_by_location": [{"location": "BR", "reach": 45000}],
    }
    ad = normalise(raw, "BR")
    assert ad.extra["br_total_reach"] == 45000
    assert ad.extra["total_reach_by_location"] == [{"location": "BR", "reach": 45000}]


@pytest.mark.parametrize(
    ("version", "today", "warned"),
    [
        ("v26.0", date(2026, 11, 30), None),
        ("v24.0", date(2027, 10, 8), None),  # two years to the day: not yet
        ("v24.0", date(2027, 10, 10), "released on 2025-10-08"),
        ("v14.0", date(2026, 11, 30), "released before 2024-01-23"),
        ("v99.0", date(2026, 11, 30), None),  # newer than anything known: nothing to say
    ],
)
def test_version_advisory(version: str, today: date, warned: str | None) -> None:
    advisory = version_advisory(version, today)
    if warned is None:
        assert advisory is None
    else:
        assert advisory is not None and warned in advisory and "v26.0" in advisory
