"""The bridge between the Python packet driver and the program's receiver, which is guest code.

Frames arrive when the machine drains the link between CPU slices, through the Python receiver
registered with `PacketDriver.access_type`. They wait in a bounded queue; between CPU slices, while IF
is set, the machine raises the NIC interrupt, whose ROM routine asks this bridge for each frame
(`begin`), calls the guest's receiver with AX=0, hands ES:DI back here (`copy`), and calls the receiver
again with AX=1.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from ..driver import PacketDriver, Receiver

QUEUE_LIMIT = 128
FRAMES_PER_INTERRUPT = 16
"""Frames handed over in one NIC interrupt before the program gets the CPU back."""


@dataclass(frozen=True)
class QueuedFrame:
    handle: int
    frame: bytes
    receiver_segment: int
    receiver_offset: int


class NicBridge:
    def __init__(self, driver: PacketDriver, limit: int = QUEUE_LIMIT) -> None:
        self.driver = driver
        self.limit = limit
        self._queue: deque[QueuedFrame] = deque()
        self.current: QueuedFrame | None = None
        self.in_interrupt = False
        self.delivered_this_interrupt = 0
        self.delivered = 0
        self.refused = 0

    def make_receiver(self, segment: int, offset: int) -> Receiver:
        """The Python receiver standing for the guest's far receiver at segment:offset."""

        def receive(handle: int, flag: int, argument: Any) -> Any:
            if flag == 0:
                return None if len(self._queue) >= self.limit else bytearray(argument)
            self._queue.append(QueuedFrame(handle, bytes(argument), segment, offset))
            return None

        return receive

    def pending(self) -> bool:
        return bool(self._queue)

    def next_frame(self) -> QueuedFrame | None:
        """The next frame for a handle that is still open (frames for released handles are dropped)."""
        if self.delivered_this_interrupt >= FRAMES_PER_INTERRUPT:
            return None
        while True:
            if not self._queue:
                return None
            item = self._queue.popleft()
            if item.handle in self.driver.handles:
                self.delivered_this_interrupt += 1
                self.current = item
                return item

    def refused_current(self) -> None:
        """The receiver answered 0:0: the frame is dropped and counted lost, not received."""
        item = self.current
        self.current = None
        if item is None:
            return
        self.refused += 1
        stats = self.driver.stats
        stats.packets_in -= 1
        stats.bytes_in -= len(item.frame)
        stats.packets_lost += 1
        stats.dropped_refused += 1

    def clear(self) -> None:
        self._queue.clear()
