"""Google bundle parsers on the real sample rows and on rows in the documented formats."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from collectors.bulk import Notices, TableRow
from collectors.csvstream import CsvFormatError
from collectors.google import (
    AdvertiserStatsParser,
    BundleIds,
    CreativeStatsParser,
    SpendTableParser,
    TopKeywordsParser,
    bundle_parsers,
    normalise_advertiser_row,
    normalise_creative_row,
    parse_impressions,
    split_geo_targeting,
)
from collectors.google.aggregates import geo_keys
from collectors.records import AdvertiserRecord, SpendRange, TargetingItem
from tests.conftest import SAMPLES

GOOGLE = SAMPLES
CURRENCIES = ("USD", "EUR", "BRL", "MXN")


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def creative(**cells: str) -> dict[str, str]:
    """A creative-stats row with every currency at zero, then ``cells``."""
    row = {
        "Ad_ID": "CR111",
        "Ad_URL": "https://adstransparency.google.com/advertiser/AR1/creative/CR111",
        "Ad_Type": "VIDEO",
        "Regions": "US",
        "Advertiser_ID": "AR1",
        "Advertiser_Name": "FRIENDS OF MIKE LEE INC",
        "Ad_Campaigns_List": "",
        "Date_Range_Start": "2024-10-01",
        "Date_Range_End": "2024-11-05",
        "Num_of_Days": "36",
        "Impressions": "10k\u2013100k",  # en dash, as in Google's README
        "Spend_USD": "",
        "First_Served_Timestamp": "2024-10-01 08:15:00 UTC",
        "Last_Served_Timestamp": "2024-11-05T21:00:00Z",
        "Age_Targeting": "18-24, 25-34",
        "Gender_Targeting": "Female",
        "Geo_Targeting_Included": "",
        "Geo_Targeting_Excluded": "",
        "Is_Funded_By_Google_Ad_Grants": "false",
    }
    for currency in CURRENCIES:
        row[f"Spend_Range_Min_{currency}"] = "0"
        row[f"Spend_Range_Max_{currency}"] = "0"
    row.update(cells)
    return row


@pytest.mark.parametrize(
    ("bucket", "expected"),
    [
        ("≤ 10k", (0, 10_000)),
        ("<= 10k", (0, 10_000)),
        ("10k\u2013100k", (10_000, 100_000)),  # en dash
        ("10k-100k", (10_000, 100_000)),
        ("100k\u20131M", (100_000, 1_000_000)),
        ("1M - 10M", (1_000_000, 10_000_000)),
        ("> 10M", (10_000_000, None)),
        ("1000-2000", (1000, 2000)),
        ("", (None, None)),
    ],
)
def test_impressions_buckets(bucket: str, expected: tuple[int | None, int | None]) -> None:
    assert parse_impressions(bucket) == expected


def test_unknown_impressions_bucket_is_left_empty_and_reported_once() -> None:
    notices = Notices()
    ads = [normalise_creative_row(creative(Impressions="lots"), notices=notices) for _ in range(3)]
    assert ads[0].impressions_lower is None and ads[0].impressions_upper is None
    assert len(notices.drain()) == 1


def test_geo_items_keep_media_market_commas() -> None:
    cell = (
        "23237,Virginia,United States, Washington, DC (Hagerstown, MD),United States, "
        "Virginia,United States, United States, Germany, Berlin,Germany"
    )
    assert split_geo_targeting(cell) == [
        "23237,Virginia,United States",
        "Washington, DC (Hagerstown, MD),United States",
        "Virginia,United States",
        "United States",
        "Germany",
        "Berlin,Germany",
    ]


def test_creative_row_fields() -> None:
    row = creative(
        Spend_Range_Min_USD="1000",
        Spend_Range_Max_USD="50000",
        Geo_Targeting_Included="Washington, DC (Hagerstown, MD),United States, Virginia,United States",
        Geo_Targeting_Excluded="Alaska,United States",
        Ad_Campaigns_List="123, 456",
        Is_Funded_By_Google_Ad_Grants="TRUE",
    )
    ad = normalise_creative_row(row, currencies=CURRENCIES)
    assert (ad.source, ad.source_ad_id, ad.ad_type) == ("google", "CR111", "VIDEO")
    assert ad.ad_url == row["Ad_URL"]
    assert ad.advertiser == AdvertiserRecord("AR1", "FRIENDS OF MIKE LEE INC")
    assert ad.delivery_start == datetime(2024, 10, 1, tzinfo=UTC)
    assert ad.delivery_stop == datetime(2024, 11, 5, tzinfo=UTC)
    assert ad.first_served_at == datetime(2024, 10, 1, 8, 15, tzinfo=UTC)
    assert ad.last_served_at == datetime(2024, 11, 5, 21, tzinfo=UTC)
    assert (ad.impressions_lower, ad.impressions_upper) == (10_000, 100_000)
    assert (ad.currency, ad.spend_lower, ad.spend_upper) == ("USD", 1000, 50000)
    assert (ad.spend_usd_lower, ad.spend_usd_upper) == (1000, 50000)
    assert ad.countries == ["US"]
    assert ad.targeting == [
        TargetingItem("age", "18-24"),
        TargetingItem("age", "25-34"),
        TargetingItem("gender", "Female"),
        TargetingItem("geo", "Washington, DC (Hagerstown, MD),United States"),
        TargetingItem("geo", "Virginia,United States"),
        TargetingItem("geo", "Alaska,United States", included=False),
    ]
    assert ad.extra == {
        "regions": ["US"],
        "campaigns": ["123", "456"],
        "funded_by_google_ad_grants": True,
        "num_of_days": 36,
    }


def test_spend_comes_from_the_purchase_currency() -> None:
    ad = normalise_creative_row(
        creative(Regions="DE", Spend_Range_Min_EUR="100", Spend_Range_Max_EUR="1000"),
        currencies=CURRENCIES,
    )
    assert (ad.currency, ad.spend_lower, ad.spend_upper) == ("EUR", 100, 1000)
    assert (ad.spend_usd_lower, ad.spend_usd_upper) == (None, None)
    assert ad.spends == [SpendRange("EUR", 100, 1000)]
    assert ad.countries == ["DE"]


def test_open_top_spend_bucket_and_empty_other_currencies() -> None:
    ad = normalise_creative_row(
        creative(Spend_Range_Min_MXN="100000", Spend_Range_Max_MXN="", Spend_Range_Min_USD="")
    )
    assert ad.spends == [SpendRange("MXN", 100000, None)]
    assert (ad.currency, ad.spend_lower, ad.spend_upper) == ("MXN", 100000, None)


def test_ad_without_spend_has_no_currency() -> None:
    ad = normalise_creative_row(creative())
    assert (ad.currency, ad.spends) == (None, [])


def test_missing_currency_column_is_handled() -> None:
    row = creative(Spend_Range_Min_USD="0", Spend_Range_Max_USD="100")
    del row["Spend_Range_Min_MXN"], row["Spend_Range_Max_MXN"]
    parser = CreativeStatsParser(BundleIds())
    parser.begin(list(row), Notices())
    (ad,) = parser.parse(row, "creative-stats.csv:2")
    assert ad.spends == [SpendRange("USD", 0, 100)]
    assert parser.currencies == ("USD", "EUR", "BRL")


def test_unknown_column_is_reported_once_and_a_new_currency_is_read() -> None:
    header = [*creative(), "Spend_Range_Min_JPY", "Spend_Range_Max_JPY", "Brand_New_Column"]
    notices = Notices()
    parser = CreativeStatsParser(BundleIds())
    parser.begin(header, notices)
    parser.begin(header, notices)
    assert notices.drain() == [
        "google-political-ads-creative-stats.csv: unknown column 'Brand_New_Column' is not "
        "imported (kept in raw file)"
    ]
    row = creative(Spend_Range_Min_JPY="1000", Spend_Range_Max_JPY="2000", Brand_New_Column="x")
    (ad,) = parser.parse(row, "ref")
    assert ad.currency == "JPY"


def test_missing_ad_id_column_fails_the_member() -> None:
    with pytest.raises(CsvFormatError, match="Ad_ID"):
        CreativeStatsParser(BundleIds()).begin(["Advertiser_ID"], Notices())


def test_row_without_ad_id_is_quarantined() -> None:
    with pytest.raises(ValueError, match="without Ad_ID"):
        normalise_creative_row(creative(Ad_ID=""))


def test_regions_list_and_non_country_regions() -> None:
    notices = Notices()
    ad = normalise_creative_row(creative(Regions="AT, BE, DE, EU"), notices=notices)
    assert ad.countries == ["AT", "BE", "DE"]
    assert ad.extra["regions"] == ["AT", "BE", "DE", "EU"]
    assert any("'EU'" in n for n in notices.drain())


def test_renumbered_ids_map_to_the_first_id() -> None:
    ids = BundleIds()
    ids.creatives.add("CR_OLD", "CR_MID")
    ids.creatives.add("CR_MID", "CR_NEW")
    ids.advertisers.add("AR_OLD", "AR_NEW")
    ad = normalise_creative_row(creative(Ad_ID="CR_NEW", Advertiser_ID="AR_NEW"), ids)
    assert ad.source_ad_id == "CR_OLD"
    assert ad.advertiser is not None and ad.advertiser.source_advertiser_id == "AR_OLD"
    assert ad.extra["current_ad_id"] == "CR_NEW"


def test_advertiser_stats_sample_rows() -> None:
    rows = read_csv(GOOGLE / "google_advertiser_stats_sample.csv")
    parsed = [normalise_advertiser_row(row) for row in rows]
    by_id = {record.source_advertiser_id: (record, spend) for record, spend in parsed}
    assert len(by_id) == 9
    lee, lee_spend = by_id["AR17375362763735433217"]
    assert lee.name == "FRIENDS OF MIKE LEE INC"
    assert lee.public_ids == ["FEC ID C00473827"]
    assert lee.extra == {"regions": ["US"], "total_creatives": 179}
    # Every published currency, zeros included (a rounded conversion below its step).
    assert len(lee_spend) == 20 and dict(lee_spend)["USD"] == 318600
    assert sorted(amount for _, amount in lee_spend)[:-1] == [0] * 19
    spo, spo_spend = by_id["AR09517231465864101889"]
    assert spo.extra["regions"] == ["AT", "BE", "DE"]
    assert dict(spo_spend)["EUR"] == 650
    assert by_id["AR03405196719632154625"][0].public_ids == ["EIN ID 81-4571869"]
    assert by_id["AR02449589173699477505"][0].public_ids == ["Registered in US-WI 0106228"]
    assert dict(by_id["AR00561615524262313985"][1])["MXN"] == 17618000
    assert dict(by_id["AR04185907356116189185"][1])["BRL"] == 6000


def test_advertiser_stats_2018_header() -> None:
    rows = read_csv(GOOGLE / "google_2018_advertiser-stats.sample.csv")
    parser = AdvertiserStatsParser(BundleIds())
    notices = Notices()
    parser.begin(list(rows[0]), notices)
    assert notices.drain() == []
    items = [item for row in rows for item in parser.parse(row, "ref")]
    trump = next(
        i for i in items if isinstance(i, AdvertiserRecord) and i.name and "TRUMP" in i.name
    )
    assert trump.public_ids == ["FEC ID C00580100"]
    spends = [i.values for i in items if isinstance(i, TableRow)]
    assert {"source_advertiser_id": "AR100996740080992256", "currency": "USD", "spend": 10900} in (
        spends
    )
    # A zero is a value: the advertiser was listed with spend below Google's rounding step.
    zero = {"source_advertiser_id": "AR102122639987834880", "currency": "USD", "spend": 0}
    assert zero in spends


def test_weekly_spend_2018_sample() -> None:
    parser = next(p for p in bundle_parsers(BundleIds()) if p.member.endswith("weekly-spend.csv"))
    assert isinstance(parser, SpendTableParser)
    rows = read_csv(GOOGLE / "google_2018_advertiser-weekly-spend.sample.csv")
    parser.begin(list(rows[0]), Notices())
    (item,) = parser.parse(rows[0], "ref")
    assert isinstance(item, TableRow)
    assert item.table == "google_advertiser_weekly_spend"
    assert item.key == ("source_advertiser_id", "week_start_date", "currency")
    assert item.values == {
        "source_advertiser_id": "AR100996740080992256",
        "week_start_date": date(2018, 5, 27),
        "currency": "USD",
        "spend": 100,
        "election_cycle": "US-Federal-2018",
    }


def test_geo_spend_2018_names() -> None:
    (row,) = read_csv(GOOGLE / "google_2018_geo-spend.sample.csv")[:1]
    assert geo_keys(row) == {
        "country": "US",
        "subdivision_primary": "US-AK",
        "subdivision_secondary": "AK-AT LARGE",
    }


def test_advertiser_geo_spend_c2020_rows_with_hrk() -> None:
    lines = (GOOGLE / "google_advertiser_geo_spend_comment_c2020.txt").read_text().splitlines()
    rows = list(csv.DictReader(line.removeprefix("# ") for line in lines))
    parser = next(p for p in bundle_parsers(BundleIds()) if p.member.endswith("-geo-spend.csv")
                  and "advertiser" in p.member)  # fmt: skip
    notices = Notices()
    parser.begin(list(rows[0]), notices)
    assert notices.drain() == []
    values = [item.values for item in parser.parse(rows[0], "ref") if isinstance(item, TableRow)]
    keys = {"source_advertiser_id": "AR100201587015680000", "country": "US",
            "subdivision_primary": "WI"}  # fmt: skip
    spend = {"USD": 0, "EUR": 0, "INR": 500, "BGN": 25, "HRK": 100, "CZK": 0, "DKK": 0,
             "HUF": 0, "PLN": 0, "RON": 0, "SEK": 0, "GBP": 0, "ILS": 0, "NZD": 0}  # fmt: skip
    assert values == [{**keys, "currency": c, "spend": amount} for c, amount in spend.items()]


def test_aggregate_zeros_are_stored_and_only_empty_cells_are_absent() -> None:
    parser = next(p for p in bundle_parsers(BundleIds()) if p.member.endswith("weekly-spend.csv"))
    header = ["Advertiser_ID", "Advertiser_Name", "Election_Cycle", "Week_Start_Date",
              "Spend_USD", "Spend_EUR", "Spend_INR"]  # fmt: skip
    parser.begin(header, Notices())
    row = dict(
        zip(header, ["AR1", "A", "US-Federal-2018", "2019-03-03", "0", "", "0"], strict=True)
    )
    items = [i.values for i in parser.parse(row, "ref") if isinstance(i, TableRow)]
    assert [(i["currency"], i["spend"]) for i in items] == [("USD", 0), ("INR", 0)]


def test_top_keywords_2018_sample() -> None:
    rows = read_csv(GOOGLE / "google_2018_top-keywords-history.sample.csv")
    parser = TopKeywordsParser()
    parser.begin(list(rows[0]), Notices())
    items = [i.values for i in parser.parse(rows[0], "ref") if isinstance(i, TableRow)]
    assert len(items) == 6
    assert items[0] == {
        "election_cycle": "US-Federal-2018",
        "report_date": date(2018, 9, 10),
        "region": "",
        "elections": None,
        "rank": 1,
        "keyword": "ron desantis",
        "spend_usd": 108900,
    }
    assert items[5]["keyword"] == "diane black"
