"""A learning Ethernet switch between links (IEEE 802.1D's forwarding without spanning tree).

Each port is a link. A frame that comes in teaches the table where its source MAC lives; it goes out of
the port its destination was learned on, or, for a broadcast, a multicast or a destination not yet
learned, out of every other port (flooding). A frame whose destination lives on the port it came in by
is filtered. Entries age out after `ageing` seconds without a frame from that address (300 s, as Linux's
bridge and 802.1D), and the table is bounded (the oldest entry goes first).

Nothing here waits or reads a clock: the edge drains the ports and hands each frame in with `now` in
seconds. Frames stay bounded even in a loop of bridges (no spanning tree here): every port drains at most
a budget per turn and every link's queue is bounded, so a storm costs CPU and drops, never memory.
SLIP and other point-to-point links show the bridge their Ethernet view, so they are ports like any other.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from .links import Link, LinkError

ETH_HEADER = 14
AGEING_SECONDS = 300.0
TABLE_SIZE = 4096
DRAIN_BUDGET = 64
"""Frames one port hands in per turn, so every port gets its turn and a storm cannot starve the loop."""

FrameTap = Callable[[float, bytes], None]
"""Sees every frame that comes into the switch (a pcap writer), with `now`."""


@dataclass
class PortCounters:
    rx_frames: int = 0
    rx_bytes: int = 0
    tx_frames: int = 0
    tx_bytes: int = 0
    flooded: int = 0
    """Frames that came in here and went out of every other port."""
    filtered: int = 0
    """Frames that came in here for a station on this same port: not forwarded."""
    runts: int = 0
    """Frames shorter than an Ethernet header, or with a multicast source: dropped."""
    too_big: int = 0
    """Frames too large for this port's MTU: not sent out of it."""
    tx_errors: int = 0


@dataclass
class BridgePort:
    index: int
    link: Link
    counters: PortCounters = field(default_factory=PortCounters)
    failed: str = ""
    """Why the link stopped working (a device that went away); the bridge carries on without it."""


@dataclass
class MacEntry:
    port: int
    seen: float


class Bridge:
    def __init__(self, ageing: float = AGEING_SECONDS, table_size: int = TABLE_SIZE,
                 tap: FrameTap | None = None) -> None:
        self.ageing = ageing
        self.table_size = table_size
        self.tap = tap
        self.ports: list[BridgePort] = []
        self.table: OrderedDict[bytes, MacEntry] = OrderedDict()
        """MAC -> where it was last seen; in order of last sighting, oldest first."""
        self.learned = 0
        self.moved = 0
        """Stations seen on a new port (a host moved, or a loop)."""
        self.aged = 0
        self.evicted = 0
        self.now = 0.0

    def add_port(self, link: Link) -> BridgePort:
        port = BridgePort(len(self.ports), link)
        self.ports.append(port)
        link.open(self._receiver(port))
        return port

    def _receiver(self, port: BridgePort) -> Callable[[bytes], None]:
        def receive(frame: bytes) -> None:
            self.ingress(port, frame, self.now)

        return receive

    # -- the forwarding decision ---------------------------------------------------------------------------

    def ingress(self, port: BridgePort, frame: bytes, now: float) -> None:
        counters = port.counters
        counters.rx_frames += 1
        counters.rx_bytes += len(frame)
        if len(frame) < ETH_HEADER or frame[6] & 1:
            counters.runts += 1
            return
        if self.tap is not None:
            self.tap(now, frame)
        self._learn(frame[6:12], port.index, now)
        dst = frame[0:6]
        if not dst[0] & 1:
            entry = self.table.get(dst)
            if entry is not None and now - entry.seen <= self.ageing:
                if entry.port == port.index:
                    counters.filtered += 1
                else:
                    self._send(self.ports[entry.port], frame)
                return
        counters.flooded += 1
        for other in self.ports:
            if other is not port:
                self._send(other, frame)

    def _learn(self, mac: bytes, port: int, now: float) -> None:
        entry = self.table.get(mac)
        if entry is None:
            if len(self.table) >= self.table_size:
                self.table.popitem(last=False)
                self.evicted += 1
            self.table[mac] = MacEntry(port, now)
            self.learned += 1
            return
        if entry.port != port:
            self.moved += 1
            entry.port = port
        entry.seen = now
        self.table.move_to_end(mac)

    def _send(self, port: BridgePort, frame: bytes) -> None:
        if port.failed:
            return
        if len(frame) > port.link.mtu + ETH_HEADER:
            port.counters.too_big += 1
            return
        try:
            port.link.send(frame)
        except LinkError:
            port.counters.tx_errors += 1
            return
        port.counters.tx_frames += 1
        port.counters.tx_bytes += len(frame)

    # -- the edge's turn -----------------------------------------------------------------------------------

    def turn(self, now: float, tick: int) -> int:
        """Drain every port once (up to its budget), given the time; returns how many frames came in."""
        self.now = now
        moved = 0
        for port in self.ports:
            if port.failed:
                continue
            try:
                port.link.poll(tick)
                moved += port.link.drain(DRAIN_BUDGET)
            except LinkError as exc:
                port.failed = str(exc)
        self.expire(now)
        return moved

    def expire(self, now: float) -> None:
        """Forget stations silent for longer than the ageing time (the table is in order of last sighting)."""
        table = self.table
        while table:
            mac, entry = next(iter(table.items()))
            if now - entry.seen <= self.ageing:
                break
            del table[mac]
            self.aged += 1

    def next_expiry(self) -> float | None:
        """When the oldest entry ages out (seconds), or None with an empty table."""
        if not self.table:
            return None
        return next(iter(self.table.values())).seen + self.ageing

    def fds(self) -> list[int]:
        return [fd for port in self.ports if not port.failed and (fd := port.link.fileno()) is not None]

    def link_deadline(self) -> int | None:
        """The earliest tick a port's wrapper (delay, rate) has frames to release."""
        deadlines = [d for port in self.ports if (d := port.link.next_deadline()) is not None]
        return min(deadlines) if deadlines else None

    def close(self) -> None:
        for port in self.ports:
            try:
                port.link.close()
            except LinkError:
                pass
