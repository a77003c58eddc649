"""Loopback replica of Snap's Political Ads Library: one ``PoliticalAds.zip`` per year.

Each year is served like Snap's bucket (:mod:`collectors.replicas.bulkfile`: ETag,
Last-Modified, 304, ranges, faults) at ``/ad-manager-political-ads-dump/political/{year}/
PoliticalAds.zip`` and holds ``PoliticalAds.csv`` plus Snap's ``readme.txt``. Years up to 2021
use the 34-column header, later years the 38-column one (committee columns after
``PayingAdvertiserName``). 2019 and 2020 start with the real sample rows; the rest are
generated in the same formats, and one generated row per year carries bytes that are not
UTF-8 (as Snap's files occasionally do). :meth:`SnapReplica.change_ads` and
:meth:`SnapReplica.remove_ads` publish a new version of a year.
"""

from __future__ import annotations

import atexit
import csv
import io
import random
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from collectors.replicas.actors import CROSS_PLATFORM, SNAP_AGENCIES
from collectors.replicas.bulkfile import BulkFileEndpoint, Fault
from collectors.replicas.demo import DemoReplica
from collectors.replicas.server import ReplicaRequest, ReplicaResponse

SAMPLES = Path(__file__).parent / "samples"
PATH_TEMPLATE = "/ad-manager-political-ads-dump/political/{year}/PoliticalAds.zip"

HEADER_34 = [
    "ADID",
    "CreativeUrl",
    "Currency Code",
    "Spend",
    "Impressions",
    "StartDate",
    "EndDate",
    "OrganizationName",
    "BillingAddress",
    "CandidateBallotInformation",
    "PayingAdvertiserName",
    "Gender",
    "AgeBracket",
    "CountryCode",
    "Regions (Included)",
    "Regions (Excluded)",
    "Electoral Districts (Included)",
    "Electoral Districts (Excluded)",
    "Radius Targeting (Included)",
    "Radius Targeting (Excluded)",
    "Metros (Included)",
    "Metros (Excluded)",
    "Postal Codes (Included)",
    "Postal Codes (Excluded)",
    "Location Categories (Included)",
    "Location Categories (Excluded)",
    "Interests",
    "OsType",
    "Segments",
    "Language",
    "AdvancedDemographics",
    "Targeting Connection Type",
    "Targeting Carrier (ISP)",
    "CreativeProperties",
]
COMMITTEE_COLUMNS = [
    "CommitteeName",
    "CommitteeIdentificationNumber",
    "DisclosureNameOfCommittee",
    "AdvertisingJurisdiction",
]
_AFTER = HEADER_34.index("PayingAdvertiserName") + 1
HEADER_38 = HEADER_34[:_AFTER] + COMMITTEE_COLUMNS + HEADER_34[_AFTER:]

#: Bytes that are not UTF-8, put into one organisation name per year.
BROKEN_BYTES = b"Caf\xe9 Politique"
_BROKEN_MARK = "Caf\udce9 Politique"  # the same bytes through surrogateescape

_COUNTRIES = (
    ("united states", "USD", "Pennsylvania,Iowa", "1730 Rhode Island Ave NW,Washington,20036,US"),
    ("united kingdom", "GBP", "", "1 Victoria Street,London,SW1H 0ET,GB"),
    ("norway", "USD", "", "Karl Johans gate 1,Oslo,0154,NO"),
    ("canada", "CAD", "Ontario", "100 Queen St,Ottawa,K1P 1J9,CA"),
    ("ireland", "EUR", "", "48 Fleet Street,Dublin 2,D02 T883,IE"),
)


def header_for(year: int) -> list[str]:
    """The header Snap used that year: 34 columns through 2021, 38 from 2022."""
    return list(HEADER_38 if year >= 2022 else HEADER_34)


def sample_rows(year: int) -> list[dict[str, str]]:
    """The real sample rows of ``year`` (2019 and 2020), by column name."""
    path = SAMPLES / f"snap_PoliticalAds_{year}_sample.csv"
    if not path.exists():
        return []
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def generated_row(rng: random.Random, year: int, number: int) -> dict[str, str]:
    """One generated row in Snap's formats (exact spend and impressions, UTC ``Z`` dates)."""
    country, currency, regions, address = _COUNTRIES[number % len(_COUNTRIES)]
    start = datetime(year, 1, 1, tzinfo=UTC) + timedelta(minutes=rng.randrange(500_000))
    assets = [rng.getrandbits(256).to_bytes(32, "big").hex() for _ in range(1 + number % 2)]
    row = {
        "ADID": rng.getrandbits(256).to_bytes(32, "big").hex(),
        "CreativeUrl": ";".join(
            f"https://www.snap.com/political-ads/asset/{a}?mediaType=mp4" for a in assets
        ),
        "Currency Code": currency,
        "Spend": str(rng.randrange(1, 20000)),
        "Impressions": str(rng.randrange(100, 3_000_000)),
        "StartDate": start.strftime("%Y/%m/%d %H:%M:%SZ"),
        "EndDate": ""
        if number % 8 == 0
        else (start + timedelta(days=14)).strftime("%Y/%m/%d %H:%M:%SZ"),
        "OrganizationName": _BROKEN_MARK if number == 3 else SNAP_AGENCIES[number % 5],
        "BillingAddress": address,
        "CandidateBallotInformation": "Get out the vote" if number % 4 == 0 else "",
        "PayingAdvertiserName": _payer(number),
        "Gender": ("", "FEMALE", "MALE")[number % 3],
        "AgeBracket": ("18+", "18-24", "21+", "")[number % 4],
        "CountryCode": country,
        "Regions (Included)": regions,
        "Radius Targeting (Included)": "latitude 51.95;longitude 4.41667;radius 3.0"
        if number % 6 == 0
        else "",
        "Postal Codes (Excluded)": "85003,85004" if number % 5 == 0 else "",
        "Interests": "Collegiates,Concert & Festival Goers" if number % 2 else "",
        "Segments": "Provided by Advertiser" if number % 3 == 0 else "",
        "Language": "en",
        "CreativeProperties": f"web_view_url:https://example.org/vote?ad={number}",
    }
    if year >= 2022:
        row.update(
            CommitteeName=_payer(number + 1),
            CommitteeIdentificationNumber=f"C00{number:06d}",
            DisclosureNameOfCommittee=f"Paid for by Committee {number % 7}",
            AdvertisingJurisdiction="US-CA",
        )
    return row


def _payer(number: int) -> str:
    """Every other row names one of the cross-platform organisations (collectors.replicas.actors)."""
    if number % 2:
        return CROSS_PLATFORM[number // 2 % len(CROSS_PLATFORM)].snap_payer
    return f"Committee {number % 7}"


class SnapReplica:
    """Yearly zips under ``workdir``; ``years`` maps each served year to its generated rows."""

    def __init__(
        self, workdir: Path, *, years: Iterable[int] = (2019, 2020, 2022), ads: int = 30,
        seed: int = 0,
    ) -> None:  # fmt: skip
        self.workdir = workdir
        self._rng = random.Random(seed)
        self._versions: dict[int, int] = {}
        self.rows: dict[int, dict[str, dict[str, str]]] = {}
        self.endpoints: dict[int, BulkFileEndpoint] = {}
        for year in years:
            rows = sample_rows(year) + [generated_row(self._rng, year, n) for n in range(ads)]
            self.rows[year] = {row["ADID"]: row for row in rows}
            self.endpoints[year] = BulkFileEndpoint(self._build(year))

    def handle(self, request: ReplicaRequest) -> ReplicaResponse:
        for year, endpoint in self.endpoints.items():
            if request.path == PATH_TEMPLATE.format(year=year):
                return endpoint.handle(request)
        return ReplicaResponse(status=404, body=b"NoSuchKey", content_type="application/xml")

    def settings(self, base_url: str) -> dict[str, Any]:
        """``sources.snap`` for a config that collects every served year from ``base_url``."""
        return {
            "url_template": base_url + PATH_TEMPLATE,
            "years": sorted(self.endpoints),
            "max_retries": 1,
            "max_wait_seconds": 1,
        }

    def inject(self, year: int, fault: Fault, times: int = 1) -> None:
        self.endpoints[year].inject(fault, times)

    def change_ads(self, year: int, fraction: float = 0.1) -> list[str]:
        """Add spend and impressions to ``fraction`` of the year's ads; publish."""
        rows = self.rows[year]
        changed = self._rng.sample(sorted(rows), max(1, round(len(rows) * fraction)))
        for ad_id in changed:
            rows[ad_id]["Spend"] = str(int(rows[ad_id]["Spend"]) + 100)
            rows[ad_id]["Impressions"] = str(int(rows[ad_id]["Impressions"]) + 5000)
        self.publish(year)
        return changed

    def remove_ads(self, year: int, ad_ids: Sequence[str]) -> None:
        for ad_id in ad_ids:
            del self.rows[year][ad_id]
        self.publish(year)

    def publish(self, year: int) -> None:
        self.endpoints[year].publish(self._build(year))

    def _build(self, year: int) -> Path:
        self._versions[year] = self._versions.get(year, 0) + 1
        self.workdir.mkdir(parents=True, exist_ok=True)
        path = self.workdir / f"snap-{year}-{self._versions[year]}.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            with archive.open("PoliticalAds.csv", "w") as member:
                self._write_csv(member, year)
            archive.write(
                SAMPLES / "snap_readme_2020_from_DutchElectionObservatory.txt", "readme.txt"
            )
        return path

    def _write_csv(self, member: Any, year: int) -> None:
        with io.TextIOWrapper(
            member, encoding="utf-8", errors="surrogateescape", newline=""
        ) as text:
            writer = csv.DictWriter(text, header_for(year), restval="", extrasaction="ignore")
            writer.writeheader()
            writer.writerows(self.rows[year].values())


def demo() -> DemoReplica:
    """Three years (both header generations) for ``adlib demo``."""
    workdir = Path(tempfile.mkdtemp(prefix="adlib-snap-replica-"))
    atexit.register(shutil.rmtree, workdir, True)
    replica = SnapReplica(workdir, ads=100)
    return DemoReplica(
        handler=replica.handle, settings=replica.settings, countries=("US", "GB", "NO", "CA", "IE")
    )
