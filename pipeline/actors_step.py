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
from pipeline.derived import claim_queue, flagged, release_queue
from pipeline.evidence import actors
from pipeline.evidence.actors.registry import load_registry

#: The step's name in ``derived_steps``.
STEP = "actors"


def mention_fields() -> dict[str, tuple[MentionField, ...]]:
    """Every known platform's declaration (data of disabled sources still has mentions)."""
    return {name: collector_class(name).mention_fields for name in sorted(REGISTRY)}


def resolve_actors(
    config: Config, engine: Engine, *, after_collection: bool = False
) -> actors.Summary:
    """Extract and resolve in one transaction: a failure leaves the last resolution in place,
    and the queue of written ads with it.

    A registry that does not parse raises ``RegistryError`` before anything is written.
    ``after_collection``: relink only the queued ads (unless the step's last attempt failed)
    and resolve only if they brought new mentions (:func:`pipeline.evidence.actors.run`);
    otherwise (``adlib actors resolve``) relink every ad and resolve.
    """
    registry = load_registry(config.actors_registry)
    with engine.begin() as conn:
        queued = claim_queue(conn)
        scope = queued if after_collection and not flagged(conn, STEP) else None
        summary = actors.run(
            conn,
            mention_fields(),
            registry,
            datetime.now(UTC),
            scope=scope,
            only_if_new=after_collection,
        )
        release_queue(conn, STEP)
        return summary
