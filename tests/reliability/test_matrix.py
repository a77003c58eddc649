"""A seeded subset of the reliability matrix on every CI run; the zeros it asserts are the doc's.

The full matrix (20 kill trials per source and engine) is ``make reliability`` /
``python benchmarks/reliability.py --full``; here each scenario runs once so the suite stays
fast, and docs/reliability.md is checked to list every scenario with zeros.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.reliability import harness
from tests.reliability.harness import Result

DOC = Path(__file__).parent.parent.parent / "docs" / "reliability.md"


def assert_clean(result: Result) -> None:
    assert result.trials > 0 and result.faults > 0, result
    assert (result.rows_lost, result.duplicates, result.token_leaks, result.unhandled) == (
        0,
        0,
        0,
        0,
    ), result


@pytest.fixture
def engine_name(database_url: str) -> str:
    """The engine name, after conftest's database_url has skipped or failed a missing PG."""
    return "sqlite" if database_url.startswith("sqlite") else "postgresql"


@pytest.mark.parametrize("source", ["meta", "snap"])
def test_kill_9_at_a_random_point_then_rerun(engine_name: str, source: str, tmp_path: Path) -> None:
    assert_clean(harness.kill_trials(source, engine_name, trials=1, seed=6, folder=tmp_path))


@pytest.mark.parametrize("source", ["google", "snap"])
def test_kill_9_during_a_reimport_then_rerun(engine_name: str, source: str, tmp_path: Path) -> None:
    result = harness.reimport_kill_trials(source, engine_name, trials=1, seed=6, folder=tmp_path)
    assert_clean(result)


def test_disk_full_while_downloading_and_committing(engine_name: str, tmp_path: Path) -> None:
    assert_clean(harness.disk_full(engine_name, tmp_path))


def test_platform_errors_recover_and_never_leak_the_token(tmp_path: Path) -> None:
    result = harness.platform_errors("sqlite", tmp_path)
    assert_clean(result)
    assert result.quarantined == 1  # the replica's one malformed ad, kept with its reason


def test_postgresql_restart_mid_run(pg_database: str, tmp_path: Path) -> None:
    if not harness.pg_restart_available():
        if os.environ.get("ADLIB_REQUIRE_PG") == "1":
            pytest.fail(
                "ADLIB_REQUIRE_PG=1 but the cluster's data dir (ADLIB_CI_PGDATA) is missing"
            )
        pytest.skip("restarting PostgreSQL needs ADLIB_CI_PGBIN/ADLIB_CI_PGDATA")
    assert_clean(harness.pg_restart(tmp_path))


def test_endless_next_loop_loses_nothing_after_a_rerun(tmp_path: Path) -> None:
    with harness.serve("meta", tmp_path) as source:
        expected = harness.reference(source, tmp_path)
        with harness.database("sqlite", tmp_path) as url:
            config = harness.configure(tmp_path / "stuck", url, source)
            source.replica.force("stuck_cursor", "stuck_cursor", "stuck_cursor")
            harness.collect(config, "meta")
            harness.collect(config, "meta")
            result = Result("stuck", "sqlite", trials=1, faults=1)
            harness.compare(expected, url, result)
    assert (result.rows_lost, result.duplicates) == (0, 0)


def test_the_reliability_document_lists_every_scenario_with_zeros() -> None:
    rows = [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in DOC.read_text().splitlines()
        if line.startswith("| ") and not line.startswith("| scenario")
    ]
    scenarios = {row[0] for row in rows}
    for source in harness.SOURCES:
        assert f"kill -9 at random points ({source})" in scenarios
    for name in ("disk full", "Meta errors", "PostgreSQL restarted"):
        assert any(s.startswith(name) for s in scenarios), name
    assert {row[1] for row in rows} == {"sqlite", "postgresql"}
    for row in rows:
        trials, faults = int(row[2]), int(row[3])
        assert trials > 0 and faults > 0, row
        assert row[5:] == ["0", "0", "0", "0"], row
    assert re.search(r"Last run: `python benchmarks/reliability.py", DOC.read_text())
