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
from schema.models import Ad, Base, Checkpoint, CollectionRun, RawRecord
from tests.conftest import write_config

ads = Ad.__table__
checkpoints = Checkpoint.__table__
runs = CollectionRun.__table__
raws = RawRecord.__table__


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
        """Every table's rows, timestamps replaced by their step, in primary-key order.

        A listed ad's ``last_seen_at`` is read as documented: the later of its own and its
        scope's last complete listing (``listed_at`` on the checkpoint), since an ad confirmed
        unchanged is not written.
        """
        found = {}
        with self.engine.connect() as conn:
            listed = {
                (source, scope): datetime.fromisoformat(state["listed_at"])
                for source, scope, state in conn.execute(
                    select(checkpoints.c.source, checkpoints.c.scope, checkpoints.c.state)
                )
                if state.get("listed_at")
            }
            run_of = {  # which run wrote a row: by source, scope and step, not by id
                run_id: (source, scope, self.when(started))
                for run_id, source, scope, started in conn.execute(
                    select(runs.c.id, runs.c.source, runs.c.scope, runs.c.started_at)
                )
            }
            # Raw records by content, not id: PostgreSQL's sequence also advances on an insert
            # that finds the file already archived, and the two paths commit different Pages.
            raw_of = {
                raw_id: (source, digest)
                for raw_id, source, digest in conn.execute(
                    select(raws.c.id, raws.c.source, raws.c.content_hash)
                )
            }
            for table in Base.metadata.sorted_tables:
                rows = conn.execute(select(table).order_by(*table.primary_key.columns))
                if table is ads:
                    rows = [self._last_seen(row._asdict(), listed) for row in rows]
                maps = {
                    i: run_of if c.name == "run_id" else raw_of
                    for i, c in enumerate(table.c)
                    if c.name in ("run_id", "raw_record_id") or (table is raws and c.name == "id")
                }
                plain = [
                    tuple(maps[i].get(v) if i in maps else self._plain(v) for i, v in enumerate(r))
                    for r in rows
                ]
                found[table.name] = sorted(plain, key=repr) if table is raws else plain
        return found

    @staticmethod
    def _last_seen(row: dict[str, Any], listed: dict[tuple[str, str], datetime]) -> tuple[Any, ...]:
        scope_listed = listed.get((row["source"], row["scope"]))
        if row["delisted_at"] is None and scope_listed is not None:
            row["last_seen_at"] = max(row["last_seen_at"], scope_listed)
        return tuple(row.values())

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
            (lambda: google.change_ads(0.1), 5),  # stopped after 5 Pages, past the ads ...
            (lambda: None, None),  # ... and resumed
        ]
        for change, stop_after in steps:
            change()
            full.run(stop_after)
            skipping.run(stop_after)

    for history in (full, skipping):  # a stopped and resumed listing counts as one step
        history.windows[-2:] = [(history.windows[-2][0], history.windows[-1][1])]
    expected, actual = full.tables(), skipping.tables()
    assert expected["ads"], "the history stored no ads"
    assert any(row for row in expected["ads"] if row[-1] is not None), "no raw_hash stored"
    delisted = [c.name for c in ads.c].index("delisted_at")
    assert sum(1 for row in expected["ads"] if row[delisted] is not None) == 2  # Snap's two
    full_runs, skipping_runs = _runs(expected), _runs(actual)
    assert full_runs.keys() == skipping_runs.keys()
    for key, (counters, notices) in full_runs.items():
        assert skipping_runs[key][0] == counters, key
        # A value notice ("region 'EU' is not an ISO country") comes from a row being read,
        # so a night that skips that row unchanged does not repeat it.
        assert skipping_runs[key][1] <= notices, key
    assert any(skipping_runs[k][1] < full_runs[k][1] for k in full_runs), "no row was skipped"
    for name in expected:
        assert actual[name] == expected[name], _first_difference(name, expected, actual)


def _runs(tables: dict[str, list[tuple[Any, ...]]]) -> dict[Any, tuple[Any, set[str]]]:
    """Runs by (source, scope, step): statuses and summed counters, and the notices.

    Removed from the table comparison: how many Pages a run took differs by design (skipped
    rows fill a Page 50 times faster), and so does where a stopped run stopped.
    """
    columns = [c.name for c in runs.c]
    by_key: dict[Any, tuple[list[Any], set[str]]] = {}
    for row in tables.pop("collection_runs"):
        run = dict(zip(columns, row, strict=True))
        key = (run["source"], run["scope"], run["started_at"])
        counters, notices = by_key.setdefault(key, ([[], 0, 0, 0, 0, 0], set()))
        counters[0] = sorted([*counters[0], run["status"]])
        for i, name in enumerate(("records", "new", "changed", "observations", "quarantined")):
            counters[i + 1] += run[name]
        notices.update(run["notices"] or ())
    return {
        key: (tuple(map(str, counters)), notices) for key, (counters, notices) in by_key.items()
    }


def _first_difference(
    name: str, expected: dict[str, list[tuple[Any, ...]]], actual: dict[str, list[tuple[Any, ...]]]
) -> str:
    """The first row and columns where ``actual`` differs from ``expected`` in table ``name``."""
    columns = [c.name for c in Base.metadata.tables[name].c]
    if len(expected[name]) != len(actual[name]):
        return f"{name}: {len(actual[name])} rows, expected {len(expected[name])}"
    for want, got in zip(expected[name], actual[name], strict=True):
        if want != got:
            diff = {c: (w, g) for c, w, g in zip(columns, want, got, strict=True) if w != g}
            return f"{name}, row {want[:3]}: (expected, actual) {diff}"
    return name
