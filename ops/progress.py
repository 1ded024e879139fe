"""A progress bar for long operator work, drawn on stderr."""

from __future__ import annotations

import sys
import time
from typing import TextIO

REDRAW_SECONDS = 0.2
WIDTH = 30


class ProgressBar:
    """`label [#####-----]  45.0%  450,000/1,000,000 events  52,000/s  1m05s left`."""

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.started = time.monotonic()
        self._first: int | None = None
        self._drawn = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if self._first is None:
            self._first = done
        if now - self._drawn < REDRAW_SECONDS and done < total:
            return
        self._drawn = now
        fraction = done / total if total else 1.0
        elapsed = max(now - self.started, 1e-6)
        rate = (done - self._first) / elapsed
        left = (total - done) / rate if rate > 0 else 0.0
        filled = int(WIDTH * fraction)
        self.stream.write(
            f"\r{self.label} [{'#' * filled}{'-' * (WIDTH - filled)}] {fraction * 100:5.1f}%"
            f"  {done:,}/{total:,} events  {rate:,.0f}/s"
            f"  {int(left) // 60}m{int(left) % 60:02d}s left "
        )
        self.stream.flush()

    def finish(self, message: str) -> None:
        """End the bar's line with a summary."""
        self.stream.write(f"\r{self.label}: {message}\n")
        self.stream.flush()
