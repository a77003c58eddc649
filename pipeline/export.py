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
(:class:`_Cells`); nothing in a CSV file depends on the time of export, so the same database
and arguments give byte-identical CSV files. ``manifest.json`` (written last: its presence
means the export is complete) carries the export time and is therefore not byte-identical.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Connection, Engine, Table, bindparam, text
from sqlalchemy.sql.elements import BindParameter

from pipeline import db
from pipeline.dictionary import (
    FORMULA_RULE,
    FORMULA_TRIGGERS,
    KINDS,
    column_kind,
    render_export_dictionary,
    table_entry,
)
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
)
from schema.types import UTCDateTime

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
    #: ``ad``: the table's ``ad_id`` is a selected ad; otherwise the column of ``ads``
    #: (advertiser_id, funder_id) that points at the table's ``id``; ``self`` for ``ads``.
    link: str
    order: tuple[str, ...]


EXPORT_FILES: tuple[ExportFile, ...] = (
    ExportFile("ads", Ad.__table__, "self", ("id",)),
    ExportFile("advertisers", Advertiser.__table__, "advertiser_id", ("id",)),
    ExportFile("funders", Funder.__table__, "funder_id", ("id",)),
    ExportFile("countries", AdCountry.__table__, "ad", ("ad_id", "country_code")),
    ExportFile("creatives", AdCreative.__table__, "ad", ("ad_id", "position")),
    ExportFile("regions", AdRegion.__table__, "ad", ("ad_id", "region")),
    ExportFile("demographics", AdDemographic.__table__, "ad", ("ad_id", "age_range", "gender")),
    ExportFile("targeting", AdTargeting.__table__, "ad", ("ad_id", "id")),
    ExportFile("spend", AdSpend.__table__, "ad", ("ad_id", "currency")),
    ExportFile("observations", AdObservation.__table__, "ad", ("ad_id", "observed_at", "id")),
)


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
    selection = _Selection(request)
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            for spec in EXPORT_FILES:
                path = request.out / f"{spec.name}.{request.fmt}"
                rows = _write_table(conn, spec, selection, request, path)
                result.files.append(WrittenFile(path.name, rows, path, spec.table.name))
            sources = _source_provenance(conn, selection, request.sources)
            revision = _revision(conn)
    dictionary = request.out / DICTIONARY_NAME
    entries = [(f"{s.name}.{request.fmt}", table_entry(s.table)) for s in EXPORT_FILES]
    dictionary.write_text(render_export_dictionary(entries), encoding="utf-8", newline="\n")
    result.files.append(WrittenFile(dictionary.name, None, dictionary))
    for written in result.files:
        written.sha256, written.bytes = _digest(written.path)
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


class _Selection:
    """The selected ads as a SQL condition on ``ads a``, with its bound parameters."""

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

    def statement(self, spec: ExportFile) -> Any:
        """The ``SELECT`` of ``spec``'s rows for the selected ads, in file order."""
        alias = "a" if spec.link == "self" else "t"
        columns = ", ".join(f"{alias}.{c.name}" for c in spec.table.columns)
        order = ", ".join(f"{alias}.{c}" for c in spec.order)
        if spec.link == "self":
            condition = self.where
        else:
            key, picked = ("ad_id", "a.id") if spec.link == "ad" else ("id", f"a.{spec.link}")
            condition = f"t.{key} IN (SELECT {picked} FROM ads a WHERE {self.where})"
        sql = f"SELECT {columns} FROM {spec.table.name} {alias} WHERE {condition} ORDER BY {order}"
        return text(sql).bindparams(*self.binds)


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _stream(conn: Connection, statement: Any, batch_rows: int) -> Iterator[Sequence[Sequence[Any]]]:
    """Batches of rows, fetched ``batch_rows`` at a time (a server-side cursor on PostgreSQL)."""
    result = conn.execution_options(stream_results=True, yield_per=batch_rows).execute(statement)
    yield from result.partitions(batch_rows)


def _write_table(
    conn: Connection, spec: ExportFile, selection: _Selection, request: ExportRequest, path: Path
) -> int:
    kinds = [column_kind(c) for c in spec.table.columns]
    batches = _stream(conn, selection.statement(spec), request.batch_rows)
    cells = _Cells(conn.dialect.name)
    if request.fmt == "parquet":
        return _write_parquet(path, spec, kinds, batches, cells, request.row_group_rows)
    return _write_csv(path, spec, kinds, batches, cells)


def _write_csv(
    path: Path,
    spec: ExportFile,
    kinds: list[str],
    batches: Iterator[Sequence[Sequence[Any]]],
    cells: _Cells,
) -> int:
    """Rows to RFC 4180 CSV; conversions run a column at a time (fewer Python calls)."""
    import csv

    converters = [(i, cells.csv(kind)) for i, kind in enumerate(kinds)]
    converters = [(i, fn) for i, fn in converters if fn is not None]
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
    cells: _Cells,
    row_group_rows: int,
) -> int:
    """Fetched batches become Arrow record batches, written a row group at a time."""
    schema = pa.schema(
        [pa.field(c.name, _ARROW_TYPES[k]) for c, k in zip(spec.table.columns, kinds, strict=True)]
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


_ARROW_TYPES: dict[str, pa.DataType] = {
    "integer": pa.int64(),
    "number": pa.float64(),
    "boolean": pa.bool_(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "date": pa.date32(),
    "json": pa.string(),
    "text": pa.string(),
    "binary": pa.binary(),
}
assert set(_ARROW_TYPES) == set(KINDS)


class _Cells:
    """Per-kind converters from the driver's values to CSV cells and Arrow arrays.

    The drivers hand back different Python values for the same column (SQLite: timestamps as
    UTC text, booleans as 0/1, JSON as text; PostgreSQL: aware datetimes, bools, parsed JSON),
    so each kind gets a converter per dialect that yields one canonical form.
    """

    def __init__(self, dialect: str) -> None:
        self.sqlite = dialect == "sqlite"

    def csv(self, kind: str) -> Callable[[Sequence[Any]], list[Any]] | None:
        """The CSV converter of a column of ``kind``, or ``None`` to write values as they are."""
        if kind == "text":
            return _safe_texts
        if kind == "json":
            parse = _json_text_sqlite if self.sqlite else _json_text
            return lambda values: _safe_texts([parse(v) for v in values])
        if kind == "timestamp":
            return _timestamp_texts if self.sqlite else _timestamp_values
        if kind == "boolean":
            return lambda values: [
                None if v is None else ("true" if v else "false") for v in values
            ]
        if kind == "date" and not self.sqlite:
            return lambda values: [None if v is None else v.isoformat() for v in values]
        if kind == "binary":
            return lambda values: [None if v is None else bytes(v).hex() for v in values]
        return None

    def arrow(self, kind: str, values: Sequence[Any], arrow_type: pa.DataType) -> pa.Array:
        """``values`` of one column as an Arrow array of ``arrow_type``."""
        if kind == "json":
            convert = _json_text_sqlite if self.sqlite else _json_text
            return pa.array([convert(v) for v in values], pa.string())
        if self.sqlite and kind == "timestamp":
            return pa.array(values, pa.string()).cast(pa.timestamp("us")).cast(arrow_type)
        if self.sqlite and kind == "boolean":
            return pa.array([None if v is None else bool(v) for v in values], arrow_type)
        if self.sqlite and kind == "date":
            return pa.array(values, pa.string()).cast(arrow_type)
        return pa.array(values, arrow_type)


def _safe_texts(values: Sequence[str | None]) -> list[str | None]:
    """The formula rule (:data:`pipeline.dictionary.FORMULA_RULE`) over a column of text."""
    return ["'" + v if v and v[0] in FORMULA_TRIGGERS else v for v in values]


def _json_text(value: Any) -> str | None:
    """Compact JSON with sorted keys; JSON ``null`` is NULL (the loader writes both forms)."""
    if value is None:
        return None
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def _json_text_sqlite(value: str | None) -> str | None:
    return None if value is None else _json_text(json.loads(value))


def _timestamp_texts(values: Sequence[str | None]) -> list[str | None]:
    """SQLite's stored UTC text (``YYYY-MM-DD HH:MM:SS.ffffff``) as ISO 8601 with ``Z``."""
    return [
        None
        if v is None
        else (v[:10] + "T" + v[11:19] + "Z")
        if v.endswith(".000000") and len(v) == 26
        else _timestamp_text(v)
        for v in values
    ]


def _timestamp_text(value: str | None) -> str | None:
    """One stored UTC text timestamp as ISO 8601 with ``Z``, whatever its precision."""
    if value is None:
        return None
    return _timestamp_value(datetime.fromisoformat(value).replace(tzinfo=UTC))


def _timestamp_values(values: Sequence[datetime | None]) -> list[str | None]:
    return [_timestamp_value(v) for v in values]


def _timestamp_value(value: datetime | None) -> str | None:
    """An aware datetime as ISO 8601 UTC with ``Z``, microseconds only when present."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _source_provenance(
    conn: Connection, selection: _Selection, requested: Sequence[str]
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


def iso_utc(value: Any) -> str | None:
    """A timestamp from either driver (SQLite text, PostgreSQL datetime) as ISO 8601 UTC."""
    if value is None or isinstance(value, str):
        return _timestamp_text(value)
    return _timestamp_value(value)


def _revision(conn: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


def _digest(path: Path) -> tuple[str, int]:
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
        "generated_at": _timestamp_value(generated_at.replace(microsecond=0)),
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
