"""Fixtures shared by the collector tests: a recording no-op sleep and a collector context."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from collectors.base import CollectorContext


class RecordingSleep:
    """Stands in for ``time.sleep``: remembers every wait and returns at once."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def sleeps() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def context(tmp_path: Path, sleeps: RecordingSleep) -> CollectorContext:
    return CollectorContext(
        countries=["US", "GB"],
        data_dir=tmp_path,
        log=logging.getLogger("adlib.test.collectors"),
        sleep=sleeps,
    )
