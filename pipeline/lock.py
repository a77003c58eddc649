"""One run per source at a time, across processes: cron, the daemon and a human.

SQLite: an exclusive ``flock`` on a file beside the database (``<db>.<source>.lock``); the
kernel releases it when the process dies, even on ``kill -9``, so a crash never leaves a stale
lock. PostgreSQL: a session-level advisory lock keyed on the source name, held on a dedicated
connection for the length of the run; it too vanishes with the session.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from sqlalchemy import Connection, Engine, text

from pipeline.db import sqlite_path


class LockHeld(Exception):
    """Another process is collecting this source right now (exit code 3)."""


def _advisory_key(source: str) -> int:
    digest = hashlib.blake2b(f"adlib:{source}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class _FileLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {datetime.now(UTC).isoformat()}\n".encode())
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
    def __init__(self, engine: Engine, source: str) -> None:
        self.engine = engine
        self.key = _advisory_key(source)
        self._conn: Connection | None = None

    def acquire(self) -> bool:
        conn = self.engine.connect()
        got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar()
        conn.commit()
        if not got:
            conn.close()
            return False
        self._conn = conn
        return True

    def holder(self) -> str:
        unsigned = self.key & 0xFFFFFFFFFFFFFFFF
        with self.engine.connect() as conn:
            pid = conn.execute(
                text(
                    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND classid = CAST(:hi AS oid) AND objid = CAST(:lo AS oid) "
                    "AND objsubid = 1 LIMIT 1"
                ),
                {"hi": unsigned >> 32, "lo": unsigned & 0xFFFFFFFF},
            ).scalar()
        return f"PostgreSQL backend pid {pid}" if pid else "another session"

    def release(self) -> None:
        if self._conn is not None:
            self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            self._conn.commit()
            self._conn.close()
            self._conn = None


class SourceLocks:
    """Hold the run lock of every given source, or none of them.

    Taking all locks up front means a second ``adlib collect`` exits at once (code 3) instead
    of half-running; partial acquisition is rolled back before raising.
    """

    def __init__(self, engine: Engine, database_url: str, sources: list[str]) -> None:
        self._stack = ExitStack()
        self._locks: list[tuple[str, _FileLock | _AdvisoryLock]] = []
        db_file = sqlite_path(database_url)
        for source in sources:
            if engine.dialect.name == "postgresql":
                self._locks.append((source, _AdvisoryLock(engine, source)))
            else:
                base = db_file if db_file is not None else Path(".adlib-memory.sqlite")
                self._locks.append(
                    (source, _FileLock(base.with_name(f"{base.name}.{source}.lock")))
                )

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
