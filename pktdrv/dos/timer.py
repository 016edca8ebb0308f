"""Time on the DOS machine: two clocks, the 8253 PIT (ports 40h-43h) and the 8259 PIC (ports 20h/21h).

`RealTime` follows the host's monotonic clock. `InstructionTime` advances only with the instructions the
CPU runs, and jumps forward when the machine is idle, so a run on the in-memory hub repeats bit for bit.
Both answer the `pktdrv.Clock` protocol, so a pcap written by a link carries the machine's time.
"""

from __future__ import annotations

import time

from ..clock import PIT_HZ, TICK_HZ, VirtualClock

DEFAULT_DIVISOR = 0x10000
BACKLOG_LIMIT = 256
"""Timer interrupts owed to the guest are capped: a host that stalled does not replay seconds of ticks."""


class RealTime:
    """Host time since the machine started."""

    virtual = False

    def __init__(self) -> None:
        self._start = time.monotonic()

    def seconds(self) -> float:
        return time.monotonic() - self._start

    def now(self) -> int:
        return int(self.seconds() * TICK_HZ)


class InstructionTime(VirtualClock):
    """Time as instructions run at `rate` per second; `jump_to` moves it forward over idle waits."""

    virtual = True

    def __init__(self, rate: float) -> None:
        super().__init__(0)
        self.rate = rate
        self._seconds = 0.0

    def seconds(self) -> float:
        return self._seconds

    def now(self) -> int:
        return int(self._seconds * TICK_HZ)

    def run(self, instructions: int) -> None:
        self._seconds += instructions / self.rate

    def jump_to(self, seconds: float) -> None:
        self._seconds = max(self._seconds, seconds)

    def instructions_until(self, seconds: float) -> int:
        return max(1, int((seconds - self._seconds) * self.rate + 0.999999))


MachineClock = RealTime | InstructionTime


class Pit:
    """Channel 0 of the 8253/8254: its divisor decides how often IRQ0 fires."""

    def __init__(self, clock: MachineClock) -> None:
        self.clock = clock
        self.divisor = DEFAULT_DIVISOR
        self.next_fire = clock.seconds() + self.period
        self.owed = 0
        """IRQ0s that came due and have not been delivered yet."""
        self._access = 3  # lobyte then hibyte
        self._low_written: int | None = None
        self._latched: int | None = None
        self._read_high = False

    @property
    def period(self) -> float:
        return self.divisor / PIT_HZ

    def update(self) -> None:
        now = self.clock.seconds()
        if now < self.next_fire:
            return
        due = int((now - self.next_fire) / self.period) + 1
        self.owed = min(self.owed + due, BACKLOG_LIMIT)
        self.next_fire += due * self.period

    def _set_divisor(self, value: int) -> None:
        self.divisor = value or DEFAULT_DIVISOR
        # The new count takes effect now; the next IRQ0 comes one new period later.
        self.next_fire = self.clock.seconds() + self.period

    def count(self) -> int:
        """The value the counter shows now (counting down from the divisor)."""
        remaining = (self.next_fire - self.clock.seconds()) * PIT_HZ
        return max(0, min(self.divisor - 1, int(remaining))) & 0xFFFF

    def write_control(self, value: int) -> None:
        channel = value >> 6
        if channel != 0:
            return  # channels 1 (DRAM refresh) and 2 (speaker) drive nothing here
        access = (value >> 4) & 3
        if access == 0:
            self._latched = self.count()
            self._read_high = False
            return
        self._access = access
        self._low_written = None
        self._read_high = False

    def write_data(self, value: int) -> None:
        if self._access == 1:
            self._set_divisor(value)
        elif self._access == 2:
            self._set_divisor(value << 8)
        elif self._low_written is None:
            self._low_written = value
        else:
            self._set_divisor(self._low_written | (value << 8))
            self._low_written = None

    def read_data(self) -> int:
        value = self._latched if self._latched is not None else self.count()
        if self._access == 1:
            self._latched = None
            return value & 0xFF
        if self._access == 2:
            self._latched = None
            return value >> 8
        if not self._read_high:
            self._read_high = True
            return value & 0xFF
        self._read_high = False
        self._latched = None
        return value >> 8


class Pic:
    """The master 8259: a mask (port 21h), in-service bits cleared by EOI (20h to port 20h)."""

    def __init__(self) -> None:
        self.mask = 0xB8  # as a PC BIOS leaves it: timer, keyboard, cascade, serial and floppy enabled
        self.in_service = 0
        self._read_isr = False
        self._init_words = 0

    def write_command(self, value: int) -> None:
        if value & 0x10:  # ICW1: the program re-initialises the PIC; ICW2-4 follow on port 21h
            self._init_words = 3 if value & 1 else 2
            self.in_service = 0
            return
        if value & 0x08:  # OCW3
            if value & 0x02:
                self._read_isr = bool(value & 1)
            return
        if value & 0x20:  # EOI
            if value & 0x40:  # specific
                self.in_service &= ~(1 << (value & 7))
            elif self.in_service:
                lowest = self.in_service & -self.in_service  # highest priority in service
                self.in_service &= ~lowest

    def write_mask(self, value: int) -> None:
        if self._init_words:
            self._init_words -= 1
            return
        self.mask = value & 0xFF

    def read_command(self) -> int:
        return self.in_service if self._read_isr else 0

    def can_take(self, irq: int) -> bool:
        """Whether IRQ `irq` may be raised now: unmasked, and nothing of its priority or higher in service."""
        if self.mask & (1 << irq):
            return False
        higher_or_same = (1 << (irq + 1)) - 1
        return not self.in_service & higher_or_same

    def begin(self, irq: int) -> None:
        self.in_service |= 1 << irq
