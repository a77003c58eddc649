"""Logs for cron and log shippers: JSON lines, a quiet console off a terminal, redaction, rotation.

Logging does not depend on the database engine, so these run on SQLite only.
"""

from __future__ import annotations

import logging
import os
import pty
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from collectors.redact import Redactor
from pipeline.logs import route_to_adlib, setup_logging
from tests.conftest import run_cli
from tests.pipeline.ops_helpers import Replicas, bulk_replicas, json_lines, ops_config

SECRET = "EAAGsecretTOKEN0123456789"


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[Replicas]:
    with bulk_replicas(tmp_path / "replicas") as running:
        yield running


def _config(tmp_path: Path, replicas: Replicas, **top: object) -> Path:
    return ops_config(tmp_path, f"sqlite:///{tmp_path / 'adlib.sqlite'}", replicas.sources(), **top)


def test_json_log_parses_line_by_line_with_the_structured_fields(
    tmp_path: Path, replicas: Replicas
) -> None:
    config = _config(tmp_path, replicas)
    log_file = tmp_path / "adlib.jsonl"
    result = run_cli(
        "collect", "--config", str(config), "--log-format", "json", "--log-file", str(log_file)
    )
    assert result.returncode == 0, result.stderr
    # Not on a terminal and logging to a file: nothing on the console when all is well,
    # so cron sends no mail; no summary table either.
    assert result.stderr == ""
    assert result.stdout == ""

    events = json_lines(log_file.read_text())
    assert len(events) >= 6
    for event in events:
        assert {"time", "level", "event", "source", "scope", "message"} <= set(event)
        datetime.fromisoformat(event["time"])
    finished = [e for e in events if e["event"] == "scope_success"]
    assert {(e["source"], e["scope"]) for e in finished} == {
        ("google", "bundle"),
        ("snap", "2019"),
        ("snap", "2022"),
    }
    google = next(e for e in finished if e["source"] == "google")
    assert google["counts"]["records"] == 60 and google["counts"]["new"] == 60
    assert google["counts"]["changed"] == 0


def test_without_a_log_file_the_console_carries_the_json_log(
    tmp_path: Path, replicas: Replicas
) -> None:
    config = _config(tmp_path, replicas)
    result = run_cli("collect", "--config", str(config), "--log-format", "json", "--summary")
    assert result.returncode == 0, result.stderr
    events = json_lines(result.stderr)
    assert sum(e["event"] == "scope_success" for e in events) == 3
    assert "adlib collect" in result.stdout  # --summary asks for the table off a terminal


def test_failures_reach_the_quiet_console(tmp_path: Path, replicas: Replicas) -> None:
    replicas.google_control.broken = True
    config = _config(tmp_path, replicas)
    result = run_cli("collect", "--config", str(config), "--log-file", str(tmp_path / "a.log"))
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and "google/bundle failed: " in errors[0]
    assert " INFO " not in result.stderr
    assert "snap/2019 success" in (tmp_path / "a.log").read_text()


def test_on_a_terminal_there_is_progress_and_a_summary(tmp_path: Path, replicas: Replicas) -> None:
    config = _config(tmp_path, replicas)
    leader, follower = pty.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "pipeline", "collect", "--config", str(config)],
            stdout=follower,
            stderr=follower,
            env={**os.environ, "COLUMNS": "120", "TERM": "xterm"},
        )
        os.close(follower)
        output = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            output += chunk
        assert process.wait(timeout=60) == 0
    finally:
        os.close(leader)
    text = output.decode("utf-8", "replace")
    assert "adlib collect" in text  # the summary table's title
    assert "google" in text and "snap" in text


def test_secrets_are_scrubbed_from_every_line_and_traceback(tmp_path: Path) -> None:
    log_file = tmp_path / "a.jsonl"
    log = setup_logging(fmt="json", file=log_file, redactor=Redactor([SECRET]), console=False)
    log.info("calling https://graph.example/x?access_token=%s&a=1", SECRET)
    try:
        raise RuntimeError(f"boom with {SECRET}")
    except RuntimeError:
        log.exception("failed", extra={"source": "meta", "scope": "US", "event": "scope_failed"})
    text = log_file.read_text()
    assert SECRET not in text
    first, second = json_lines(text)
    assert "access_token=REDACTED" in first["message"]
    assert second["source"] == "meta" and second["scope"] == "US"
    assert "RuntimeError: boom with REDACTED" in second["exception"]


def test_console_and_file_levels_are_independent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log_file = tmp_path / "a.log"
    log = setup_logging(level="INFO", file=log_file, redactor=Redactor(), console_level="WARNING")
    log.info("routine")
    log.warning("needs a person")
    console = capsys.readouterr().err
    assert "routine" not in console and "needs a person" in console
    assert "routine" in log_file.read_text()


def test_the_log_file_is_reopened_after_logrotate_moves_it(tmp_path: Path) -> None:
    log_file = tmp_path / "adlib.log"
    log = setup_logging(file=log_file, redactor=Redactor(), console=False)
    log.info("before rotation")
    log_file.rename(tmp_path / "adlib.log.1")
    log.info("after rotation")
    assert "after rotation" in log_file.read_text()
    assert "before rotation" in (tmp_path / "adlib.log.1").read_text()


def test_a_collectors_lines_carry_its_source_named_once(tmp_path: Path) -> None:
    for fmt in ("text", "json"):
        log_file = tmp_path / f"a.{fmt}"
        log = setup_logging(fmt=fmt, file=log_file, redactor=Redactor(), console=False)
        log.getChild("google").info("google bundle: file unchanged")
        log.info("done", extra={"source": "snap", "scope": "2020"})
        log.info("not about a source")
        lines = log_file.read_text().splitlines()
        if fmt == "text":
            assert lines[0].endswith("INFO    google bundle: file unchanged")
            assert lines[1].endswith("INFO    snap/2020 done")
            assert lines[2].endswith("INFO    not about a source")
        else:
            first, second, third = json_lines("\n".join(lines))
            assert (first["source"], first["scope"], first["event"]) == ("google", None, "log")
            assert (second["source"], second["scope"]) == ("snap", "2020")
            assert (third["source"], third["scope"]) == (None, None)


def test_library_warnings_go_through_adlib_handlers(tmp_path: Path) -> None:
    log_file = tmp_path / "a.jsonl"
    setup_logging(fmt="json", file=log_file, redactor=Redactor([SECRET]), console=False)
    route_to_adlib("apscheduler")
    logging.getLogger("apscheduler.scheduler").warning("job missed with %s", SECRET)
    (line,) = json_lines(log_file.read_text())
    assert line["logger"] == "apscheduler.scheduler" and "REDACTED" in line["message"]
