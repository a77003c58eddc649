"""What a replica offers `adlib demo`: a request handler and the settings that point at it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from collectors.replicas.server import Handler


@dataclass(slots=True)
class DemoReplica:
    """A small, fast replica for the demo.

    ``settings(base_url)`` returns the ``sources.<name>`` mapping of a config that collects
    from the replica served at ``base_url`` (a demo token included where the platform needs
    one); ``countries`` are the countries the demo data covers.
    """

    handler: Handler
    settings: Callable[[str], dict[str, Any]]
    countries: tuple[str, ...] = ()
    #: Moves the platform on by a night (spend grows, ...), so that the demo's second
    #: collection records changes; ``None`` for a replica that stays as it is.
    advance: Callable[[], object] | None = None
