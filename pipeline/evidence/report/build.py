"""Build a country's report: query, chart, render, write atomically.

The report is a directory a researcher can open from disk and mail to a colleague:
``index.html`` (self-contained: styles inline, charts as SVG data URIs, no script, nothing
fetched), ``data/<table>.csv`` (every number behind the page, one file per query of
:mod:`pipeline.evidence.report.queries`), and ``manifest.json`` (filters, versions, per-source
provenance, sha256 of every file) like the export's.

Everything from the data is written by strangers: the page is rendered by Jinja2 with
autoescape on, chart labels are text drawn as paths, CSV cells follow the export's formula
rule. The directory is written beside its target and renamed into place, so an interrupted
report never leaves half a directory where a finished one was.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pycountry
from alembic.runtime.migration import MigrationContext
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import Engine, text

from pipeline import db
from pipeline.cells import iso_utc, safe_texts, timestamp_value
from pipeline.evidence.report import charts
from pipeline.evidence.report.queries import Table, run_queries
from pipeline.export import (
    AdSelection,
    ExportRequest,
    adlib_version,
    file_digest,
    source_provenance,
)

MANIFEST_NAME = "manifest.json"
#: What the coverage table's columns say a platform publishes (column -> reader's word).
PUBLISHED = {
    "with_spend": "spend",
    "with_impressions": "impressions",
    "with_text": "ad texts",
    "with_targeting": "targeting criteria",
    "with_demographics": "delivery by age and gender",
    "with_regions": "delivery by region",
}


class ReportError(Exception):
    """A report that cannot be made as asked (unknown country, empty range, bad --out)."""


@dataclass(slots=True)
class ReportRequest:
    """What to report on and where."""

    country: str
    out: Path
    since: date | None = None
    until: date | None = None
    sources: list[str] = field(default_factory=list)
    force: bool = False


@dataclass(slots=True)
class ReportResult:
    """Where the report went and what it holds."""

    index: Path
    ads: int
    files: list[dict[str, Any]]


def build_report(engine: Engine, request: ReportRequest) -> ReportResult:
    """Write the report of ``request`` (see the module docstring)."""
    country = _check(request)
    selection = AdSelection(
        ExportRequest(
            countries=[country],
            out=request.out,
            since=request.since,
            until=request.until,
            sources=request.sources,
        )
    )
    months = (
        request.since.strftime("%Y-%m") if request.since else "0000-00",
        request.until.strftime("%Y-%m") if request.until else "9999-99",
    )
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            count = text(f"SELECT COUNT(*) FROM ads a WHERE {selection.where}")
            ads = conn.execute(count.bindparams(*selection.binds)).scalar_one()
            if not ads:
                raise ReportError(_nothing(country, request))
            tables = run_queries(conn, selection, country, months)
            provenance = source_provenance(conn, selection, request.sources)
            revision = MigrationContext.configure(conn).get_current_revision()
    staging = _staging(request.out)
    try:
        files = _write(staging, request, country, ads, tables, provenance, revision)
        _swap(staging, request.out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ReportResult(request.out / "index.html", ads, files)


def _check(request: ReportRequest) -> str:
    code = request.country.strip().upper()
    code = "GB" if code == "UK" else code
    if len(code) != 2 or pycountry.countries.get(alpha_2=code) is None:
        raise ReportError(
            f"--country {request.country!r} is not an ISO 3166-1 alpha-2 country code (e.g. KE)"
        )
    if request.since and request.until and request.since > request.until:
        raise ReportError(
            f"--since {request.since} is after --until {request.until}: the date range is empty"
        )
    out = request.out
    if out.exists() and not out.is_dir():
        raise ReportError(f"--out {out} is a file: choose a directory")
    if out.exists() and any(out.iterdir()):
        if not request.force:
            raise ReportError(f"--out {out} exists and is not empty: add --force to replace it")
        if not (out / MANIFEST_NAME).is_file():
            raise ReportError(
                f"--out {out} is not an adlib report (no {MANIFEST_NAME}): --force only "
                "replaces a previous report; choose another directory"
            )
    return code


def _nothing(country: str, request: ReportRequest) -> str:
    window = ""
    if request.since or request.until:
        window = f" between {request.since or 'the start'} and {request.until or 'today'}"
    platforms = f" on {', '.join(request.sources)}" if request.sources else ""
    return f"no ads reached {country}{platforms}{window} in this database: check --country and the dates"


def _staging(out: Path) -> Path:
    parent = out.resolve().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=parent))
    except OSError as exc:
        raise ReportError(f"cannot write --out {out}: {exc.strerror or exc}") from None


def _swap(staging: Path, out: Path) -> None:
    """Put the finished report in place; the previous one goes only once the new one exists."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        out.rename(old)
    staging.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _write(
    staging: Path,
    request: ReportRequest,
    country: str,
    ads: int,
    tables: dict[str, Table],
    provenance: dict[str, Any],
    revision: str | None,
) -> list[dict[str, Any]]:
    generated_at = datetime.now(UTC).replace(microsecond=0)
    data = staging / "data"
    data.mkdir()
    for table in tables.values():
        _write_csv(data / f"{table.name}.csv", table)
    page = _render(request, country, ads, tables, provenance, generated_at)
    (staging / "index.html").write_text(page, encoding="utf-8")
    files = []
    for path in sorted(staging.rglob("*")):
        if path.is_file():
            digest, size = file_digest(path)
            rows = len(tables[path.stem].rows) if path.parent == data else None
            name = path.relative_to(staging).as_posix()
            files.append({"name": name, "rows": rows, "bytes": size, "sha256": digest})
    manifest = {
        "kind": "adlib report",
        "generated_at": timestamp_value(generated_at),
        "adlib_version": adlib_version(),
        "schema_version": revision,
        "schema_head": db.head_revision(),
        "filters": {
            "country": country,
            "since": request.since.isoformat() if request.since else None,
            "until": request.until.isoformat() if request.until else None,
            "sources": list(request.sources),
        },
        "ads": ads,
        "sources": provenance,
        "files": files,
    }
    (staging / MANIFEST_NAME).write_text(
        json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return files


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def _write_csv(path: Path, table: Table) -> None:
    """RFC 4180, UTF-8; text cells follow the export's formula rule."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(table.columns)
        for row in table.rows:
            cells = [_cell(v) for v in row]
            writer.writerow([safe_texts([c])[0] if isinstance(c, str) else c for c in cells])


def _render(
    request: ReportRequest,
    country: str,
    ads: int,
    tables: dict[str, Table],
    provenance: dict[str, Any],
    generated_at: datetime,
) -> str:
    environment = Environment(
        loader=PackageLoader("pipeline.evidence.report", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["cell"] = _display
    has_actors = bool(tables["top_actors"].rows)
    known = pycountry.countries.get(alpha_2=country)
    assert known is not None  # _check admits only codes pycountry knows
    context = {
        "country": country,
        "country_name": known.name,
        "request": request,
        "ads": ads,
        "generated_at": iso_utc(generated_at),
        "adlib_version": adlib_version(),
        "tables": tables,
        "provenance": provenance,
        "unpublished": _unpublished(tables["coverage"]),
        "has_actors": has_actors,
        "spend_charts": charts.spend_charts(tables["spend_monthly"]),
        "concentration_chart": charts.concentration_chart(tables["concentration"]),
        "targeting_chart": charts.targeting_chart(tables["targeting_kinds"]),
        "heatmap": charts.heatmap(tables["demographics"]),
        "regions_chart": charts.bar_chart(
            tables["regions"],
            "region",
            "Delivery by region",
            "Impressions per region (sums of lower-bound estimates; ticks at the upper bounds).",
        ),
    }
    return environment.get_template("report.html.j2").render(context)


def _unpublished(coverage: Table) -> dict[str, list[str]]:
    """Per platform, what none of its ads in the report carries."""
    return {
        row["source"]: [word for column, word in PUBLISHED.items() if not row[column]]
        for row in coverage.records()
    }


def _display(value: Any) -> str:
    """A cell as the page shows it: numbers grouped, small numbers to three significant
    digits, times to the minute in UTC, NULL as an em dash (the CSV files keep every digit)."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value == 0:
            return "0"
        return f"{value:.3g}" if abs(value) < 1 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, datetime):
        return _minute((value.astimezone(UTC) if value.tzinfo else value).isoformat())
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and _TIMESTAMP.fullmatch(value):
        return _minute(value)  # SQLite returns an untyped column's timestamps as text
    return str(value)


_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]00:?00)?")


def _minute(timestamp: str) -> str:
    """``2026-11-30 23:30:30.471227`` as ``2026-11-30 23:30 UTC`` (stored times are UTC)."""
    return f"{timestamp[:10]} {timestamp[11:16]} UTC"
