"""The collector contract: what the pipeline may rely on whatever the platform."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from collectors.base import Collector, CollectorContext, TransientError
from collectors.records import Page


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Unreachable(Collector):
    """Yields one page, then its platform's connection is refused."""

    name = "unreachable"

    def scopes(self) -> list[str]:
        return ["all"]

    def fetch(self, scope: str, state: Mapping[str, Any] | None) -> Iterator[Page]:
        yield Page(scope=scope, checkpoint={"page": 1})
        httpx.get(f"http://127.0.0.1:{_closed_port()}/", timeout=5)


def test_a_transport_error_reaches_the_pipeline_as_a_transient_collector_error(
    tmp_path: Path,
) -> None:
    context = CollectorContext(countries=[], data_dir=tmp_path, log=logging.getLogger("t"))
    pages = _Unreachable(_Unreachable.Settings(), context).pages("all", None)
    assert next(pages).checkpoint == {"page": 1}  # what came before the failure is kept
    with pytest.raises(TransientError, match=r"^network error: ConnectError: "):
        next(pages)
