"""SIGTERM and SIGINT as a polite request to stop, for `adlib collect` and `adlib schedule`.

The first signal only sets the shared ``stop`` event: the runner finishes the Page it is on,
commits it with its checkpoint, and ends the run as *interrupted*; waits (backoff, throttling)
end at once. That is what systemd's ``stop`` and a Ctrl-C mean. A second signal is someone who
cannot wait: the process exits immediately, which is safe too, because every committed Page
carries its checkpoint and the next run resumes from it.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from types import FrameType, TracebackType
from typing import Any

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopOnSignals:
    """Within the ``with`` block, SIGTERM/SIGINT set ``stop``; the old handlers come back after.

    Must be entered in the main thread (Python delivers signals there only).
    """

    def __init__(self, stop: threading.Event, log: logging.Logger) -> None:
        self.stop = stop
        self.log = log
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopOnSignals:
        for signum in SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.stop.is_set():
            self.log.warning(
                "%s again: exiting now; the next run resumes from the last committed page",
                name,
                extra={"event": "stop_forced"},
            )
            for handler in logging.getLogger(self.log.name).handlers:
                handler.flush()
            os._exit(128 + signum)
        self.received = signum
        self.log.warning(
            "%s received: stopping after the current page is committed (send it again to "
            "exit at once)",
            name,
            extra={"event": "stop_requested"},
        )
        self.stop.set()
