"""Refresh the stored indicators after a collection.

Only the message-test clusters are stored (the other indicators are views, always current).
A refresh runs when the collection wrote new or changed ads, in its own transaction: the
runner reports a failure (the run exits 1) and never loses the collected data, and the next
collection, or ``adlib report``'s data, tries again.
"""

from __future__ import annotations

from sqlalchemy import Engine

from pipeline.evidence.practices.message_tests import refresh_message_tests


def refresh_indicators(engine: Engine, *, changed_ads: int) -> str:
    """Recompute the message tests if ``changed_ads`` > 0; the line for the run log."""
    if changed_ads <= 0:
        return "indicators current: no new or changed ads"
    result = refresh_message_tests(engine)
    return (
        f"indicators refreshed: {result.ads_compared} ads compared, {result.clusters} message "
        f"tests ({result.variants} variants) in {result.seconds:.1f} s"
    )
