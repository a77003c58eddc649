"""Logging for people at a terminal and for cron, with secrets scrubbed from every line.

Text lines by default; ``--log-format json`` writes one JSON object per line (time, level,
source, scope, event, counts, message) for log shippers. Structured fields travel in
``extra={"source": ..., "scope": ..., "event": ..., "counts": {...}}``.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

from collectors.redact import RedactingFilter, Redactor

LOGGER_NAME = "adlib"
_FIELDS = ("source", "scope", "event", "counts")


class JsonFormatter(logging.Formatter):
    """One JSON object per line; fields absent from a record are omitted."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
        }
        for name in _FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        entry["message"] = record.getMessage()
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``2026-11-23T02:00:01Z INFO meta/US page 3: 250 ads`` style lines."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        where = "/".join(
            str(getattr(record, n)) for n in ("source", "scope") if getattr(record, n, None)
        )
        line = f"{stamp} {record.levelname:<7} {where + ' ' if where else ''}{record.getMessage()}"
        if record.exc_text:
            line += "\n" + record.exc_text
        return line


def setup_logging(
    *,
    level: str = "INFO",
    fmt: str = "text",
    file: str | Path | None = None,
    redactor: Redactor,
    console: bool = True,
) -> logging.Logger:
    """Configure the ``adlib`` logger (idempotent: handlers are replaced, not added)."""
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(level)
    logger.propagate = False
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    formatter: logging.Formatter = JsonFormatter() if fmt == "json" else TextFormatter()
    handlers: list[logging.Handler] = []
    if console:
        handlers.append(logging.StreamHandler(sys.stderr))
    if file:
        path = Path(file)
        path.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(path, encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(RedactingFilter(redactor))
        logger.addHandler(handler)
    return logger
