"""Progress bars for long operator work, and the log handler that keeps out of their way.

Both draw on one `rich` console on stderr: a log line printed while a bar runs appears
above the bar, never inside it, and every bar ends its line. When stderr is not a
terminal (a pipe, a log file, cron) no bar is drawn at all; each piece of work still ends
with its one-line summary.
"""

from __future__ import annotations

import logging
import time
from typing import TextIO

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_console: Console | None = None


def console() -> Console:
    """The stderr console shared by the bars and the log handler."""
    global _console
    if _console is None:
        _console = Console(stderr=True)
    return _console


def configure_logging(level: int, rich_console: bool = True) -> None:
    """Log at `level` to stderr: through the shared console (the one-shot commands, whose
    bars must not be cut by a log line) or as plain lines (`serve`, whose log is its
    output)."""
    if rich_console and console().is_terminal:
        handler: logging.Handler = RichHandler(
            console=console(), show_path=False, rich_tracebacks=False, markup=False
        )
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        logging.basicConfig(level=level, handlers=[handler], force=True)
    else:
        logging.basicConfig(level=level, format=LOG_FORMAT, force=True)


class ProgressBar:
    """`label ━━━━━━━━━━╺━━━━━━━━━━━━  45%  450,000/1,000,000 events  52,000/s  0:01:05`.

    Called with `(done, total)` as work advances; `finish(summary)` ends it with one line.
    The rate counts from the first call, so a summary after no call says so rather than
    `0/s`.
    """

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.label = label
        self._console = Console(file=stream) if stream is not None else console()
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self.started = time.monotonic()

    def _start(self, total: int) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>5.1f}%"),
            MofNCompleteColumn(),
            TextColumn("events"),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
            console=self._console,
            transient=True,  # the summary line replaces the bar
            disable=not self._console.is_terminal,
        )
        self._progress.start()
        self._task = self._progress.add_task(self.label, total=total, rate="")

    def __call__(self, done: int, total: int) -> None:
        if self._progress is None:
            self._start(total)
        assert self._progress is not None and self._task is not None
        elapsed = max(time.monotonic() - self.started, 1e-6)
        self._progress.update(
            self._task, completed=done, total=total, rate=f"{done / elapsed:,.0f}/s"
        )

    def finish(self, message: str) -> None:
        """End the bar (if one was drawn) and print the summary on a line of its own."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        self._console.print(
            f"{self.label}: {message}", markup=False, highlight=False, soft_wrap=True
        )
