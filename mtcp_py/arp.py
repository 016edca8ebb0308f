"""ARP: a bounded cache with expiry, requests with retries, a queue of datagrams waiting for an answer,
replies, and a gratuitous announcement at start. Given `now` in ticks; never reads a clock."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from .wire import ethernet
from .wire.arp import OP_REPLY, OP_REQUEST, PACKET_LEN, ArpRepr
from .wire.ethernet import BROADCAST, EthernetRepr

STATIC = 1 << 62
"""The expiry tick of an entry that never expires."""
SendFrame = Callable[[bytes | bytearray | memoryview], bool]
ResolveFailed = Callable[[int, int], None]
"""Called with (address, now) when a request ran out of retries: the layer above reports it."""


@dataclass(frozen=True)
class ArpConfig:
    cache_size: int = 32
    entry_ticks: int = 5460
    """How long an answer stays good (about 5 minutes)."""
    retry_ticks: int = 9
    """Ticks between requests for one address (about half a second)."""
    retries: int = 4
    """Requests sent before giving up on an address."""
    pending_per_address: int = 8
    pending_addresses: int = 8
    failed_ticks: int = 36
    """After a failure, datagrams for that address fail at once for this long (about 2 s)."""


@dataclass
class ArpCounters:
    requests_received: int = 0
    replies_received: int = 0
    requests_sent: int = 0
    replies_sent: int = 0
    announcements_sent: int = 0
    cache_hits: int = 0
    cache_misses: int = 0
    cache_evictions: int = 0
    resolve_failures: int = 0
    pending_dropped: int = 0
    """Datagrams dropped because the wait queue was full or the address did not answer."""
    not_for_us: int = 0


@dataclass
class _Pending:
    tries: int
    next_try: int
    datagrams: list[tuple[int, bytes]] = field(default_factory=list)
    """(ethertype, payload) waiting for the address."""


class ArpLayer:
    def __init__(self, mac: bytes, address: int, send_frame: SendFrame, config: ArpConfig | None = None,
                 on_failure: ResolveFailed | None = None) -> None:
        self.mac = mac
        self.address = address
        self.send_frame = send_frame
        self.config = config or ArpConfig()
        self.on_failure = on_failure
        self.counters = ArpCounters()
        self.cache: OrderedDict[int, tuple[bytes, int]] = OrderedDict()
        self.pending: dict[int, _Pending] = {}
        self.failed: dict[int, int] = {}
        """Addresses that did not answer, with the tick until which that stands."""
        self.also_answer: set[int] = set()
        """More addresses answered with our MAC (a gateway's extra addresses: mtcp-nat's DNS at 10.0.2.3)."""
        self._frame = bytearray(ethernet.HEADER_LEN + PACKET_LEN)

    # -- cache -------------------------------------------------------------------------------------------

    def lookup(self, address: int, now: int) -> bytes | None:
        entry = self.cache.get(address)
        if entry is None:
            return None
        mac, expires = entry
        if expires <= now:
            del self.cache[address]
            return None
        return mac

    def learn(self, address: int, mac: bytes, now: int) -> None:
        cache = self.cache
        if address in cache:
            if cache[address][1] == STATIC:
                return  # a static entry (the SLIP gateway) is never replaced by what the wire says
            cache.move_to_end(address)
        elif len(cache) >= self.config.cache_size:
            cache.popitem(last=False)
            self.counters.cache_evictions += 1
        cache[address] = (mac, now + self.config.entry_ticks)
        self.failed.pop(address, None)
        pending = self.pending.pop(address, None)
        if pending:
            for kind, payload in pending.datagrams:
                self._send_ethernet(mac, kind, payload)

    def add_static(self, address: int, mac: bytes) -> None:
        """An entry that never expires (mTCP puts the SLIP gateway at the broadcast MAC this way)."""
        self.cache[address] = (mac, STATIC)

    # -- sending -----------------------------------------------------------------------------------------

    def _send_ethernet(self, mac: bytes, kind: int, payload: bytes | bytearray | memoryview) -> bool:
        frame = bytearray(ethernet.HEADER_LEN + len(payload))
        EthernetRepr(mac, self.mac, kind).emit(frame)
        frame[ethernet.HEADER_LEN :] = payload
        return self.send_frame(frame)

    def _send_arp(self, operation: int, dst_mac: bytes, target_mac: bytes, target_ip: int,
                  sender_ip: int | None = None) -> bool:
        frame = self._frame
        EthernetRepr(dst_mac, self.mac, ethernet.TYPE_ARP).emit(frame)
        ArpRepr(operation, self.mac, self.address if sender_ip is None else sender_ip, target_mac,
                target_ip).emit(frame, ethernet.HEADER_LEN)
        return self.send_frame(frame)

    def resolve(self, address: int, now: int) -> bytes | None:
        """The MAC for `address` if known; otherwise start (or continue) asking and return None."""
        mac = self.lookup(address, now)
        if mac is not None:
            self.counters.cache_hits += 1
            return mac
        self.counters.cache_misses += 1
        if address not in self.pending:
            if len(self.pending) >= self.config.pending_addresses:
                return None
            self.pending[address] = _Pending(tries=1, next_try=now + self.config.retry_ticks)
            self.counters.requests_sent += 1
            self._send_arp(OP_REQUEST, BROADCAST, bytes(6), address)
        return None

    def has_failed(self, address: int, now: int) -> bool:
        until = self.failed.get(address)
        if until is None:
            return False
        if until <= now:
            del self.failed[address]
            return False
        return True

    def queue(self, address: int, kind: int, payload: bytes, now: int) -> bool:
        """Hold a datagram until `address` answers; False (and counted) when it cannot be held."""
        if address not in self.pending:  # the caller has usually just asked: one lookup, one miss
            self.resolve(address, now)
        pending = self.pending.get(address)
        if pending is None or len(pending.datagrams) >= self.config.pending_per_address:
            self.counters.pending_dropped += 1
            return False
        pending.datagrams.append((kind, payload))
        return True

    def announce(self) -> None:
        """A gratuitous ARP request for our own address, so neighbours update their caches."""
        self.counters.announcements_sent += 1
        self._send_arp(OP_REQUEST, BROADCAST, bytes(6), self.address)

    # -- receiving ---------------------------------------------------------------------------------------

    def on_packet(self, data: memoryview, now: int) -> None:
        packet = ArpRepr.parse(data)
        if packet.operation == OP_REQUEST:
            self.counters.requests_received += 1
        else:
            self.counters.replies_received += 1
        if packet.sender_ip == 0:
            return  # an address probe (RFC 5227): nothing to learn
        if packet.target_ip in self.also_answer and packet.sender_ip != packet.target_ip:
            self.learn(packet.sender_ip, packet.sender_mac, now)
            if packet.operation == OP_REQUEST:
                self.counters.replies_sent += 1
                self._send_arp(OP_REPLY, packet.sender_mac, packet.sender_mac, packet.sender_ip, packet.target_ip)
            return
        if packet.target_ip != self.address or not self.address:
            # RFC 826: update an entry we already have, but do not add one for others' conversations.
            if packet.sender_ip in self.cache and packet.sender_ip != self.address:
                self.learn(packet.sender_ip, packet.sender_mac, now)
            self.counters.not_for_us += 1
            return
        self.learn(packet.sender_ip, packet.sender_mac, now)
        if packet.operation == OP_REQUEST:
            self.counters.replies_sent += 1
            self._send_arp(OP_REPLY, packet.sender_mac, packet.sender_mac, packet.sender_ip)

    # -- timers ------------------------------------------------------------------------------------------

    def drive(self, now: int) -> None:
        """Resend requests that are due; give up on addresses that ran out of tries."""
        if not self.pending:
            return
        for address, pending in list(self.pending.items()):
            if pending.next_try > now:
                continue
            if pending.tries >= self.config.retries:
                del self.pending[address]
                self.counters.resolve_failures += 1
                self.counters.pending_dropped += len(pending.datagrams)
                self.failed[address] = now + self.config.failed_ticks
                if self.on_failure is not None:
                    self.on_failure(address, now)
                continue
            pending.tries += 1
            pending.next_try = now + self.config.retry_ticks
            self.counters.requests_sent += 1
            self._send_arp(OP_REQUEST, BROADCAST, bytes(6), address)

    def next_deadline(self) -> int | None:
        if not self.pending:
            return None
        return min(p.next_try for p in self.pending.values())
