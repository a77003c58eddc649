"""`adlib sql` on SQLite and PostgreSQL: writes refused (nothing changes), bound parameters,
table / CSV / JSON output."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from pipeline.query import QueryError, query_rows, readonly_engine
from tests.analyst_db import build_hand_database, invoke, rows
from tests.conftest import run_cli, write_config

SNAPSHOT = (
    "SELECT (SELECT COUNT(*) FROM ads), (SELECT SUM(spend_lower) FROM ads),"
    " (SELECT COUNT(*) FROM ad_observations)"
)


def _sql(url: str, tmp_path: Path, *args: str) -> tuple[int, str, str]:
    return invoke(url, tmp_path, "sql", *args)


@pytest.fixture
def writable_copy(database_url: str) -> str:
    """A fresh hand database: if a write got through, no other test would see it."""
    build_hand_database(database_url)
    return database_url


#: Writes of every kind, and attempts to escape the read-only transaction.
WRITES = (
    "DELETE FROM ads",
    "UPDATE ads SET spend_lower = 0",
    "DROP TABLE ad_observations",
    "CREATE TABLE notes (x INTEGER)",
    "INSERT INTO funders (name, first_seen_at) VALUES ('x', '2026-01-01')",
)
SNEAKY = ("COMMIT; BEGIN READ WRITE; DELETE FROM ads; COMMIT", "SELECT 1; DELETE FROM ads")


def test_writes_are_refused_and_nothing_changes(writable_copy: str, tmp_path: Path) -> None:
    before = rows(writable_copy, SNAPSHOT)
    assert before[0][0] == 8
    config = write_config(tmp_path / "config.yaml", {"database": {"url": writable_copy}})
    done = run_cli("sql", "--config", str(config), "DELETE FROM ads")  # the real command
    assert done.returncode == 2 and "read-only" in done.stderr, done.stderr
    for statement in WRITES:
        code, out, err = _sql(writable_copy, tmp_path, statement)
        assert code == 2, statement
        assert "adlib sql is read-only; the statement was refused" in err, err
        assert out == ""
    for statement in SNEAKY:
        code, _, err = _sql(writable_copy, tmp_path, statement)
        assert code == 2 and "one statement at a time" in err, err
    assert rows(writable_copy, SNAPSHOT) == before


def test_a_session_switched_to_read_write_is_still_read_only(writable_copy: str) -> None:
    """In one process (a pooled session), an earlier statement cannot lift the guard."""
    engine = readonly_engine(writable_copy)
    if engine.dialect.name == "postgresql":
        lift = "SELECT set_config('default_transaction_read_only', 'off', false)"
        then = "SELECT nextval('ads_id_seq')"
    else:
        lift = "SELECT 1"
        then = "ATTACH DATABASE ':memory:' AS scratch"
    with query_rows(engine, lift, {}) as (_, found):
        list(found)
    with pytest.raises(QueryError), query_rows(engine, then, {}) as (_, found):
        list(found)
    engine.dispose()


def test_bound_parameters(hand_db: str, tmp_path: Path) -> None:
    query = (
        "SELECT source_ad_id FROM v_ads WHERE source = :src AND countries LIKE :cc"
        " ORDER BY source_ad_id LIMIT :n"
    )
    code, out, err = _sql(hand_db, tmp_path, query, "-p", "src=meta", "-p", "cc=%KE%", "-p", "n=2")
    assert code == 0, err
    assert "m1" in out and "m2" in out and "m5" not in out  # the table, LIMIT 2
    code, out, err = _sql(
        hand_db, tmp_path, query, "--csv", "-p", "src=meta", "-p", "cc=%KE%", "-p", "n=2"
    )
    assert code == 0, err
    assert out.splitlines() == ["source_ad_id", "m1", "m2"]
    # A value is never SQL: a quote in it is just a character.
    code, out, _ = _sql(
        hand_db, tmp_path, query, "--csv", "-p", "src=meta' OR '1'='1", "-p", "cc=%", "-p", "n=9"
    )
    assert (code, out.splitlines()) == (0, ["source_ad_id"])
    # Colons in strings and comments are not parameters (cookbook queries carry comments).
    (tmp_path / "q.sql").write_text("-- :country = KE\nSELECT ':noon' AS t, :x AS x /* :y */")
    code, out, err = _sql(hand_db, tmp_path, "-f", str(tmp_path / "q.sql"), "--csv", "-p", "x=1")
    assert (code, out.splitlines()) == (0, ["t,x", ":noon,1"]), err
    code, _, err = _sql(hand_db, tmp_path, "SELECT 1", "-f", str(tmp_path / "q.sql"))
    assert code == 2 and "not both" in err
    for args, message in [
        ((query, "-p", "src=meta", "-p", "cc=%"), "the query uses :n: pass -p n=VALUE"),
        (("SELECT 1 AS one", "-p", "src=meta"), "the query has no :src"),
        (("SELECT 1 AS one", "-p", "oops"), "must look like NAME=VALUE"),
    ]:
        code, _, err = _sql(hand_db, tmp_path, *args)
        assert code == 2 and message in err, err


def test_csv_and_json_output(hand_db: str, tmp_path: Path) -> None:
    query = (
        "SELECT funder_name, source, ads, spend_lower, spend_upper FROM v_funders"
        " ORDER BY funder_name, source"
    )
    code, out, err = _sql(hand_db, tmp_path, query, "--csv")
    assert code == 0, err
    assert list(csv.reader(io.StringIO(out))) == [
        ["funder_name", "source", "ads", "spend_lower", "spend_upper"],
        ["Friends of Kenya", "meta", "2", "1200", "1798"],
        ["Friends of Kenya", "snap", "1", "250", "250"],
        ["Transit Now PAC", "meta", "1", "100000", ""],
    ]
    code, out, err = _sql(hand_db, tmp_path, query, "--json")
    assert code == 0, err
    assert json.loads(out)[0] == {
        "funder_name": "Friends of Kenya",
        "source": "meta",
        "ads": 2,
        "spend_lower": 1200,
        "spend_upper": 1798,
    }
    code, out, _ = _sql(hand_db, tmp_path, "SELECT SUM(spend_lower) AS total FROM ads", "--json")
    assert json.loads(out) == [{"total": 106450}]  # a number on both engines
    code, out, _ = _sql(hand_db, tmp_path, "SELECT 1 AS one WHERE 1 = 0", "--json")
    assert (code, json.loads(out)) == (0, [])


def test_table_output_is_literal_and_bounded(hand_db: str, tmp_path: Path) -> None:
    code, out, err = _sql(hand_db, tmp_path, "SELECT '[bold red]x[/]' AS markup")
    assert code == 0, err
    assert "[bold red]x[/]" in out
    many = (
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1005)"
        " SELECT i FROM n"
    )
    code, out, err = _sql(hand_db, tmp_path, many)
    assert code == 0, err
    assert "5 more rows not shown" in out
    code, out, _ = _sql(hand_db, tmp_path, many, "--csv")
    assert len(out.splitlines()) == 1006


def test_statements_without_rows_and_errors(hand_db: str, tmp_path: Path) -> None:
    code, _, err = _sql(hand_db, tmp_path, "SELECT no_such_column FROM ads")
    assert code == 2 and err.startswith("adlib: error: query failed:"), err
    quiet = "PRAGMA query_only = OFF" if hand_db.startswith("sqlite") else "SET lock_timeout = 0"
    code, _, err = _sql(hand_db, tmp_path, quiet)
    assert code == 2 and "runs queries that return rows" in err, err
