"""One measured step of a benchmark: a command in its own process, its wall time and peak RSS.

Each step runs as a child process so that its peak memory is its own; the kernel's rusage of
that child (``os.wait4``) gives the peak, with no code in the child.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass


@dataclass(slots=True)
class Measurement:
    name: str
    seconds: float
    peak_mb: float
    #: Rows (or ads) the step handled, for a rate; 0 when the step has none.
    rows: int = 0


def measure(name: str, command: list[str], rows: int = 0) -> Measurement:
    """Run ``command``; its wall time and peak RSS. A failing command ends the benchmark."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if status != 0:
        raise SystemExit(
            f"{name} failed: {process.stderr.read().decode() if process.stderr else ''}"
        )
    return Measurement(name, seconds, usage.ru_maxrss / 1024, rows)
