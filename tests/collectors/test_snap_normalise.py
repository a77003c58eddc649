"""Snap's PoliticalAds.csv rows: every real sample row of 2019 and 2020, and a 38-column row."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import pytest

from collectors.bulk import Notices
from collectors.records import CreativeRecord, SpendRange, TargetingItem
from collectors.replicas.snap import HEADER_34, HEADER_38
from collectors.snap import PoliticalAdsParser, normalise_snap_row
from tests.conftest import SAMPLES

SNAP = SAMPLES


def sample(year: int) -> list[dict[str, str]]:
    path: Path = SNAP / f"snap_PoliticalAds_{year}_sample.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def by_id(year: int) -> dict[str, dict[str, str]]:
    return {row["ADID"][:8]: row for row in sample(year)}


@pytest.mark.parametrize("year", [2019, 2020])
def test_sample_headers_are_the_34_column_header(year: int) -> None:
    assert list(sample(year)[0]) == HEADER_34


@pytest.mark.parametrize("year", [2019, 2020])
def test_every_sample_row_normalises_exactly(year: int) -> None:
    for row in sample(year):
        ad = normalise_snap_row(row)
        assert ad.source == "snap"
        assert ad.source_ad_id == row["ADID"] and len(ad.source_ad_id) == 64
        assert ad.spend_lower == ad.spend_upper == int(row["Spend"])
        assert ad.impressions_lower == ad.impressions_upper == int(row["Impressions"])
        assert ad.currency == row["Currency Code"]
        assert ad.spends == [SpendRange(row["Currency Code"], int(row["Spend"]), int(row["Spend"]))]
        assert ad.delivery_start is not None and ad.delivery_start.tzinfo is UTC
        assert len(ad.countries) == 1
        assert ad.funder == row["PayingAdvertiserName"]
        assert ad.advertiser is not None and ad.advertiser.name == row["OrganizationName"]


def test_2019_norwegian_row() -> None:
    ad = normalise_snap_row(by_id(2019)["6a1fb3b8"])
    assert (ad.spend_lower, ad.impressions_lower, ad.currency) == (91, 53191, "USD")
    assert ad.delivery_start == datetime(2019, 4, 25, 8, 0, 57, tzinfo=UTC)
    assert ad.delivery_stop == datetime(2019, 5, 17, 7, 17, 25, tzinfo=UTC)
    assert ad.countries == ["NO"]
    assert ad.advertiser is not None and ad.advertiser.source_advertiser_id == "Synlighet AS"
    assert ad.funder == "Kj√∏nnsvorter.no"  # mojibake is upstream's, kept as published
    assert ad.extra == {"billing_address": "M√∏llendalsveien 1a,Bergen,5009,NO"}
    assert ad.targeting == [
        TargetingItem("age", "18-20"),
        TargetingItem("interest", "Clubbers & Party People"),
        TargetingItem("interest", "Collegiates"),
        TargetingItem("interest", "Concert & Festival Goers"),
        TargetingItem("interest", "Dance & Electronic Music Fans"),
        TargetingItem("interest", "High Schoolers"),
        TargetingItem("interest", "Travel Enthusiasts"),
        TargetingItem("interest", "Wellness & Healthy Lifestyle"),
        TargetingItem("segment", "Provided by Advertiser"),
    ]
    assert ad.creatives == [
        CreativeRecord(
            0,
            media_url="https://www.snap.com/political-ads/asset/"
            "76f886730c80b1d2762250f284c45f3b91ced7401bde15957152b1846ef9e0dc?mediaType=mp4",
            media_type="mp4",
        )
    ]


def test_2019_three_creatives_and_ballot_information() -> None:
    ad = normalise_snap_row(by_id(2019)["b0d46066"])
    assert [c.position for c in ad.creatives] == [0, 1, 2]
    assert {c.media_type for c in ad.creatives} == {"mp4"}
    assert ad.extra == {"billing_address": "US", "candidate_ballot_information": "Get out the vote"}
    assert ad.countries == ["US"]
    assert ad.targeting == [TargetingItem("age", "18+")]


def test_2019_postal_codes_included_and_excluded() -> None:
    ad = normalise_snap_row(by_id(2019)["48aef583"])
    included = [t.value for t in ad.targeting if t.dimension == "postal_code" and t.included]
    excluded = [t.value for t in ad.targeting if t.dimension == "postal_code" and not t.included]
    assert included[:3] == ["30545", "30756", "30708"] and len(included) == 262
    assert excluded[:2] == ["31421", "31789"] and len(excluded) == 223
    assert ad.delivery_stop is None
    assert ad.creatives[0].properties == (
        "web_view_url:https://register.vote.org/?partner=243304&campaign="
        "CK-VPC-OVR20-SC-VDO.A01-GA-Zips-BO-18.35"
    )


def test_2019_advanced_demographics() -> None:
    ad = normalise_snap_row(by_id(2019)["7d91a35b"])
    assert TargetingItem("advanced_demographic", "Spanish Speakers") in ad.targeting
    assert ad.creatives[0].properties == (
        "web_view_url:https://actionnetwork.org/forms/join-us-fight-to-protect-daca"
    )


def test_2020_rows() -> None:
    rows = by_id(2020)
    truth = normalise_snap_row(rows["e2daee05"])
    assert (truth.spend_lower, truth.impressions_upper) == (7107, 741638)
    assert truth.delivery_start == datetime(2020, 1, 29, 15, tzinfo=UTC)
    assert (
        truth.extra["billing_address"] == " 711 3rd Ave, New York, NY 10017,new york city,10017,US"
    )
    ben = normalise_snap_row(rows["a0c4ef05"])
    assert ben.funder == "Ben & Jerry's"
    assert TargetingItem("region", "North Carolina", included=False) in ben.targeting
    irish = normalise_snap_row(rows["bf2394ce"])
    assert (irish.currency, irish.spend_lower, irish.countries) == ("EUR", 12, ["IE"])
    assert TargetingItem("age", "16-25") in irish.targeting
    iowa = normalise_snap_row(rows["97b550bf"])
    assert (iowa.impressions_lower, iowa.delivery_stop) == (2181528, None)
    assert TargetingItem("region", "Iowa") in iowa.targeting


def test_synthetic_38_column_row() -> None:
    row = dict.fromkeys(HEADER_38, "")
    row.update(
        {
            "ADID": "ab" * 32,
            "CreativeUrl": "https://www.snap.com/political-ads/asset/cd?mediaType=png",
            "Currency Code": "usd",
            "Spend": "1,250",
            "Impressions": "98765",
            "StartDate": "2022/10/01 12:00:00Z",
            "EndDate": "2022/11/08 23:59:59Z",
            "OrganizationName": "Campaign Agency LLC",
            "PayingAdvertiserName": "Yes on 30",
            "CommitteeName": "Yes on 30 Committee",
            "CommitteeIdentificationNumber": "1445678",
            "DisclosureNameOfCommittee": "Yes on 30, sponsored by Lyft",
            "AdvertisingJurisdiction": "California",
            "Gender": "FEMALE",
            "CountryCode": "united states",
            "Radius Targeting (Included)": "latitude 51.95;longitude 4.41667;radius 3.0,"
            "latitude 52.1;longitude 4.3;radius 5.0",
            "Metros (Included)": "Los Angeles, CA,San Diego, CA",
            "OsType": "iOS",
            "Targeting Connection Type": "WIFI",
            "Targeting Carrier (ISP)": "Verizon",
            "Location Categories (Excluded)": "Schools",
            "Electoral Districts (Included)": "CA-12",
        }
    )
    parser = PoliticalAdsParser()
    notices = Notices()
    parser.begin(list(row), notices)
    assert notices.drain() == []
    (ad,) = parser.parse(row, "PoliticalAds.csv:2")
    assert (ad.currency, ad.spend_lower, ad.spend_upper) == ("USD", 1250, 1250)
    assert ad.delivery_stop == datetime(2022, 11, 8, 23, 59, 59, tzinfo=UTC)
    assert ad.extra == {
        "committee_name": "Yes on 30 Committee",
        "committee_identification_number": "1445678",
        "disclosure_name_of_committee": "Yes on 30, sponsored by Lyft",
        "advertising_jurisdiction": "California",
    }
    assert ad.raw_ref == "PoliticalAds.csv:2"
    by_dimension = {(t.dimension, t.value, t.included) for t in ad.targeting}
    assert by_dimension == {
        ("gender", "FEMALE", True),
        ("radius", "latitude 51.95;longitude 4.41667;radius 3.0", True),
        ("radius", "latitude 52.1;longitude 4.3;radius 5.0", True),
        ("metro", "Los Angeles, CA", True),
        ("metro", "San Diego, CA", True),
        ("os", "iOS", True),
        ("connection_type", "WIFI", True),
        ("carrier", "Verizon", True),
        ("location_category", "Schools", False),
        ("electoral_district", "CA-12", True),
    }
    assert ad.creatives[0].media_type == "png"


def test_unknown_country_is_reported_once() -> None:
    row = sample(2020)[0] | {"CountryCode": "atlantis"}
    notices = Notices()
    for _ in range(3):
        assert normalise_snap_row(row, notices).countries == []
    assert notices.drain() == [
        "PoliticalAds.csv: country 'atlantis' not recognised; ad has no country"
    ]


@pytest.mark.parametrize(
    ("name", "code"),
    [("united states", "US"), ("united kingdom", "GB"), ("netherlands", "NL"), ("norway", "NO")],
)
def test_country_names(name: str, code: str) -> None:
    row = sample(2020)[0] | {"CountryCode": name}
    assert normalise_snap_row(row).countries == [code]


def test_bad_spend_is_quarantined() -> None:
    with pytest.raises(ValueError, match="not a number"):
        normalise_snap_row(sample(2020)[0] | {"Spend": "twelve"})


def test_unknown_column_is_reported() -> None:
    notices = Notices()
    PoliticalAdsParser().begin([*HEADER_38, "Brand New"], notices)
    assert notices.drain() == [
        "PoliticalAds.csv: unknown column 'Brand New' is not imported (kept in raw file)"
    ]
