"""Bytes let out at a line's rate, by the tick the caller gives: never a sleep on the main line.

A serial line at N baud carries N/10 bytes a second (a start bit, eight data bits, a stop bit); a DOSBox
guest's UART takes them no faster, and bytes sent faster only pile up in the socket in front of it. A
`LinePacer` holds what the link wants to send and lets out, at each `release(now)`, what the line could
have carried since the last one, as the fault injector's `rate` does with frames. `next_deadline()` is the
tick at which more may go, so the program's loop wakes for it.

`PacedLink` does the same for whole frames on any link (`rate=10mbit`, `baud=N`): a frame holds the wire
for its bits at the line's speed (with Ethernet's preamble, FCS and interframe gap at an Ethernet speed),
and comes out, either way, once it has crossed.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from ..clock import TICK_HZ
from .base import Deliver, Link, LinkWrapper

SERIAL_BITS_PER_BYTE = 10
"""Start bit, eight data bits, stop bit (8N1)."""


def baud_to_bytes_per_second(baud: int) -> float:
    return baud / SERIAL_BITS_PER_BYTE


class LinePacer:
    """A byte queue drained at `bytes_per_second`; holds at most `limit` bytes (beyond: refused)."""

    def __init__(self, bytes_per_second: float, limit: int = 1 << 16) -> None:
        if bytes_per_second <= 0:
            raise ValueError("a line rate is above 0 bytes a second")
        self.bytes_per_second = bytes_per_second
        self.per_tick = bytes_per_second / TICK_HZ
        self.limit = limit
        self.queue = bytearray()
        self.credit = 0.0
        self.tick: int | None = None
        """The tick credit was last counted at; None before the first release."""
        self.refused = 0
        """Pushes refused because the queue was full (whole frames, so nothing half-sent)."""

    @property
    def pending(self) -> int:
        return len(self.queue)

    def push(self, data: bytes | bytearray | memoryview) -> bool:
        """Queue `data` whole, or refuse it whole when the queue would pass its limit."""
        if len(self.queue) + len(data) > self.limit:
            self.refused += 1
            return False
        self.queue += data
        return True

    def release(self, now: int) -> bytes:
        """What the line may carry by tick `now`. Credit builds per tick; an idle line saves at most two
        ticks' worth: enough that a loop waking a tick late loses no line time, too little for a burst the
        line could not have carried (a UART has no room for one)."""
        if self.tick is None:
            self.tick = now
            self.credit = self.per_tick
        elif now > self.tick:
            self.credit = min(self.credit + (now - self.tick) * self.per_tick, max(2 * self.per_tick, 1.0))
            self.tick = now
        if not self.queue:
            return b""
        count = min(len(self.queue), int(self.credit))
        if count <= 0:
            return b""
        self.credit -= count
        out = bytes(self.queue[:count])
        del self.queue[:count]
        return out

    def next_deadline(self) -> int | None:
        if not self.queue:
            return None
        return (self.tick or 0) + 1


@dataclass(frozen=True)
class LineSpeed:
    """A period line speed for any link: how long each frame holds the wire."""

    bits_per_second: float
    overhead_bytes: int = 0
    """Bytes the wire carries with every frame besides the frame itself."""
    min_frame: int = 0
    """Frames shorter than this still take this long (Ethernet pads to 60 bytes)."""
    bits_per_byte: int = 8
    name: str = ""

    def wire_seconds(self, length: int) -> float:
        return (max(length, self.min_frame) + self.overhead_bytes) * self.bits_per_byte / self.bits_per_second


ETHERNET_OVERHEAD = 8 + 4 + 12
"""Preamble and start delimiter (8), FCS (4), interframe gap (12 byte times): what 802.3 puts around a frame."""
SPEED_UNITS = {"kbit": 1_000, "mbit": 1_000_000, "gbit": 1_000_000_000}


def ethernet_speed(text: str) -> LineSpeed:
    """`10mbit` (10BASE-T), `100mbit`, `1gbit`, `512kbit`: Ethernet at that bit rate, with its preamble, FCS
    and interframe gap; ValueError in words."""
    lowered = text.lower()
    for unit, scale in SPEED_UNITS.items():
        if lowered.endswith(unit):
            number = lowered[: -len(unit)]
            if number.isascii() and number.isdecimal() and int(number) > 0:
                return LineSpeed(int(number) * scale, ETHERNET_OVERHEAD, 60, 8, lowered)
    raise ValueError("not a line speed (e.g. 10mbit, 100mbit, 512kbit)")


def serial_speed(baud: int) -> LineSpeed:
    """A serial line at `baud`: ten bits a byte (8N1), nothing around a frame."""
    return LineSpeed(float(baud), 0, 0, SERIAL_BITS_PER_BYTE, f"{baud} baud")


QUEUE_FRAMES = 256
"""Frames a direction holds waiting for the wire; beyond, dropped and counted (a NIC's ring is finite)."""


class _Wire:
    """One direction of a paced link. A frame may start when the wire is free; it then holds the wire for
    its bits. Time is in ticks (55 ms, longer than a frame at Ethernet speeds), so a frame goes as soon as
    its start has come, not when it ends: an idle line adds no delay, a busy one carries only its rate."""

    def __init__(self, speed: LineSpeed, out: Callable[[bytes], None]) -> None:
        self.speed = speed
        self.out = out
        self.queue: deque[tuple[float, bytes]] = deque()
        """(the tick, fractional, at which the frame starts on the wire, the frame)."""
        self.free_at = 0.0
        self.now = 0
        self.dropped = 0

    def push(self, frame: bytes) -> None:
        if len(self.queue) >= QUEUE_FRAMES:
            self.dropped += 1
            return
        start = max(self.free_at, float(self.now))
        self.free_at = start + self.speed.wire_seconds(len(frame)) * TICK_HZ
        self.queue.append((start, frame))
        self.poll(self.now)

    def poll(self, now: int) -> None:
        self.now = max(self.now, now)
        while self.queue and self.queue[0][0] <= self.now:
            self.out(self.queue.popleft()[1])

    def next_deadline(self) -> int | None:
        return math.ceil(self.queue[0][0]) if self.queue else None


class PacedLink(LinkWrapper):
    """`rate=10mbit` or `baud=N` on any link: both directions carried at the line's speed, frames let out by
    `poll(now)` when the wire is theirs; the caller's loop wakes for them by `next_deadline()`."""

    def __init__(self, inner: Link, speed: LineSpeed) -> None:
        super().__init__(inner)
        self.speed = speed
        self.tx = _Wire(speed, inner.send)
        self.rx: _Wire | None = None

    def open(self, deliver: Deliver) -> None:
        self.rx = _Wire(self.speed, deliver)
        self.rx.now = self.tx.now
        self.inner.open(self.rx.push)

    def send(self, frame: bytes | bytearray | memoryview) -> None:
        self.tx.push(bytes(frame))

    def poll(self, now: int) -> None:
        self.inner.poll(now)
        self.tx.poll(now)
        if self.rx is not None:
            self.rx.poll(now)

    def next_deadline(self) -> int | None:
        rx = self.rx.next_deadline() if self.rx is not None else None
        deadlines = [d for d in (self.tx.next_deadline(), rx, self.inner.next_deadline()) if d is not None]
        return min(deadlines) if deadlines else None
