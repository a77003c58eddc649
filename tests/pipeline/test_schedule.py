"""`adlib schedule`: the daemon as a real subprocess against replicas on loopback sockets.

Cron expressions with a seconds field (and ``--every``) make the schedule fire every second or
two, so several runs, a failing source and a SIGTERM fit in a few seconds per test.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine

from collectors import REGISTRY
from collectors.redact import Redactor
from collectors.snap import SnapCollector
from pipeline import db
from pipeline.config import ConfigError, parse_config
from pipeline.logs import setup_logging
from pipeline.runner import run_collection
from pipeline.schedule import Daemon, cron_trigger, plan_jobs
from tests.conftest import run_cli
from tests.pipeline.ops_helpers import (
    Database,
    bulk_replicas,
    json_lines,
    ops_config,
    start_cli,
    stop,
    wait_for,
)

UTC = ZoneInfo("UTC")
EVERY_SECOND = "* * * * * *"


def test_daemon_runs_on_schedule_and_sigterm_commits_the_page_then_exits_0(
    database_url: str, tmp_path: Path
) -> None:
    with bulk_replicas(tmp_path / "replicas") as replicas:
        config = ops_config(
            tmp_path,
            database_url,
            replicas.sources(google={"schedule": EVERY_SECOND}, snap={"schedule": EVERY_SECOND}),
        )
        log_file = tmp_path / "daemon.jsonl"
        daemon = start_cli(
            "schedule",
            "--config",
            str(config),
            "--log-format",
            "json",
            "--log-file",
            str(log_file),
            log=tmp_path / "daemon.out",
        )
        db = Database(database_url)
        try:
            wait_for(
                lambda: (
                    len(db.runs("google", "success")) >= 2 and len(db.runs("snap", "success")) >= 4
                ),  # two years, two runs each
                timeout=30,
                what="two completed runs of each source",
            )
            first = db.checkpoint("google", "bundle")
            assert first is not None and first["state"]["done"] is True
            # A new bundle that takes a while to arrive: the job is mid-run when SIGTERM lands.
            replicas.google.change_ads(0.5)
            replicas.google_control.delay = 1.5
            hits = replicas.google_control.hits
            wait_for(lambda: replicas.google_control.hits > hits, 10, "the next google run")
            code, _ = stop(daemon)  # stop() fails if it takes longer than its timeout
            assert code == 0, (tmp_path / "daemon.out").read_text()

            last = db.runs("google")[-1]
            assert last["status"] == "interrupted"
            assert last["pages"] >= 1  # the page in hand was committed before stopping
            assert not db.runs("google", "running") and not db.runs("snap", "running")
            checkpoint = db.checkpoint("google", "bundle")
            assert checkpoint is not None
            state = checkpoint["state"]
            assert state["done"] is False and state["row"] >= 1
            assert state["sha256"] != first["state"]["sha256"]  # the new file's position

            events = json_lines(log_file.read_text())
            finished = [e for e in events if e["event"] == "job_finished"]
            assert sum(e["source"] == "google" for e in finished) >= 3
            assert all(set(e["counts"]) >= {"records", "new", "changed"} for e in finished)
            assert events[-1]["event"] == "daemon_stopped"

            # The next run resumes the same listing rather than starting it over.
            replicas.google_control.delay = 0
            done = run_cli("collect", "--config", str(config), "--source", "google")
            assert done.returncode == 0, done.stderr
            final = db.checkpoint("google", "bundle")
            assert final is not None and final["state"]["done"] is True
            assert final["state"]["listing_started_at"] == state["listing_started_at"]
        finally:
            if daemon.poll() is None:
                daemon.kill()
            db.close()


def test_a_source_that_only_errors_never_stops_the_daemon(
    database_url: str, tmp_path: Path
) -> None:
    with bulk_replicas(tmp_path / "replicas") as replicas:
        config = ops_config(tmp_path, database_url, replicas.sources())
        replicas.google_control.broken = True
        out = tmp_path / "daemon.out"
        daemon = start_cli("schedule", "--config", str(config), "--every", "1", log=out)
        db = Database(database_url)
        try:
            wait_for(
                lambda: (
                    len(db.runs("google", "failed")) >= 2 and len(db.runs("snap", "success")) >= 4
                ),
                timeout=40,
                what="google failing twice while snap keeps succeeding",
            )
            assert daemon.poll() is None
            check = run_cli("status", "--config", str(config), "--check", "--no-token-check")
            assert check.returncode == 1
            assert "google/bundle: failing: " in check.stdout

            replicas.google_control.broken = False
            failures = len(db.runs("google", "failed"))
            wait_for(lambda: db.last_status("google") == "success", 30, "google recovering")
            assert len(db.runs("google", "failed")) >= failures
            healthy = run_cli("status", "--config", str(config), "--check", "--no-token-check")
            assert healthy.returncode == 0, healthy.stdout
            code, _ = stop(daemon)
            assert code == 0
            text = out.read_text()
            assert "ERROR   google run finished: 1 of 1 scopes failed" in text
            assert "Traceback" not in text
        finally:
            if daemon.poll() is None:
                daemon.kill()
            db.close()


def test_print_lists_every_job_with_its_next_run_and_touches_nothing(tmp_path: Path) -> None:
    database = tmp_path / "adlib.sqlite"
    config = ops_config(
        tmp_path,
        f"sqlite:///{database}",
        {
            "google": {"schedule": "0 3 * * *"},
            "snap": {"schedule": "30 4 * * 1-5"},
            "meta": {"access_token": "${ADLIB_TEST_UNSET_TOKEN}", "schedule": "0 2 * * *"},
        },
        scheduler={"timezone": "Europe/Berlin"},
    )
    started = time.monotonic()
    result = run_cli("schedule", "--config", str(config), "--print")
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 10
    lines = result.stdout.splitlines()
    assert lines[0].startswith("google  next run ") and "03:00:00+01:00" in lines[0]
    assert "cron '0 3 * * *' (Europe/Berlin)" in lines[0]
    assert lines[1].startswith("snap    next run ") and "04:30:00+01:00" in lines[1]
    assert lines[2].startswith("meta    not scheduled: environment variable")
    assert not database.exists()

    every = run_cli("schedule", "--config", str(config), "--print", "--every", "5")
    assert "every 5 s (--every)" in every.stdout


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ("61 * * * *", r"sources.google.schedule: '61 \* \* \* \*' is not a cron expression"),
        ("0 2 * *", "use 5 fields"),
        ("0 2 1 * 1", "restricts both day of month and day of week"),
        ("0 2 * * 5-1", "runs backwards"),
    ],
)
def test_a_bad_cron_expression_names_the_key(tmp_path: Path, schedule: str, message: str) -> None:
    config = parse_config({"sources": {"google": {"schedule": schedule}}}, base_dir=tmp_path)
    with pytest.raises(ConfigError, match=message):
        plan_jobs(config)


def test_a_bad_cron_expression_is_exit_2_and_one_line(tmp_path: Path) -> None:
    config = ops_config(
        tmp_path, f"sqlite:///{tmp_path / 'a.sqlite'}", {"google": {"schedule": "0 2 * * 8"}}
    )
    result = run_cli("schedule", "--config", str(config))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("adlib: error: sources.google.schedule: '0 2 * * 8'")


def test_nothing_to_schedule_is_exit_2(tmp_path: Path) -> None:
    config = ops_config(tmp_path, f"sqlite:///{tmp_path / 'a.sqlite'}", {"google": {}})
    result = run_cli("schedule", "--config", str(config))
    assert result.returncode == 2
    assert "nothing to schedule" in result.stderr


def _next(expression: str, after: datetime) -> datetime:
    fire = cron_trigger(expression, UTC, "test").get_next_fire_time(None, after)
    assert fire is not None
    return fire


def test_cron_expressions_mean_what_crontab_means() -> None:
    sunday = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    # crontab: 1 = Monday, 0 and 7 = Sunday (APScheduler 3 alone would read 1 as Tuesday).
    assert _next("0 2 * * 1", sunday).strftime("%a %H:%M") == "Mon 02:00"
    assert _next("0 2 * * 0", sunday).strftime("%a %d") == "Sun 29"
    assert _next("0 2 * * 7", sunday).strftime("%a %d") == "Sun 29"
    assert _next("0 2 * * 1-5", datetime(2026, 11, 27, 12, 0, tzinfo=UTC)).strftime("%a") == "Mon"
    assert _next("0 2 * * */2", sunday).strftime("%a") == "Tue"  # sun, tue, thu, sat
    assert _next("@daily", sunday) == datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
    later = datetime(2026, 11, 22, 12, 0, 1, tzinfo=UTC)
    assert _next("*/10 * * * * *", later) == datetime(2026, 11, 22, 12, 0, 10, tzinfo=UTC)
    assert _next("0 2 * * *", sunday).second == 0


def test_jobs_are_one_per_source_with_coalesce_one_instance_and_grace(tmp_path: Path) -> None:
    config = parse_config(
        {
            "database": {"url": f"sqlite:///{tmp_path / 'a.sqlite'}"},
            "scheduler": {"misfire_grace_hours": 2},
            "sources": {
                "google": {"schedule": "0 3 * * *"},
                "snap": {"schedule": "0 4 * * *"},
            },
        },
        base_dir=tmp_path,
    )
    plans, left_out = plan_jobs(config)
    daemon = Daemon(
        config,
        create_engine("sqlite://"),
        plans,
        log=logging.getLogger("adlib.test"),
        redactor=Redactor(),
        stop=threading.Event(),
    )
    daemon.scheduler.start(paused=True)  # job defaults are applied when the scheduler starts
    jobs = {job.id: job for job in daemon.scheduler.get_jobs()}
    daemon.scheduler.shutdown()
    assert set(jobs) == {"google", "snap"} and left_out == {}
    for job in jobs.values():
        assert job.coalesce is True
        assert job.max_instances == 1
        assert job.misfire_grace_time == 2 * 3600


def test_a_job_never_raises_and_logs_what_went_wrong(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = parse_config(
        {
            "database": {"url": f"sqlite:///{tmp_path / 'a.sqlite'}"},
            "sources": {"google": {"schedule": "0 3 * * *", "bundle_url": "http://127.0.0.1:9/x"}},
        },
        base_dir=tmp_path,
    )
    log_file = tmp_path / "job.jsonl"
    log = setup_logging(fmt="json", file=log_file, redactor=Redactor(), console=False)
    plans, _ = plan_jobs(config)
    engine = create_engine(f"sqlite:///{tmp_path / 'no-schema.sqlite'}")  # no tables at all
    daemon = Daemon(config, engine, plans, log=log, redactor=Redactor(), stop=threading.Event())
    daemon.run_source("google")  # a database problem: one line, no traceback

    def bug(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr("pipeline.schedule.run_collection", bug)
    daemon.run_source("google")  # a bug: logged with its traceback
    database, internal = [e for e in json_lines(log_file.read_text()) if e["event"] == "job_failed"]
    assert database["source"] == "google" and database["level"] == "ERROR"
    assert (
        database["message"] == "run failed: cannot use the database: no such table: collection_runs"
    )
    assert "exception" not in database
    assert internal["message"] == "run failed: RuntimeError: a bug"
    assert "Traceback" in internal["exception"]


# --- stopping and surviving, shared by `adlib collect` -----------------------------------------


def test_sigterm_stops_collect_after_the_committed_page(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'adlib.sqlite'}"
    with bulk_replicas(tmp_path / "replicas") as replicas:
        config = ops_config(tmp_path, database_url, replicas.sources())
        replicas.google_control.delay = 1.5
        collect = start_cli("collect", "--config", str(config), log=tmp_path / "c.out")
        wait_for(lambda: replicas.google_control.hits > 0, 20, "collect's google request")
        code, _ = stop(collect)
    output = (tmp_path / "c.out").read_text()
    assert code == 0, output
    assert "SIGTERM received: stopping after the current page is committed" in output
    db = Database(database_url)
    try:
        (run,) = db.runs("google")
        assert run["status"] == "interrupted" and run["pages"] == 1
        checkpoint = db.checkpoint("google", "bundle")
        assert checkpoint is not None and checkpoint["state"]["row"] >= 1
        assert checkpoint["state"]["done"] is False
        assert db.runs("snap") == []  # stopped before starting the next source
    finally:
        db.close()


def test_a_second_sigterm_exits_at_once(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'adlib.sqlite'}"
    with bulk_replicas(tmp_path / "replicas") as replicas:
        config = ops_config(tmp_path, database_url, replicas.sources())
        replicas.google_control.delay = 20
        collect = start_cli("collect", "--config", str(config), log=tmp_path / "c.out")
        wait_for(lambda: replicas.google_control.hits > 0, 20, "collect's google request")
        collect.send_signal(signal.SIGTERM)
        wait_for(lambda: "SIGTERM received" in (tmp_path / "c.out").read_text(), 10, "the first")
        # The replica holds its answer for 20 s: stop() would time out if collect waited for it.
        code, _ = stop(collect, timeout=10)
    assert code == 128 + signal.SIGTERM
    assert "SIGTERM again: exiting now" in (tmp_path / "c.out").read_text()


class _CannotStart(SnapCollector):
    """A collector whose scopes() has a bug."""

    def scopes(self) -> list[str]:
        raise RuntimeError("bug in scopes()")


def test_a_collector_that_cannot_start_fails_only_its_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(REGISTRY, "snap", f"{__name__}:_CannotStart")
    with bulk_replicas(tmp_path / "replicas") as replicas:
        config = parse_config(
            {
                "database": {"url": f"sqlite:///{tmp_path / 'a.sqlite'}"},
                "data_dir": str(tmp_path / "data"),
                "sources": replicas.sources(),
            },
            base_dir=tmp_path,
        )
        engine = db.make_engine(config.database_url)
        db.ensure_schema(engine)
        log = setup_logging(file=tmp_path / "a.log", redactor=Redactor(), console=False)
        report = run_collection(config, engine, log=log)
    statuses = {(o.source, o.status) for o in report.outcomes}
    assert statuses == {("snap", "failed"), ("google", "success")}
    assert report.exit_code == 1
    (failed,) = [o for o in report.outcomes if o.status == "failed"]
    assert failed.error == "internal error: RuntimeError: bug in scopes()"
