"""Refresh the stored indicators after a collection.

Only the message-test clusters are stored (the other indicators are views, always current).
A refresh runs in its own transaction when the collection wrote new or changed ads, or when
the last refresh failed (:mod:`pipeline.derived` decides): the runner reports a failure (the
run exits 1) and never loses the collected data.
"""

from __future__ import annotations

from sqlalchemy import Engine

from pipeline.evidence.practices.message_tests import refresh_message_tests


def refresh_indicators(engine: Engine) -> str:
    """Recompute the message tests; the line for the run log."""
    result = refresh_message_tests(engine)
    return (
        f"indicators refreshed: {result.ads_compared} ads compared, {result.clusters} message "
        f"tests ({result.variants} variants) in {result.seconds:.1f} s"
    )
