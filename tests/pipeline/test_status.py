"""`adlib status`: failing, stale, never-ran and retired scopes, `--check` and `--json`.

History is made by real `adlib collect` runs against replicas on loopback; staleness is made by
moving recorded start times back, which is what a night without runs looks like.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select, update

from collectors.replicas import ReplicaServer
from collectors.replicas.meta import MetaReplica
from schema.models import CollectionRun
from tests.conftest import run_cli
from tests.pipeline.ops_helpers import Database, bulk_replicas, ops_config, run_parallel


def _status_args(config: Path, *args: str) -> tuple[str, ...]:
    return ("status", "--config", str(config), "--no-token-check", *args)


def _parsed(result: subprocess.CompletedProcess[str]) -> tuple[int, dict[str, Any]]:
    assert result.stderr == "", result.stderr
    return result.returncode, json.loads(result.stdout)


def _status(config: Path, *args: str) -> tuple[int, dict[str, Any]]:
    return _parsed(run_cli(*_status_args(config, "--json", *args)))


def _scope(report: dict[str, Any], source: str, scope: str) -> dict[str, Any]:
    return next(s for s in report["scopes"] if (s["source"], s["scope"]) == (source, scope))


def _age_runs(database_url: str, hours: float) -> None:
    """Pretend every recorded run happened ``hours`` earlier."""
    runs = CollectionRun.__table__
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        for run_id, started in conn.execute(select(runs.c.id, runs.c.started_at)).all():
            earlier = started - timedelta(hours=hours)
            conn.execute(update(runs).where(runs.c.id == run_id).values(started_at=earlier))
    engine.dispose()


def test_a_source_that_only_errors_fails_the_check_until_it_recovers(tmp_path: Path) -> None:
    # SQLite only: test_schedule runs the same story through the daemon on both engines.
    database_url = f"sqlite:///{tmp_path / 'adlib.sqlite'}"
    with bulk_replicas(tmp_path / "replicas") as replicas:
        config = ops_config(tmp_path, database_url, replicas.sources())
        replicas.google_control.broken = True
        broken = run_cli("collect", "--config", str(config), "--summary")
        assert broken.returncode == 1
        # Off a terminal (cron's mail) the summary is not squeezed to 80 columns: the whole
        # failure stays on one line, and the table keeps one line per scope.
        (failure,) = [x for x in broken.stdout.splitlines() if x.startswith("google/bundle: ")]
        assert failure.endswith("google-political-ads-transparency-bundle.zip"), broken.stdout
        assert len(failure) > 80
        assert any(
            [c.strip() for c in x.split("│")[1:4]] == ["google", "bundle", "failed"]
            for x in broken.stdout.splitlines()
        ), broken.stdout
        database = Database(database_url)
        try:
            assert [r["status"] for r in database.runs("snap")] == ["success", "success"]
            assert (
                database.rows("SELECT COUNT(*) AS n FROM ads WHERE source = 'snap'")[0]["n"] == 45
            )
        finally:
            database.close()

        check, as_json = run_parallel(
            _status_args(config, "--check"), _status_args(config, "--check", "--json")
        )
        assert check.returncode == 1
        assert "PROBLEM google/bundle: failing: " in check.stdout
        assert "snap" not in "".join(x for x in check.stdout.splitlines() if "PROBLEM" in x)
        code, report = _parsed(as_json)
        assert code == 1 and report["ok"] is False
        google = _scope(report, "google", "bundle")
        assert google["failing"] is True and google["health"] == "FAILING"
        assert google["last_error"] and google["last_success_at"] is None
        assert _scope(report, "snap", "2019")["health"] == "ok"
        assert _scope(report, "snap", "2022")["records"] == 20

        replicas.google_control.broken = False
        assert run_cli("collect", "--config", str(config)).returncode == 0
        code, report = _status(config, "--check")
        google = _scope(report, "google", "bundle")
        assert code == 0 and report["ok"] is True and report["problems"] == []
        assert google["failing"] is False and google["last_status"] == "success"
        assert google["last_failure_at"] is not None  # the failure stays on record
        assert (google["records"], google["new"], google["total_runs"]) == (60, 60, 2)


def test_staleness_follows_the_configured_age(database_url: str, tmp_path: Path) -> None:
    with bulk_replicas(tmp_path / "replicas") as replicas:
        config = ops_config(tmp_path, database_url, replicas.sources())
        assert run_cli("collect", "--config", str(config)).returncode == 0
        sources = replicas.sources()
    _age_runs(database_url, hours=72)
    lenient = ops_config(
        tmp_path, database_url, sources, name="lenient.yaml", status={"stale_after_hours": 100}
    )
    strict_result, lenient_result = run_parallel(
        _status_args(config, "--check", "--json"), _status_args(lenient, "--check", "--json")
    )
    code, report = _parsed(strict_result)
    assert code == 1
    assert all(s["stale"] and s["health"] == "STALE" for s in report["scopes"])
    assert "google/bundle: stale: last success 3 days ago (threshold 48 h)" in report["problems"]
    code, report = _parsed(lenient_result)
    assert code == 0 and report["stale_after_hours"] == 100


def test_new_scopes_must_run_and_removed_ones_retire(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'adlib.sqlite'}"
    with bulk_replicas(tmp_path / "replicas") as replicas:
        sources = replicas.sources()
        config = ops_config(tmp_path, database_url, sources)
        replicas.google_control.broken = True
        assert run_cli("collect", "--config", str(config)).returncode == 1
    # Snap now lists 2022 and 2023 (2019 dropped); Google is switched off.
    sources["snap"]["years"] = [2022, 2023]
    sources["google"]["enabled"] = False
    config = ops_config(tmp_path, database_url, sources)
    everything, only_google, table, as_csv = run_parallel(
        _status_args(config, "--check", "--json"),
        _status_args(config, "--check", "--source", "google"),
        _status_args(config),
        _status_args(config, "--csv"),
    )
    # Piped (as under cron), the table is printed at full width: one line per scope.
    assert any(
        [cell.strip() for cell in line.split("│")[1:3]] == ["snap", "2019"] and "retired" in line
        for line in table.stdout.splitlines()
    ), table.stdout
    assert "PROBLEM snap/2023: enabled but has never run" in table.stdout
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert {(r["source"], r["scope"]): r["health"] for r in rows}[("snap", "2019")] == "retired"
    assert {(r["source"], r["scope"]): r["last_status"] for r in rows}[("snap", "2023")] == "never"
    code, report = _parsed(everything)
    assert code == 1
    assert report["problems"] == ["snap/2023: enabled but has never run"]
    assert _scope(report, "snap", "2019")["health"] == "retired"
    assert _scope(report, "snap", "2023")["last_status"] == "never"
    google = _scope(report, "google", "bundle")
    assert google["failing"] is True and google["enabled"] is False  # shown, never alarms
    assert only_google.returncode == 0


def test_a_source_this_machine_cannot_run_is_a_warning_not_a_problem(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'adlib.sqlite'}"
    with bulk_replicas(tmp_path / "replicas") as replicas:
        sources = {
            "snap": replicas.snap.settings(replicas.snap_url),
            "meta": {"access_token": "${ADLIB_TEST_UNSET_TOKEN}"},
        }
        config = ops_config(tmp_path, database_url, sources)
        assert run_cli("collect", "--config", str(config)).returncode == 0
    result = run_cli("status", "--config", str(config), "--check")
    assert result.returncode == 0, result.stdout
    assert "warning meta: cannot run here: environment variable ADLIB_TEST_UNSET_TOKEN" in (
        result.stdout
    )


def test_status_without_a_database_is_one_line_and_exit_2(tmp_path: Path) -> None:
    config = ops_config(tmp_path, f"sqlite:///{tmp_path / 'none.sqlite'}", {"snap": {}})
    result = run_cli("status", "--config", str(config), "--check")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "no database at" in result.stderr


# --- Meta token care -------------------------------------------------------------------------

TOKEN = "EAAGstatusTOKEN0123456789abcdef"


@contextmanager
def _meta(tmp_path: Path, expires_in: timedelta | None) -> Iterator[tuple[MetaReplica, Path]]:
    replica = MetaReplica(n_ads=40, countries=("US",), token=TOKEN, token_expires_in=expires_in)
    with ReplicaServer(replica) as server:
        settings = {
            "base_url": server.url,
            "access_token": "${ADLIB_TEST_META_TOKEN}",
            "timeout_seconds": 2,
            "max_retries": 1,
        }
        yield (
            replica,
            ops_config(tmp_path, f"sqlite:///{tmp_path / 'adlib.sqlite'}", {"meta": settings}),
        )


def _cli(*args: str) -> Any:
    return run_cli(*args, env={"ADLIB_TEST_META_TOKEN": TOKEN})


@pytest.mark.parametrize(("days", "state"), [(3, "expiring"), (60, "ok")])
def test_token_expiry_is_in_status_and_warned_in_the_run_log(
    tmp_path: Path, days: int, state: str
) -> None:
    with _meta(tmp_path, timedelta(days=days)) as (_, config):
        log_file = tmp_path / "adlib.log"
        collected = _cli("collect", "--config", str(config), "--log-file", str(log_file))
        assert collected.returncode == 0, collected.stderr
        as_json, table, check = run_parallel(
            ("status", "--config", str(config), "--json"),
            ("status", "--config", str(config)),
            ("status", "--config", str(config), "--check"),
            env={"ADLIB_TEST_META_TOKEN": TOKEN},
        )
        report = json.loads(as_json.stdout)
    assert check.returncode == 0  # a warning, not a failure: the token still works
    (token,) = report["tokens"]
    assert token["state"] == state
    log = log_file.read_text()
    if state == "expiring":
        assert "expires" in token["detail"] and "(in 3.0 days)" in token["detail"]
        assert "warning meta token: expires" in table.stdout
        # --check prints only what needs a person: here, that one warning line.
        assert check.stdout.splitlines() == [
            line for line in table.stdout.splitlines() if line.startswith("warning")
        ]
        assert check.stdout.startswith("warning meta token: expires")
        assert "WARNING meta token: expires" in log
        assert "WARNING meta token: expires" in collected.stderr  # cron mails this
    else:
        assert "meta token: valid until" in table.stdout and "INFO    meta token: valid" in log
        assert "OK: every enabled source is fresh and succeeding" in table.stdout
        assert check.stdout == ""  # healthy: nothing to mail
        assert collected.stderr == ""
    for text_ in (log, collected.stderr, table.stdout, check.stdout, json.dumps(report)):
        assert TOKEN not in text_


def test_a_rejected_token_is_reported_as_such(tmp_path: Path) -> None:
    with _meta(tmp_path, timedelta(days=30)) as (replica, config):
        assert _cli("collect", "--config", str(config)).returncode == 0
        replica.set_token_valid(False)
        rejected = _cli("collect", "--config", str(config))
        check = _cli("status", "--config", str(config), "--check")
    assert rejected.returncode == 1
    assert "Meta rejected the access token (code 190)" in rejected.stderr
    assert check.returncode == 1
    assert "PROBLEM meta token: REJECTED: Meta" in check.stdout
    assert "PROBLEM meta/US: failing: Meta rejected the access token" in check.stdout
    assert TOKEN not in rejected.stderr + check.stdout


def test_token_expiry_is_unknown_when_meta_cannot_be_reached(tmp_path: Path) -> None:
    with _meta(tmp_path, timedelta(days=30)) as (_, config):
        assert _cli("collect", "--config", str(config)).returncode == 0
    # The replica is gone: the port refuses connections now.
    result = _cli("status", "--config", str(config), "--json")
    assert result.returncode == 0
    report = json.loads(result.stdout)
    (token,) = report["tokens"]
    assert token["state"] == "unknown" and token["detail"].startswith("expiry unknown")
    assert not any("token" in line for line in report["problems"])
