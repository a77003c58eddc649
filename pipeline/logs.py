"""Logging for people at a terminal and for cron, with secrets scrubbed from every line.

Text lines by default; ``--log-format json`` writes one JSON object per line for log shippers,
always with the keys ``time``, ``level``, ``event``, ``source``, ``scope`` and ``message``
(``source``/``scope`` are null when a line is about no particular one) plus ``counts`` on the
lines that end a scope or a job. Structured fields travel in
``extra={"source": ..., "scope": ..., "event": ..., "counts": {...}}``.

The console and the log file may have different levels: under cron the file keeps the whole
story while the console (which cron mails) only carries warnings and errors.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import sys
from datetime import UTC, datetime
from pathlib import Path

from collectors import REGISTRY
from collectors.redact import RedactingFilter, Redactor

LOGGER_NAME = "adlib"
#: Fields every JSON line carries (null when unknown), then the optional ones.
_ALWAYS = ("event", "source", "scope")
_OPTIONAL = ("counts",)


class ContextFilter(logging.Filter):
    """Give every record the structured fields, so each JSON line has the same keys.

    A collector logs through ``adlib.<source>`` without repeating its name in ``extra``; the
    source is taken from the logger name then. Lines that name no event are ``"log"``.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "source", None) is None:
            parts = record.name.split(".")
            known = len(parts) > 1 and parts[0] == LOGGER_NAME and parts[1] in REGISTRY
            record.source = parts[1] if known else None
            # Collectors already name themselves in their messages: text lines need no prefix.
            record.source_inferred = known
        if getattr(record, "scope", None) is None:
            record.scope = None
        if getattr(record, "event", None) is None:
            record.event = "log"
        return True


def _exception_text(formatter: logging.Formatter, record: logging.LogRecord) -> str | None:
    """The traceback, whether or not a filter has already rendered (and redacted) it."""
    if record.exc_info and not record.exc_text:
        record.exc_text = formatter.formatException(record.exc_info)
    return record.exc_text or None


class JsonFormatter(logging.Formatter):
    """One JSON object per line (see the module docstring for the keys)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
        }
        for name in _ALWAYS:
            entry[name] = getattr(record, name, None)
        for name in _OPTIONAL:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        entry["message"] = record.getMessage()
        entry["logger"] = record.name
        exception = _exception_text(self, record)
        if exception:
            entry["exception"] = exception
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``2026-11-23T02:00:01Z INFO    meta/US page 3: 250 ads`` style lines."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        names = ("scope",) if getattr(record, "source_inferred", False) else ("source", "scope")
        where = "/".join(str(getattr(record, n)) for n in names if getattr(record, n, None))
        line = f"{stamp} {record.levelname:<7} {where + ' ' if where else ''}{record.getMessage()}"
        exception = _exception_text(self, record)
        if exception:
            line += "\n" + exception
        return line


def setup_logging(
    *,
    level: str = "INFO",
    fmt: str = "text",
    file: str | Path | None = None,
    redactor: Redactor,
    console: bool = True,
    console_level: str | None = None,
) -> logging.Logger:
    """Configure the ``adlib`` logger (idempotent: handlers are replaced, not added).

    ``level`` applies to the log file; the console uses ``console_level`` when given (cron's
    quiet console), else ``level`` too.
    """
    logger = logging.getLogger(LOGGER_NAME)
    logger.propagate = False
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    formatter: logging.Formatter = JsonFormatter() if fmt == "json" else TextFormatter()
    handlers: list[logging.Handler] = []
    if console:
        stream = logging.StreamHandler(sys.stderr)
        stream.setLevel(console_level or level)
        handlers.append(stream)
    if file:
        path = Path(file)
        path.parent.mkdir(parents=True, exist_ok=True)
        # WatchedFileHandler reopens the file when logrotate moves it away (docs/operations.md).
        to_file = logging.handlers.WatchedFileHandler(path, encoding="utf-8")
        to_file.setLevel(level)
        handlers.append(to_file)
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(RedactingFilter(redactor))
        handler.addFilter(ContextFilter())
        logger.addHandler(handler)
    levels = [h.level for h in handlers] or [logging.getLevelName(level)]
    logger.setLevel(min(levels))
    return logger


def route_to_adlib(name: str, level: int = logging.WARNING) -> None:
    """Send a library's log records (``apscheduler``) through adlib's handlers and format.

    Otherwise its warnings reach Python's last-resort handler: unformatted, unredacted, and
    missing from the log file.
    """
    library = logging.getLogger(name)
    library.setLevel(level)
    library.propagate = False
    library.handlers = list(logging.getLogger(LOGGER_NAME).handlers)
