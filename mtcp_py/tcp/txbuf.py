"""The transmit side's memory, as in mTCP: a pool of pre-allocated buffers owned by TCP.

Each buffer has room for the Ethernet, IP and TCP headers in front of the data, so a segment goes out from
where the application's bytes were first copied (or written directly, through the zero-copy API) without
another copy. A socket keeps buffers on two rings: `outgoing` (queued, not yet sent) and `sent` (waiting
for an acknowledgement); when the peer acknowledges a buffer's last byte it goes back to the pool.
"""

from __future__ import annotations

from ..ip import FRAME_HEADERS
from ..wire.tcp import HEADER_LEN

DATA_OFFSET = FRAME_HEADERS + HEADER_LEN
"""Where data starts in a buffer: segments built from buffers carry no TCP options."""


class TxBuffer:
    """One segment's worth of room. `data` is where the payload goes; `length` how much of it is used."""

    __slots__ = ("frame", "view", "data", "capacity", "length", "seq", "sent_count", "owner", "sacked", "lost",
                 "rexmit", "xmit_order")

    def __init__(self, capacity: int) -> None:
        self.frame = bytearray(DATA_OFFSET + capacity)
        self.view = memoryview(self.frame)
        """The whole frame, for the send path to slice without making a view per segment."""
        self.data = self.view[DATA_OFFSET:]
        self.capacity = capacity
        self.length = 0
        self.seq = 0
        """Sequence number of the first byte, set when the buffer is first sent."""
        self.sent_count = 0
        self.owner: object | None = None
        # The loss-recovery scoreboard (RFC 6675), meaningful while the buffer is on the `sent` ring.
        self.sacked = False
        """The peer reported this segment received (SACK)."""
        self.lost = False
        """Deemed lost: to be sent again when the congestion window allows."""
        self.rexmit = False
        """Sent again since it was deemed lost."""
        self.xmit_order = 0
        """When it was last sent, counted in transmissions on its connection (for lost-retransmit detection)."""

    @property
    def room(self) -> int:
        return self.capacity - self.length

    def append(self, data: bytes | bytearray | memoryview, start: int = 0) -> int:
        """Copy as much of data[start:] as fits; returns how many bytes were taken."""
        length = self.length
        take = self.capacity - length
        left = len(data) - start
        if left < take:  # min() and max() as comparisons: this runs for every segment's worth sent
            take = left
        if take <= 0:
            return 0
        self.data[length : length + take] = data[start : start + take]
        self.length = length + take
        return take

    def reset(self) -> None:
        self.capacity = len(self.data)
        self.length = 0
        self.seq = 0
        self.sent_count = 0
        self.owner = None
        self.sacked = self.lost = self.rexmit = False


class TxPool:
    """`count` buffers of `capacity` data bytes each, allocated once; a free stack (most recent first)."""

    def __init__(self, count: int, capacity: int) -> None:
        if count < 1 or capacity < 1:
            raise ValueError("a transmit pool needs at least one buffer with room for data")
        self.capacity = capacity
        self.count = count
        self.buffers = [TxBuffer(capacity) for _ in range(count)]
        self._free = list(reversed(self.buffers))
        self.low_free = count

    @property
    def free(self) -> int:
        return len(self._free)

    def alloc(self, owner: object | None = None) -> TxBuffer | None:
        if not self._free:
            return None
        buf = self._free.pop()
        buf.owner = owner
        free = len(self._free)
        if free < self.low_free:
            self.low_free = free
        return buf

    def release(self, buf: TxBuffer) -> None:
        if buf.owner is _FREE:
            raise ValueError("transmit buffer freed twice")
        buf.reset()
        buf.owner = _FREE
        self._free.append(buf)


_FREE = object()
"""Marks a buffer that is on the free stack, so a double free is caught rather than corrupting the pool."""
