"""`adlib db rebuild --to URL`: re-derive a fresh database from the raw archive alone.

Platforms change their output and parsers get fixed; what adlib archived is often the only
copy left (Meta deletes political ads after seven years, EU/UK "all ads" after one). So the
archive, not the tables, is the ground truth: this replays every archived API page and every
kept bulk file, oldest first, through today's collectors (``Collector.replay``) and loader,
without a single request to a platform. Records are replayed in the order they were fetched,
each loaded with its own fetch time, so ``first_seen_at`` and the observation history come out
as they were collected.

What cannot be replayed is named, never skipped silently: a bulk file that retention
(``keep_files``) deleted leaves its scope *incomplete*, as does a platform whose collector
cannot replay yet. The source database is only read; the target must be new (or empty).
Checkpoints are copied from the source at the end, so collection can continue from the rebuilt
database exactly where it stood.
"""

from __future__ import annotations

import gzip
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, Row, func, inspect, select, update

from collectors import collector_class
from collectors.base import Collector, CollectorContext, CollectorError
from collectors.records import RawPayload
from collectors.redact import Redactor
from pipeline import db
from pipeline.config import Config
from pipeline.load import load_page
from pipeline.runner import open_run
from pipeline.sqlutil import upsert
from schema.models import Checkpoint, CollectionRun, RawRecord, table_of

_raw = table_of(RawRecord)
_runs = table_of(CollectionRun)
_checkpoints = table_of(Checkpoint)

#: How `adlib import` names the files it archives (``file:<name>``): no collector downloads one.
IMPORTED_URL_PREFIX = "file:"
#: Raw records fetched from the source per round trip (pages are small once decompressed).
STREAM_BATCH = 50


class RebuildRefused(Exception):
    """The target cannot receive a rebuild (not empty, or the configured database itself)."""


@dataclass(slots=True)
class ScopeReplay:
    """What the replay of one source and scope produced."""

    run_id: int
    #: Raw records replayed in full (the run's row counts pages, ads, ... as the loader wrote).
    records: int = 0
    ads: int = 0
    problems: list[str] = field(default_factory=list)


@dataclass(slots=True)
class RebuildReport:
    """Per source and scope: what was replayed, and what made a scope incomplete."""

    records: int = 0
    scopes: dict[tuple[str, str], ScopeReplay] = field(default_factory=dict)

    def incomplete(self) -> list[str]:
        """One line per scope the rebuilt database does not hold in full."""
        return [
            f"{source}/{scope}: incomplete: {'; '.join(dict.fromkeys(s.problems))}"
            for (source, scope), s in sorted(self.scopes.items())
            if s.problems
        ]

    @property
    def exit_code(self) -> int:
        """0 when every archived record was replayed, 1 when some scope is incomplete."""
        return 1 if self.incomplete() else 0


Progress = Callable[[int, int], None]


def rebuild(
    config: Config,
    source: Engine,
    target: Engine,
    *,
    log: logging.Logger,
    progress: Progress | None = None,
) -> RebuildReport:
    """Replay ``source``'s raw archive into the empty database ``target``."""
    _check_target(source, target)
    db.ensure_schema(target)
    redactor = Redactor()
    collectors: dict[str, Collector] = {}
    report = RebuildReport()
    with source.connect() as conn:
        total = int(conn.execute(select(func.count()).select_from(_raw)).scalar_one())
    try:
        for row in _archived(source):
            report.records += 1
            scope = row.scope or "-"
            replay = report.scopes.get((row.source, scope))
            if replay is None:
                replay = ScopeReplay(open_run(target, row.source, scope, datetime.now(UTC)))
                report.scopes[(row.source, scope)] = replay
            collector = collectors.get(row.source) or _collector(config, row.source, log)
            collectors[row.source] = collector
            redactor.add(collector.secrets())
            _replay_record(config, target, collector, row, replay, redactor)
            if progress is not None:
                progress(report.records, total)
    finally:
        for collector in collectors.values():
            collector.close()
    _copy_checkpoints(source, target)
    _close_runs(target, report)
    return report


def _check_target(source: Engine, target: Engine) -> None:
    if source.url.render_as_string(hide_password=False) == target.url.render_as_string(
        hide_password=False
    ):
        raise RebuildRefused("--to is the configured database: rebuild into a new one")
    if db.current_revision(target) is not None or "ads" in inspect(target).get_table_names():
        raise RebuildRefused(
            f"--to {target.url.render_as_string(hide_password=True)} is not empty: "
            "rebuild writes a fresh database; give the URL of a new one"
        )


def _archived(source: Engine) -> Iterator[Row]:
    """Every raw record, oldest fetch first, streamed (payloads are never all in memory).

    A bare ``Row``: any number of columns (SQLAlchemy 2.1's ``Row[Any]`` means one column).
    """
    query = select(
        _raw.c.id,
        _raw.c.source,
        _raw.c.scope,
        _raw.c.kind,
        _raw.c.url,
        _raw.c.payload,
        _raw.c.path,
        _raw.c.content_hash,
        _raw.c.size_bytes,
        _raw.c.pruned_at,
        _raw.c.fetched_at,
    ).order_by(_raw.c.fetched_at, _raw.c.id)
    with source.connect() as conn:
        yield from conn.execution_options(yield_per=STREAM_BATCH).execute(query)


def _collector(config: Config, name: str, log: logging.Logger) -> Collector:
    cls = collector_class(name)
    settings = config.sources.get(name) or cls.Settings()
    context = CollectorContext(
        countries=config.countries, data_dir=config.data_dir, log=log.getChild(name)
    )
    return cls(settings, context)


def _replay_record(
    config: Config,
    target: Engine,
    collector: Collector,
    row: Row,
    replay: ScopeReplay,
    redactor: Redactor,
) -> None:
    raw = _payload(config.data_dir, row, replay)
    if raw is None:
        return
    try:
        for page in collector.replay(row.scope or "-", raw):
            # A file someone imported is replayed as it was loaded: insert-only.
            page.insert_only = row.url.startswith(IMPORTED_URL_PREFIX)
            with target.begin() as conn:
                result = load_page(
                    conn,
                    page,
                    source=row.source,
                    run_id=replay.run_id,
                    now=row.fetched_at,
                    redactor=redactor,
                )
            replay.ads += result.records
    except NotImplementedError as exc:
        replay.problems.append(str(exc))
        return
    except CollectorError as exc:
        replay.problems.append(f"raw record {row.id}: {redactor.text(str(exc))}")
        return
    replay.records += 1


def _payload(data_dir: Path, row: Row, replay: ScopeReplay) -> RawPayload | None:
    """The archived record as the collector first saw it, or ``None`` when it is gone."""
    if row.kind == "page":
        return RawPayload(
            kind="page",
            url=row.url,
            content=gzip.decompress(row.payload or b""),
            fetched_at=row.fetched_at,
        )
    path = data_dir / (row.path or "")
    if row.pruned_at is not None or not row.path or not path.is_file():
        replay.problems.append("bulk files deleted by retention (keep_files) cannot be replayed")
        return None
    return RawPayload(
        kind="file",
        url=row.url,
        path=str(path),
        sha256=row.content_hash,
        size_bytes=row.size_bytes,
        fetched_at=row.fetched_at,
    )


def _copy_checkpoints(source: Engine, target: Engine) -> None:
    """The source's checkpoints replace whatever the replay left: collection resumes as before."""
    columns = ["state", "updated_at", "report_date"]
    with source.connect() as src:
        rows = [dict(r._mapping) for r in src.execute(select(_checkpoints))]
    with target.begin() as conn:
        conn.execute(_checkpoints.delete())
        if rows:
            conn.execute(upsert(conn, _checkpoints, ["source", "scope"], columns), rows)


def _close_runs(target: Engine, report: RebuildReport) -> None:
    """Each replay run's end; its counters are the loader's, written Page by Page."""
    finished = datetime.now(UTC)
    with target.begin() as conn:
        for replay in report.scopes.values():
            conn.execute(
                update(_runs)
                .where(_runs.c.id == replay.run_id)
                .values(
                    finished_at=finished,
                    status="failed" if replay.problems else "success",
                    error="; ".join(dict.fromkeys(replay.problems)) or None,
                    notices=["rebuilt from the raw archive (adlib db rebuild)"],
                )
            )
