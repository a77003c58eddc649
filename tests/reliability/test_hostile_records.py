"""Property tests: hostile records are quarantined, the rest of their page loads, nothing raises.

Each example serves one Graph API page (good replica ads mixed with mutated ones) to the real
MetaCollector through an in-memory transport, then loads the Pages into a real database on
both engines. A record the collector cannot read must come back as ``Quarantined`` and be
stored with its reason; every other ad of the page must be in ``ads``. For Google and Snap the
row normalisers get mutated rows from the samples and may only raise ``ValueError`` (which
the bulk reader quarantines).
"""

from __future__ import annotations

import csv
import json
import logging
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from collectors.base import CollectorContext
from collectors.bulk import Notices
from collectors.google import normalise_creative_row
from collectors.meta import MetaCollector, MetaSettings
from collectors.redact import Redactor
from collectors.replicas.google import CURRENCIES, creative_row, sample_advertisers
from collectors.replicas.meta import MetaReplica
from collectors.snap import normalise_snap_row
from pipeline.load import load_page
from pipeline.runner import open_run
from schema.models import Ad, QuarantinedRecord
from tests.conftest import SAMPLES
from tests.reliability.mutations import mutated, mutated_row

TOKEN = "EAAhostileRecordsTOKEN0123456789"
REPLICA = MetaReplica(n_ads=40, countries=["US"], seed=9, token=TOKEN)
GOOD = [REPLICA.ad(ad_id) for ad_id in REPLICA.ad_ids]
PROPERTY = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _collector(body: bytes, tmp_path: Path) -> MetaCollector:
    """A MetaCollector whose HTTP client answers every request with ``body``."""
    context = CollectorContext(
        countries=["US"], data_dir=tmp_path, log=logging.getLogger("t"), sleep=lambda _: None
    )
    collector = MetaCollector(
        MetaSettings(base_url="http://graph.test", access_token=TOKEN, max_retries=0), context
    )
    transport = httpx.MockTransport(
        lambda _: httpx.Response(200, content=body, headers={"content-type": "application/json"})
    )
    collector._client = httpx.Client(transport=transport)
    return collector


def _open_run(engine: Engine) -> int:
    return open_run(engine, "meta", "US", datetime.now(UTC))


@PROPERTY
@given(
    bad=st.lists(mutated(GOOD[0]), min_size=1, max_size=3),
    good=st.lists(st.sampled_from(GOOD), min_size=1, max_size=5, unique_by=lambda ad: ad["id"]),
    data=st.data(),
)
def test_bad_meta_records_are_quarantined_and_the_rest_loads(
    engine: Engine, tmp_path: Path, bad: list[Any], good: list[dict[str, Any]], data: Any
) -> None:
    records = list(good)
    for item in bad:
        records.insert(data.draw(st.integers(0, len(records))), item)
    body = json.dumps({"data": records}).encode()
    collector = _collector(body, tmp_path)
    pages = list(collector.fetch("US", None))
    assert len(pages) == 1
    page = pages[0]
    assert len(page.ads) + len(page.quarantined) == len(records)
    assert {ad["id"] for ad in good} <= {ad.source_ad_id for ad in page.ads}
    run_id = _open_run(engine)
    with engine.begin() as conn:
        result = load_page(
            conn, page, source="meta", run_id=run_id, now=datetime.now(UTC), redactor=Redactor()
        )
    assert result.quarantined >= len(page.quarantined)
    quarantine = QuarantinedRecord.__table__
    with engine.connect() as conn:
        stored = set(conn.scalars(select(Ad.source_ad_id)))
        kept = conn.execute(
            select(quarantine.c.raw_ref, quarantine.c.reason).where(quarantine.c.run_id == run_id)
        ).all()
    assert len(kept) == result.quarantined
    assert all(reason for _, reason in kept)
    set_aside = {ref for ref, _ in kept}
    assert all(ad.source_ad_id in stored | set_aside for ad in page.ads)
    assert {ad["id"] for ad in good} <= stored


def _sample_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


SNAP_ROWS = _sample_rows(SAMPLES / "snap_PoliticalAds_2020_sample.csv")


@settings(max_examples=150, deadline=None)
@given(row=st.sampled_from(SNAP_ROWS).flatmap(mutated_row))
def test_snap_row_normaliser_only_raises_value_error(row: dict[str, str]) -> None:
    try:
        ad = normalise_snap_row(row, Notices())
    except ValueError:
        return
    assert ad.source_ad_id == row["ADID"].strip()


def _google_rows() -> list[dict[str, str]]:
    """Creative-stats rows in Google's formats, as the bundle replica generates them."""
    rng = random.Random(4)
    advertisers = sample_advertisers()
    currencies = CURRENCIES["current"]
    return [
        creative_row(rng, n, advertisers[n % len(advertisers)], currencies, n % 2 == 0)
        for n in range(20)
    ]


GOOGLE_ROWS = _google_rows()


@settings(max_examples=150, deadline=None)
@given(row=st.sampled_from(GOOGLE_ROWS).flatmap(mutated_row))
def test_google_creative_row_normaliser_only_raises_value_error(row: dict[str, str]) -> None:
    try:
        ad = normalise_creative_row(row, notices=Notices())
    except ValueError:
        return
    assert ad.source_ad_id
    assert (
        ad.impressions_upper is None
        or ad.impressions_lower is None
        or (ad.impressions_lower <= ad.impressions_upper)
    )
