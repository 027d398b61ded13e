"""A one-line progress bar on stderr for long commands (reindex, import, maintain); no dependency.

On the default stream it draws only when stderr is a terminal, so pipes, logs and scripts see
nothing; library code takes a ``progress(done, total)`` callback and the entry point passes a
``Bar``.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Bar:
    """A one-line progress bar on stderr: ``reindex  1,234/5,000  24%  38/s  ETA 1:39``."""

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = stream is not None or _is_terminal(sys.stderr)
        self.started = time.monotonic()
        self.first: int | None = None
        self.last = 0.0

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if self.first is None:
            self.first = done
        if done < total and now - self.last < 0.2:
            return
        self.last = now
        rate = (done - self.first) / max(now - self.started, 1e-9)
        left = (total - done) / rate if rate > 0 else 0.0
        pct = 100 * done // total if total else 100
        width = 24
        filled = width * done // total if total else width
        line = (
            f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,} "
            f"{pct:3d}%  {rate:5.1f}/s  ETA {int(left) // 60}:{int(left) % 60:02d} "
        )
        self.stream.write(line)
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # replaced or closed
        return False
