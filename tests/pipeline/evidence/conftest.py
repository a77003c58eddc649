"""The practices fixture database: tests/fixtures/practices/ads.yaml through the real loader.

Built once per engine and session, then refreshed (message tests) and given one resolved
actor, written straight into the actors contract tables (the resolver is another module's job):
actor "Green Future Party" is the principal (advertiser role) of every ad of advertiser 501.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from pipeline import db
from pipeline.evidence.practices.message_tests import refresh_message_tests
from schema.actor_tables import Actor, ActorMention, AdActorMention
from tests.analyst_db import (  # noqa: F401  (fixtures used by the tests here)
    _analyst_databases,
    _Databases,
    build_hand_database,
    hand_db,
    replica_db,
)
from tests.conftest import FIXTURES

PRACTICES_FILE = FIXTURES / "practices" / "ads.yaml"
ACTOR_NAME = "Green Future Party"


def add_actor(engine: Engine, name: str, advertiser_source_id: str, kind: str = "party") -> int:
    """One actor, one advertiser-role mention, linked to every ad of that advertiser."""
    now = datetime.now(UTC)
    with engine.begin() as conn:
        actor_id = conn.execute(
            Actor.__table__.insert().returning(Actor.__table__.c.id),
            {
                "key": name.lower(),
                "name": name,
                "kind": kind,
                "curated": True,
                "first_seen_at": now,
                "updated_at": now,
            },
        ).scalar_one()
        ads = conn.execute(
            text(
                "SELECT a.id, a.source FROM ads a JOIN advertisers v ON v.id = a.advertiser_id "
                "WHERE v.source_advertiser_id = :s"
            ),
            {"s": advertiser_source_id},
        ).all()
        mention_id = conn.execute(
            ActorMention.__table__.insert().returning(ActorMention.__table__.c.id),
            {
                "source": ads[0][1],
                "role": "advertiser",
                "name": name,
                "country_code": "KE",
                "source_entity_id": advertiser_source_id,
                "normalised_name": name.lower(),
                "actor_id": actor_id,
                "method": "test",
                "ads": len(ads),
                "first_seen_at": now,
            },
        ).scalar_one()
        conn.execute(
            AdActorMention.__table__.insert(),
            [{"ad_id": ad_id, "mention_id": mention_id} for ad_id, _ in ads],
        )
    return actor_id


def build_practices_database(url: str) -> None:
    build_hand_database(url, PRACTICES_FILE)
    engine = db.make_engine(url)
    refresh_message_tests(engine)
    add_actor(engine, ACTOR_NAME, "501")
    engine.dispose()


@pytest.fixture(scope="session")
def _practice_databases() -> object:
    databases = _Databases()
    yield databases
    databases.drop_all()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def practices_db(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    _practice_databases: _Databases,
) -> str:
    """URL of the practices fixture database (built once per engine)."""
    tmp: Path = tmp_path_factory.mktemp("practices")
    url = _practice_databases.new(tmp, request.param)
    build_practices_database(url)
    return url
