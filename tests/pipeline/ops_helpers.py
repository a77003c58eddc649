"""Shared pieces of the operations tests: replicas that can be broken or slowed, configs, polls.

The replicas run in the pytest process (a :class:`ReplicaServer` thread each), so they outlive
the `adlib` subprocesses under test, and the test can break, heal or slow them mid-run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from collectors.replicas import ReplicaRequest, ReplicaResponse, ReplicaServer
from collectors.replicas.google import GoogleBundleReplica
from collectors.replicas.server import Handler
from collectors.replicas.snap import SnapReplica
from tests.conftest import run_cli, write_config


class Controlled:
    """A replica handler a test can break (every request answers 500), slow down, or hold.

    ``hold()`` makes every request wait until ``release()``: a run is then certainly in
    progress for as long as the test needs, however slow the machine.
    """

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.broken = False
        self.delay = 0.0
        self._gate = threading.Event()
        self._gate.set()
        self._hits = 0
        self._lock = threading.Lock()

    def hold(self) -> None:
        self._gate.clear()

    def release(self) -> None:
        self._gate.set()

    @property
    def hits(self) -> int:
        with self._lock:
            return self._hits

    def __call__(self, request: ReplicaRequest) -> ReplicaResponse:
        with self._lock:
            self._hits += 1
        self._gate.wait(timeout=60)
        if self.broken:
            return ReplicaResponse(status=500, body=b"internal error", content_type="text/plain")
        response = self.handler(request)
        response.delay = self.delay
        return response


@dataclass
class Replicas:
    """Google's bundle and Snap's yearly zips, each behind its own :class:`Controlled`."""

    google: GoogleBundleReplica
    snap: SnapReplica
    google_control: Controlled
    snap_control: Controlled
    google_url: str
    snap_url: str

    def sources(self, **overrides: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """``sources`` of a config collecting from both replicas (retries kept short)."""
        sources = {
            "google": {**self.google.settings(self.google_url), "batch_size": 10},
            "snap": self.snap.settings(self.snap_url),
        }
        for name, extra in overrides.items():
            sources[name] = {**sources[name], **extra}
        return sources


@contextmanager
def bulk_replicas(workdir: Path) -> Iterator[Replicas]:
    google = GoogleBundleReplica(workdir / "google", ads=60)
    snap = SnapReplica(workdir / "snap", years=(2019, 2022), ads=20)
    google_control, snap_control = Controlled(google.handle), Controlled(snap.handle)
    with ReplicaServer(google_control) as g, ReplicaServer(snap_control) as s:
        try:
            yield Replicas(google, snap, google_control, snap_control, g.url, s.url)
        finally:  # let held requests go, so the servers can shut down
            google_control.release()
            snap_control.release()


def ops_config(
    tmp_path: Path,
    database_url: str,
    sources: dict[str, dict[str, Any]],
    *,
    name: str = "config.yaml",
    **top: Any,
) -> Path:
    """A config file for the tests: the given sources, one country, data under tmp_path."""
    return write_config(
        tmp_path / name,
        {
            "database": {"url": database_url},
            "data_dir": str(tmp_path / "data"),
            "countries": ["US"],
            "log": {"level": "INFO"},
            **top,
            "sources": sources,
        },
    )


def start_cli(*args: str, log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start `adlib` in the background, stdout and stderr to ``log`` (read it with ``.read_text``)."""
    handle = log.open("w")
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "pipeline", *args],
            stdout=handle,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **(env or {})},
        )
    finally:
        handle.close()


def run_parallel(
    *commands: tuple[str, ...], env: dict[str, str] | None = None
) -> list[subprocess.CompletedProcess[str]]:
    """Run independent `adlib` commands at the same time (each costs a second of start-up)."""
    with ThreadPoolExecutor(max_workers=len(commands)) as pool:
        return list(pool.map(lambda args: run_cli(*args, env=env), commands))


def stop(process: subprocess.Popen[str], timeout: float = 10.0) -> tuple[int, float]:
    """SIGTERM ``process``; return its exit code and how many seconds it took to exit."""
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise AssertionError(f"process did not exit within {timeout} s of SIGTERM") from None
    return code, time.monotonic() - started


def wait_for(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    """Poll ``condition`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class Database:
    """Read the test database from the pytest process (either engine)."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))

    def rows(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        try:
            with self.engine.connect() as conn:
                return [dict(r) for r in conn.execute(text(sql), params).mappings()]
        except Exception:  # the schema does not exist yet
            return []

    def runs(self, source: str, status: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM collection_runs WHERE source = :source"
        if status:
            sql += " AND status = :status"
        return self.rows(sql + " ORDER BY id", source=source, status=status)

    def last_status(self, source: str) -> str | None:
        """The status of the source's latest run (None before any, or while unreachable)."""
        runs = self.runs(source)
        return str(runs[-1]["status"]) if runs else None

    def checkpoint(self, source: str, scope: str) -> dict[str, Any] | None:
        found = self.rows(
            "SELECT state, updated_at FROM checkpoints WHERE source = :s AND scope = :c",
            s=source,
            c=scope,
        )
        if not found:
            return None
        state = found[0]["state"]
        return {
            "state": json.loads(state) if isinstance(state, str) else state,
            "updated_at": found[0]["updated_at"],
        }

    def close(self) -> None:
        self.engine.dispose()


def json_lines(text_: str) -> list[dict[str, Any]]:
    """Every line of ``text_`` parsed as JSON (fails on the first line that is not)."""
    return [json.loads(line) for line in text_.splitlines() if line.strip()]
