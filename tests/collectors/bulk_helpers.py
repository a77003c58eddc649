"""Helpers shared by the Google, Snap and download tests: contexts, servers, collected pages."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from collectors.base import Collector, CollectorContext
from collectors.records import Page


def context(data_dir: Path) -> CollectorContext:
    """A collector context whose waits are instant."""
    return CollectorContext(
        countries=[], data_dir=data_dir, log=logging.getLogger("test"), sleep=lambda _: None
    )


def collect(collector: Collector, scope: str, state: Mapping[str, Any] | None = None) -> list[Page]:
    """Every Page of one scope, as the pipeline would receive them."""
    return list(collector.fetch(scope, state))


def files_under(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.exists() else []
