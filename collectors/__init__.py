"""Platform collectors: one module per platform, plus the shared pieces they are built from.

``REGISTRY`` maps a source name (the key under ``sources:`` in ``config.yaml``) to its
collector class. Adding a platform means one module here, one line in ``REGISTRY``, its
replica in ``collectors/replicas/`` and its tests.
"""

from __future__ import annotations

import importlib

from collectors.base import Collector

REGISTRY: dict[str, str] = {
    "meta": "collectors.meta:MetaCollector",
    "google": "collectors.google:GoogleCollector",
    "snap": "collectors.snap:SnapCollector",
}


def collector_class(name: str) -> type[Collector]:
    """Import and return the collector class registered under ``name``."""
    try:
        target = REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise KeyError(f"unknown source {name!r}; known sources: {known}") from None
    module_name, _, attr = target.partition(":")
    cls: type[Collector] = getattr(importlib.import_module(module_name), attr)
    return cls
