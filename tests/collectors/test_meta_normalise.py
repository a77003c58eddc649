"""``collectors.meta.normalise`` on the real samples (tests/fixtures/meta) and on edge cases."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from collectors.meta import normalise, strip_token
from collectors.records import (
    BeneficiaryPayer,
    DemographicShare,
    ReachBreakdown,
    RegionShare,
    TargetingItem,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "meta"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


# -- real samples ---------------------------------------------------------------------------


def test_lejo1_2021_ad() -> None:
    ad = normalise(load("lejo1_example_ad_2021.json"), "US", "POLITICAL_AND_ISSUE_ADS")
    assert ad.source == "meta"
    assert ad.source_ad_id == "679808276335343"  # stored as `_id` by LEJO's MongoDB
    assert ad.ad_type == "POLITICAL_AND_ISSUE_ADS"
    assert ad.ad_url == "https://www.facebook.com/ads/library/?id=679808276335343"
    assert (ad.spend_lower, ad.spend_upper) == (300, 399)
    assert (ad.impressions_lower, ad.impressions_upper) == (10000, 14999)
    assert (ad.audience_lower, ad.audience_upper) == (50001, 100000)
    assert ad.currency == "USD"
    assert ad.funder == "Bloomberg Philanthropies"
    assert ad.advertiser is not None
    assert (ad.advertiser.source_advertiser_id, ad.advertiser.name) == (
        "6756153498",
        "Mike Bloomberg",
    )
    # date-only strings (the API's format since ~Sep 2020) become UTC midnight
    assert ad.ad_created_at == datetime(2021, 12, 7, tzinfo=UTC)
    assert ad.delivery_start == datetime(2021, 12, 8, tzinfo=UTC)
    assert ad.delivery_stop == datetime(2021, 12, 20, tzinfo=UTC)
    assert len(ad.regions) == 50
    assert RegionShare("New York", 0.316236) in ad.regions
    assert len(ad.demographics) == 18
    assert DemographicShare("55-64", "female", 0.07932) in ad.demographics
    assert {d.gender for d in ad.demographics} <= {"female", "male", "unknown"}
    assert ad.languages == ["en"]
    assert ad.platforms == ["instagram"]
    assert ad.countries == ["US"]
    (creative,) = ad.creatives
    assert creative.body is not None and creative.body.startswith("As the quotation")
    assert creative.link_caption == "www.bloomberg.com"
    assert creative.link_title is None  # absent in the record, not an empty string
    assert ad.reach_breakdown == [] and ad.beneficiary_payers == [] and ad.targeting == []
    assert ad.eu_total_reach is None
    assert ad.extra == {}  # no snapshot URL stored, no unknown fields


def test_radlibrary_v5_2019_response() -> None:
    body = load("radlibrary_example_response_v5_2019.json")
    (raw,) = body["data"]
    ad = normalise(raw, "US")
    assert ad.source_ad_id == "2487345651520779"  # only in ad_snapshot_url in 2019
    assert ad.funder == "Rishi Kumar"  # funding_entity, the pre-2022 name of bylines
    assert ad.ad_created_at == datetime(2019, 12, 3, 22, 3, 18, tzinfo=UTC)  # "+0000"
    assert ad.delivery_stop == datetime(2020, 3, 3, 22, 3, 6, tzinfo=UTC)
    (creative,) = ad.creatives  # singular ad_creative_body / _link_caption / _link_title
    assert creative.body is not None and creative.body.startswith("A personal story")
    assert creative.link_caption == "fb.com"
    assert creative.link_title == "Atherton resident supports Rishi Kumar for Congress"
    assert (ad.spend_lower, ad.spend_upper) == (0, 99)
    assert (ad.impressions_lower, ad.impressions_upper) == (0, 999)
    assert ad.advertiser is not None and ad.advertiser.name == "Rishi Kumar for Congress 2020"
    # the snapshot URL is kept without its (here bare) access_token parameter
    assert ad.extra["snapshot_url"] == (
        "https://www.facebook.com/ads/archive/render_ad/?id=2487345651520779"
    )
    assert "access_token" not in json.dumps(ad.extra)
    assert ad.ad_url == "https://www.facebook.com/ads/library/?id=2487345651520779"


def test_radlibrary_reg_response_region_distribution() -> None:
    first, second = (
        normalise(raw, "US") for raw in load("radlibrary_reg_response_v5_2019.json")["data"]
    )
    assert first.source_ad_id == "601547833935572"
    assert first.regions == [RegionShare("Alaska", 0.038875), RegionShare("California", 0.961125)]
    assert [r.region for r in second.regions] == ["Alaska", "Oregon", "Washington"]
    assert "REDACTED" not in first.extra["snapshot_url"]
    # fields the query did not ask for stay empty, never zero
    assert first.spend_lower is None and first.impressions_upper is None and first.creatives == []


def test_every_sample_ad_normalises() -> None:
    raws = [load("lejo1_example_ad_2021.json")]
    raws += load("radlibrary_example_response_v5_2019.json")["data"]
    raws += load("radlibrary_reg_response_v5_2019.json")["data"]
    ads = [normalise(raw, "US") for raw in raws]
    assert len({ad.source_ad_id for ad in ads}) == 4


# -- edge cases -------------------------------------------------------------------------------


def ad(**fields: Any) -> dict[str, Any]:
    return {"id": "123456789", **fields}


def test_missing_upper_bound_is_open_ended_never_zero() -> None:
    result = normalise(
        ad(
            impressions={"lower_bound": "1000000"},
            estimated_audience_size={"lower_bound": "1000001"},
            spend={"lower_bound": "100", "upper_bound": "199"},
        ),
        "US",
    )
    assert (result.impressions_lower, result.impressions_upper) == (1000000, None)
    assert (result.audience_lower, result.audience_upper) == (1000001, None)


def test_potential_reach_is_the_old_name_of_audience_size() -> None:
    result = normalise(ad(potential_reach={"lower_bound": "1000001"}), "US")
    assert (result.audience_lower, result.audience_upper) == (1000001, None)


def test_scientific_notation_percentages_and_13_17_bucket() -> None:
    result = normalise(
        ad(
            demographic_distribution=[
                {"percentage": "2.6E-5", "age": "13-17", "gender": "Female"},
                {"percentage": "0.99", "age": "18-24", "gender": "Unknown"},
            ]
        ),
        "US",
    )
    assert result.demographics == [
        DemographicShare("13-17", "female", 2.6e-5),
        DemographicShare("18-24", "unknown", 0.99),
    ]


def test_duplicate_regions_exact_dropped_differing_summed() -> None:
    result = normalise(
        ad(
            delivery_by_region=[
                {"percentage": "0.5", "region": "Texas"},
                {"percentage": "0.5", "region": "Texas"},  # exact duplicate: dropped
                {"percentage": "0.2", "region": "Ohio"},
                {"percentage": "0.1", "region": "Ohio"},  # same region, other share: summed
            ]
        ),
        "US",
    )
    assert [r.region for r in result.regions] == ["Texas", "Ohio"]
    assert result.regions[0].share == 0.5
    assert result.regions[1].share == pytest.approx(0.3)


def test_missing_fields_are_none_or_empty() -> None:
    result = normalise({"id": "42"}, "uk")
    assert result.source_ad_id == "42"
    assert result.countries == ["GB"]
    assert result.advertiser is None and result.funder is None and result.currency is None
    assert result.ad_created_at is None and result.delivery_stop is None
    assert (result.spend_lower, result.spend_upper) == (None, None)
    assert result.creatives == [] and result.regions == [] and result.demographics == []
    assert result.languages == [] and result.platforms == [] and result.spends == []
    assert result.ad_url == "https://www.facebook.com/ads/library/?id=42"


def test_plural_creatives_align_by_position() -> None:
    result = normalise(
        ad(
            ad_creative_bodies=["one", "two"],
            ad_creative_link_titles=["title one"],
            ad_creative_link_captions=["a.org", "b.org"],
        ),
        "US",
    )
    assert [(c.position, c.body, c.link_title, c.link_caption) for c in result.creatives] == [
        (0, "one", "title one", "a.org"),
        (1, "two", None, "b.org"),
    ]


def test_eu_fields() -> None:
    result = normalise(
        ad(
            age_country_gender_reach_breakdown=[
                {
                    "country": "DE",
                    "age_gender_breakdowns": [
                        {"age_range": "18-24", "male": 270, "female": 57, "unknown": 4},
                        {"age_range": "Unknown", "female": "3"},
                    ],
                },
                {"country": "uk", "age_gender_breakdowns": []},
            ],
            beneficiary_payers=[
                {
                    "payer": "European Committee of the Regions",
                    "beneficiary": "European Committee of the Regions",
                    "current": True,
                }
            ],
            eu_total_reach=1234,
            target_ages=["18", "65+"],
            target_gender="Women",
            target_locations=[
                {"name": "Germany", "type": "countries", "excluded": False, "num_obfuscated": 0},
                {"name": "Bayern", "type": "regions", "excluded": True},
            ],
        ),
        "FR",
    )
    assert result.countries == ["FR", "DE"]
    assert result.reach_breakdown == [
        ReachBreakdown("DE", "18-24", "male", 270),
        ReachBreakdown("DE", "18-24", "female", 57),
        ReachBreakdown("DE", "18-24", "unknown", 4),
        ReachBreakdown("DE", "Unknown", "female", 3),
    ]
    assert result.beneficiary_payers == [
        BeneficiaryPayer(
            0, "European Committee of the Regions", "European Committee of the Regions", True
        )
    ]
    assert result.eu_total_reach == 1234
    assert result.targeting == [
        TargetingItem("age", "18"),
        TargetingItem("age", "65+"),
        TargetingItem("gender", "Women"),
        TargetingItem("location", "Germany", included=True),
        TargetingItem("location", "Bayern", included=False),
    ]


def test_old_singular_platform_and_lowercase() -> None:
    result = normalise(ad(publisher_platform=["FACEBOOK", "instagram", "facebook"]), "US")
    assert result.platforms == ["facebook", "instagram"]


def test_snapshot_token_never_kept_and_unknown_fields_go_to_extra() -> None:
    snapshot = "https://www.facebook.com/ads/archive/render_ad/?id=99&access_token=EAAsecret123"
    result = normalise({"ad_snapshot_url": snapshot, "br_total_reach": 5000}, "BR")
    assert result.source_ad_id == "99"  # from the snapshot URL's id= parameter
    assert result.extra == {
        "snapshot_url": "https://www.facebook.com/ads/archive/render_ad/?id=99",
        "br_total_reach": 5000,
    }


def test_strip_token_keeps_other_parameters() -> None:
    url = "https://x.example/render?id=1&access_token=abc&lang=en"
    assert strip_token(url) == "https://x.example/render?id=1&lang=en"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ({"page_name": "no id"}, "no id"),
        ({"id": "not-a-number"}, "not a numeric"),
        ({"id": "1", "spend": "300-399"}, "spend must be an object"),
        ({"id": "1", "spend": {"lower_bound": "lots"}}, "not a number"),
        ({"id": "1", "delivery_by_region": {"region": "Ohio"}}, "must be a list"),
        ({"id": "1", "ad_creation_time": "yesterday"}, "not an ISO date"),
        ({"id": "1", "demographic_distribution": ["18-24"]}, "must hold objects"),
        ({"id": "1", "age_country_gender_reach_breakdown": [{"country": "Germany"}]}, "alpha-2"),
        (["not", "an", "object"], "JSON object"),
    ],
)
def test_bad_records_raise_for_quarantine(raw: Any, reason: str) -> None:
    with pytest.raises((TypeError, ValueError), match=reason):
        normalise(raw, "US")
