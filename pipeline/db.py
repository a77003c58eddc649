"""Engines and migrations for the two supported databases.

SQLite (the default, one file under ``data/``) gets WAL, a generous busy timeout, foreign keys
and ``BEGIN IMMEDIATE`` for writers, so a reader never blocks the collector and two writers
queue instead of failing. PostgreSQL is used as is. The schema is managed by Alembic: a new
database is migrated on first use; an existing one that is behind must be upgraded explicitly
with ``adlib db upgrade`` (a researcher should back up before a migration touches their data).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url

import schema
from schema.views import VIEW_NAMES, create_views, drop_views

MIGRATIONS_DIR = Path(schema.__file__).parent / "migrations"


class DatabaseError(Exception):
    """A database problem the user can fix (wrong URL, schema behind, unreachable server)."""


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL, or ``None`` for other engines and in-memory databases."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    if parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def _require_psycopg() -> None:
    """PostgreSQL's driver is the ``postgres`` extra: say how to get it, not a traceback."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise DatabaseError(
            "database.url is PostgreSQL but its driver is not installed: "
            "pip install 'adlib-collector[postgres]' (or -e '.[postgres]' in a checkout)"
        ) from None


def make_engine(url: str, *, readonly: bool = False) -> Engine:
    """Create an engine for ``url``; ``readonly`` opens SQLite in read-only mode."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(url, readonly)
    if backend in ("postgresql", "postgres"):
        _require_psycopg()
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        options = "-c default_transaction_read_only=on" if readonly else ""
        # No server-side prepared statements: a generic plan made while a table was empty
        # (first pages of a first run) keeps seq-scanning it after it has grown.
        connect_args: dict[str, Any] = {"connect_timeout": 10, "prepare_threshold": None}
        if options:
            connect_args["options"] = options
        return create_engine(parsed, pool_pre_ping=True, connect_args=connect_args)
    raise DatabaseError(
        f"database.url uses {backend!r}; adlib supports sqlite:/// and postgresql:// URLs"
    )


def _sqlite_engine(url: str, readonly: bool) -> Engine:
    path = sqlite_path(url)
    if path is not None and not readonly:
        path.parent.mkdir(parents=True, exist_ok=True)
    if readonly and path is not None:
        if not path.exists():
            raise DatabaseError(f"no database at {path}: run `adlib collect` or `adlib demo` first")

        def connect() -> sqlite3.Connection:
            return sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)

        engine = create_engine("sqlite://", creator=connect)
    else:
        engine = create_engine(url, connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        # Take transaction control away from pysqlite so that BEGIN IMMEDIATE below is ours.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout = 60000")
        cursor.execute("PRAGMA foreign_keys = ON")
        if not readonly:
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            # 64 MB of page cache instead of SQLite's 2 MB: a bulk import inserts into indexes
            # keyed by random-looking ids (Google's CR...), whose pages a small cache keeps
            # re-reading. Measured on the 1M-row creative-stats: 355 s -> 333 s, peak 181 -> 210 MB.
            cursor.execute("PRAGMA cache_size = -65536")
        else:
            cursor.execute("PRAGMA query_only = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

    return engine


def alembic_config() -> AlembicConfig:
    """Alembic configured programmatically: adlib ships no alembic.ini."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def head_revision() -> str:
    """The newest migration this version of adlib knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or ``None`` for an empty database."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to ``revision``, then rebuild the analyst views at head.

    Views are derived objects rendered from today's ``schema/views/*.sql``, so they are not
    created by the migration that introduced them (a later view may read a table a later
    migration adds). Alembic's env drops them before migrating (a view pins the columns a
    migration alters); they are created again here once the schema is at head.
    """
    cfg = alembic_config()
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
        conn.commit()
    if current_revision(engine) == head_revision():
        refresh_views(engine)


def refresh_views(engine: Engine) -> None:
    """Drop and create every analyst view in one transaction."""
    with engine.begin() as conn:
        drop_views(conn)
        create_views(conn)


def ensure_schema(engine: Engine) -> None:
    """Migrate a new database; refuse to run on one whose schema is behind or ahead.

    An empty database is created at head. One with adlib's tables at an older revision needs
    ``adlib db upgrade``; one at an unknown revision was written by a newer adlib.
    """
    current = current_revision(engine)
    head = head_revision()
    if current == head:
        if not set(VIEW_NAMES) <= set(inspect(engine).get_view_names()):
            refresh_views(engine)  # a kill between migrating and creating the views
        return
    if current is None:
        existing = set(inspect(engine).get_table_names())
        if existing & {"ads", "collection_runs"}:
            raise DatabaseError(
                "database has adlib tables but no migration record: "
                "run `adlib db upgrade` after backing it up"
            )
        upgrade(engine)
        return
    known = {rev.revision for rev in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
    if current not in known:
        raise DatabaseError(
            f"database schema {current} is newer than this adlib ({head}): upgrade adlib"
        )
    raise DatabaseError(
        f"database schema is at {current}, this adlib needs {head}: "
        "back it up, then run `adlib db upgrade`"
    )
