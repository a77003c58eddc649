"""Refresh the stored indicators after a collection.

Only the message-test clusters are stored (the other indicators are views, always current).
A refresh runs when the collection wrote new or changed ads. Its failure never touches the
collected data (the refresh is its own transaction): it is logged as an error naming the fix,
and the next collection, or ``adlib report``'s data, tries again.
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from pipeline.evidence.practices.message_tests import refresh_message_tests


def refresh_indicators(engine: Engine, log: logging.Logger, *, changed_ads: int) -> bool:
    """Recompute the message tests if ``changed_ads`` > 0; ``False`` if the refresh failed."""
    if changed_ads <= 0:
        return True
    try:
        result = refresh_message_tests(engine)
    except SQLAlchemyError as exc:
        log.error(
            "indicators not refreshed (the collected data is kept): %s; the next "
            "`adlib collect` retries",
            str(exc.orig if hasattr(exc, "orig") else exc).strip().splitlines()[0],
            extra={"event": "indicators_failed"},
        )
        return False
    log.info(
        "indicators refreshed: %d ads compared, %d message tests (%d variants) in %.1f s",
        result.ads_compared,
        result.clusters,
        result.variants,
        result.seconds,
        extra={"event": "indicators_refreshed"},
    )
    return True
