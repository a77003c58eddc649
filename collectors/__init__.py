"""Platform collectors: one module per platform, plus the shared pieces they are built from.

``REGISTRY`` maps a source name (the key under ``sources:`` in ``config.yaml``) to its
collector class. Adding a platform means one module here, one line in ``REGISTRY``, its
replica in ``collectors/replicas/`` and its tests.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from collectors.base import Collector

REGISTRY: dict[str, str] = {
    "meta": "collectors.meta:MetaCollector",
    "google": "collectors.google:GoogleCollector",
    "snap": "collectors.snap:SnapCollector",
}


#: `adlib import`: per source, the function that recognises a file a person downloaded (by
#: name and first bytes) and returns the scope it imports under, or ``None``.
RECOGNISERS: dict[str, str] = {
    "meta": "collectors.meta.report:recognise",
    "google": "collectors.google.collector:recognise",
    "snap": "collectors.snap:recognise",
}


def collector_class(name: str) -> type[Collector]:
    """Import and return the collector class registered under ``name``."""
    try:
        target = REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise KeyError(f"unknown source {name!r}; known sources: {known}") from None
    cls: type[Collector] = _attribute(target)
    return cls


def recognise(path: Path) -> tuple[str, str] | None:
    """``(source, scope)`` of the first source that recognises ``path``, or ``None``."""
    for source, target in RECOGNISERS.items():
        scope = _attribute(target)(path)
        if scope is not None:
            return source, scope
    return None


def _attribute(target: str) -> Any:
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)
