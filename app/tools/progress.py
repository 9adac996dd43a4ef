"""A small progress bar on stderr (a redrawn line on a terminal, a line every few seconds otherwise)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


class Progress:
    """``Progress(total, label)``; call :meth:`advance` with bytes (and items) done, :meth:`close` at the end."""

    def __init__(self, total: int, label: str, *, stream: TextIO | None = None, enabled: bool = True) -> None:
        self.total = max(total, 1)
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.done = 0
        self.items = 0
        self.started = time.monotonic()
        self._last_draw = 0.0
        self._tty = self.stream.isatty()

    def advance(self, nbytes: int, items: int = 1) -> None:
        self.done += nbytes
        self.items += items
        now = time.monotonic()
        if self.enabled and now - self._last_draw >= (0.1 if self._tty else 5.0):
            self._last_draw = now
            self._draw(final=False)

    def _draw(self, *, final: bool) -> None:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        frac = min(self.done / self.total, 1.0)
        bar = "#" * int(frac * 30)
        line = (f"{self.label} [{bar:<30}] {frac * 100:5.1f}% {human_bytes(self.done)} "
                f"{self.items} objects {human_bytes(self.done / elapsed)}/s")
        if self._tty:
            self.stream.write("\r" + line + ("\n" if final else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self._draw(final=True)

    @property
    def rate(self) -> float:
        return self.done / max(time.monotonic() - self.started, 1e-6)
