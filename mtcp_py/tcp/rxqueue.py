"""The receive side's memory: a fixed circular byte queue per socket, indexed by byte.

Bytes up to the next expected sequence number are 'ready' for the application. A segment that arrives
early is written straight to its place further along the ring (the window is the free space, so anything
inside the window fits), and its range is remembered; when the hole before it fills, the ready part grows
over it. Nothing is copied twice and nothing beyond the queue's size is ever held.
"""

from __future__ import annotations


class ReceiveQueue:
    def __init__(self, capacity: int, max_ranges: int = 8) -> None:
        if capacity < 1:
            raise ValueError("a receive queue needs room")
        self.capacity = capacity
        self.ring = bytearray(capacity)
        self.view = memoryview(self.ring)
        self.head = 0
        """Ring index of the oldest ready byte."""
        self.ready = 0
        """Bytes the application can read."""
        self.max_ranges = max_ranges
        self.ranges: list[list[int]] = []
        """Early data as [start, end) offsets from the end of the ready bytes, sorted, not touching."""

    @property
    def free(self) -> int:
        """Room beyond the ready bytes: the window this socket advertises."""
        return self.capacity - self.ready

    def _write(self, offset: int, data: bytes | bytearray | memoryview) -> None:
        at = (self.head + self.ready + offset) % self.capacity
        n = len(data)
        first = min(n, self.capacity - at)
        self.view[at : at + first] = data[:first]
        if first < n:
            self.view[: n - first] = data[first:]

    def append(self, data: bytes | bytearray | memoryview) -> None:
        """Store in-order data right after the ready bytes and make it ready: `add(0, data)` for the short
        path, when the caller has checked that it fits and that no early range is held."""
        n = len(data)
        capacity = self.capacity
        at = self.head + self.ready
        if at >= capacity:
            at -= capacity
        end = at + n
        if end <= capacity:
            self.view[at:end] = data
        else:
            first = capacity - at
            self.view[at:] = data[:first]
            self.view[: n - first] = data[first:]
        self.ready += n

    def add(self, offset: int, data: bytes | bytearray | memoryview) -> int | None:
        """Store `data` at `offset` bytes past the ready ones (the caller trimmed it to the window).

        Returns how many bytes became ready, or None when early data had to be refused because too many
        separate ranges are held already.
        """
        n = len(data)
        if offset == 0:
            self._write(0, data)
            if not self.ranges:
                self.ready += n  # in order with no hole behind: the common case, _advance's work in one step
                return n
            return self._advance(n)
        end = offset + n
        ranges = self.ranges
        # Merge with every range it touches or overlaps; refuse a new island when the table is full.
        merged = [offset, end]
        keep: list[list[int]] = []
        for r in ranges:
            if r[1] < merged[0] or r[0] > merged[1]:
                keep.append(r)
            else:
                merged[0] = min(merged[0], r[0])
                merged[1] = max(merged[1], r[1])
        if len(keep) + 1 > self.max_ranges and len(keep) == len(ranges):
            return None
        self._write(offset, data)
        keep.append(merged)
        keep.sort()
        self.ranges = keep
        return 0

    def _advance(self, n: int) -> int:
        """n bytes at the front are now contiguous; absorb early ranges that they reach."""
        grown = n
        while self.ranges and self.ranges[0][0] <= grown:
            grown = max(grown, self.ranges.pop(0)[1])
        self.ready += grown
        for r in self.ranges:
            r[0] -= grown
            r[1] -= grown
        return grown

    def commit_external(self, n: int) -> None:
        """n in-order bytes were consumed straight from the wire (zero-copy receive): shift early ranges."""
        for r in self.ranges:
            r[0] -= n
            r[1] -= n

    def read(self, max_bytes: int) -> bytes:
        n = min(max_bytes, self.ready)
        if n <= 0:
            return b""
        head = self.head
        first = min(n, self.capacity - head)
        view = self.view
        out = bytes(view[head : head + n]) if first == n else bytes(view[head:]) + bytes(view[: n - first])
        self.head = (head + n) % self.capacity
        self.ready -= n
        return out

    def read_into(self, target: bytearray | memoryview) -> int:
        n = min(len(target), self.ready)
        if n <= 0:
            return 0
        head = self.head
        first = min(n, self.capacity - head)
        target[:first] = self.view[head : head + first]
        if first < n:
            target[first:n] = self.view[: n - first]
        self.head = (head + n) % self.capacity
        self.ready -= n
        return n

    def clear(self) -> None:
        self.head = 0
        self.ready = 0
        self.ranges = []
