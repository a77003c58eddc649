"""The practices fixture database: tests/fixtures/practices/ads.yaml through the real loader.

Built once per engine and session, then refreshed (message tests) and resolved with a curated
registry: actor "Green Future Party" is the principal (advertiser role) of every ad of
advertiser 501 ("Green Future").
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline import db
from pipeline.actors_step import mention_fields
from pipeline.evidence import actors
from pipeline.evidence.actors.registry import parse_registry
from pipeline.evidence.practices.message_tests import refresh_message_tests
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


#: A researcher's curation: advertiser 501's published name is the party's.
REGISTRY = f"""\
actors:
  - name: {ACTOR_NAME}
    kind: party
    aliases: ["Green Future"]
"""


def build_practices_database(url: str) -> None:
    build_hand_database(url, PRACTICES_FILE)
    engine = db.make_engine(url)
    refresh_message_tests(engine)
    with engine.begin() as conn:  # as `adlib collect` does, with a registry
        registry = parse_registry(REGISTRY, Path("actors.yaml"))
        actors.run(conn, mention_fields(), registry, datetime.now(UTC))
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
