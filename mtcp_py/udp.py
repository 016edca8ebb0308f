"""UDP as mTCP has it: a program registers a port with a callback, and sends datagrams from it.

The callback runs while the datagram still sits in the receive buffer: it gets a view of the payload and
must copy what it keeps, because the buffer goes back to the pool as soon as it returns (mTCP's
`Udp::registerCallback`). ICMP errors that quote a datagram from a registered port go to that port's error
callback, when it has one. A datagram for a port nobody registered is answered with ICMP port unreachable
(never for a broadcast), at most `unreachable_burst` per `unreachable_ticks`, as Linux limits its ICMP.

Sending builds the datagram, checksum included, and hands it to IP, which routes it by netmask and gateway,
resolves the next hop, and fragments it above the MTU. Given `now` in ticks; never reads a clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .icmp import IcmpLayer
from .ip import IcmpError, IpLayer, SendStatus
from .ratelimit import WindowLimit
from .wire import udp
from .wire.icmp import UNREACH_PORT, error_quote
from .wire.ipv4 import PROTO_UDP, Ipv4Repr


@dataclass(frozen=True, slots=True)
class UdpEndpoints:
    """Who sent a datagram and to what: the addresses and ports of one received datagram."""

    src: int
    src_port: int
    dst: int
    dst_port: int
    broadcast: bool = False
    """Sent to a broadcast address (255.255.255.255 or our network's directed broadcast), not to us alone."""


UdpReceiver = Callable[[UdpEndpoints, memoryview, int], None]
"""Called with (endpoints, payload view, now) for each datagram to a registered port; copy what you keep."""
UdpIntercept = Callable[[UdpEndpoints, memoryview, int], None]
"""Called for a datagram to another host's address, or to one of our ports that nobody registered (a
gateway that ends traffic itself, mtcp-nat, carries both)."""
UdpErrorReceiver = Callable[[IcmpError, int, int], None]
"""Called with (error, remote port, now) for an ICMP error quoting a datagram sent from the port."""


class UdpError(Exception):
    """A port that cannot be registered (in use, out of range, no free ephemeral port)."""


@dataclass(frozen=True)
class UdpConfig:
    ephemeral_first: int = 49_152
    ephemeral_last: int = 65_535
    unreachable_burst: int = 10
    unreachable_ticks: int = 18
    """Port unreachables sent at most `unreachable_burst` per this many ticks (about a second)."""
    ports: int = 32
    """At most this many registered ports (mTCP's UDP callback table is fixed too)."""


@dataclass
class UdpCounters:
    received: int = 0
    delivered: int = 0
    intercepted: int = 0
    """Datagrams for other hosts' addresses, handed to the gateway's intercept."""
    no_port: int = 0
    unreachables_sent: int = 0
    unreachables_limited: int = 0
    bad_port: int = 0
    """Datagrams from or to port 0, which no sender may use."""
    receiver_errors: int = 0
    """A program's callback raised; the datagram is counted here and the stack goes on."""
    sent: int = 0
    send_failed: int = 0
    errors_received: int = 0
    errors_delivered: int = 0


@dataclass(slots=True)
class _Port:
    receiver: UdpReceiver
    on_error: UdpErrorReceiver | None


class UdpLayer:
    def __init__(self, ip: IpLayer, icmp: IcmpLayer, config: UdpConfig | None = None) -> None:
        self.ip = ip
        self.icmp = icmp
        self.config = config or UdpConfig()
        self.counters = UdpCounters()
        self.ports: dict[int, _Port] = {}
        self._next_ephemeral = self.config.ephemeral_first
        self._unreachable_limit = WindowLimit(self.config.unreachable_burst, self.config.unreachable_ticks,
                                              since=-(1 << 62))
        self.last_receiver_error = ""
        self.intercept: UdpIntercept | None = None
        """Takes datagrams for addresses not ours (with IpLayer.accept_any); None: they are not for us."""
        ip.register(PROTO_UDP, self)

    # -- ports ---------------------------------------------------------------------------------------------

    def register(self, port: int, receiver: UdpReceiver, on_error: UdpErrorReceiver | None = None) -> int:
        """Take `port` (0: the next free ephemeral port) for `receiver`; returns the port."""
        if len(self.ports) >= self.config.ports:
            raise UdpError(f"all {self.config.ports} UDP ports are taken")
        if port == 0:
            port = self._free_ephemeral()
        elif not 0 < port <= 0xFFFF:
            raise UdpError(f"port {port}: a UDP port is 1 to 65535")
        elif port in self.ports:
            raise UdpError(f"UDP port {port} is already in use")
        self.ports[port] = _Port(receiver, on_error)
        return port

    def unregister(self, port: int) -> None:
        self.ports.pop(port, None)

    def _free_ephemeral(self) -> int:
        first, last = self.config.ephemeral_first, self.config.ephemeral_last
        for _ in range(last - first + 1):
            port = self._next_ephemeral
            self._next_ephemeral = first if port >= last else port + 1
            if port not in self.ports:
                return port
        raise UdpError("no free ephemeral UDP port")

    # -- receive -------------------------------------------------------------------------------------------

    def on_datagram(self, header: Ipv4Repr, payload: memoryview, now: int) -> None:
        src_port, dst_port, data = udp.parse(payload, header.src, header.dst, not self.ip.rx_checksum_ok)
        c = self.counters
        c.received += 1
        if not src_port or not dst_port:
            c.bad_port += 1
            return
        port = self.ports.get(dst_port)
        if self.intercept is not None and not self.ip.is_broadcast(header.dst) and \
                (header.dst != self.ip.address or port is None):
            # Another host's datagram, or one to a port of ours nobody registered: the gateway's to carry.
            c.intercepted += 1
            self._call(self.intercept, UdpEndpoints(header.src, src_port, header.dst, dst_port), data, now)
            return
        if port is None:
            c.no_port += 1
            self._port_unreachable(header, payload, now)
            return
        c.delivered += 1
        self._call(port.receiver,
                   UdpEndpoints(header.src, src_port, header.dst, dst_port, self.ip.is_broadcast(header.dst)), data,
                   now)

    def _call(self, receiver: UdpReceiver, endpoints: UdpEndpoints, data: memoryview, now: int) -> None:
        try:
            receiver(endpoints, data, now)
        except Exception as exc:  # a program's bug must not take the stack down on one datagram
            self.counters.receiver_errors += 1
            self.last_receiver_error = f"{type(exc).__name__}: {exc}"

    def _port_unreachable(self, header: Ipv4Repr, payload: memoryview, now: int) -> None:
        if header.dst != self.ip.address or self.ip.is_broadcast(header.dst):
            return  # never answer a broadcast (RFC 1122 3.2.2)
        if not self._unreachable_limit.allow(now):
            self.counters.unreachables_limited += 1
            return
        original = Ipv4Repr(header.src, header.dst, PROTO_UDP, len(payload), header.ttl, header.ident,
                            header.dont_fragment, False, 0, header.tos)
        self.icmp.send_unreachable(header, error_quote(original, payload), UNREACH_PORT, now)
        self.counters.unreachables_sent += 1

    def on_icmp_error(self, error: IcmpError, now: int) -> None:
        self.counters.errors_received += 1
        quote = error.original_payload
        if len(quote) < 4:
            return
        local_port = int.from_bytes(quote[0:2], "big")
        remote_port = int.from_bytes(quote[2:4], "big")
        port = self.ports.get(local_port)
        if port is None or port.on_error is None:
            return
        self.counters.errors_delivered += 1
        try:
            port.on_error(error, remote_port, now)
        except Exception as exc:
            self.counters.receiver_errors += 1
            self.last_receiver_error = f"{type(exc).__name__}: {exc}"

    # -- send ----------------------------------------------------------------------------------------------

    def send(self, src_port: int, dst: int, dst_port: int, payload: bytes | bytearray | memoryview,
             now: int, *, src: int | None = None) -> SendStatus:
        """Send one datagram from `src_port`; IP fragments it when it is larger than the MTU allows. `src`
        sends from another address than ours (a gateway answering for the host a datagram was for)."""
        if len(payload) > udp.MAX_PAYLOAD:
            self.counters.send_failed += 1
            return SendStatus.TOO_BIG
        source = self.ip.address if src is None else src
        datagram = udp.build(source, dst, src_port, dst_port, payload)
        status = self.ip.send(dst, PROTO_UDP, datagram, now, src=source)
        if status.ok:
            self.counters.sent += 1
        else:
            self.counters.send_failed += 1
        return status

    # -- the poll loop's hooks (TimedLayer) ----------------------------------------------------------------

    def drive(self, now: int) -> None:
        """UDP keeps no timers; the hook is here so the stack drives every layer alike."""

    def next_deadline(self) -> int | None:
        return None

    def close(self, now: int) -> None:
        self.ports.clear()
