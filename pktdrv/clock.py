"""PC time: the 8253/8254 timer's 18.2 Hz tick (55 ms), as a counter that never rolls over.

Everything that keeps time in this project counts these ticks. Exactly one kind of object reads a real
clock (`MonotonicTicks`); tests and repeatable runs use `VirtualClock`, which only moves when told to.
"""

from __future__ import annotations

import time
from typing import Protocol

PIT_HZ = 1_193_182
"""The PIT's input clock."""
TICK_HZ = PIT_HZ / 65_536
"""BIOS ticks per second with the PIT's channel 0 at its default divisor (about 18.2065)."""
TICK_SECONDS = 1.0 / TICK_HZ
"""One tick in seconds (about 0.0549)."""


def ms_to_ticks(ms: float) -> int:
    """Milliseconds to whole ticks, rounded up so that a timeout never fires early."""
    if ms <= 0:
        return 0
    ticks = ms / 1000.0 * TICK_HZ
    whole = int(ticks)
    return whole if whole == ticks else whole + 1


class Clock(Protocol):
    """A source of ticks. `now()` never decreases."""

    def now(self) -> int: ...

    def seconds(self) -> float:
        """The same instant in seconds (finer than a tick), for measuring round-trip times."""
        ...


class MonotonicTicks:
    """Ticks since this object was made, from `time.monotonic()` (never rolls over, never goes back)."""

    def __init__(self) -> None:
        self._start = time.monotonic()

    def now(self) -> int:
        return int((time.monotonic() - self._start) * TICK_HZ)

    def seconds(self) -> float:
        return time.monotonic() - self._start


class VirtualClock:
    """A clock that moves only when told to, so timer behaviour is repeatable to the tick."""

    def __init__(self, start: int = 0) -> None:
        self._now = start

    def now(self) -> int:
        return self._now

    def seconds(self) -> float:
        return self._now * TICK_SECONDS

    def advance(self, ticks: int = 1) -> int:
        if ticks < 0:
            raise ValueError("a clock does not go back")
        self._now += ticks
        return self._now

    def set(self, tick: int) -> None:
        if tick < self._now:
            raise ValueError(f"a clock does not go back ({tick} < {self._now})")
        self._now = tick
