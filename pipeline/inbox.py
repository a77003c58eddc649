"""The import inbox: `adlib schedule` imports the files a person drops in ``import.inbox``.

A browser or a copy may still be writing a file when the daemon looks, so a file is imported
only once it is *settled*: its size and modification time are the same as one poll earlier,
and its name is not a partial download's (``.part``, ``.crdownload``, ``.download``, ``.tmp``,
or a hidden file). Each settled file is imported exactly like `adlib import` (which also skips
a file already imported), then moved out of the inbox so it is never looked at twice:
into ``imported/`` once loaded (or found already loaded), into ``failed/`` with a
``<name>.error.txt`` giving the one-line reason when it is unknown or damaged. A failure of the
database leaves the file where it is, for the next poll.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine

from collectors.redact import Redactor
from pipeline.config import Config
from pipeline.importer import ImportRefused, import_file, recognise_all

IMPORTED = "imported"
FAILED = "failed"
_PARTIAL = (".part", ".crdownload", ".download", ".tmp")


@dataclass(slots=True)
class Inbox:
    """One inbox folder and what the previous poll saw in it."""

    config: Config
    engine: Engine
    log: logging.Logger
    redactor: Redactor
    _previous: dict[Path, tuple[int, int]] = field(default_factory=dict)

    @property
    def folder(self) -> Path:
        assert self.config.inbox is not None
        return self.config.inbox

    def poll(self) -> list[Path]:
        """Import every settled file; return where each one was moved."""
        self.folder.mkdir(parents=True, exist_ok=True)
        current = {path: _signature(path) for path in self._candidates()}
        settled = [p for p, sig in current.items() if self._previous.get(p) == sig]
        self._previous = {p: sig for p, sig in current.items() if p not in settled}
        return [self._take(path) for path in sorted(settled)]

    def _candidates(self) -> list[Path]:
        return [
            path
            for path in self.folder.iterdir()
            if path.is_file()
            and not path.name.startswith(".")
            and not path.name.lower().endswith(_PARTIAL)
        ]

    def _take(self, path: Path) -> Path:
        extra = {"event": "inbox_file", "file": path.name}
        try:
            (file,) = recognise_all([path])
            done = import_file(self.config, self.engine, file, log=self.log, redactor=self.redactor)
        except ImportRefused as exc:
            reason = str(exc)
            self.log.error("inbox: %s", reason, extra=extra)
            moved = _move(path, self.folder / FAILED)
            moved.with_name(moved.name + ".error.txt").write_text(reason + "\n", encoding="utf-8")
            return moved
        what = "already imported" if done.already else f"{done.rows} rows imported"
        self.log.info("inbox: %s: %s %s: %s", path.name, file.source, file.scope, what, extra=extra)
        return _move(path, self.folder / IMPORTED)


def _signature(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def _move(path: Path, folder: Path) -> Path:
    """``path`` into ``folder``, never over another file (``name.1.csv``, ...)."""
    folder.mkdir(exist_ok=True)
    target, n = folder / path.name, 0
    while target.exists():
        n += 1
        target = folder / f"{path.stem}.{n}{path.suffix}"
    os.replace(path, target)
    return target
