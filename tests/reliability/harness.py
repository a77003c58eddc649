"""Reliability scenarios: faults injected into real runs, each compared with an uninterrupted run.

Every scenario returns a :class:`Result` whose zeros are the claims of docs/reliability.md:
rows lost, duplicated rows, token leaks, unhandled exceptions (a traceback on stderr or an
exception escaping the pipeline). ``adlib collect`` runs as a subprocess wherever a crash must
be real (kill -9, PostgreSQL restart); faults that need a patched function (ENOSPC on a write)
run in-process. The pytest suite runs a seeded subset and asserts the zeros;
``python benchmarks/reliability.py --full`` runs the whole matrix and rewrites the document.
"""

from __future__ import annotations

import errno
import os
import random
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from collectors import REGISTRY
from collectors.replicas import ReplicaServer
from collectors.replicas.google import GoogleBundleReplica
from collectors.replicas.meta import FAULTS, MetaReplica
from collectors.replicas.snap import SnapReplica
from pipeline.runner import RunReport
from tests.conftest import run_cli, write_config

TOKEN = "EAAGreliabilityTOKENneverStored0042"
COUNTRIES = ["US", "BR", "KE"]
KILL_POINTS = ("page_fetched", "in_batch", "after_commit")
#: Every registered platform gets kill -9 trials; :func:`serve` must know how to start it.
SOURCES = tuple(REGISTRY)
#: Where a re-import is killed, in committed Pages (unchanged rows fill them 50 times faster, so
#: a re-import commits few): Google's past its ad member (the id maps, then the ads, come
#: first), so the rerun resumes in a later member; Snap's only re-read year has two Pages.
REIMPORT_KILL_PAGES = {"google": (3, 6), "snap": (1, 2)}


@dataclass(slots=True)
class Result:
    """One row of the reliability table."""

    scenario: str
    engine: str
    trials: int = 0
    faults: int = 0
    quarantined: int = 0
    rows_lost: int = 0
    duplicates: int = 0
    token_leaks: int = 0
    unhandled: int = 0

    def row(self) -> dict[str, Any]:
        return asdict(self)


# --- databases ------------------------------------------------------------------------------


def _sa_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


@contextmanager
def database(engine: str, folder: Path) -> Iterator[str]:
    """A fresh, empty database URL on ``engine``; PostgreSQL ones are dropped afterwards."""
    if engine == "sqlite":
        yield f"sqlite:///{folder / f'{uuid.uuid4().hex[:8]}.sqlite'}"
        return
    admin = os.environ["ADLIB_TEST_PG_URL"]
    name = f"adlib_rel_{uuid.uuid4().hex[:12]}"
    # No pool: a PostgreSQL restart (one of the scenarios) kills pooled connections.
    root = create_engine(_sa_url(admin), isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with root.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    finally:
        with root.connect() as conn:
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        root.dispose()


def query(url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = create_engine(_sa_url(url))
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql))]
    finally:
        engine.dispose()


_CHILDREN = ("ad_countries", "ad_regions", "ad_demographics", "ad_creatives", "ad_targeting")


def snapshot(url: str) -> set[tuple[Any, ...]]:
    """Every row a rerun must reproduce, as tagged tuples free of surrogate ids and times."""
    rows: set[tuple[Any, ...]] = set()
    ads = (
        "SELECT source, source_ad_id, content_hash, spend_lower, spend_upper, "
        "CASE WHEN delisted_at IS NULL THEN 'listed' ELSE 'delisted' END FROM ads"
    )
    rows |= {("ads", *r) for r in query(url, ads)}
    for table in (*_CHILDREN, "ad_observations"):
        sql = (
            f"SELECT a.source, a.source_ad_id, COUNT(*) FROM {table} t JOIN ads a "
            "ON a.id = t.ad_id GROUP BY a.source, a.source_ad_id"
        )
        rows |= {(table, *r) for r in query(url, sql)}
    rows |= {("checkpoints", *r) for r in query(url, "SELECT source, scope FROM checkpoints")}
    return rows


def compare(
    reference: set[tuple[Any, ...]], url: str, result: Result, ignore: set[str] | None = None
) -> None:
    """Add rows missing from ``url`` to ``rows_lost`` and extra or repeated ones to duplicates.

    ``ignore``: ad ids the replica broke on purpose (quarantined in one page, maybe loaded from
    another country's), left out on both sides.
    """
    got = snapshot(url)
    if ignore:
        reference, got = _without(reference, ignore), _without(got, ignore)
    result.rows_lost += len(reference - got)
    result.duplicates += len(got - reference)
    repeated = query(
        url, "SELECT COUNT(*) - COUNT(DISTINCT source || ':' || source_ad_id) FROM ads"
    )
    result.duplicates += int(repeated[0][0] or 0)


# --- sources --------------------------------------------------------------------------------


@dataclass(slots=True)
class Source:
    """A replica serving one platform and the config keys that point adlib at it."""

    name: str
    settings: dict[str, Any]
    pages: int  # roughly how many Pages one run commits, to aim kill counts inside the run
    replica: Any


@contextmanager
def serve(name: str, folder: Path) -> Iterator[Source]:
    """Start the replica of ``name`` with deterministic data (the same for every trial)."""
    if name == "meta":
        meta = MetaReplica(n_ads=300, countries=COUNTRIES, seed=3, token=TOKEN)
        with ReplicaServer(meta) as server:
            settings = {
                "base_url": server.url,
                "access_token": "${ADLIB_TEST_META_TOKEN}",
                "page_size": 50,
                "timeout_seconds": 1.0,
            }
            yield Source(name, settings, 8, meta)
    elif name == "google":
        google = GoogleBundleReplica(folder / "google-replica", ads=60, seed=5)
        with ReplicaServer(google.handle) as server:
            yield Source(name, {**google.settings(server.url), "batch_size": 15}, 6, google)
    elif name == "snap":
        snap = SnapReplica(folder / "snap-replica", years=(2020, 2023), ads=20)
        with ReplicaServer(snap.handle) as server:
            yield Source(name, {**snap.settings(server.url), "batch_size": 10}, 6, snap)
    else:
        raise NotImplementedError(f"serve() has no replica set-up for {name}: see CONTRIBUTING.md")


def configure(folder: Path, url: str, source: Source, **overrides: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return write_config(
        folder / "config.yaml",
        {
            "database": {"url": url},
            "data_dir": str(folder / "data"),
            "countries": COUNTRIES,
            # Retries back off from 50 ms instead of 1 s: same code path, faster suite.
            "sources": {
                source.name: {"retry_backoff_seconds": 0.05, **source.settings, **overrides}
            },
        },
    )


def collect(config: Path, source: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``adlib collect --source NAME`` as cron runs it, logging to a file beside the config."""
    return run_cli(
        "collect",
        "--config",
        str(config),
        "--source",
        source,
        "--log-file",
        str(config.parent / "adlib.log"),
        env={"ADLIB_TEST_META_TOKEN": TOKEN, **env},
    )


def unhandled(*runs: subprocess.CompletedProcess[str]) -> int:
    """Runs whose output carries a traceback: an exception nobody turned into a message."""
    return sum("Traceback" in run.stderr + run.stdout for run in runs)


def reference(source: Source, folder: Path) -> set[tuple[Any, ...]]:
    """The snapshot of one uninterrupted run (SQLite; both engines must produce the same)."""
    with database("sqlite", folder) as url:
        done = collect(configure(folder / "reference", url, source), source.name)
        if done.returncode != 0:
            raise RuntimeError(f"reference run failed: {done.stderr[-2000:]}")
        return snapshot(url)


# --- scenarios ------------------------------------------------------------------------------


def kill_trials(source_name: str, engine: str, trials: int, seed: int, folder: Path) -> Result:
    """kill -9 at a random point and count, rerun, compare with an uninterrupted run."""
    result = Result(f"kill -9 at random points ({source_name})", engine)
    rng = random.Random(f"{seed}:{source_name}:{engine}")
    with serve(source_name, folder) as source:
        expected = reference(source, folder)
        for trial in range(trials):
            point = f"{rng.choice(KILL_POINTS)}:{rng.randint(1, source.pages)}"
            with database(engine, folder) as url:
                config = configure(folder / f"kill-{trial}", url, source)
                killed = collect(config, source_name, ADLIB_FAULT_KILL=point)
                resumed = collect(config, source_name)
                result.trials += 1
                result.faults += killed.returncode == -9
                result.unhandled += unhandled(resumed) + (resumed.returncode != 0)
                compare(expected, url, result)
    return result


def reimport_kill_trials(
    source_name: str, engine: str, trials: int, seed: int, folder: Path
) -> Result:
    """kill -9 at a random point of a nightly re-import, rerun, compare with an uninterrupted one.

    The re-import reads a new version of the file with changed and removed ads, so it skips
    the unchanged rows, writes the changed ones and delists the removed ones.
    """
    result = Result(f"kill -9 during a re-import ({source_name})", engine)
    rng = random.Random(f"{seed}:reimport:{source_name}:{engine}")
    with serve(source_name, folder) as source:
        first, second = _two_versions(source)

        def import_both(config: Path, **env: str) -> list[subprocess.CompletedProcess[str]]:
            first()
            done = [collect(config, source_name)]
            second()
            return [*done, collect(config, source_name, **env)]

        with database("sqlite", folder) as url:
            runs = import_both(configure(folder / "reimport-reference", url, source))
            if any(run.returncode != 0 for run in runs):
                raise RuntimeError(f"reference re-import failed: {runs[-1].stderr[-2000:]}")
            expected = snapshot(url)
        for trial in range(trials):
            point = f"{rng.choice(KILL_POINTS)}:{rng.randint(*REIMPORT_KILL_PAGES[source_name])}"
            with database(engine, folder) as url:
                config = configure(folder / f"reimport-kill-{trial}", url, source)
                *_, killed = import_both(config, ADLIB_FAULT_KILL=point)
                resumed = collect(config, source_name)
                result.trials += 1
                result.faults += killed.returncode == -9
                result.unhandled += unhandled(resumed) + (resumed.returncode != 0)
                compare(expected, url, result)
    return result


def _two_versions(source: Source) -> tuple[Callable[[], None], Callable[[], None]]:
    """Publishers of the replica's current file(s) and of a version with changed and removed
    ads (a bulk source: Google's bundle or Snap's years)."""
    replica = source.replica
    endpoints = [replica.endpoint] if source.name == "google" else list(replica.endpoints.values())
    before = [endpoint.path for endpoint in endpoints]
    if source.name == "google":
        replica.change_ads(0.05)
        replica.remove_ads(2)
    else:
        replica.change_ads(2023, 0.2)
        replica.remove_ads(2023, sorted(replica.rows[2023])[:2])
    after = [endpoint.path for endpoint in endpoints]

    def publisher(paths: list[Path]) -> Callable[[], None]:
        def publish() -> None:
            for endpoint, path in zip(endpoints, paths, strict=True):
                endpoint.publish(path)

        return publish

    return publisher(before), publisher(after)


def platform_errors(engine: str, folder: Path) -> Result:
    """Every documented Meta error, cut bodies, HTML, 429 + Retry-After, slow drips.

    Each outcome is forced once in a run (the endless-next loop has its own test in
    tests/reliability/test_matrix.py); the run may fail a scope, the rerun must then complete it, and the database must equal an
    uninterrupted run's. The token is scanned for in everything both runs wrote.
    """
    result = Result("Meta errors, bad bodies, 429, timeouts, endless next", engine)
    with serve("meta", folder) as source:
        expected = reference(source, folder)
        meta: MetaReplica = source.replica
        meta.slow_seconds = 1.5
        meta.throttle_retry_after = 1
        outcomes = [*FAULTS, "bad_record"]
        with database(engine, folder) as url:
            config = configure(folder / "errors", url, source, max_retries=4)
            meta.force(*outcomes)
            first = collect(config, "meta")
            meta.set_token_valid(False)
            rejected = collect(config, "meta")
            meta.set_token_valid(True)
            second = collect(config, "meta")
            status = run_cli("status", "--config", str(config))
            runs = (first, rejected, second, status)
            result.trials = 1
            result.faults = len(outcomes) + 1
            result.unhandled = unhandled(*runs) + (second.returncode != 0)
            result.unhandled += rejected.returncode != 1
            result.quarantined = query(url, "SELECT COUNT(*) FROM quarantined_records")[0][0]
            compare(expected, url, result, ignore=_quarantined_ids(url))
            result.token_leaks = token_leaks(runs, folder, url)
    return result


def _quarantined_ids(url: str) -> set[str]:
    return {str(r[0]) for r in query(url, "SELECT raw_ref FROM quarantined_records")}


def _without(rows: set[tuple[Any, ...]], ad_ids: set[str]) -> set[tuple[Any, ...]]:
    """The reference minus the ads deliberately broken by the replica (quarantined, not lost)."""
    return {row for row in rows if not (len(row) > 2 and row[2] in ad_ids)}


def token_leaks(runs: tuple[subprocess.CompletedProcess[str], ...], folder: Path, url: str) -> int:
    """Places holding the token: outputs, any file under ``folder``, any value in the database."""
    leaks = sum(TOKEN in run.stdout + run.stderr for run in runs)
    leaks += sum(
        TOKEN.encode() in path.read_bytes() for path in folder.rglob("*") if path.is_file()
    )
    if url.startswith("postgresql"):
        tables = [
            r[0] for r in query(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ]
        leaks += sum(
            TOKEN in str(row) for t in tables for row in query(url, f'SELECT t::text FROM "{t}" t')
        )
    return leaks


def disk_full(engine: str, folder: Path) -> Result:
    """No space left: while writing a download (Snap) and while committing a page (Meta).

    On SQLite the database really fills (``max_page_count`` caps the file); elsewhere an
    ``OSError(ENOSPC)`` is raised where the write happens. Each failed run is followed by one
    with space again, whose database must equal an uninterrupted run's.
    """
    from collectors import download
    from pipeline import faults

    result = Result("disk full (download write, database commit)", engine)
    for name, patch in (("snap", _enospc_on(download._PartialFile, "write")), ("meta", None)):
        with serve(name, folder) as source, database(engine, folder) as url:
            expected = reference(source, folder)
            config = configure(folder / f"full-{name}", url, source)
            full = patch or (
                _sqlite_cap(pages=120) if engine == "sqlite" else _enospc_at(faults, "in_batch")
            )
            with full:
                failed = _collect_in_process(config, name)
            done = _collect_in_process(config, name)
            result.trials += 1
            result.faults += failed.exit_code != 0
            # The failure must say what happened (the disk), not a symptom of it.
            errors = " ".join(o.error or "" for o in failed.outcomes).lower()
            result.unhandled += "full" not in errors and "no space" not in errors
            result.unhandled += done.exit_code != 0
            compare(expected, url, result)
    return result


@contextmanager
def _enospc_on(owner: Any, method: str) -> Iterator[None]:
    """``owner.method`` raises ENOSPC from its second call on, as a filling disk does."""
    original = getattr(owner, method)
    calls = {"n": 0}

    def full(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] > 1:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return original(self, *args, **kwargs)

    setattr(owner, method, full)
    try:
        yield
    finally:
        setattr(owner, method, original)


@contextmanager
def _enospc_at(faults: Any, name: str) -> Iterator[None]:
    original: Callable[[str], None] = faults.point

    def point(where: str) -> None:
        if where == name:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        original(where)

    faults.point = point
    try:
        yield
    finally:
        faults.point = original


@contextmanager
def _sqlite_cap(pages: int) -> Iterator[None]:
    """Every SQLite connection opened meanwhile may grow its file to ``pages`` pages only."""
    from sqlalchemy.engine import Engine

    def cap(dbapi_connection: Any, _: Any) -> None:
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")

    event.listen(Engine, "connect", cap)
    try:
        yield
    finally:
        event.remove(Engine, "connect", cap)


def _collect_in_process(config: Path, source: str) -> RunReport:
    """One ``adlib collect`` in this process (so patches apply); its report."""
    import logging

    from collectors.redact import Redactor
    from pipeline import db
    from pipeline.config import load_config
    from pipeline.runner import run_collection

    os.environ.setdefault("ADLIB_TEST_META_TOKEN", TOKEN)
    settings = load_config(config)
    engine = db.make_engine(settings.database_url)
    try:
        db.ensure_schema(engine)
        report = run_collection(
            settings,
            engine,
            log=logging.getLogger("adlib.reliability"),
            sources=[source],
            redactor=Redactor(),
        )
        return report
    finally:
        engine.dispose()


def pg_restart(folder: Path) -> Result:
    """PostgreSQL restarted (``pg_ctl restart -m fast``) while a collect is mid-transaction."""
    result = Result("PostgreSQL restarted mid-run", "postgresql")
    pgbin = os.environ.get("ADLIB_CI_PGBIN", "/usr/lib/postgresql/15/bin")
    pgdata = os.environ.get("ADLIB_CI_PGDATA", "/tmp/devpg/data")
    # -l: without a log file the restarted server inherits pg_ctl's stdout, and waiting for
    # pg_ctl's output to end would wait for the server to exit.
    log = str(Path(pgdata).parent / "restart.log")
    pg_ctl = [f"{pgbin}/pg_ctl", "-D", pgdata, "-l", log, "-w", "restart", "-m", "fast"]
    if os.geteuid() == 0:
        pg_ctl = ["runuser", "-u", "postgres", "--", *pg_ctl]
    with serve("meta", folder) as source, database("postgresql", folder) as url:
        expected = reference(source, folder)
        meta: MetaReplica = source.replica
        meta.slow_seconds = 0.3
        config = configure(folder / "restart", url, source, timeout_seconds=5.0)
        meta.force(*["slow"] * 12)
        runner = threading.Thread(target=lambda: outputs.append(collect(config, "meta")))
        outputs: list[subprocess.CompletedProcess[str]] = []
        runner.start()
        while runner.is_alive() and not _pages_committed(url):
            time.sleep(0.05)
        subprocess.run(pg_ctl, check=True, capture_output=True, timeout=60)
        runner.join()
        again = collect(config, "meta")
        result.trials = 1
        result.faults = int(outputs[0].returncode != 0)
        result.unhandled = unhandled(outputs[0], again) + (again.returncode != 0)
        compare(expected, url, result)
    return result


def _pages_committed(url: str) -> bool:
    try:
        return bool(query(url, "SELECT COUNT(*) FROM checkpoints")[0][0])
    except Exception:  # the schema may not exist yet
        return False


def pg_restart_available() -> bool:
    return Path(os.environ.get("ADLIB_CI_PGDATA", "/tmp/devpg/data")).exists()


def run_matrix(*, trials: int, seed: int, engines: tuple[str, ...]) -> list[Result]:
    """The whole matrix with ``trials`` kill trials per source and engine."""
    results: list[Result] = []
    folder = Path(tempfile.mkdtemp(prefix="adlib-reliability-"))
    try:
        for engine in engines:
            results += [kill_trials(s, engine, trials, seed, folder / s / engine) for s in SOURCES]
            results += [
                reimport_kill_trials(s, engine, trials, seed, folder / f"re-{s}" / engine)
                for s in ("google", "snap")
            ]
            results.append(platform_errors(engine, folder / "errors" / engine))
            results.append(disk_full(engine, folder / "full" / engine))
        if "postgresql" in engines and pg_restart_available():
            results.append(pg_restart(folder / "restart"))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return results
