"""A progress bar for long maintenance commands (backup, restore, rescan): one line on
stderr, so stdout stays what a script may read. Redrawn at most ten times a second: a bar
over a million small files must not cost more than the work."""

from __future__ import annotations

import sys
import time
from typing import TextIO

WIDTH = 30


class Progress:
    def __init__(self, total: int, label: str, *, stream: TextIO | None = None) -> None:
        self.total, self.label, self.done = total, label, 0
        self.stream = stream or sys.stderr
        self.drawn_at, self.drawn = 0.0, -1

    def advance(self, by: int = 1) -> None:
        self.done += by
        now = time.monotonic()
        if now - self.drawn_at >= 0.1 or self.done >= self.total:
            self.drawn_at = now
            self._draw()

    def close(self) -> None:
        if self.total:
            if self.drawn != self.done:
                self._draw()
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self) -> None:
        self.drawn = self.done
        filled = round(WIDTH * self.done / self.total) if self.total else WIDTH
        self.stream.write(f"\r{self.label} [{'#' * filled}{' ' * (WIDTH - filled)}] {self.done}/{self.total}")
        self.stream.flush()
