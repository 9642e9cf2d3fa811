"""Progress of an import: a live bar on a terminal, plain lines in logs and pipes."""

from __future__ import annotations

import sys
import time
from typing import TextIO

BAR_WIDTH = 24
TTY_INTERVAL = 0.1
LINE_INTERVAL = 2.0


def duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Progress:
    """Rows done of a file's total, records/s written, and the time left at that pace."""

    def __init__(
        self,
        label: str,
        total: int,
        *,
        start: int = 0,
        stream: TextIO | None = None,
        tty: bool | None = None,
    ) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.label = label
        self.total = max(total, 0)
        self.start_row = start
        self.done = start
        self.records = 0
        self.started = time.monotonic()
        self._shown = 0.0
        self._width = 0

    def update(self, done: int, records: int, *, force: bool = False) -> None:
        self.done, self.records = done, records
        now = time.monotonic()
        interval = TTY_INTERVAL if self.tty else LINE_INTERVAL
        if not force and now - self._shown < interval:
            return
        self._shown = now
        line = self.render(now)
        if self.tty:
            padding = " " * max(0, self._width - len(line))
            self.stream.write(f"\r{line}{padding}")
            self._width = len(line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def render(self, now: float | None = None) -> str:
        elapsed = max((now or time.monotonic()) - self.started, 1e-6)
        rate = self.records / elapsed
        rows_rate = (self.done - self.start_row) / elapsed
        left = self.total - self.done
        eta = duration(left / rows_rate) if rows_rate > 0 and left > 0 else "0:00"
        share = self.done / self.total if self.total else 1.0
        counts = f"{self.done}/{self.total} rows ({share:.0%})"
        speed = f"{rate:,.0f} records/s"
        if self.tty:
            filled = int(BAR_WIDTH * share)
            bar = "█" * filled + "░" * (BAR_WIDTH - filled)
            return f"{self.label} {bar} {counts} · {speed} · ETA {eta}"
        return f"{self.label}: {counts}, {speed}, ETA {eta}"

    def finish(self) -> None:
        self.update(self.done, self.records, force=True)
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
