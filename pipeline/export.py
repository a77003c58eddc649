"""`adlib export`: per-country datasets as CSV or Parquet, with a manifest and a dictionary.

What is exported. The selected ads are those that reached one of the ``--country`` codes
(``ad_countries``), optionally only from some ``--source`` platforms, and, with ``--since`` /
``--until``, whose delivery overlaps those days (UTC): still delivering on or after
``since`` (``delivery_stop``, else ``last_seen_at``) and started on or before ``until``
(``delivery_start``, else ``ad_created_at``, else ``first_seen_at``). Every file is one table
restricted to those ads (:data:`EXPORT_FILES`), all columns, ordered by the table's key.

How. All files are read in one read-only transaction (a snapshot on both engines), so counts
agree even while a collector is writing. Rows stream from the database in batches
(a server-side cursor on PostgreSQL) into a CSV writer or a Parquet row group, so memory stays
flat whatever the country's size. CSV cells are rendered the same way on both engines
(:class:`pipeline.cells.Cells`); nothing in a CSV file depends on the time of export, so the same database
and arguments give byte-identical CSV files. ``manifest.json`` (written last: its presence
means the export is complete) carries the export time and is therefore not byte-identical.
"""

from __future__ import annotations

import csv
import hashlib
import json
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import (
    Column,
    Connection,
    Date,
    Engine,
    Float,
    Integer,
    MetaData,
    Table,
    Text,
    bindparam,
    text,
)
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.types import TypeEngine

from pipeline import db
from pipeline.cells import ARROW_TYPES, Cells, iso_utc, timestamp_value
from pipeline.dictionary import FORMULA_RULE, column_kind, render_export_dictionary, table_entry
from schema.actor_tables import Actor, ActorMention
from schema.models import (
    Ad,
    AdCountry,
    AdCreative,
    AdDemographic,
    AdObservation,
    AdRegion,
    AdSpend,
    AdTargeting,
    Advertiser,
    Funder,
    table_of,
)
from schema.report_tables import MetaReportLocation, MetaReportSpend
from schema.types import UTCDateTime
from schema.views import view_doc

#: Rows per fetch from the database: the Python objects of one batch are most of the
#: export's memory (about 20 MB for 10,000 ads rows), so it is kept small.
BATCH_ROWS = 10_000
#: Rows per Parquet row group (held as Arrow arrays, far smaller than Python rows).
ROW_GROUP_ROWS = 100_000

DICTIONARY_NAME = "DATA_DICTIONARY.md"
MANIFEST_NAME = "manifest.json"
#: Fixed time stamp of zip entries, so that only the manifest differs between two zips.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


class ExportError(Exception):
    """An export that cannot be made as asked (output directory not empty, ...)."""


@dataclass(frozen=True, slots=True)
class ExportFile:
    """One exported file: a table, how its rows relate to the selected ads, its order."""

    name: str
    table: Table
    #: ``ad``: the table's ``ad_id`` is a selected ad; ``mention`` / ``actor``: the table's
    #: ``id`` (``actor_id`` in a view) is a mention / an actor of a selected ad; ``country``:
    #: a table of per-country reports (``country_code``, ``report_date``), selected by the
    #: export's countries and days, not by ads; otherwise the column of ``ads``
    #: (advertiser_id, funder_id) that points at the table's ``id``; ``self`` for ``ads``.
    link: str
    order: tuple[str, ...]
    #: only rows of the exported countries (a view with a ``country_code`` column)
    by_country: bool = False


def _view_table(view: str, **kinds: type[TypeEngine[Any]]) -> Table:
    """A view as a Table object (typed columns, comments from its SQL file) for export."""
    doc = view_doc(view)
    columns = [Column(c, kind(), comment=doc.columns.get(c)) for c, kind in kinds.items()]
    return Table(view, MetaData(), *columns, comment=doc.description)


#: Subqueries of the ``mention`` and ``actor`` links ({where} selects the ads ``a``).
_MENTIONS_OF_ADS = (
    "SELECT am.mention_id FROM ad_actor_mentions am JOIN ads a ON a.id = am.ad_id WHERE {where}"
)
_ACTORS_OF_ADS = (
    "SELECT m.actor_id FROM actor_mentions m JOIN ad_actor_mentions am ON am.mention_id = m.id"
    " JOIN ads a ON a.id = am.ad_id WHERE {where}"
)


EXPORT_FILES: tuple[ExportFile, ...] = (
    ExportFile("ads", table_of(Ad), "self", ("id",)),
    ExportFile("advertisers", table_of(Advertiser), "advertiser_id", ("id",)),
    ExportFile("funders", table_of(Funder), "funder_id", ("id",)),
    ExportFile("countries", table_of(AdCountry), "ad", ("ad_id", "country_code")),
    ExportFile("creatives", table_of(AdCreative), "ad", ("ad_id", "position")),
    ExportFile("regions", table_of(AdRegion), "ad", ("ad_id", "region")),
    ExportFile("demographics", table_of(AdDemographic), "ad", ("ad_id", "age_range", "gender")),
    ExportFile("targeting", table_of(AdTargeting), "ad", ("ad_id", "id")),
    ExportFile("spend", table_of(AdSpend), "ad", ("ad_id", "currency")),
    ExportFile("observations", table_of(AdObservation), "ad", ("ad_id", "observed_at", "id")),
    ExportFile("actors", table_of(Actor), "actor", ("id",)),
    ExportFile("actor_mentions", table_of(ActorMention), "mention", ("id",)),
    ExportFile(
        "ad_actors",
        _view_table(
            "v_ad_actors", ad_id=Integer, source=Text, role=Text, actor_id=Integer,
            actor_name=Text, kind=Text, principal=Integer,
        ),
        "ad",
        ("ad_id", "role", "actor_id"),
    ),
    ExportFile(
        "actor_names",
        _view_table(
            "v_actor_names", actor_id=Integer, actor_name=Text, kind=Text, source=Text,
            role=Text, name=Text, country_code=Text, ads=Integer,
        ),
        "actor",
        ("actor_id", "source", "role", "name", "country_code"),
    ),
    ExportFile(
        "actor_spend",
        _view_table(
            "v_actor_spend", actor_id=Integer, source=Text, country_code=Text, month=Text,
            currency=Text, spend_lower=Float, spend_upper=Float, ads=Integer,
        ),
        "actor",
        ("actor_id", "source", "country_code", "month", "currency"),
        by_country=True,
    ),
    ExportFile(
        "report_spend",
        table_of(MetaReportSpend),
        "country",
        ("country_code", "report_date", "period", "member", "line"),
    ),
    ExportFile(
        "report_locations",
        table_of(MetaReportLocation),
        "country",
        ("country_code", "report_date", "period", "line"),
    ),
)  # fmt: skip


@dataclass(slots=True)
class ExportRequest:
    """What to export and where; ``countries`` are ISO alpha-2 codes, upper case."""

    countries: Sequence[str]
    out: Path
    fmt: str = "csv"
    since: date | None = None
    until: date | None = None
    sources: Sequence[str] = ()
    zip: bool = False
    batch_rows: int = BATCH_ROWS
    row_group_rows: int = ROW_GROUP_ROWS


@dataclass(slots=True)
class WrittenFile:
    """A file of the export, as listed in the manifest."""

    name: str
    rows: int | None
    path: Path
    table: str | None = None
    sha256: str = ""
    bytes: int = 0


@dataclass(slots=True)
class ExportResult:
    """What was written: the files, the manifest, and the zip if asked for."""

    files: list[WrittenFile] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)
    zip_path: Path | None = None

    @property
    def ads(self) -> int:
        return next(f.rows or 0 for f in self.files if f.table == "ads")


def run_export(engine: Engine, request: ExportRequest) -> ExportResult:
    """Write every file, the dictionary and the manifest; zip them if asked."""
    _prepare_dir(request.out)
    result = ExportResult()
    generated_at = datetime.now(UTC)
    selection = AdSelection(request)
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            for spec in EXPORT_FILES:
                path = request.out / f"{spec.name}.{request.fmt}"
                rows = _write_table(conn, spec, selection, request, path)
                result.files.append(WrittenFile(path.name, rows, path, spec.table.name))
            sources = source_provenance(conn, selection, request.sources)
            revision = _revision(conn)
    dictionary = request.out / DICTIONARY_NAME
    entries = [(f"{s.name}.{request.fmt}", table_entry(s.table)) for s in EXPORT_FILES]
    dictionary.write_text(render_export_dictionary(entries), encoding="utf-8", newline="\n")
    result.files.append(WrittenFile(dictionary.name, None, dictionary))
    for written in result.files:
        written.sha256, written.bytes = file_digest(written.path)
    result.manifest = _manifest(request, result.files, sources, revision, generated_at)
    manifest_path = request.out / MANIFEST_NAME
    manifest_path.write_text(
        json.dumps(result.manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    if request.zip:
        result.zip_path = _zip(request.out, [*(f.path for f in result.files), manifest_path])
    return result


def _prepare_dir(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ExportError(f"--out {out} exists and is not an empty directory: choose another")
    out.mkdir(parents=True, exist_ok=True)


class AdSelection:
    """The selected ads as a SQL condition on ``ads a``, with its bound parameters.

    Shared with ``adlib report``, so that a report and an export with the same arguments
    cover the same ads.
    """

    def __init__(self, request: ExportRequest) -> None:
        self.binds: list[BindParameter[Any]] = [
            bindparam("countries", list(request.countries), expanding=True)
        ]
        where = [
            "EXISTS (SELECT 1 FROM ad_countries c "
            "WHERE c.ad_id = a.id AND c.country_code IN :countries)"
        ]
        if request.sources:
            where.append("a.source IN :sources")
            self.binds.append(bindparam("sources", list(request.sources), expanding=True))
        if request.since is not None:
            where.append("COALESCE(a.delivery_stop, a.last_seen_at) >= :since")
            self.binds.append(bindparam("since", _midnight(request.since), type_=UTCDateTime()))
        if request.until is not None:
            where.append(
                "COALESCE(a.delivery_start, a.ad_created_at, a.first_seen_at) < :until_next"
            )
            next_day = _midnight(request.until + timedelta(days=1))
            self.binds.append(bindparam("until_next", next_day, type_=UTCDateTime()))
        self.where = " AND ".join(where)
        self.sources = list(request.sources)
        self.report_binds = [self.binds[0]]
        reports = ["t.country_code IN :countries"]
        if request.since is not None:
            reports.append("t.report_date >= :since_day")
            self.report_binds.append(bindparam("since_day", request.since, type_=Date()))
        if request.until is not None:
            reports.append("t.report_date <= :until_day")
            self.report_binds.append(bindparam("until_day", request.until, type_=Date()))
        self.reports_where = " AND ".join(reports)

    def _reports(self, table: Table) -> str:
        """Report rows of the selected countries and days (``--since``/``--until``, inclusive).

        A report table names its platform in ``Table.info["source"]``: with ``--source``, it
        is exported only when that source is selected.
        """
        if self.sources and table.info.get("source") not in self.sources:
            return "1 = 0"
        return self.reports_where

    def statement(self, spec: ExportFile) -> Any:
        """The ``SELECT`` of ``spec``'s rows for the selected ads, in file order."""
        alias = "a" if spec.link == "self" else "t"
        columns = ", ".join(f"{alias}.{c.name}" for c in spec.table.columns)
        order = ", ".join(f"{alias}.{c}" for c in spec.order)
        if spec.link == "self":
            condition = self.where
        elif spec.link in ("mention", "actor"):
            key = "id" if spec.table.name in ("actors", "actor_mentions") else "actor_id"
            subquery = _MENTIONS_OF_ADS if spec.link == "mention" else _ACTORS_OF_ADS
            condition = f"t.{key} IN ({subquery.format(where=self.where)})"
        elif spec.link == "country":
            condition = self._reports(spec.table)
        else:
            key, picked = ("ad_id", "a.id") if spec.link == "ad" else ("id", f"a.{spec.link}")
            condition = f"t.{key} IN (SELECT {picked} FROM ads a WHERE {self.where})"
        if spec.by_country:
            condition += " AND t.country_code IN :countries"
        sql = f"SELECT {columns} FROM {spec.table.name} {alias} WHERE {condition} ORDER BY {order}"
        binds = self.report_binds if spec.link == "country" else self.binds
        return text(sql).bindparams(*(b for b in binds if f":{b.key}" in sql))


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _stream(conn: Connection, statement: Any, batch_rows: int) -> Iterator[Sequence[Sequence[Any]]]:
    """Batches of rows, fetched ``batch_rows`` at a time (a server-side cursor on PostgreSQL)."""
    options = {"stream_results": True, "yield_per": batch_rows}
    result = conn.execute(statement, execution_options=options)
    yield from result.partitions(batch_rows)


def _write_table(
    conn: Connection, spec: ExportFile, selection: AdSelection, request: ExportRequest, path: Path
) -> int:
    kinds = [column_kind(c) for c in spec.table.columns]
    batches = _stream(conn, selection.statement(spec), request.batch_rows)
    cells = Cells(conn.dialect.name)
    if request.fmt == "parquet":
        return _write_parquet(path, spec, kinds, batches, cells, request.row_group_rows)
    return _write_csv(path, spec, kinds, batches, cells)


def _write_csv(
    path: Path,
    spec: ExportFile,
    kinds: list[str],
    batches: Iterator[Sequence[Sequence[Any]]],
    cells: Cells,
) -> int:
    """Rows to RFC 4180 CSV; conversions run a column at a time (fewer Python calls)."""
    converters = [(i, fn) for i, kind in enumerate(kinds) if (fn := cells.csv(kind)) is not None]
    count = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow([c.name for c in spec.table.columns])
        for batch in batches:
            count += len(batch)
            if not converters:
                writer.writerows(batch)
                continue
            columns: list[Sequence[Any]] = list(zip(*batch, strict=True))
            for index, convert in converters:
                columns[index] = convert(columns[index])
            writer.writerows(zip(*columns, strict=True))
    return count


def _write_parquet(
    path: Path,
    spec: ExportFile,
    kinds: list[str],
    batches: Iterator[Sequence[Sequence[Any]]],
    cells: Cells,
    row_group_rows: int,
) -> int:
    """Fetched batches become Arrow record batches, written a row group at a time."""
    schema = pa.schema(
        [pa.field(c.name, ARROW_TYPES[k]) for c, k in zip(spec.table.columns, kinds, strict=True)]
    )
    count = 0
    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for batch in batches:
            count += len(batch)
            columns = list(zip(*batch, strict=True))
            arrays = [
                cells.arrow(kind, values, field.type)
                for kind, values, field in zip(kinds, columns, schema, strict=True)
            ]
            pending.append(pa.RecordBatch.from_arrays(arrays, schema=schema))
            pending_rows += len(batch)
            if pending_rows >= row_group_rows:
                writer.write_table(pa.Table.from_batches(pending), row_group_size=pending_rows)
                pending, pending_rows = [], 0
        if pending or count == 0:
            writer.write_table(pa.Table.from_batches(pending, schema=schema))
    return count


def source_provenance(
    conn: Connection, selection: AdSelection, requested: Sequence[str]
) -> dict[str, Any]:
    """Per source: exported ads, when adlib saw them, and the source's last successful run."""
    seen = text(
        "SELECT a.source, COUNT(*), MIN(a.first_seen_at), MAX(a.last_seen_at) "
        f"FROM ads a WHERE {selection.where} GROUP BY a.source"
    ).bindparams(*selection.binds)
    sources: dict[str, Any] = {name: {"ads": 0} for name in requested}
    for name, ads, first, last in conn.execute(seen):
        sources[name] = {
            "ads": ads,
            "collection_window": {"first_seen_at": iso_utc(first), "last_seen_at": iso_utc(last)},
        }
    runs = text(
        "SELECT id, scope, started_at, finished_at FROM collection_runs "
        "WHERE source = :source AND status = 'success' "
        "ORDER BY finished_at DESC, id DESC LIMIT 1"
    )
    for name, entry in sources.items():
        row = conn.execute(runs, {"source": name}).first()
        entry["last_successful_run"] = (
            None
            if row is None
            else {
                "run_id": row[0],
                "scope": row[1],
                "started_at": iso_utc(row[2]),
                "finished_at": iso_utc(row[3]),
            }
        )
    return dict(sorted(sources.items()))


def _revision(conn: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


def file_digest(path: Path) -> tuple[str, int]:
    sha = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            sha.update(chunk)
            size += len(chunk)
    return sha.hexdigest(), size


def adlib_version() -> str:
    """The installed adlib version (``unknown`` when running from a bare checkout)."""
    try:
        return version("adlib-collector")
    except PackageNotFoundError:
        return "unknown"


def _manifest(
    request: ExportRequest,
    files: list[WrittenFile],
    sources: dict[str, Any],
    revision: str | None,
    generated_at: datetime,
) -> dict[str, Any]:
    return {
        "generated_at": timestamp_value(generated_at.replace(microsecond=0)),
        "adlib_version": adlib_version(),
        "schema_version": revision,
        "schema_head": db.head_revision(),
        "format": request.fmt,
        "filters": {
            "countries": list(request.countries),
            "since": request.since.isoformat() if request.since else None,
            "until": request.until.isoformat() if request.until else None,
            "sources": list(request.sources),
        },
        "sources": sources,
        "files": [
            {
                "name": f.name,
                "table": f.table,
                "rows": f.rows,
                "bytes": f.bytes,
                "sha256": f.sha256,
            }
            for f in files
        ],
        "csv": {
            "encoding": "utf-8",
            "standard": "RFC 4180 (CRLF line ends)",
            "formula_rule": FORMULA_RULE,
        },
    }


def _zip(out: Path, paths: list[Path]) -> Path:
    """``<out>.zip`` beside the directory, entries under ``<out name>/`` with a fixed date."""
    target = out.with_name(out.name + ".zip")
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(paths, key=lambda p: p.name):
            info = zipfile.ZipInfo(f"{out.name}/{path.name}", date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            with path.open("rb") as source, archive.open(info, "w") as sink:
                while chunk := source.read(1 << 20):
                    sink.write(chunk)
    return target
