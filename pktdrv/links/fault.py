"""A seeded fault injector that wraps any link: drop, duplicate, reorder, corrupt, delay, rate limit.

Faults apply to both directions, each direction with its own generator seeded from `seed`, so the same
seed and the same traffic give the same faults. Time is in ticks, the `now` the last `poll(now)` was
given (the wrapper reads no clock); frames held back (delay, reorder, rate) come out of `poll(now)`.
Everything runs on the caller's line: frames come in through the inner link's `drain`, and held ones go
on from `poll`, so the packet driver's two upcalls are never interleaved across threads.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass

from ..clock import TICK_HZ
from .base import Deliver, Link, LinkWrapper


@dataclass(frozen=True)
class Faults:
    drop: float = 0.0
    """Probability that a frame is lost."""
    dup: float = 0.0
    """Probability that a frame arrives twice."""
    reorder: float = 0.0
    """Probability that a frame is held back and let out after the next one (or after a tick)."""
    corrupt: float = 0.0
    """Probability that one bit of a frame is flipped."""
    delay: int = 0
    """Ticks every frame is held before it goes on."""
    rate: int = 0
    """Bytes per second the direction carries (0: unlimited); beyond a queue of `queue` frames, drops."""
    queue: int = 64
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("drop", "dup", "reorder", "corrupt"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}={value}: a probability is between 0 and 1")
        for name in ("delay", "rate", "queue"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")

    @property
    def active(self) -> bool:
        return any((self.drop, self.dup, self.reorder, self.corrupt, self.delay, self.rate))


@dataclass
class FaultCounters:
    passed: int = 0
    dropped: int = 0
    duplicated: int = 0
    reordered: int = 0
    corrupted: int = 0
    delayed: int = 0
    rate_dropped: int = 0


class _Direction:
    """The faults of one direction: frames go in with `push`, come out through `out`."""

    def __init__(self, faults: Faults, seed: int, out: Callable[[bytes], None], now: int = 0) -> None:
        self.faults = faults
        self.rng = random.Random(seed)
        self.now = now
        """The last tick `poll` was given."""
        self.out = out
        self.counters = FaultCounters()
        self.held: list[tuple[int, int, bytes]] = []  # (due tick, order, frame): a heap
        self.order = 0
        self.reorder_slot: tuple[int, bytes] | None = None  # (due tick, frame) waiting for a successor
        self.rate_budget = 0.0
        self.rate_tick = now
        self.rate_queue: list[bytes] = []

    def push(self, frame: bytes) -> None:
        f, rng, c = self.faults, self.rng, self.counters
        ready: list[bytes] = []
        # one line of control: no lock (see the module's docstring)
        if f.drop and rng.random() < f.drop:
            c.dropped += 1
            return
        copies = 1
        if f.dup and rng.random() < f.dup:
            c.duplicated += 1
            copies = 2
        if f.corrupt and rng.random() < f.corrupt and frame:
            c.corrupted += 1
            flipped = bytearray(frame)
            bit = rng.randrange(len(flipped) * 8)
            flipped[bit >> 3] ^= 1 << (bit & 7)
            frame = bytes(flipped)
        now = self.now
        for _ in range(copies):
            if f.reorder and self.reorder_slot is None and rng.random() < f.reorder:
                c.reordered += 1
                self.reorder_slot = (now + 1, frame)  # wait a tick for a successor; delay comes after
                continue
            self._schedule(now, frame, ready)
            if self.reorder_slot is not None:
                self._schedule(now, self.reorder_slot[1], ready)
                self.reorder_slot = None
        for item in ready:
            self.out(item)

    def _schedule(self, now: int, frame: bytes, ready: list[bytes]) -> None:
        if self.faults.delay:
            self.counters.delayed += 1
            heapq.heappush(self.held, (now + self.faults.delay, self.order, frame))
            self.order += 1
        else:
            self._rate_out(now, frame, ready)

    def _rate_out(self, now: int, frame: bytes, ready: list[bytes]) -> None:
        f = self.faults
        if not f.rate:
            self.counters.passed += 1
            ready.append(frame)
            return
        if len(self.rate_queue) >= f.queue:
            self.counters.rate_dropped += 1
            return
        self.rate_queue.append(frame)
        self._drain_rate(now, ready)

    def _drain_rate(self, now: int, ready: list[bytes]) -> None:
        rate = self.faults.rate
        if now > self.rate_tick:
            # At most one second of credit builds up while the line is idle.
            self.rate_budget = min(self.rate_budget + (now - self.rate_tick) * rate / TICK_HZ, float(rate))
            self.rate_tick = now
        while self.rate_queue and self.rate_budget > 0:  # a frame may overdraw; the line then rests
            frame = self.rate_queue.pop(0)
            self.rate_budget -= len(frame)
            self.counters.passed += 1
            ready.append(frame)

    def poll(self, now: int) -> None:
        ready: list[bytes] = []
        self.now = max(self.now, now)
        if self.reorder_slot is not None and self.reorder_slot[0] <= now:
            self._schedule(now, self.reorder_slot[1], ready)
            self.reorder_slot = None
        while self.held and self.held[0][0] <= now:
            _, _, frame = heapq.heappop(self.held)
            self._rate_out(now, frame, ready)
        if self.rate_queue:
            self._drain_rate(now, ready)
        for item in ready:
            self.out(item)

    def next_deadline(self) -> int | None:
        candidates = []
        if self.reorder_slot is not None:
            candidates.append(self.reorder_slot[0])
        if self.held:
            candidates.append(self.held[0][0])
        if self.rate_queue:
            candidates.append(self.rate_tick + 1)
        return min(candidates) if candidates else None


class FaultLink(LinkWrapper):
    """Applies `faults` to frames going out and coming in."""

    def __init__(self, inner: Link, faults: Faults) -> None:
        super().__init__(inner)
        self.faults = faults
        self.tx = _Direction(faults, faults.seed * 2 + 1, inner.send)
        self.rx: _Direction | None = None

    def open(self, deliver: Deliver) -> None:
        self.rx = _Direction(self.faults, self.faults.seed * 2 + 2, deliver, self.tx.now)
        self.inner.open(self.rx.push)

    def send(self, frame: bytes | bytearray | memoryview) -> None:
        self.tx.push(bytes(frame))

    def poll(self, now: int) -> None:
        self.tx.poll(now)
        if self.rx is not None:
            self.rx.poll(now)
        self.inner.poll(now)

    def next_deadline(self) -> int | None:
        rx = self.rx.next_deadline() if self.rx is not None else None
        deadlines = [d for d in (self.tx.next_deadline(), rx, self.inner.next_deadline()) if d is not None]
        return min(deadlines) if deadlines else None
