"""The one clock every behaviour runs on, in epoch milliseconds.

This is the only module that reads the wall clock: everything else asks a clock
object for ``now_ms()``, so tests can drive time by hand and never sleep.
"""

from __future__ import annotations

import time

# The fastest a real clock may run (a 10-minute task in 6 ms); the scenario schema says the same.
# Far beyond it epoch-ms arithmetic overflows: scale 1e308 made every request fail.
MAX_SCALE = 100_000.0


def wall_ms() -> int:
    """The wall clock, in epoch milliseconds."""
    return time.time_ns() // 1_000_000


def monotonic() -> float:
    """Seconds on a monotonic wall clock, for measuring real durations."""
    return time.perf_counter()


class RealClock:
    """Wall time sped up by ``scale``: with scale 100 a 30 s task takes 0.3 s."""

    mode = "real"
    __slots__ = ("scale", "_start_ms", "_start_mono")

    def __init__(self, scale: float = 1.0, start_ms: int | None = None) -> None:
        if not 0 < scale <= MAX_SCALE:
            raise ValueError(f"time scale must be > 0 and <= {MAX_SCALE:g}, got {scale!r}")
        self.scale = float(scale)
        self._start_ms = wall_ms() if start_ms is None else int(start_ms)
        self._start_mono = time.monotonic()

    def now_ms(self) -> int:
        return self._start_ms + int((time.monotonic() - self._start_mono) * 1000 * self.scale)

    def advance(self, ms: int) -> int:
        # Advancing a real clock shifts its origin: useful to skip a long wait in a demo.
        if ms < 0:
            raise ValueError("cannot move the clock backwards")
        self._start_ms += int(ms)
        return self.now_ms()


class ManualClock:
    """Time that moves only when told: tests advance it instead of sleeping."""

    mode = "manual"
    scale = 0.0
    __slots__ = ("_now",)

    def __init__(self, start_ms: int | None = None) -> None:
        self._now = wall_ms() if start_ms is None else int(start_ms)

    def now_ms(self) -> int:
        return self._now

    def advance(self, ms: int) -> int:
        if ms < 0:
            raise ValueError("cannot move the clock backwards")
        self._now += int(ms)
        return self._now


Clock = RealClock | ManualClock


def make_clock(mode: str, scale: float = 1.0, start_ms: int | None = None) -> Clock:
    """Build a clock from its settings (``real`` with a scale, or ``manual``)."""
    if mode == "manual":
        return ManualClock(start_ms)
    if mode == "real":
        return RealClock(scale, start_ms)
    raise ValueError(f"clock mode must be 'real' or 'manual', got {mode!r}")
