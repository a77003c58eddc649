"""The import inbox of `adlib schedule`: settled files imported once and moved aside."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from sqlalchemy import Engine, func, select

from collectors.redact import Redactor
from pipeline.config import parse_config
from pipeline.inbox import Inbox
from schema.report_tables import MetaReportSpend
from tests.pipeline.ops_helpers import ops_config, start_cli, stop, wait_for

FIXTURES = Path(__file__).parent.parent / "fixtures" / "meta_report"
REPORT = "FacebookAdLibraryReport_2025-07-13_AD_last_30_days_advertisers.csv"


def _rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(MetaReportSpend)).scalar_one())


def test_settled_files_are_imported_once_and_moved(
    tmp_path: Path, engine: Engine, database_url: str
) -> None:
    config = parse_config(
        {"database": {"url": database_url}, "import": {"inbox": "inbox"}, "sources": {"meta": {}}},
        base_dir=tmp_path,
    )
    inbox = Inbox(config, engine, logging.getLogger("adlib.test.inbox"), Redactor())
    folder = tmp_path / "inbox"
    folder.mkdir()
    shutil.copy(FIXTURES / REPORT, folder / REPORT)
    (folder / "notes.txt").write_text("not a report\n", encoding="utf-8")
    (folder / f"{REPORT}.crdownload").write_bytes(b"Page ID,Page name")  # still downloading
    assert inbox.poll() == []  # first sight: not settled yet
    assert _rows(engine) == 0
    moved = inbox.poll()
    assert sorted(p.relative_to(folder).as_posix() for p in moved) == [
        "failed/notes.txt",
        f"imported/{REPORT}",
    ]
    assert _rows(engine) == 66
    error = (folder / "failed" / "notes.txt.error.txt").read_text(encoding="utf-8")
    assert "not a file adlib can import" in error
    assert sorted(p.name for p in folder.iterdir() if p.is_file()) == [f"{REPORT}.crdownload"]
    # The same report dropped again: recognised as imported, moved aside, nothing added.
    shutil.copy(FIXTURES / REPORT, folder / REPORT)
    inbox.poll()
    assert [p.name for p in inbox.poll()] == [f"{Path(REPORT).stem}.1.csv"]
    assert _rows(engine) == 66


def test_the_daemon_watches_the_inbox_alone_and_stops_on_sigterm(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'adlib.sqlite'}"
    config = ops_config(
        tmp_path, database_url, {"meta": {}}, **{"import": {"inbox": "inbox", "poll_seconds": 0.2}}
    )
    daemon = start_cli("schedule", "--config", str(config), log=tmp_path / "daemon.out")
    try:
        wait_for((tmp_path / "inbox").is_dir, 30, "the inbox folder")
        shutil.copy(FIXTURES / REPORT, tmp_path / "inbox" / REPORT)
        imported = tmp_path / "inbox" / "imported" / REPORT
        wait_for(imported.is_file, 30, "the report moved to imported/")
    finally:
        code, _ = stop(daemon)
    assert code == 0, (tmp_path / "daemon.out").read_text()
    assert "66 rows imported" in (tmp_path / "daemon.out").read_text()
