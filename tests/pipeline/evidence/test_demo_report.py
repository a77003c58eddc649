"""`adlib demo` ends with a practices report in which every section has content."""

from __future__ import annotations

import csv
from pathlib import Path

from tests.conftest import run_cli


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_demo_writes_a_report_with_every_section(tmp_path: Path) -> None:
    done = run_cli("demo", "--dir", str(tmp_path / "demo"))
    assert done.returncode == 0, done.stderr
    index = tmp_path / "demo" / "report" / "index.html"
    assert done.stdout.strip().splitlines()[-1] == str(index.resolve())
    data = index.parent / "data"
    coverage = {r["source"] for r in _rows(data / "coverage.csv")}
    assert coverage == {"meta", "google", "snap"}
    for name in (
        "spend_monthly",
        "top_advertisers",
        "targeting_kinds",
        "targeting_combinations",
        "message_tests",
        "demographics",
        "regions",
        "changes",
        "concentration",
    ):
        assert _rows(data / f"{name}.csv"), f"{name} is empty"
    kinds = {r["kind"] for r in _rows(data / "targeting_kinds.csv")}
    assert {"custom_audience", "geo_postal_code", "geo_radius", "age", "gender"} <= kinds
    tests = _rows(data / "message_tests.csv")
    assert all(int(r["variants_all"]) >= 2 and int(r["variants"]) >= 1 for r in tests)
