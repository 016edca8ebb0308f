"""`hub:NAME`: an in-memory Ethernet hub joining stacks in one process (no root, no threads of its own).

A frame sent by one port is queued, in port order, for every other open port, as a device's receive
queue holds it; each port's owner drains its queue on its own line, like a TAP device's. So a burst
larger than the packet driver's pool waits here instead of being dropped, a stack on another thread
(mtcp-dosrun --serve) never runs in the sender's call, and with a virtual clock a run is repeatable frame
for frame. A queue holds at most `QUEUE_FRAMES` (a Linux device's txqueuelen); beyond that frames are
dropped and counted.
"""

from __future__ import annotations

import threading
from collections import deque

from .base import Deliver, Link, LinkError

QUEUE_FRAMES = 1000


class Hub:
    """A shared segment. Ports join with `port()`; MACs are handed out in order, so runs repeat."""

    def __init__(self, name: str, index: int = 0) -> None:
        self.name = name
        self.index = index
        self.ports: list[HubLink] = []
        self.frames = 0
        self._next_mac = 1
        self._lock = threading.Lock()

    def port(self, mac: bytes | None = None, mtu: int = 1500) -> HubLink:
        with self._lock:
            if mac is None:
                mac = bytes([0x02, 0x00, 0x4D, 0x54, self.index & 0xFF, self._next_mac & 0xFF])
                self._next_mac += 1
            link = HubLink(self, mac, mtu)
            self.ports.append(link)
            return link

    def carry(self, sender: HubLink, frame: bytes) -> None:
        self.frames += 1
        for port in list(self.ports):
            if port is not sender and port.deliver is not None:
                port.enqueue(frame)

    def leave(self, port: HubLink) -> None:
        with self._lock:
            if port in self.ports:
                self.ports.remove(port)


class HubRegistry:
    """Hubs by name, so that `hub:lan` in two places of one process means the same segment."""

    def __init__(self) -> None:
        self._hubs: dict[str, Hub] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> Hub:
        with self._lock:
            hub = self._hubs.get(name)
            if hub is None:
                hub = self._hubs[name] = Hub(name, len(self._hubs))
            return hub

    def clear(self) -> None:
        with self._lock:
            self._hubs.clear()


HUBS = HubRegistry()
"""The process's hub namespace (names are process-wide, like device names on a host)."""


class HubLink(Link):
    def __init__(self, hub: Hub, mac: bytes, mtu: int = 1500) -> None:
        self.hub = hub
        self.mac = mac
        self.mtu = mtu
        self.spec = f"hub:{hub.name}"
        self.deliver: Deliver | None = None
        self.closed = False
        self.queue: deque[bytes] = deque()
        self.dropped = 0
        """Frames that found the queue full."""

    def enqueue(self, frame: bytes) -> None:
        if len(self.queue) >= QUEUE_FRAMES:
            self.dropped += 1
            return
        self.queue.append(frame)

    def drain(self, max_frames: int) -> int:
        deliver = self.deliver
        queue = self.queue
        done = 0
        while done < max_frames and queue and deliver is not None:
            deliver(queue.popleft())
            done += 1
        return done

    def next_deadline(self) -> int | None:
        return 0 if self.queue else None  # frames waiting: at once

    def open(self, deliver: Deliver) -> None:
        if self.closed:
            raise LinkError(f"{self.spec}: link is closed")
        self.deliver = deliver

    def send(self, frame: bytes | bytearray | memoryview) -> None:
        if self.closed:
            raise LinkError(f"{self.spec}: link is closed")
        data = bytes(frame)
        if len(data) > self.mtu + 14:
            raise LinkError(f"{self.spec}: frame of {len(data)} bytes exceeds MTU {self.mtu}")
        self.hub.carry(self, data)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.deliver = None
            self.queue.clear()
            self.hub.leave(self)
