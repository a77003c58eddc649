"""Shared fixtures: a fresh database on each engine, replicas, and the CLI as a subprocess.

``database_url`` is parametrised over SQLite and PostgreSQL. PostgreSQL comes from
``ADLIB_TEST_PG_URL`` (an admin URL; each test gets its own database). Without it the
PostgreSQL cases skip on a developer machine, but fail when ``ADLIB_REQUIRE_PG=1`` (CI), so
a missing server can never pass as green.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import settings
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

FIXTURES = Path(__file__).parent / "fixtures"
#: Google's and Snap's real sample rows: one copy, shipped with the replicas that serve them.
SAMPLES = Path(__file__).parent.parent / "collectors" / "replicas" / "samples"
REPO = Path(__file__).parent.parent

# CI (ADLIB_REQUIRE_PG=1) draws the same Hypothesis examples on every run, so whether a change
# lands never depends on the random draw; developers' runs stay random and keep finding new
# cases, which then become fixed regression tests.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("ADLIB_REQUIRE_PG") == "1":
    settings.load_profile("ci")


def _pg_admin_url() -> str | None:
    url = os.environ.get("ADLIB_TEST_PG_URL")
    if url:
        return url
    if os.environ.get("ADLIB_REQUIRE_PG") == "1":
        pytest.fail("ADLIB_REQUIRE_PG=1 but ADLIB_TEST_PG_URL is not set: PostgreSQL is missing")
    return None


def _pg_reachable(url: str) -> None:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        message = f"PostgreSQL at ADLIB_TEST_PG_URL is not reachable: {exc}"
        if os.environ.get("ADLIB_REQUIRE_PG") == "1":
            pytest.fail(message)
        pytest.skip(message)
    finally:
        engine.dispose()


@contextmanager
def new_pg_database() -> Iterator[str]:
    """A new, empty PostgreSQL database; dropped afterwards."""
    admin = _pg_admin_url()
    if admin is None:
        pytest.skip("PostgreSQL tests need ADLIB_TEST_PG_URL (CI sets it via .ci/run)")
    _pg_reachable(admin)
    name = f"adlib_test_{uuid.uuid4().hex[:12]}"
    # No pool: the reliability matrix restarts the server, which kills pooled connections.
    engine = create_engine(
        admin.replace("postgresql://", "postgresql+psycopg://", 1),
        isolation_level="AUTOCOMMIT",
        poolclass=NullPool,
    )
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with engine.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :n AND pid <> pg_backend_pid()"
                ),
                {"n": name},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        engine.dispose()


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A new, empty PostgreSQL database for one test; dropped afterwards."""
    with new_pg_database() as url:
        yield url


@pytest.fixture
def another_database_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A second fresh database on the same engine as ``database_url`` (copies, rebuilds)."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'another.sqlite'}"
        return
    with new_pg_database() as url:
        yield url


@pytest.fixture
def twin_database_urls(database_url: str, another_database_url: str) -> tuple[str, str]:
    """Two fresh databases on the same engine, once per engine (to compare two code paths)."""
    return database_url, another_database_url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a fresh database, once per engine."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'adlib.sqlite'}"
    return str(request.getfixturevalue("pg_database"))


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """adlib's engine on ``database_url``, its schema migrated to head."""
    from pipeline import db

    engine = db.make_engine(database_url)
    db.ensure_schema(engine)
    yield engine
    engine.dispose()


def write_config(path: Path, data: dict[str, Any]) -> Path:
    """Write a config.yaml for a test and return its path."""
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 180, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `adlib` in a subprocess exactly as a user (or cron) would."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        cwd=cwd,
    )


#: Module globals that show a test module starts processes (the CLI, the daemon, kill -9).
_PROCESS_STARTERS = ("run_cli", "run_parallel", "subprocess", "harness")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark what `make test-fast` leaves out: PostgreSQL cases and process-starting modules.

    Marked from facts rather than by hand, so a new test lands in the right set by itself:
    a case parametrised onto PostgreSQL (or asking for ``pg_database``) is ``postgres``; a
    test in a module that imports a way to start processes is ``subprocess``.
    """
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_pg = callspec is not None and "postgresql" in callspec.params.values()
        if on_pg or "pg_database" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)
        module = getattr(item, "module", None)
        if module is not None and any(name in vars(module) for name in _PROCESS_STARTERS):
            item.add_marker(pytest.mark.subprocess)
