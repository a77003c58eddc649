"""After a collection the actors step relinks only the ads queued since its last run: the
result must equal relinking every ad (SQLite and PostgreSQL, the real loader)."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import Engine

from collectors.records import AdvertiserRecord, NormalisedAd, Page
from collectors.redact import Redactor
from pipeline.actors_step import STEP, mention_fields
from pipeline.derived import claim_queue, release_queue
from pipeline.evidence import actors
from pipeline.evidence.actors.registry import Registry
from pipeline.load import load_page
from pipeline.runner import open_run
from tests.pipeline.evidence.test_actors_db import ADS, NOW, _ad, _load, _rows

MENTIONS = (
    "SELECT source, role, name, country_code, source_entity_id, ads FROM actor_mentions "
    "ORDER BY source, role, name, country_code, source_entity_id"
)
LINKS = (
    "SELECT a.source, a.source_ad_id, m.role, m.name, m.country_code "
    "FROM ad_actor_mentions l JOIN ads a ON a.id = l.ad_id "
    "JOIN actor_mentions m ON m.id = l.mention_id ORDER BY 1, 2, 3, 4, 5"
)
QUEUED = (
    "SELECT DISTINCT a.source_ad_id FROM actor_link_queue q JOIN ads a ON a.id = q.ad_id ORDER BY 1"
)


def _step(engine: Engine, *, scoped: bool) -> actors.Summary:
    """The actors step as a collection runs it (``scoped``) or `adlib actors resolve` does."""
    with engine.begin() as conn:
        queued = claim_queue(conn)
        summary = actors.run(
            conn, mention_fields(), Registry(), NOW, scope=queued if scoped else None
        )
        release_queue(conn, STEP)
    return summary


def _tables(engine: Engine) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    return _rows(engine, MENTIONS), _rows(engine, LINKS)


def _collect(engine: Engine, source: str, page: Page) -> None:
    run_id = open_run(engine, source, "test", NOW, status="success", finished_at=NOW)
    with engine.begin() as conn:
        load_page(conn, page, source=source, run_id=run_id, now=NOW, redactor=Redactor())


def _ad_named(source: str, ad_id: str) -> NormalisedAd:
    return next(ad for ad in ADS[source] if ad.source_ad_id == ad_id)


def test_relinking_the_queued_ads_equals_relinking_every_ad(engine: Engine) -> None:
    _load(engine, ADS)
    _step(engine, scoped=True)  # the first collection: every ad is queued
    assert _rows(engine, QUEUED) == []
    first = _tables(engine)
    assert first == (_step(engine, scoped=False) and _tables(engine))

    # A night's changes of every kind that moves a link, and ads nothing touched.
    m1 = replace(_ad_named("meta", "m1"), funder="Paid for by Climate Power Action")
    m4 = _ad("meta", "m4", "US", advertiser=AdvertiserRecord("404", "Climate Power Fund"))
    _collect(engine, "meta", Page("test", {}, ads=[m1, m4]))
    s1_in_canada = replace(_ad_named("snap", "s1"), countries=["CA"])  # same ad, new country
    s2 = replace(_ad_named("snap", "s2"), funder=None)  # a link goes away
    _collect(engine, "snap", Page("test", {}, ads=[s1_in_canada, s2]))
    renamed = AdvertiserRecord("AR1", "Climate Power US")  # from an advertiser file, no ad
    _collect(engine, "google", Page("test", {}, ads=[], advertisers=[renamed]))
    assert _rows(engine, QUEUED) == [("CR1",), ("m1",), ("m4",), ("s1",), ("s2",)]

    summary = _step(engine, scoped=True)
    scoped = _tables(engine)
    assert _rows(engine, QUEUED) == []
    assert scoped != first and summary.extracted.new > 0
    mentions = {row[:4]: row[5] for row in scoped[0]}
    assert mentions["meta", "payer", "Paid for by Climate Power Inc.", "US"] == 0
    assert mentions["snap", "payer", "Climate Power Action", "US"] == 0
    assert ("snap", "s1", "payer", "Climate Power", "CA") in scoped[1]
    assert ("google", "CR1", "advertiser", "Climate Power US", "US") in scoped[1]
    _step(engine, scoped=False)
    assert _tables(engine) == scoped
