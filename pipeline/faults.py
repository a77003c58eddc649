"""Crash points for the resilience tests (``kill -9`` at a chosen place of a run).

Setting ``ADLIB_FAULT_KILL=<point>:<n>`` makes the process kill itself with SIGKILL the n-th
time it reaches ``<point>``; unset (always, outside tests) this costs one dict lookup. The
points are the places where a real crash would hurt most: between pages (``page_fetched``),
inside a page's transaction after its ads were written (``in_batch``), and right after a
commit (``after_commit``).
"""

from __future__ import annotations

import os
import signal

_counts: dict[str, int] = {}


def _target() -> tuple[str, int] | None:
    spec = os.environ.get("ADLIB_FAULT_KILL")
    if not spec:
        return None
    name, _, count = spec.partition(":")
    return name, int(count or 1)


def point(name: str) -> None:
    """Die here if the fault plan says so."""
    target = _target()
    if target is None or target[0] != name:
        return
    _counts[name] = _counts.get(name, 0) + 1
    if _counts[name] >= target[1]:
        os.kill(os.getpid(), signal.SIGKILL)
