"""`adlib demo`, the README's first command: the real pipeline against the bundled replicas."""

from __future__ import annotations

import csv
import io
import sqlite3
from pathlib import Path

from collectors import REGISTRY
from tests.conftest import run_cli


def test_the_demo_collects_every_platform_and_status_reads_its_config(tmp_path: Path) -> None:
    demo = run_cli("demo", cwd=tmp_path)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    database = tmp_path / "adlib-demo" / "adlib.sqlite"
    with sqlite3.connect(database) as conn:
        per_source = dict(conn.execute("SELECT source, COUNT(*) FROM ads GROUP BY source"))
    assert set(per_source) == set(REGISTRY) and min(per_source.values()) > 0
    with sqlite3.connect(database) as conn:
        libraries = dict(conn.execute("SELECT library, COUNT(*) FROM v_ads GROUP BY library"))
        watched = conn.execute("SELECT COUNT(*) FROM ads WHERE scope = 'watchlist:FR'").fetchone()
    assert libraries["all_ads"] > 0 and watched[0] >= libraries["all_ads"]  # the watchlist

    config = str(tmp_path / "adlib-demo" / "config.yaml")
    as_csv = run_cli("status", "--config", config, "--csv")
    check = run_cli("status", "--config", config, "--check")
    assert as_csv.returncode == 0, as_csv.stderr
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    # The demo's config lists its sources, so their scopes are known, not "retired".
    assert {r["source"] for r in rows} == set(per_source)
    assert [r for r in rows if r["health"] != "ok"] == []
    assert (check.returncode, check.stdout) == (0, "")
