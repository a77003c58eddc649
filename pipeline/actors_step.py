"""The actors step as `adlib collect` and `adlib actors resolve` run it.

This is where the platform-specific part meets the platform-agnostic one: the collectors
declare which stored name is which role (``Collector.mention_fields``) and the evidence layer,
which imports nothing from ``collectors``, receives that declaration as data.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine

from collectors import REGISTRY, collector_class
from collectors.records import MentionField
from pipeline.config import Config
from pipeline.evidence import actors
from pipeline.evidence.actors.registry import load_registry


def mention_fields() -> dict[str, tuple[MentionField, ...]]:
    """Every known platform's declaration (data of disabled sources still has mentions)."""
    return {name: collector_class(name).mention_fields for name in sorted(REGISTRY)}


def resolve_actors(config: Config, engine: Engine, *, only_if_new: bool = False) -> actors.Summary:
    """Extract and resolve in one transaction: a failure leaves the last resolution in place.

    A registry that does not parse raises ``RegistryError`` before anything is written.
    ``only_if_new``: after a collection, resolve only if it brought new mentions
    (:func:`pipeline.evidence.actors.run`).
    """
    registry = load_registry(config.actors_registry)
    with engine.begin() as conn:
        return actors.run(
            conn, mention_fields(), registry, datetime.now(UTC), only_if_new=only_if_new
        )
