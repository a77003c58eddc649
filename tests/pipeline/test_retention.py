"""Bulk-file retention on real SQLite and PostgreSQL: which files go, which stay, what is marked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from pipeline.retention import prune_files
from schema.models import RawRecord

T0 = datetime(2026, 11, 1, tzinfo=UTC)
_raw = RawRecord.__table__


def _file(engine: Engine, data_dir: Path, name: str, day: int, source: str = "google") -> str:
    """A kept bulk file on disk and its raw_records row, first fetched on ``day``."""
    path = f"raw/{name}.zip"
    (data_dir / "raw").mkdir(parents=True, exist_ok=True)
    (data_dir / path).write_bytes(name.encode() * 100)
    with engine.begin() as conn:
        conn.execute(
            _raw.insert(),
            [
                {
                    "source": source,
                    "scope": "bundle",
                    "fetched_at": T0 + timedelta(days=day),
                    "kind": "file",
                    "content_hash": name * 8,
                    "size_bytes": 100 * len(name),
                    "path": path,
                }
            ],
        )
    return path


def _pruned(engine: Engine) -> dict[str, bool]:
    with engine.connect() as conn:
        rows = conn.execute(select(_raw.c.source, _raw.c.path, _raw.c.pruned_at)).all()
    return {f"{source}:{path}": pruned is not None for source, path, pruned in rows}


def test_keeps_the_newest_and_the_loaded_file_and_marks_the_rest(
    engine: Engine, tmp_path: Path
) -> None:
    old, older, mid, new = (
        _file(engine, tmp_path, name, day)
        for name, day in (("aaaa", 2), ("bbbb", 1), ("cccc", 3), ("dddd", 4))
    )
    # "bbbb" is the oldest row but the run just loaded it (republished byte for byte).
    pruned = prune_files(
        engine, source="google", scope="bundle", keep=2, data_dir=tmp_path,
        protect={older}, now=T0 + timedelta(days=5),
    )  # fmt: skip
    assert sorted(f.path for f in pruned) == sorted([old, mid])
    assert sum(f.size_bytes for f in pruned) == 800
    assert {p for p in (old, older, mid, new) if (tmp_path / p).exists()} == {older, new}
    marks = _pruned(engine)
    assert [marks[f"google:{p}"] for p in (old, older, mid, new)] == [True, False, True, False]
    again = prune_files(
        engine, source="google", scope="bundle", keep=2, data_dir=tmp_path,
        protect={new}, now=T0 + timedelta(days=6),
    )  # fmt: skip
    assert again == []


def test_a_file_another_source_still_points_to_is_marked_but_not_deleted(
    engine: Engine, tmp_path: Path
) -> None:
    shared = _file(engine, tmp_path, "eeee", 1)
    _file(engine, tmp_path, "eeee", 1, source="snap")  # same bytes, same content address
    newest = _file(engine, tmp_path, "ffff", 2)
    pruned = prune_files(
        engine, source="google", scope="bundle", keep=1, data_dir=tmp_path,
        protect={newest}, now=T0,
    )  # fmt: skip
    assert [f.path for f in pruned] == [shared]
    assert (tmp_path / shared).exists()
    assert _pruned(engine) == {f"google:{shared}": True, f"snap:{shared}": False,
                               f"google:{newest}": False}  # fmt: skip


def test_keep_below_one_is_refused(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        prune_files(
            engine, source="google", scope="bundle", keep=0, data_dir=tmp_path,
            protect=set(), now=T0,
        )  # fmt: skip
