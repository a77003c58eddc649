"""Run locks across processes on SQLite (flock beside the file) and PostgreSQL (advisory lock).

The end-to-end cases start real `adlib` processes against a replica that holds its response
for a few seconds, so one run is certainly in progress when the other starts.
"""

from __future__ import annotations

import subprocess
import sys
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from sqlalchemy import Engine

from pipeline import db
from pipeline.lock import LockHeld, SourceLocks, derived_lock, schema_lock
from tests.conftest import run_cli
from tests.pipeline.ops_helpers import (
    Database,
    bulk_replicas,
    ops_config,
    start_cli,
    stop,
    wait_for,
)


def test_two_collects_started_together_one_runs_the_other_exits_3_at_once(
    database_url: str, tmp_path: Path
) -> None:
    with bulk_replicas(tmp_path / "replicas") as replicas:
        replicas.google_control.hold()  # whoever gets the lock stays inside its run
        config = ops_config(tmp_path, database_url, replicas.sources())
        # A new database: both processes also race to create the schema (schema_lock).
        logs = [tmp_path / f"collect{i}.out" for i in (1, 2)]
        processes = [start_cli("collect", "--config", str(config), log=log) for log in logs]
        try:
            loser = wait_for(
                lambda: next((p for p in processes if p.poll() is not None), None),
                timeout=60,
                what="one of the two collects to exit while the other is mid-run",
            )
            winner = processes[1 - processes.index(loser)]
            output = logs[processes.index(loser)].read_text()
            assert loser.returncode == 3, output
            assert winner.poll() is None  # at once: the winner's run is still going
            lines = output.strip().splitlines()
            assert len(lines) == 1, output
            assert lines[0].startswith("adlib: another adlib run is collecting google (held by ")
            assert lines[0].endswith("nothing was done: wait for it to finish")
            replicas.google_control.release()
            assert winner.wait(timeout=60) == 0, logs[processes.index(winner)].read_text()
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
        database = Database(database_url)
        try:
            assert [r["status"] for r in database.runs("google")] == ["success"]
        finally:
            database.close()


def test_collect_exits_3_while_the_daemon_collects_that_source(
    database_url: str, tmp_path: Path
) -> None:
    with bulk_replicas(tmp_path / "replicas") as replicas:
        config = ops_config(
            tmp_path, database_url, replicas.sources(google={"schedule": "* * * * * *"})
        )
        replicas.google_control.hold()
        daemon = start_cli(
            "schedule", "--config", str(config), "--source", "google", log=tmp_path / "d.out"
        )
        database = Database(database_url)
        try:
            wait_for(lambda: replicas.google_control.hits > 0, 30, "the daemon's google run")
            blocked = run_cli("collect", "--config", str(config), "--source", "google")
            assert blocked.returncode == 3, blocked.stderr
            assert "another adlib run is collecting google" in blocked.stderr
            # At once: the daemon's run it collided with is still going.
            assert database.runs("google")[-1]["status"] == "running"
            # Locks are per source: the daemon's google run does not keep snap waiting.
            other = run_cli("collect", "--config", str(config), "--source", "snap")
            assert other.returncode == 0, other.stderr
            replicas.google_control.release()
            wait_for(lambda: database.runs("google", "success"), 30, "the daemon's run to end")
            code, _ = stop(daemon)
            assert code == 0
            # The daemon's jobs that came due while its own run was going were skipped, not
            # stacked up (max_instances=1).
            daemon_log = (tmp_path / "d.out").read_text()
            assert "run skipped: the previous run is still going" in daemon_log
        finally:
            if daemon.poll() is None:
                daemon.kill()
            database.close()


def test_the_daemon_skips_a_run_while_collect_holds_the_lock_and_carries_on(
    database_url: str, tmp_path: Path
) -> None:
    with bulk_replicas(tmp_path / "replicas") as replicas:
        config = ops_config(tmp_path, database_url, replicas.sources())
        replicas.google_control.hold()
        collect = start_cli(
            "collect", "--config", str(config), "--source", "google", log=tmp_path / "c.out"
        )
        wait_for(lambda: replicas.google_control.hits > 0, 30, "collect's google request")
        out = tmp_path / "d.out"
        daemon = start_cli(
            "schedule", "--config", str(config), "--source", "google", "--every", "1", log=out
        )
        database = Database(database_url)
        try:
            wait_for(lambda: "run skipped: another adlib run" in out.read_text(), 30, "a skip")
            replicas.google_control.release()
            assert collect.wait(timeout=60) == 0
            wait_for(lambda: len(database.runs("google", "success")) >= 2, 30, "the daemon's run")
            assert daemon.poll() is None
            code, _ = stop(daemon)
            assert code == 0
        finally:
            for process in (daemon, collect):
                if process.poll() is None:
                    process.kill()
            database.close()


def test_locks_are_per_source_all_or_nothing_and_released(database_url: str) -> None:
    engine = db.make_engine(database_url)
    try:
        with SourceLocks(engine, database_url, ["snap"]):
            with (
                pytest.raises(LockHeld, match="another adlib run is collecting snap"),
                SourceLocks(engine, database_url, ["google", "snap"]),
            ):
                pass
            # The failed attempt gave google back rather than keeping half the set.
            with SourceLocks(engine, database_url, ["google"]):
                pass
        with SourceLocks(engine, database_url, ["google", "snap"]):
            pass
    finally:
        engine.dispose()


def test_the_holder_is_named(database_url: str) -> None:
    engine = db.make_engine(database_url)
    try:
        with SourceLocks(engine, database_url, ["google"]), pytest.raises(LockHeld) as held:
            SourceLocks(engine, database_url, ["google"]).__enter__()
        expected = "PostgreSQL backend " if database_url.startswith("postgresql") else "process "
        assert f"(held by {expected}" in str(held.value)
    finally:
        engine.dispose()


_HOLD = """
import sys, time
from pipeline import db
from pipeline.lock import SourceLocks
url = sys.argv[1]
engine = db.make_engine(url)
with SourceLocks(engine, url, ["google"]):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_killed_holder_leaves_no_stale_lock(database_url: str) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, database_url], stdout=subprocess.PIPE, text=True
    )
    engine = db.make_engine(database_url)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(LockHeld):
            SourceLocks(engine, database_url, ["google"]).__enter__()
        holder.kill()  # SIGKILL: no cleanup code runs
        holder.wait()
        # The kernel (flock) or the server (session end) freed it; PostgreSQL may take a
        # moment to notice the dropped connection.
        wait_for(lambda: _acquired(engine, database_url), 10, "the killed holder's lock to free")
    finally:
        if holder.poll() is None:
            holder.kill()
        engine.dispose()


def test_schema_lock_makes_a_second_migrator_wait(database_url: str, tmp_path: Path) -> None:
    config = ops_config(tmp_path, database_url, {})
    engine = db.make_engine(database_url)
    try:
        _waits_then_runs(engine, schema_lock(engine, database_url), config, "db", "upgrade")
        assert db.current_revision(engine) == db.head_revision()
    finally:
        engine.dispose()


def test_derived_steps_wait_for_each_other(database_url: str, tmp_path: Path) -> None:
    """Actor resolution (and the refresh beside it after a collection) waits while another
    process rebuilds the derived tables, instead of racing it; then it runs."""
    config = ops_config(tmp_path, database_url, {})
    assert run_cli("db", "upgrade", "--config", str(config)).returncode == 0
    engine = db.make_engine(database_url)
    try:
        _waits_then_runs(engine, derived_lock(engine, database_url), config, "actors", "resolve")
    finally:
        engine.dispose()


def _waits_then_runs(
    engine: Engine, held: AbstractContextManager[None], config: Path, *command: str
) -> None:
    """``adlib <command>`` blocks while ``held`` is held (it waits, it does not fail), then
    finishes with exit 0 once the lock is released."""
    log = config.with_name("waiter.out")
    with held:
        waiter = start_cli(*command, "--config", str(config), log=log)
        what = f"adlib {' '.join(command)} to block on the lock"
        wait_for(lambda: _lock_waiters(engine, waiter.pid), 30, what)
        assert waiter.poll() is None  # waiting for the lock, not failing
    assert waiter.wait(timeout=60) == 0, log.read_text()


def _lock_waiters(engine: Engine, pid: int) -> bool:
    """Whether a lock request is blocked right now: the state itself, not a guess at timing.

    SQLite's locks are ``flock``s, whose blocked requests the kernel lists in /proc/locks with
    ``->``; PostgreSQL's are advisory locks, listed ungranted in ``pg_locks``.
    """
    if engine.dialect.name == "sqlite":
        return any(
            "->" in line and f" {pid} " in line
            for line in Path("/proc/locks").read_text().splitlines()
        )
    with engine.connect() as conn:
        waiting = conn.exec_driver_sql(
            "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        ).scalar_one()
    return bool(waiting)


def _acquired(engine: Engine, database_url: str) -> bool:
    try:
        with SourceLocks(engine, database_url, ["google"]):
            return True
    except LockHeld:
        return False
