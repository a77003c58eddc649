"""A live progress display for people at a terminal (cron gets plain log lines instead)."""

from __future__ import annotations

import logging
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from pipeline.runner import LogReporter, ScopeOutcome


class RichReporter(LogReporter):
    """One spinner line per scope with running counts; failures are also logged."""

    def __init__(self, log: logging.Logger, console: Console) -> None:
        super().__init__(log)
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.fields[label]}"),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._tasks: dict[tuple[str, str], TaskID] = {}

    def __enter__(self) -> RichReporter:
        self.progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.progress.stop()

    def scope_started(self, source: str, scope: str) -> None:
        self._tasks[(source, scope)] = self.progress.add_task(
            "starting", label=f"{source}/{scope}", total=None
        )

    def page_loaded(self, outcome: ScopeOutcome) -> None:
        task = self._tasks[(outcome.source, outcome.scope)]
        self.progress.update(
            task,
            description=f"{outcome.records:,} ads, {outcome.new:,} new, "
            f"{outcome.changed:,} changed ({outcome.pages} pages)",
        )

    def scope_finished(self, outcome: ScopeOutcome) -> None:
        task = self._tasks[(outcome.source, outcome.scope)]
        mark = {"success": "[green]done", "failed": "[red]failed"}.get(
            outcome.status, outcome.status
        )
        self.progress.update(
            task,
            description=f"{mark}[/] {outcome.records:,} ads, {outcome.new:,} new, "
            f"{outcome.changed:,} changed",
            total=1,
            completed=1,
        )
        if outcome.status == "failed":
            super().scope_finished(outcome)


class ProgressLine:
    """A bar for one long job at a terminal (stderr); silent off a terminal (cron, pipes).

    ``update(done, total)`` is cheap enough to call per item: rich refreshes on its own clock.
    """

    def __init__(self, description: str) -> None:
        console = Console(stderr=True)
        self.enabled = console.is_terminal
        self.progress = Progress(
            TextColumn(description),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self._task: TaskID | None = None

    def __enter__(self) -> ProgressLine:
        if self.enabled:
            self.progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.enabled:
            self.progress.stop()

    def update(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self._task is None:
            self._task = self.progress.add_task("", total=total)
        self.progress.update(self._task, completed=done, total=total)
