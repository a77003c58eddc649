"""One run per source at a time, across processes: cron, the daemon and a human.

SQLite: an exclusive ``flock`` on a file beside the database (``<db>.<source>.lock``); the
kernel releases it when the process dies, even on ``kill -9``, so a crash never leaves a stale
lock. PostgreSQL: a session-level advisory lock keyed on the source name, held on a dedicated
connection for the length of the run; it too vanishes with the session. Either way the lock
lives where the data lives, so two machines sharing one PostgreSQL database exclude each other
too (two machines sharing a SQLite file over NFS do not: flock is not reliable there).

Run locks never wait: a second run exits at once with code 3. The schema lock
(:func:`schema_lock`) does wait, because two processes starting together on a new database
must not both create its tables; the loser then finds the schema in place.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import socket
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from sqlalchemy import Connection, Engine, text

from pipeline.db import sqlite_path

#: The lock that serialises migrations; no source can be called this (names are identifiers).
_SCHEMA = "schema-migration"
#: The lock of the derived steps (actors, indicators); not a source name either.
_DERIVED = "derived-steps"


class LockHeld(Exception):
    """Another process is collecting this source right now (exit code 3)."""


def _advisory_key(name: str) -> int:
    digest = hashlib.blake2b(f"adlib:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class _FileLock:
    """``flock`` on ``path``; the file's content says who holds it, for the error message."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self, *, wait: bool = False) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        since = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        os.write(fd, f"process {os.getpid()} on {socket.gethostname()} since {since}\n".encode())
        self._fd = fd
        return True

    def holder(self) -> str:
        try:
            return self.path.read_text().strip() or "unknown"
        except OSError:
            return "unknown"

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


class _AdvisoryLock:
    """A PostgreSQL session advisory lock, held on its own pooled connection."""

    def __init__(self, engine: Engine, name: str) -> None:
        self.engine = engine
        self.key = _advisory_key(name)
        self._conn: Connection | None = None

    def acquire(self, *, wait: bool = False) -> bool:
        conn = self.engine.connect()
        function = "pg_advisory_lock" if wait else "pg_try_advisory_lock"
        got = conn.execute(text(f"SELECT {function}(:k)"), {"k": self.key}).scalar()
        conn.commit()
        if wait:
            got = True  # pg_advisory_lock returns void once it has the lock
        if not got:
            conn.close()
            return False
        self._conn = conn
        return True

    def holder(self) -> str:
        unsigned = self.key & 0xFFFFFFFFFFFFFFFF
        with self.engine.connect() as conn:
            row = conn.execute(
                text(
                    "SELECT l.pid, a.client_addr, a.backend_start FROM pg_locks l "
                    "LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
                    "WHERE l.locktype = 'advisory' AND l.granted "
                    "AND l.classid = CAST(:hi AS oid) AND l.objid = CAST(:lo AS oid) "
                    "AND l.objsubid = 1 LIMIT 1"
                ),
                {"hi": unsigned >> 32, "lo": unsigned & 0xFFFFFFFF},
            ).first()
        if row is None:
            return "another session"
        client = f" from {row.client_addr}" if row.client_addr else ""
        return f"PostgreSQL backend {row.pid}{client}"

    def release(self) -> None:
        if self._conn is not None:
            self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            self._conn.commit()
            self._conn.close()
            self._conn = None


def _lock(engine: Engine, database_url: str, name: str) -> _FileLock | _AdvisoryLock:
    """The lock called ``name`` for this database, on the mechanism its engine supports."""
    if engine.dialect.name == "postgresql":
        return _AdvisoryLock(engine, name)
    db_file = sqlite_path(database_url)
    base = db_file if db_file is not None else Path(".adlib-memory.sqlite")
    return _FileLock(base.with_name(f"{base.name}.{name}.lock"))


class SourceLocks:
    """Hold the run lock of every given source, or none of them.

    Taking all locks up front means a second ``adlib collect`` exits at once (code 3) instead
    of half-running; partial acquisition is rolled back before raising.
    """

    def __init__(self, engine: Engine, database_url: str, sources: list[str]) -> None:
        self._stack = ExitStack()
        self._locks = [(source, _lock(engine, database_url, source)) for source in sources]

    def __enter__(self) -> SourceLocks:
        for source, lock in self._locks:
            if not lock.acquire():
                holder = lock.holder()
                self._stack.close()
                raise LockHeld(
                    f"another adlib run is collecting {source} (held by {holder}); "
                    "nothing was done: wait for it to finish"
                )
            self._stack.callback(lock.release)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stack.close()


@contextmanager
def schema_lock(engine: Engine, database_url: str) -> Iterator[None]:
    """Serialise schema checks and migrations between processes (waits for the holder).

    Without it, two processes that find a new PostgreSQL database empty both run the first
    migration, and one dies on "relation already exists".
    """
    with _waiting_lock(engine, database_url, _SCHEMA):
        yield


@contextmanager
def derived_lock(engine: Engine, database_url: str) -> Iterator[None]:
    """Serialise the steps that rebuild tables derived from all the data (actor resolution,
    the message-test refresh) between processes (waits for the holder).

    Under cron, collections of different sources finish together, and each then rebuilds
    these tables from the whole database: side by side, the second rebuild's delete misses
    the rows the first is inserting on PostgreSQL, or waits past SQLite's busy timeout. One
    after the other, the second simply works on data that includes both runs.
    """
    with _waiting_lock(engine, database_url, _DERIVED):
        yield


@contextmanager
def _waiting_lock(engine: Engine, database_url: str, name: str) -> Iterator[None]:
    lock = _lock(engine, database_url, name)
    lock.acquire(wait=True)
    try:
        yield
    finally:
        lock.release()
