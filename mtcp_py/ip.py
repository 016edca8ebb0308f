"""IPv4: check, reassemble and dispatch what comes in; route, fragment and resolve what goes out.

Protocols above register a handler per protocol number. A handler gets the parsed header and a view of
the payload inside the receive buffer: it copies what it needs before it returns, because the buffer goes
back to the pool right after. Given `now` in ticks; never reads a clock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from .arp import ArpLayer, SendFrame
from .checksum import complete_partial
from .reassembly import Reassembler
from .wire import ethernet
from .wire.ethernet import BROADCAST
from .wire.icmp import error_quote
from .wire.ipv4 import FLAG_DF, HEADER_LEN, Ipv4Repr, emit_frame_header

FRAME_HEADERS = ethernet.HEADER_LEN + HEADER_LEN
"""Room a prepared buffer keeps in front of the IP payload: Ethernet plus a 20-byte IP header."""


_NO_MAC = bytes(6)
"""The destination written while ARP is pending: only the IP datagram behind it is queued."""


class SendStatus(Enum):
    SENT = "sent"
    PENDING_ARP = "waiting for ARP"
    """Queued until the next hop answers ARP (or dropped, if the queue is full; counted)."""
    NO_ROUTE = "no route to host"
    HOST_UNREACHABLE = "host unreachable (no ARP reply)"
    TOO_BIG = "datagram too big"
    DRIVER_ERROR = "the packet driver could not send"

    @property
    def ok(self) -> bool:
        return self in (SendStatus.SENT, SendStatus.PENDING_ARP)


@dataclass(frozen=True, slots=True)
class IcmpError:
    """An ICMP error about a datagram we sent: what it says, and the quoted header and payload start."""

    type: int
    code: int
    reporter: int
    original: Ipv4Repr
    original_payload: bytes
    """At least the first 8 bytes of the original payload (ports and, for TCP, the sequence number)."""
    info: int = 0
    """The rest-of-header word (next-hop MTU for 'fragmentation needed')."""


class IpHandler(Protocol):
    def on_datagram(self, header: Ipv4Repr, payload: memoryview, now: int) -> None: ...

    def on_icmp_error(self, error: IcmpError, now: int) -> None: ...


@dataclass(frozen=True)
class IpConfig:
    address: int
    netmask: int
    gateway: int = 0
    mtu: int = 1500
    ttl: int = 64
    reassembly_slots: int = 4
    reassembly_max: int = 65_535
    reassembly_ticks: int = 91
    """About five seconds to collect all fragments of a datagram."""


@dataclass
class IpCounters:
    received: int = 0
    delivered: int = 0
    not_for_us: int = 0
    unknown_protocol: int = 0
    bad_source: int = 0
    sent: int = 0
    fragments_sent: int = 0
    no_route: int = 0
    too_big: int = 0
    arp_pending: int = 0
    arp_failed: int = 0
    driver_errors: int = 0


class IpLayer:
    def __init__(self, config: IpConfig, mac: bytes, arp: ArpLayer, send_frame: SendFrame) -> None:
        self.config = config
        self.address = config.address
        self.netmask = config.netmask
        self.mac = mac
        self._source_and_type = mac + ethernet.TYPE_IPV4.to_bytes(2, "big")
        """The Ethernet header's second half, the same for every IPv4 frame we send."""
        self.arp = arp
        self.send_frame = send_frame
        self.mtu = config.mtu
        self.handlers: dict[int, IpHandler] = {}
        self.counters = IpCounters()
        self.reassembler = Reassembler(config.reassembly_slots, config.reassembly_max,
                                       config.reassembly_ticks)
        self.unreachable_hook: UnreachableHook | None = None
        self.accept_any = False
        """Take datagrams for every address, as a gateway that ends them itself does (mtcp-nat); the
        protocols above see the destination and decide."""
        self._ident = 0
        self._route: tuple[int, int, tuple[bytes, int], int, int, IpConfig] | None = None
        """Of the last prepared datagram (send_prepared): destination, next hop, the ARP cache entry used,
        and the address, netmask and configuration the hop was found with."""
        self._scratch = bytearray(ethernet.HEADER_LEN + config.mtu)
        self.send_partial: Callable[[memoryview, int, int], bool] | None = None
        """Sends a frame whose transport checksum the link fills (checksum offload); None: every checksum is
        ours to compute. Set by the stack when the link offloads."""
        self.rx_checksum_ok = False
        """The link vouched for the transport checksum of the datagram being dispatched (set by the stack
        per frame; never for a reassembled one): TCP and UDP need not verify it."""

    def register(self, protocol: int, handler: IpHandler) -> None:
        self.handlers[protocol] = handler

    def next_ident(self) -> int:
        self._ident = (self._ident + 1) & 0xFFFF
        return self._ident

    # -- addressing ----------------------------------------------------------------------------------

    def is_broadcast(self, address: int) -> bool:
        if address == 0xFFFFFFFF:
            return True
        host_bits = ~self.netmask & 0xFFFFFFFF
        return bool(host_bits) and (address & host_bits) == host_bits and \
            (address & self.netmask) == (self.address & self.netmask)

    def is_bad_source(self, address: int) -> bool:
        """A source no host may have (RFC 1122 3.2.1.3): a broadcast (limited, or our network's directed
        one, which would make our answer a broadcast), loopback 127/8, multicast or the reserved 240/4."""
        top = address >> 24
        return top == 127 or top >= 224 or (address != self.address and self.is_broadcast(address))

    def is_local(self, address: int) -> bool:
        return (address & self.netmask) == (self.address & self.netmask)

    def next_hop(self, dst: int) -> int | None:
        """Where a datagram for `dst` goes first: itself when on our network, else the gateway."""
        if self.is_local(dst) or dst == 0xFFFFFFFF:
            return dst
        return self.config.gateway or None

    # -- receive -----------------------------------------------------------------------------------------

    def on_packet(self, data: memoryview, now: int) -> None:
        header = Ipv4Repr.parse(data)
        c = self.counters
        c.received += 1
        if header.dst != self.address and not self.accept_any and not self.is_broadcast(header.dst) \
                and self.address:
            c.not_for_us += 1
            return
        if self.is_bad_source(header.src):
            c.bad_source += 1
            return
        payload = data[header.header_len : header.header_len + header.payload_len]
        reassembled = header.is_fragment
        if reassembled:
            self.rx_checksum_ok = False  # a device vouches for one frame, not for the datagram joined
            whole = self.reassembler.add(header, payload, now)
            if whole is None:
                return
            first, joined = whole
            header = Ipv4Repr(first.src, first.dst, first.protocol, len(joined), first.ttl, first.ident,
                              first.dont_fragment, False, 0, first.tos, first.header_len)
            payload = memoryview(joined)
        handler = self.handlers.get(header.protocol)
        if handler is None:
            c.unknown_protocol += 1
            if self.unreachable_hook is not None and header.dst == self.address:
                # After reassembly, quote the datagram as it was sent, not the last fragment's header.
                quote = error_quote(header, payload) if reassembled else bytes(data[: header.header_len + 8])
                self.unreachable_hook(header, quote, now)
            return
        c.delivered += 1
        handler.on_datagram(header, payload, now)

    # -- send --------------------------------------------------------------------------------------------

    def _resolve(self, dst: int, now: int) -> tuple[SendStatus, bytes | None, int]:
        """(status, MAC or None, next hop)."""
        hop = self.next_hop(dst)
        if hop is None:
            self.counters.no_route += 1
            return SendStatus.NO_ROUTE, None, 0
        if hop == 0xFFFFFFFF or self.is_broadcast(hop):
            return SendStatus.SENT, BROADCAST, hop
        if self.arp.has_failed(hop, now):
            self.counters.arp_failed += 1
            return SendStatus.HOST_UNREACHABLE, None, hop
        return SendStatus.SENT, self.arp.resolve(hop, now), hop

    def _transmit(self, frame: bytearray | memoryview, mac: bytes | None, hop: int, now: int) -> SendStatus:
        if mac is None:
            self.counters.arp_pending += 1
            self.arp.queue(hop, ethernet.TYPE_IPV4, bytes(frame[ethernet.HEADER_LEN :]), now)
            return SendStatus.PENDING_ARP
        frame[0:6] = mac
        frame[6:14] = self._source_and_type
        if not self.send_frame(frame):
            self.counters.driver_errors += 1
            return SendStatus.DRIVER_ERROR
        return SendStatus.SENT

    def send_prepared(self, buf: bytearray, payload_len: int, dst: int, protocol: int, now: int, *,
                      ttl: int | None = None, dont_fragment: bool = True, tos: int = 0,
                      csum_offset: int = 0) -> SendStatus:
        """Send a payload already in place at buf[FRAME_HEADERS:FRAME_HEADERS + payload_len].

        The zero-copy path (TCP's pre-allocated buffers): the IP and Ethernet headers are written in front
        of the payload, in the same buffer, in one pack. The payload must fit the MTU. `csum_offset`, only
        when `send_partial` is set: the payload's checksum, at that offset in it, is left for the link.
        """
        if HEADER_LEN + payload_len > self.mtu:
            self.counters.too_big += 1
            return SendStatus.TOO_BIG
        # The route of the last datagram, while ARP still holds the very entry it used and the addressing is
        # the same: a bulk transfer sends to one peer, and the route and the lookup are the same every time.
        # Any change to that entry (relearned, expired, evicted) makes a new one, and to the address, mask
        # or configuration (the gateway) the route, so the full resolution runs again.
        route = self._route
        arp = self.arp
        if route is not None and route[0] == dst and (entry := arp.cache.get(route[1])) is route[2] \
                and entry is not None and entry[1] > now and route[3] == self.address \
                and route[4] == self.netmask and route[5] is self.config:
            arp.counters.cache_hits += 1  # as resolve() counts it
            mac: bytes | None = entry[0]
            hop = route[1]
        else:
            status, mac, hop = self._resolve(dst, now)
            if status is not SendStatus.SENT:
                return status
            entry = arp.cache.get(hop) if mac is not None else None
            self._route = (dst, hop, entry, self.address, self.netmask, self.config) \
                if entry is not None and entry[0] == mac else None
        self._ident = ident = (self._ident + 1) & 0xFFFF
        self.counters.sent += 1
        emit_frame_header(buf, mac or _NO_MAC, self._source_and_type, self.address, dst, protocol, payload_len,
                          ttl or self.config.ttl, ident, FLAG_DF if dont_fragment else 0, tos)
        frame = memoryview(buf)[: FRAME_HEADERS + payload_len]
        if mac is None:
            if csum_offset:  # ARP sends it later as a whole frame
                complete_partial(frame, FRAME_HEADERS, csum_offset)
            self.counters.arp_pending += 1
            self.arp.queue(hop, ethernet.TYPE_IPV4, bytes(frame[ethernet.HEADER_LEN :]), now)
            return SendStatus.PENDING_ARP
        if csum_offset:
            send_partial = self.send_partial
            if send_partial is None:  # the link stopped offloading since the segment was made
                complete_partial(frame, FRAME_HEADERS, csum_offset)
                sent = self.send_frame(frame)
            else:
                sent = send_partial(frame, FRAME_HEADERS, csum_offset)
        else:
            sent = self.send_frame(frame)
        if not sent:
            self.counters.driver_errors += 1
            return SendStatus.DRIVER_ERROR
        return SendStatus.SENT

    def send(self, dst: int, protocol: int, payload: bytes | bytearray | memoryview | Sequence[bytes],
             now: int, *, ttl: int | None = None, dont_fragment: bool = False, tos: int = 0,
             src: int | None = None) -> SendStatus:
        """Send a datagram, fragmenting it when it is larger than the MTU (unless `dont_fragment`)."""
        if not isinstance(payload, bytes | bytearray | memoryview):
            payload = b"".join(payload)
        data = memoryview(payload)
        status, mac, hop = self._resolve(dst, now)
        if status is not SendStatus.SENT:
            return status
        room = self.mtu - HEADER_LEN
        if len(data) > room and dont_fragment:
            self.counters.too_big += 1
            return SendStatus.TOO_BIG
        if len(data) + HEADER_LEN > 65_535:
            self.counters.too_big += 1
            return SendStatus.TOO_BIG
        ident = self.next_ident()
        source = self.address if src is None else src
        step = room if len(data) <= room else room & ~7
        result = SendStatus.SENT
        offset = 0
        frame = self._scratch
        while True:
            chunk = data[offset : offset + step]
            more = offset + len(chunk) < len(data)
            Ipv4Repr(source, dst, protocol, len(chunk), ttl or self.config.ttl, ident, dont_fragment, more,
                     offset, tos).emit(frame, ethernet.HEADER_LEN)
            frame[ethernet.HEADER_LEN + HEADER_LEN : FRAME_HEADERS + len(chunk)] = chunk
            self.counters.sent += 1
            if more or offset:
                self.counters.fragments_sent += 1
            status = self._transmit(memoryview(frame)[: FRAME_HEADERS + len(chunk)], mac, hop, now)
            if status is not SendStatus.SENT:
                result = status
            offset += len(chunk)
            if not more:
                return result

    # -- timers --------------------------------------------------------------------------------------

    def drive(self, now: int) -> None:
        self.reassembler.expire(now)

    def next_deadline(self) -> int | None:
        return self.reassembler.next_deadline()


class UnreachableHook(Protocol):
    def __call__(self, header: Ipv4Repr, quoted: bytes, now: int) -> None: ...
