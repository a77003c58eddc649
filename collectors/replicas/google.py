"""Loopback replica of Google's political-ads transparency bundle.

Generates a bundle zip in one of two real layouts and serves it like Google's bucket
(:mod:`collectors.replicas.bulkfile`: ETag, Last-Modified, 304, ranges, faults):

- ``"current"``: members at the zip root, the 2025 columns (20 currencies up to MXN,
  ``Is_Funded_By_Google_Ad_Grants``, ``Promoter_*`` declarations), id-mapping files with one
  renumbered advertiser and one renumbered creative, ``Report_Data_Updated_Time (PT)``; the
  real ``advertiser-stats`` sample rows;
- ``"2020"``: members under ``google-political-ads-transparency-bundle/``, c. 2020 currencies
  (HRK, no BRL…MXN), ``NZ_`` declarations, the header-only campaign-targeting file, and the real
  2018 files (advertiser-stats, weekly spend, geo spend, top keywords, README) and the c. 2020
  advertiser-geo-spend rows.

No creative-stats row of Google's is public, so ads are generated in the documented formats:
every impressions bucket spelling, spend in one purchase currency with zeros elsewhere, geo
targeting with media-market names that contain commas. :meth:`change_ads`,
:meth:`remove_ads` and :meth:`restore_ads` publish a new version; :func:`write_creative_stats_csv`
streams a large file to disk for the benchmark.
"""

from __future__ import annotations

import atexit
import csv
import io
import random
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal

from collectors.replicas.actors import CROSS_PLATFORM
from collectors.replicas.bulkfile import BulkFileEndpoint, Fault
from collectors.replicas.demo import DemoReplica
from collectors.replicas.server import ReplicaRequest, ReplicaResponse

Layout = Literal["current", "2020"]

PATH = "/political-csv/google-political-ads-transparency-bundle.zip"
FOLDER = "google-political-ads-transparency-bundle/"
SAMPLES = Path(__file__).parent / "samples"

CURRENCIES: dict[Layout, tuple[str, ...]] = {
    "current": (
        "USD", "EUR", "INR", "BGN", "CZK", "DKK", "HUF", "PLN", "RON", "SEK",
        "GBP", "NZD", "ILS", "AUD", "TWD", "BRL", "ARS", "ZAR", "CLP", "MXN",
    ),
    "2020": (
        "USD", "EUR", "INR", "BGN", "HRK", "CZK", "DKK", "HUF", "PLN", "RON",
        "SEK", "GBP", "ILS", "NZD",
    ),
}  # fmt: skip

_CREATIVE_HEAD = (
    "Ad_ID", "Ad_URL", "Ad_Type", "Regions", "Advertiser_ID", "Advertiser_Name",
    "Ad_Campaigns_List", "Date_Range_Start", "Date_Range_End", "Num_of_Days", "Impressions",
    "Spend_USD", "First_Served_Timestamp", "Last_Served_Timestamp", "Age_Targeting",
    "Gender_Targeting", "Geo_Targeting_Included", "Geo_Targeting_Excluded",
)  # fmt: skip

#: Every spelling seen: the README's en dash (U+2013) and BigQuery's hyphen.
IMPRESSION_BUCKETS = (
    "\u2264 10k",
    "10k\u2013100k",
    "10k-100k",
    "100k\u20131M",
    "1M\u201310M",
    "> 10M",
)
SPEND_BUCKETS: tuple[tuple[int, int | None], ...] = (
    (0, 100),
    (100, 1000),
    (1000, 50000),
    (50000, 100000),
    (100000, None),
)
GEO_ITEMS = {
    "US": (
        "United States",
        "Virginia,United States",
        "23237,Virginia,United States",
        "Washington, DC (Hagerstown, MD),United States",
        "Wisconsin,United States",
        "Pennsylvania,United States",
        "19103,Pennsylvania,United States",
        "Philadelphia,Pennsylvania,United States",
        "Harrisburg-Lancaster-Lebanon-York, PA,United States",
        "Ohio,United States",
    ),
    "DE": (
        "Germany",
        "Berlin,Germany",
        "10115,Berlin,Germany",
        "Bavaria,Germany",
        "Munich,Bavaria,Germany",
    ),
    "BR": (
        "Brazil",
        "Sao Paulo,State of Sao Paulo,Brazil",
        "Rio de Janeiro,State of Rio de Janeiro,Brazil",
        "State of Minas Gerais,Brazil",
    ),
    "MX": ("Mexico", "Mexico City,Mexico", "Jalisco,Mexico", "Guadalajara,Jalisco,Mexico"),
    "AT": ("Austria", "Vienna,Austria"),
}


@dataclass(frozen=True, slots=True)
class Advertiser:
    """An advertiser of the generated bundle: id, name, where it runs and in what currency."""

    advertiser_id: str
    name: str
    region: str
    currency: str
    public_ids: str = ""


def sample_advertisers() -> list[Advertiser]:
    """The real advertiser-stats sample rows (current schema) as advertisers."""
    advertisers = []
    with (SAMPLES / "google_advertiser_stats_sample.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            spends = {c[len("Spend_") :]: int(v) for c, v in row.items() if c.startswith("Spend_")}
            currency = max(spends, key=lambda c: spends[c])
            region = row["Regions"].split(",")[0].strip()
            advertisers.append(
                Advertiser(
                    row["Advertiser_ID"], row["Advertiser_Name"], region, currency,
                    row["Public_IDs_List"],
                )
            )  # fmt: skip
    return advertisers


def _synthetic_advertisers(rng: random.Random, count: int) -> list[Advertiser]:
    plan = (("US", "USD"), ("DE", "EUR"), ("BR", "BRL"), ("MX", "MXN"), ("US", "USD"))
    advertisers = []
    for n in range(count):
        region, currency = plan[n % len(plan)]
        advertiser_id = f"AR{rng.randrange(10**19, 10**20)}"
        cross = CROSS_PLATFORM[n] if n < len(CROSS_PLATFORM) else None
        if cross and cross.google_advertiser:  # one organisation on several platforms
            name, ids = cross.google_advertiser, cross.google_public_ids
        else:
            name, ids = f"COMMITTEE {n} FOR TESTING", ""
        advertisers.append(Advertiser(advertiser_id, name, region, currency, ids))
    return advertisers


def creative_row(
    rng: random.Random,
    number: int,
    advertiser: Advertiser,
    currencies: Sequence[str],
    with_grants: bool,
    geo_cell: str | None = None,
) -> dict[str, str]:
    """One generated creative-stats row in Google's formats (deterministic for ``rng``)."""
    start = date(2024, 1, 1) + timedelta(days=rng.randrange(600))
    days = rng.randrange(1, 60)
    end = start + timedelta(days=days - 1)
    low, high = SPEND_BUCKETS[rng.randrange(len(SPEND_BUCKETS))]
    geo_items = GEO_ITEMS.get(advertiser.region, ("United States",))
    included = rng.sample(geo_items, k=rng.randrange(1, len(geo_items) + 1))
    ad_id = f"CR{rng.randrange(10**19, 10**20)}"
    row = {
        "Ad_ID": ad_id,
        "Ad_URL": f"https://adstransparency.google.com/advertiser/{advertiser.advertiser_id}/creative/{ad_id}",
        "Ad_Type": ("TEXT", "IMAGE", "VIDEO")[number % 3],
        "Regions": "EU" if advertiser.region == "AT" else advertiser.region,
        "Advertiser_ID": advertiser.advertiser_id,
        "Advertiser_Name": advertiser.name,
        "Ad_Campaigns_List": ", ".join(
            str(rng.randrange(10**10, 10**11)) for _ in range(rng.randrange(4))
        ),
        "Date_Range_Start": start.isoformat(),
        "Date_Range_End": end.isoformat(),
        "Num_of_Days": str(days),
        "Impressions": IMPRESSION_BUCKETS[number % len(IMPRESSION_BUCKETS)],
        "Spend_USD": "",
        "First_Served_Timestamp": f"{start.isoformat()} 08:{number % 60:02d}:00 UTC",
        "Last_Served_Timestamp": f"{end.isoformat()} 21:00:00 UTC",
        "Age_Targeting": rng.choice(
            ("", "18-24, 25-34", "≥18", "25-34, 35-44, 45-54, 55-64, ≥65", "Unknown age")
        ),
        "Gender_Targeting": rng.choice(("", "Male, Female", "Female", "Male, Female, Unknown")),
        "Geo_Targeting_Included": geo_cell if geo_cell is not None else ", ".join(included),
        "Geo_Targeting_Excluded": "Alaska,United States, 99501,Alaska,United States"
        if number % 3 == 0
        else "",
    }
    if with_grants:
        row["Is_Funded_By_Google_Ad_Grants"] = "true" if number % 11 == 0 else "false"
    for currency in currencies:
        bought = currency == advertiser.currency
        row[f"Spend_Range_Min_{currency}"] = str(low) if bought else "0"
        row[f"Spend_Range_Max_{currency}"] = ("" if high is None else str(high)) if bought else "0"
    return row


def creative_header(layout: Layout) -> list[str]:
    header = list(_CREATIVE_HEAD)
    if layout == "current":
        header.append("Is_Funded_By_Google_Ad_Grants")
    for currency in CURRENCIES[layout]:
        header += [f"Spend_Range_Min_{currency}", f"Spend_Range_Max_{currency}"]
    return header


def big_geo_cell(size_bytes: int) -> str:
    """A targeting cell of about ``size_bytes``: US postal codes, as a real list looks."""
    items = []
    total = 0
    code = 10000
    while total < size_bytes:
        item = f"{code},Virginia,United States"
        items.append(item)
        total += len(item) + 2
        code = 10000 + (code - 9999) % 89999
    return ", ".join(items)


def write_creative_stats_csv(
    path: Path,
    rows: int = 1_000_000,
    *,
    seed: int = 0,
    big_cell_bytes: int = 4 << 20,
    layout: Layout = "current",
) -> int:
    """Stream a creative-stats CSV of ``rows`` generated ads to ``path``; returns its size.

    About 600 bytes a row (a million rows is ~0.6 GB, like Google's file); row 1 carries a
    geo-targeting cell of ``big_cell_bytes``. Memory stays flat: rows are written as made.
    """
    rng = random.Random(seed)
    advertisers = sample_advertisers() + _synthetic_advertisers(rng, 200)
    header = creative_header(layout)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, header)
        writer.writeheader()
        for number in range(rows):
            geo = big_geo_cell(big_cell_bytes) if number == 1 else None
            advertiser = advertisers[number % len(advertisers)]
            writer.writerow(
                creative_row(rng, number, advertiser, CURRENCIES[layout], layout == "current", geo)
            )
    return path.stat().st_size


class GoogleBundleReplica:
    """A generated bundle served at :data:`PATH`; mutate it and it publishes a new version.

    ``workdir`` holds the zips (each version a new file). ``creative_stats`` replaces the
    generated creative-stats member with a file on disk (the benchmark's large file).
    """

    def __init__(
        self,
        workdir: Path,
        *,
        ads: int = 60,
        layout: Layout = "current",
        seed: int = 0,
        creative_stats: Path | None = None,
    ) -> None:
        self.workdir = workdir
        self.layout = layout
        self.creative_stats = creative_stats
        self._rng = random.Random(seed)
        self._version = 0
        self.advertisers = sample_advertisers() + _synthetic_advertisers(self._rng, 8)
        #: Advertiser and creative renumbered by Google (``current`` layout): old → new id.
        self.renumbered_advertiser = (self.advertisers[-1].advertiser_id, "AR" + "9" * 20)
        self.ads: dict[str, dict[str, str]] = {}
        for number in range(ads):
            row = self._new_row(number)
            self.ads[row["Ad_ID"]] = row
        #: Creative renumbered by Google (old → new id); none without generated ads.
        self.renumbered_creative = self._renumber_one_creative() if self.ads else None
        self._removed: dict[str, dict[str, str]] = {}
        self.endpoint = BulkFileEndpoint(self._build())

    # --- serving ---------------------------------------------------------------------------

    def handle(self, request: ReplicaRequest) -> ReplicaResponse:
        if request.path != PATH:
            return ReplicaResponse(status=404, body=b"No such object", content_type="text/plain")
        return self.endpoint.handle(request)

    def settings(self, base_url: str) -> dict[str, Any]:
        """``sources.google`` for a config that collects from this replica at ``base_url``."""
        return {"bundle_url": base_url + PATH, "max_retries": 1, "max_wait_seconds": 1}

    def inject(self, fault: Fault, times: int = 1) -> None:
        self.endpoint.inject(fault, times)

    # --- mutations -------------------------------------------------------------------------

    def change_ads(self, fraction: float = 0.01) -> list[str]:
        """Raise the impressions bucket and spend of ``fraction`` of the ads; publish."""
        count = max(1, round(len(self.ads) * fraction))
        changed = self._rng.sample(sorted(self.ads), count)
        for ad_id in changed:
            row = self.ads[ad_id]
            row["Impressions"] = "> 10M"
            currency = self._purchase_currency(row)
            row[f"Spend_Range_Min_{currency}"] = "100000"
            row[f"Spend_Range_Max_{currency}"] = ""
        self.publish()
        return changed

    def remove_ads(self, count: int = 1) -> list[str]:
        """Take ``count`` ads out of the bundle (Google drops and re-adds ads); publish."""
        removed = self._rng.sample(sorted(self.ads), count)
        for ad_id in removed:
            self._removed[ad_id] = self.ads.pop(ad_id)
        self.publish()
        return removed

    def restore_ads(self, ad_ids: Sequence[str]) -> None:
        """Put removed ads back; publish."""
        for ad_id in ad_ids:
            self.ads[ad_id] = self._removed.pop(ad_id)
        self.publish()

    def set_layout(self, layout: Layout) -> None:
        self.layout = layout
        self.publish()

    def publish(self) -> None:
        self.endpoint.publish(self._build())

    # --- generation ------------------------------------------------------------------------

    def _new_row(self, number: int) -> dict[str, str]:
        advertiser = self.advertisers[number % len(self.advertisers)]
        row = creative_row(self._rng, number, advertiser, CURRENCIES["current"], True)
        if advertiser.advertiser_id == self.renumbered_advertiser[0]:
            row["Advertiser_ID"] = self.renumbered_advertiser[1]
        return row

    def _renumber_one_creative(self) -> tuple[str, str]:
        old = sorted(self.ads)[0]
        new = "CR" + "8" * 20
        self.ads[old]["Ad_ID"] = new
        return old, new

    def _purchase_currency(self, row: dict[str, str]) -> str:
        for currency in CURRENCIES["current"]:
            if row.get(f"Spend_Range_Max_{currency}") not in ("0", None):
                return currency
        return "USD"

    def _build(self) -> Path:
        self._version += 1
        self.workdir.mkdir(parents=True, exist_ok=True)
        path = self.workdir / f"bundle-{self._version}.zip"
        prefix = FOLDER if self.layout == "2020" else ""
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as bundle:
            for name, text in self._small_members().items():
                bundle.writestr(prefix + name, text)
            creative = prefix + "google-political-ads-creative-stats.csv"
            if self.creative_stats is not None:
                bundle.write(self.creative_stats, creative)
            else:
                with bundle.open(creative, "w") as member:
                    self._write_creatives(member)
        return path

    def _write_creatives(self, member: Any) -> None:
        header = creative_header(self.layout)
        with io.TextIOWrapper(member, encoding="utf-8", newline="") as text:
            writer = csv.DictWriter(text, header, extrasaction="ignore")
            writer.writeheader()
            for row in self.ads.values():
                writer.writerow(row)

    def _small_members(self) -> dict[str, str]:
        if self.layout == "2020":
            return _members_2020(self.advertisers)
        return _members_current(
            self.advertisers, self.renumbered_advertiser, self.renumbered_creative
        )


def _csv_text(header: Sequence[str] | None, rows: Sequence[Sequence[Any]]) -> str:
    """CSV text of ``rows``, after ``header`` unless it is ``None`` (rows to append)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if header is not None:
        writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def _sample(name: str) -> str:
    return (SAMPLES / name).read_text(encoding="utf-8")


def _members_current(
    advertisers: Sequence[Advertiser],
    advertiser_map: tuple[str, str],
    creative_map: tuple[str, str] | None,
) -> dict[str, str]:
    currencies = CURRENCIES["current"]
    samples = {a.advertiser_id for a in sample_advertisers()}
    synthetic = [a for a in advertisers if a.advertiser_id not in samples]
    sample = _sample("google_advertiser_stats_sample.csv")
    stats_rows = [
        [a.advertiser_id if a.advertiser_id != advertiser_map[0] else advertiser_map[1],
         a.name, a.public_ids, a.region, "", 3]
        + [5000 if c == a.currency else 0 for c in currencies]
        for a in synthetic
    ]  # fmt: skip
    stats = sample + _csv_text(None, stats_rows)
    weekly = _csv_text(
        ["Advertiser_ID", "Advertiser_Name", "Election_Cycle", "Week_Start_Date"]
        + [f"Spend_{c}" for c in currencies],
        [[a.advertiser_id, a.name, "", f"2024-0{week}-07"]
         + [100 * week if c == a.currency else 0 for c in currencies]
         for a in synthetic for week in (1, 2, 3)],
    )  # fmt: skip
    geo = _csv_text(
        ["Country", "Country_Subdivision_Primary", "Country_Subdivision_Secondary"]
        + [f"Spend_{c}" for c in currencies],
        [["US", "US-CA", "", *[1200 if c == "USD" else 0 for c in currencies]],
         ["US", "US-CA", "CA-12", *[300 if c == "USD" else 0 for c in currencies]],
         ["DE", "", "", *[800 if c == "EUR" else 0 for c in currencies]]],
    )  # fmt: skip
    advertiser_geo = _csv_text(
        ["Advertiser_ID", "Advertiser_Name", "Country", "Country_Subdivision_Primary"]
        + [f"Spend_{c}" for c in currencies],
        [[a.advertiser_id, a.name, a.region, f"{a.region}-XX"]
         + [700 if c == a.currency else 0 for c in currencies] for a in synthetic],
    )  # fmt: skip
    declared = _csv_text(
        ["Advertiser_ID", "Region", "Advertiser_Declared_Name",
         "Advertiser_Declared_Regulatory_ID", "Advertiser_Declared_Scope",
         "Advertiser_Declared_Promoter_Name", "Advertiser_Declared_Promoter_Address"],
        [[synthetic[0].advertiser_id, "US-CA", "Committee for Testing", "1234567",
          "California", "", ""],
         [synthetic[1].advertiser_id, "NZ", "", "", "", "Test Promoter",
          "1 Queen Street, Auckland"]],
    )  # fmt: skip
    return {
        "README.txt": "Google political ads transparency bundle (replica).\n",
        "google-political-ads-updated.csv": _csv_text(
            ["Report_Data_Updated_Time (PT)"], [["2026-11-22 23:05:11"]]
        ),
        "advertiser_id_mapping.csv": _csv_text(
            ["OldAdvertiserId", "NewAdvertiserId"], [list(advertiser_map)]
        ),
        "creative_id_mapping.csv": _csv_text(
            ["OldCreativeId", "NewCreativeId"], [list(creative_map)] if creative_map else []
        ),
        "google-political-ads-advertiser-stats.csv": stats,
        "google-political-ads-advertiser-weekly-spend.csv": weekly,
        "google-political-ads-geo-spend.csv": geo,
        "google-political-ads-advertiser-geo-spend.csv": advertiser_geo,
        "google-political-ads-advertiser-declared-stats.csv": declared,
        "google-political-ads-top-keywords-history.csv": _sample(
            "google_2018_top-keywords-history.sample.csv"
        ),
    }


def _members_2020(advertisers: Sequence[Advertiser]) -> dict[str, str]:
    comment = _sample("google_advertiser_geo_spend_comment_c2020.txt")
    advertiser_geo = "".join(line.removeprefix("# ") for line in comment.splitlines(True))
    return {
        "README.txt": _sample("google_2018_bundle_README.txt"),
        "google-political-ads-updated.csv": _csv_text(
            ["Report_Data_Updated_Date"], [["2020-06-18"]]
        ),
        "google-political-ads-advertiser-stats.csv": _sample(
            "google_2018_advertiser-stats.sample.csv"
        ),
        "google-political-ads-advertiser-weekly-spend.csv": _sample(
            "google_2018_advertiser-weekly-spend.sample.csv"
        ),
        "google-political-ads-geo-spend.csv": _sample("google_2018_geo-spend.sample.csv"),
        "google-political-ads-advertiser-geo-spend.csv": advertiser_geo,
        "google-political-ads-advertiser-declared-stats.csv": _csv_text(
            ["Advertiser_ID", "NZ_Advertiser_Declared_Name", "NZ_Advertiser_Declared_Address"],
            [[advertisers[-1].advertiser_id, "Test Promoter", "1 Queen Street, Auckland"]],
        ),
        "google-political-ads-campaign-targeting.csv": _csv_text(
            [
                "Campaign_ID",
                "Age_Targeting",
                "Gender_Targeting",
                "Geo_Targeting_Included",
                "Geo_Targeting_Excluded",
                "Start_Date",
                "End_Date",
                "Ads_List",
                "Advertiser_ID",
                "Advertiser_Name",
            ],
            [],
        ),
        "google-political-ads-top-keywords-history.csv": _sample(
            "google_2018_top-keywords-history.sample.csv"
        ),
    }


def demo() -> DemoReplica:
    """A small current-layout bundle for ``adlib demo`` (files in a temporary directory)."""
    workdir = Path(tempfile.mkdtemp(prefix="adlib-google-replica-"))
    atexit.register(shutil.rmtree, workdir, True)
    replica = GoogleBundleReplica(workdir, ads=300)
    return DemoReplica(
        handler=replica.handle, settings=replica.settings, countries=("US", "DE", "BR", "MX")
    )
