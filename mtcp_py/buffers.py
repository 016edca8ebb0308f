"""mTCP's receive buffers: a fixed pool, its free list a stack, and a ring of filled buffers.

The packet driver's two upcalls are the pool's two halves: the first pops a free buffer (or refuses, and
the driver drops and counts the frame), the second puts the filled buffer on the ring. The stack takes
frames off the ring one at a time, in arrival order, and returns each buffer as soon as a protocol has
copied what it needs. Both halves run on the program's one line (the link is drained there, as mTCP's
packet driver interrupt runs between the main loop's turns), so nothing is locked, and the one buffer
lent between the two upcalls can never be taken by another frame.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Protocol


class ChecksumSource(Protocol):
    """The packet driver, during its second upcall: whether the link vouched for the frame's checksum."""

    rx_checksum_ok: bool


@dataclass
class PoolCounters:
    frames_received: int = 0
    dropped_pool_empty: int = 0
    dropped_too_long: int = 0
    dropped_not_receiving: int = 0
    low_free: int = 0
    """The fewest free buffers seen (mTCP's Buffer_lowFreeCount)."""


class PacketPool:
    """`count` buffers of `size` bytes, handed to the driver through `receiver`."""

    def __init__(self, count: int = 40, size: int = 1514) -> None:
        if count < 1 or size < 60:
            raise ValueError("a pool needs at least one buffer of at least 60 bytes")
        self.count = count
        self.size = size
        self.buffers = [bytearray(size) for _ in range(count)]
        self.views = [memoryview(b) for b in self.buffers]
        self._free: list[int] = list(range(count - 1, -1, -1))
        self._ring: deque[tuple[int, int]] = deque()
        self._lending = -1
        self._lending_len = 0
        self.receiving = False
        self.counters = PoolCounters(low_free=count)
        self.checksum_ok = bytearray(count)
        """Per buffer: the link vouched for its frame's TCP/UDP checksum (checksum offload)."""
        self.checksum_source: ChecksumSource | None = None
        """Set when the link offloads checksums: read at each frame's second upcall."""

    # -- gate (mTCP's Buffer_startReceiving / Buffer_stopReceiving) ---------------------------------------

    def start_receiving(self) -> None:
        self.receiving = True

    def stop_receiving(self) -> None:
        self.receiving = False

    # -- the driver's side: the two upcalls ---------------------------------------------------------------

    def receiver(self, handle: int, flag: int, arg: object) -> memoryview | None:
        """The packet driver upcall: (handle, 0, length) -> buffer or None; (handle, 1, buffer)."""
        if flag == 0:
            length = arg if isinstance(arg, int) else 0
            if not self.receiving:
                self.counters.dropped_not_receiving += 1
                return None
            if length > self.size:
                self.counters.dropped_too_long += 1
                return None
            if not self._free:
                self.counters.dropped_pool_empty += 1
                return None
            index = self._free.pop()
            free = len(self._free)
            if free < self.counters.low_free:
                self.counters.low_free = free
            self._lending = index
            self._lending_len = length
            return self.views[index]
        index = self._lending
        if index >= 0:
            self._lending = -1
            source = self.checksum_source
            if source is not None:
                self.checksum_ok[index] = source.rx_checksum_ok
            self._ring.append((index, self._lending_len))
            self.counters.frames_received += 1
        return None

    # -- the stack's side ------------------------------------------------------------------------------------

    def take(self) -> tuple[int, int] | None:
        """The oldest filled buffer as (index, length), or None when the ring is empty."""
        try:
            return self._ring.popleft()
        except IndexError:
            return None

    def release(self, index: int) -> None:
        """Give a buffer back; it is the next one the driver gets (most recently freed first)."""
        self._free.append(index)

    @property
    def pending(self) -> int:
        return len(self._ring)

    @property
    def free(self) -> int:
        return len(self._free)

    def drain(self) -> None:
        """Return every buffer on the ring unprocessed (at shutdown)."""
        while (item := self.take()) is not None:
            self.release(item[0])
