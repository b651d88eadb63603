"""A minimal progress bar on stderr: shown only on a terminal and only after a few seconds."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Reports ``done/total`` on one rewritten stderr line.

    Silent when the stream is not a terminal, and until ``delay_seconds`` have passed, so short
    runs and pipelines stay clean.
    """

    def __init__(
        self, label: str, total: int, stream: TextIO | None = None, delay_seconds: float = 2.0
    ) -> None:
        self.label = label
        self.total = max(total, 1)
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.delay = delay_seconds
        self.start = time.monotonic()
        self.done = 0
        self.shown = False

    def advance(self, steps: int = 1) -> None:
        self.done += steps
        elapsed = time.monotonic() - self.start
        if not self.enabled or elapsed < self.delay:
            return
        fraction = self.done / self.total
        width = 30
        bar = "#" * int(width * fraction) + "-" * (width - int(width * fraction))
        eta = elapsed / fraction - elapsed if fraction > 0 else float("nan")
        self.stream.write(
            f"\r{self.label} [{bar}] {self.done}/{self.total} {elapsed:5.1f}s, ~{eta:4.0f}s left"
        )
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()
