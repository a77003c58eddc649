"""The loader on real SQLite and PostgreSQL: upserts, change history, children, checkpoints."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select, text

from collectors.records import (
    AdvertiserRecord,
    CreativeRecord,
    DemographicShare,
    NormalisedAd,
    Page,
    Quarantined,
    RawPayload,
    RegionShare,
    TargetingItem,
)
from collectors.redact import Redactor
from pipeline.load import load_page
from pipeline.runner import open_run
from schema.models import (
    Ad,
    AdCountry,
    AdCreative,
    AdObservation,
    AdRegion,
    Checkpoint,
)

T0 = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)


def _run(engine: Engine) -> int:
    return open_run(engine, "meta", "US", T0)


def _ad(ad_id: str, spend: int = 100, **kw: object) -> NormalisedAd:
    base = NormalisedAd(
        source="meta",
        source_ad_id=ad_id,
        advertiser=AdvertiserRecord("page-1", "A Page"),
        funder="Friends of X",
        currency="USD",
        spend_lower=spend,
        spend_upper=spend + 99,
        impressions_lower=1000,
        impressions_upper=None,
        countries=["US"],
        languages=["en"],
        platforms=["facebook", "instagram"],
        creatives=[CreativeRecord(0, body=f"vote {ad_id}")],
        regions=[RegionShare("Ohio", 0.5), RegionShare("Iowa", 0.5)],
        demographics=[DemographicShare("18-24", "female", 0.25)],
        targeting=[TargetingItem("age", "18-65")],
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def _load(engine: Engine, page: Page, run_id: int, now: datetime = T0):  # type: ignore[no-untyped-def]
    with engine.begin() as conn:
        return load_page(conn, page, source="meta", run_id=run_id, now=now, redactor=Redactor())


def _count(engine: Engine, model: type) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(model.__table__)).scalar_one())


def test_new_ads_write_rows_children_and_a_first_observation(engine: Engine) -> None:
    run = _run(engine)
    result = _load(engine, Page("US", {"after": "x"}, ads=[_ad("1"), _ad("2")]), run)
    assert (result.records, result.new, result.changed, result.observations) == (2, 2, 0, 2)
    assert _count(engine, Ad) == 2
    assert _count(engine, AdRegion) == 4
    assert _count(engine, AdObservation) == 2
    with engine.connect() as conn:
        row = conn.execute(select(Ad.__table__).where(Ad.source_ad_id == "1")).mappings().one()
        state = conn.execute(select(Checkpoint.state)).scalar_one()
    assert row["impressions_upper"] is None  # open-ended, never 0
    assert row["first_seen_at"] == T0
    assert state == {"after": "x"}


def test_rerun_unchanged_writes_no_history(engine: Engine) -> None:
    run = _run(engine)
    _load(engine, Page("US", {}, ads=[_ad("1"), _ad("2")]), run)
    later = T0 + timedelta(days=1)
    result = _load(engine, Page("US", {}, ads=[_ad("1"), _ad("2")]), run, now=later)
    assert (result.new, result.changed, result.observations) == (0, 0, 0)
    assert _count(engine, AdObservation) == 2
    with engine.connect() as conn:
        seen = conn.execute(select(Ad.last_seen_at, Ad.first_seen_at)).all()
    assert all(last == later and first == T0 for last, first in seen)


def test_spend_change_appends_one_observation_and_replaces_children(engine: Engine) -> None:
    run = _run(engine)
    _load(engine, Page("US", {}, ads=[_ad("1"), _ad("2")]), run)
    changed = _ad("1", spend=500, regions=[RegionShare("Texas", 1.0)])
    result = _load(engine, Page("US", {}, ads=[changed, _ad("2")]), run, T0 + timedelta(days=1))
    assert (result.new, result.changed, result.observations) == (0, 1, 1)
    with engine.connect() as conn:
        regions = (
            conn.execute(
                select(AdRegion.region)
                .join(Ad, Ad.id == AdRegion.ad_id)
                .where(Ad.source_ad_id == "1")
            )
            .scalars()
            .all()
        )
        spends = (
            conn.execute(
                select(AdObservation.spend_lower)
                .join(Ad, Ad.id == AdObservation.ad_id)
                .where(Ad.source_ad_id == "1")
                .order_by(AdObservation.observed_at)
            )
            .scalars()
            .all()
        )
    assert regions == ["Texas"]
    assert spends == [100, 500]


def test_text_change_rewrites_children_without_an_observation(engine: Engine) -> None:
    run = _run(engine)
    _load(engine, Page("US", {}, ads=[_ad("1")]), run)
    edited = _ad("1", creatives=[CreativeRecord(0, body="new text")])
    result = _load(engine, Page("US", {}, ads=[edited]), run)
    assert (result.changed, result.observations) == (1, 0)
    with engine.connect() as conn:
        assert conn.execute(select(AdCreative.body)).scalars().all() == ["new text"]


def test_countries_accumulate_across_scopes(engine: Engine) -> None:
    run = _run(engine)
    _load(engine, Page("US", {}, ads=[_ad("1", countries=["US"])]), run)
    result = _load(engine, Page("BR", {}, ads=[_ad("1", countries=["BR"])]), run)
    assert (result.new, result.changed) == (0, 0)
    with engine.connect() as conn:
        codes = conn.execute(select(AdCountry.country_code).order_by(AdCountry.country_code))
        assert codes.scalars().all() == ["BR", "US"]


def test_duplicates_within_a_page_become_one_ad(engine: Engine) -> None:
    run = _run(engine)
    result = _load(
        engine, Page("US", {}, ads=[_ad("1", countries=["US"]), _ad("1", countries=["KE"])]), run
    )
    assert result.new == 1
    assert _count(engine, Ad) == 1
    assert _count(engine, AdCountry) == 2


def test_failed_transaction_keeps_neither_rows_nor_checkpoint(engine: Engine) -> None:
    run = _run(engine)
    with pytest.raises(RuntimeError), engine.begin() as conn:
        load_page(
            conn,
            Page("US", {"after": "c1"}, ads=[_ad("1")]),
            source="meta",
            run_id=run,
            now=T0,
            redactor=Redactor(),
        )
        raise RuntimeError("crash before commit")
    assert _count(engine, Ad) == 0
    assert _count(engine, Checkpoint) == 0


def test_listing_complete_delists_missing_ads_and_relists_returning_ones(engine: Engine) -> None:
    run = _run(engine)
    _load(engine, Page("2024", {}, ads=[_ad("1"), _ad("2")]), run, T0)
    second = T0 + timedelta(days=1)
    page = Page("2024", {}, ads=[_ad("1")], listing_complete=True, listing_started_at=second)
    assert _load(engine, page, run, second).delisted == 1
    with engine.connect() as conn:
        delisted = dict(conn.execute(select(Ad.source_ad_id, Ad.delisted_at)).all())
    assert delisted == {"1": None, "2": second}
    third = T0 + timedelta(days=2)
    page = Page(
        "2024", {}, ads=[_ad("1"), _ad("2")], listing_complete=True, listing_started_at=third
    )
    _load(engine, page, run, third)
    with engine.connect() as conn:
        assert (
            conn.execute(select(func.count()).where(Ad.delisted_at.is_not(None))).scalar_one() == 0
        )
    assert _count(engine, Ad) == 2  # nothing was ever deleted


def test_known_public_ids_survive_an_ad_that_does_not_carry_them(engine: Engine) -> None:
    run = _run(engine)
    rich = AdvertiserRecord("page-1", "A Page", public_ids=["FEC ID C001"])
    _load(engine, Page("US", {}, advertisers=[rich]), run)
    _load(engine, Page("US", {}, ads=[_ad("1")]), run)
    with engine.connect() as conn:
        ids = conn.execute(text("SELECT public_ids FROM advertisers")).scalar_one()
    assert "C001" in str(ids)


def test_archive_dedups_pages_and_redacts_secrets(engine: Engine) -> None:
    run = _run(engine)
    body = b'{"data": [], "paging": {"next": "https://x/?access_token=SECRET-TOKEN-123&after=a"}}'
    raw = RawPayload(
        kind="page", url="https://x/ads_archive?access_token=SECRET-TOKEN-123", content=body
    )
    redactor = Redactor(["SECRET-TOKEN-123"])
    for _ in range(2):
        with engine.begin() as conn:
            load_page(
                conn, Page("US", {}, raw=raw), source="meta", run_id=run, now=T0, redactor=redactor
            )
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT url, payload FROM raw_records")).all()
    assert len(rows) == 1
    import gzip

    assert b"SECRET-TOKEN-123" not in gzip.decompress(rows[0][1])
    assert "SECRET-TOKEN-123" not in rows[0][0]


def test_quarantined_records_are_kept_with_reason_and_counted(engine: Engine) -> None:
    run = _run(engine)
    page = Page("US", {}, ads=[_ad("1")], quarantined=[Quarantined("no id", '{"spend": 1}')])
    result = _load(engine, page, run)
    assert result.quarantined == 1
    with engine.connect() as conn:
        reason, quarantined = conn.execute(
            text(
                "SELECT q.reason, r.quarantined FROM quarantined_records q "
                "JOIN collection_runs r ON r.id = q.run_id"
            )
        ).one()
    assert (reason, quarantined) == ("no id", 1)


def test_a_value_only_this_engine_refuses_sets_aside_that_ad_alone(engine: Engine) -> None:
    """PostgreSQL enforces VARCHAR(8) on currency, SQLite does not; neither stalls the Page."""
    run = _run(engine)
    _load(engine, Page("US", {}, ads=[_ad("1"), _ad("2")]), run)
    odd = _ad("2", spend=500, currency="USD" * 7)
    page = Page("US", {"after": "c2"}, ads=[_ad("1", spend=300), odd, _ad("3")])
    result = _load(engine, page, run)
    with engine.connect() as conn:
        spend = dict(conn.execute(select(Ad.source_ad_id, Ad.spend_lower)).all())
        reasons = list(conn.scalars(text("SELECT reason FROM quarantined_records")))
        state = conn.scalar(select(Checkpoint.state))
    assert state == {"after": "c2"}
    assert (spend["1"], spend["3"]) == (300, 100)
    if engine.dialect.name == "postgresql":
        assert spend["2"] == 100, "the refused update must leave the stored ad as it was"
        assert len(reasons) == 1 and "too long" in reasons[0]
        assert (result.records, result.new, result.changed, result.quarantined) == (2, 1, 1, 1)
    else:
        assert spend["2"] == 500 and reasons == []
        assert (result.records, result.new, result.changed, result.quarantined) == (3, 1, 2, 0)
