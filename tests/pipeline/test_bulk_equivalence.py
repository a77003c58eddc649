"""Skipping unchanged bulk rows gives the same database as reading every row (issue 11).

Two databases on the same engine follow the same history of the Google and Snap replicas:
a first import, changed ads, removed ads, returning ads, and a run stopped mid-file then
resumed. One reads every row in full (``skip_unchanged: false``, the path before issue 11),
the other skips the rows it already has. Afterwards every table must hold the same rows and
values, observations and delisted marks included. Timestamps differ between two runs by
nature, so each is compared as the step whose run wrote it (the runs of one database never
overlap in time).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from collectors.replicas import ReplicaServer
from collectors.replicas.google import GoogleBundleReplica
from collectors.replicas.snap import SnapReplica
from pipeline import db
from pipeline.config import load_config
from pipeline.runner import ScopeOutcome, run_collection
from schema.models import Base
from tests.conftest import write_config


class _StopAfter:
    """A reporter that asks the run to stop once ``pages`` Pages are committed."""

    def __init__(self, stop: threading.Event, pages: int) -> None:
        self.stop, self.pages, self.seen = stop, pages, 0

    def scope_started(self, source: str, scope: str) -> None:
        pass

    def page_loaded(self, outcome: ScopeOutcome) -> None:
        self.seen += 1
        if self.seen >= self.pages:
            self.stop.set()

    def scope_finished(self, outcome: ScopeOutcome) -> None:
        pass


class _History:
    """One database following the replicas, with the time window of each step's run."""

    def __init__(self, tmp: Path, url: str, sources: dict[str, Any], skip: bool) -> None:
        settings = {name: {**value, "max_retries": 0, "batch_size": 40, "skip_unchanged": skip}
                    for name, value in sources.items()}  # fmt: skip
        tmp.mkdir()
        data = {"database": {"url": url}, "data_dir": str(tmp / "data"), "sources": settings}
        self.config = load_config(write_config(tmp / "config.yaml", data))
        self.engine = db.make_engine(url)
        db.ensure_schema(self.engine)
        self.windows: list[tuple[datetime, datetime]] = []

    def run(self, stop_after: int | None = None) -> None:
        stop = threading.Event()
        reporter = _StopAfter(stop, stop_after) if stop_after else None
        started = datetime.now(UTC)
        report = run_collection(
            self.config, self.engine, log=logging.getLogger("test"), reporter=reporter, stop=stop
        )
        self.windows.append((started, datetime.now(UTC)))
        statuses = {o.status for o in report.outcomes}
        assert statuses <= ({"success", "interrupted"} if stop_after else {"success"}), statuses

    def when(self, moment: datetime) -> Any:
        """The step whose run wrote ``moment``; a platform's own time stays as it is."""
        aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        steps = [i for i, (a, b) in enumerate(self.windows) if a <= aware <= b]
        return ("step", steps[0]) if steps else moment

    def tables(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every table's rows, timestamps replaced by their step, in primary-key order."""
        found = {}
        with self.engine.connect() as conn:
            for table in Base.metadata.sorted_tables:
                rows = conn.execute(select(table).order_by(*table.primary_key.columns))
                found[table.name] = [tuple(self._plain(v) for v in row) for row in rows]
        return found

    def _plain(self, value: Any) -> Any:
        if isinstance(value, datetime):
            return self.when(value)
        if isinstance(value, dict):
            return json.dumps({k: self._plain(v) for k, v in value.items()}, sort_keys=True)
        if isinstance(value, str) and len(value) >= 25 and value[10:11] == "T":
            try:
                return self.when(datetime.fromisoformat(value))
            except ValueError:
                return value
        return value


def test_skipping_unchanged_rows_gives_the_same_database(
    tmp_path: Path, twin_database_urls: tuple[str, str]
) -> None:
    google = GoogleBundleReplica(tmp_path / "google", ads=200, seed=11)
    snap = SnapReplica(tmp_path / "snap", years=(2020, 2023), ads=60, seed=3)
    with ReplicaServer(google.handle) as g_server, ReplicaServer(snap.handle) as s_server:
        sources = {"google": google.settings(g_server.url), "snap": snap.settings(s_server.url)}
        full = _History(tmp_path / "full", twin_database_urls[0], sources, skip=False)
        skipping = _History(tmp_path / "skip", twin_database_urls[1], sources, skip=True)
        removed: list[str] = []

        def remove() -> None:
            removed.extend(google.remove_ads(3))
            snap.remove_ads(2023, sorted(snap.rows[2023])[:2])

        steps: list[tuple[Callable[[], Any], int | None]] = [
            (lambda: None, None),  # first import
            (lambda: (google.change_ads(0.05), snap.change_ads(2023, 0.2)), None),
            (remove, None),
            (lambda: google.restore_ads(removed), None),
            (lambda: google.change_ads(0.1), 3),  # stopped after 3 Pages ...
            (lambda: None, None),  # ... and resumed
        ]
        for change, stop_after in steps:
            change()
            full.run(stop_after)
            skipping.run(stop_after)

    expected, actual = full.tables(), skipping.tables()
    assert expected["ads"], "the history stored no ads"
    assert any(row for row in expected["ads"] if row[-1] is not None), "no raw_hash stored"
    delisted = [c.name for c in Base.metadata.tables["ads"].c].index("delisted_at")
    assert sum(1 for row in expected["ads"] if row[delisted] is not None) == 2  # Snap's two
    # A value notice ("region 'EU' is not an ISO country") comes from a row being read, so a
    # night that skips that row unchanged does not repeat it; header notices still appear.
    notices = [c.name for c in Base.metadata.tables["collection_runs"].c].index("notices")
    for full_run, skipped_run in zip(expected["collection_runs"], actual["collection_runs"],
                                     strict=True):  # fmt: skip
        assert set(skipped_run[notices] or ()) <= set(full_run[notices] or ())
    skipped = [len(f[notices] or ()) > len(s[notices] or ())
               for f, s in zip(expected["collection_runs"], actual["collection_runs"], strict=True)]  # fmt: skip
    assert any(skipped), "no run skipped a row: the fast path was not taken"
    for runs in (expected, actual):
        runs["collection_runs"] = [r[:notices] + r[notices + 1 :] for r in runs["collection_runs"]]
    # The one documented difference: an unchanged ad is confirmed when its listing completes,
    # not by its Page, so after a stopped and resumed listing (steps 4 and 5) its last_seen_at
    # is the resumed run's. Every other step's last_seen_at must match as it is.
    seen = [c.name for c in Base.metadata.tables["ads"].c].index("last_seen_at")
    for tables in (expected, actual):
        tables["ads"] = [
            (*r[:seen], ("step", 5) if r[seen] == ("step", 4) else r[seen], *r[seen + 1 :])
            for r in tables["ads"]
        ]
    for name in expected:
        assert actual[name] == expected[name], _first_difference(name, expected, actual)


def _first_difference(
    name: str, expected: dict[str, list[tuple[Any, ...]]], actual: dict[str, list[tuple[Any, ...]]]
) -> str:
    """The first row and columns where ``actual`` differs from ``expected`` in table ``name``."""
    columns = [c.name for c in Base.metadata.tables[name].c]
    if name == "collection_runs":
        columns.remove("notices")
    if len(expected[name]) != len(actual[name]):
        return f"{name}: {len(actual[name])} rows, expected {len(expected[name])}"
    for want, got in zip(expected[name], actual[name], strict=True):
        if want != got:
            diff = {c: (w, g) for c, w, g in zip(columns, want, got, strict=True) if w != g}
            return f"{name}, row {want[:3]}: (expected, actual) {diff}"
    return name
