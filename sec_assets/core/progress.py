"""Progress lines of long steps: done / total, percent, rate and ETA, at most one per interval.

    progress = Progress("dog: segmented", total=len(files), unit="files", emit=log.info)
    for i, f in enumerate(files, 1):
        ...
        progress.update(i)          # a line when ``interval_s`` passed since the last, and at the end

The clock only times the lines; nothing computed depends on it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

DEFAULT_INTERVAL_S = 10.0


def duration(seconds: float) -> str:
    """``42 s``, ``3 m 05 s``, ``2 h 07 m``."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} m {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} m"


@dataclass
class Progress:
    label: str
    total: int | None
    unit: str
    emit: Callable[[str], None]
    interval_s: float = DEFAULT_INTERVAL_S
    clock: Callable[[], float] = time.monotonic
    started: float = field(init=False)
    last: float = field(init=False)

    def __post_init__(self) -> None:
        self.started = self.last = self.clock()

    def message(self, done: int, note: str = "") -> str:
        elapsed = self.clock() - self.started
        rate = done / elapsed if elapsed > 0 else 0.0
        parts = [
            f"{self.label} {done}/{self.total} {self.unit}"
            if self.total
            else f"{self.label} {done} {self.unit}"
        ]
        if self.total:
            parts[0] += f" ({100 * done / self.total:.0f} %)"
        parts.append(f"{rate:.1f} {self.unit}/s")
        if self.total and rate > 0 and done < self.total:
            parts.append(f"ETA {duration((self.total - done) / rate)}")
        parts.append(f"elapsed {duration(elapsed)}")
        return ", ".join(parts) + (f"; {note}" if note else "")

    def update(self, done: int, note: str = "") -> bool:
        """Emit a line if the interval passed or ``done`` reached the total; whether it did."""
        now = self.clock()
        if now - self.last < self.interval_s and not (self.total and done >= self.total):
            return False
        self.last = now
        self.emit(self.message(done, note))
        return True
