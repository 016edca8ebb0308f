"""mtcp-nat's host side for datagrams: UDP flows, ICMP echo through unprivileged ICMP sockets, the DNS proxy.

Each UDP flow (guest address and port, destination address and port) owns one connected, non-blocking host
socket, so the host's answers come back to it alone and an ICMP error from the far end shows as a refused
socket, which goes back to the guest as port unreachable. Flows are bounded: a full table recycles the one
idle longest (counted), and a flow idle past its time-out is closed. Everything here is the program's edge:
host sockets and the time in seconds given by the loop; the stack is used only through its public layers.
"""

from __future__ import annotations

import errno
import socket
import struct
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from mtcp_py.stack import Stack
from mtcp_py.udp import UdpEndpoints
from mtcp_py.wire import WireError, dns
from mtcp_py.wire.icmp import UNREACH_HOST, UNREACH_PORT, IcmpRepr, error_quote
from mtcp_py.wire.ipv4 import PROTO_ICMP, PROTO_UDP, Ipv4Repr
from mtcp_py.wire.udp import build as build_udp

UDP_IDLE_SECONDS = 60.0
DNS_IDLE_SECONDS = 10.0
ICMP_IDLE_SECONDS = 10.0
READS_PER_TURN = 16
"""Datagrams read from one host socket per turn, so one busy flow cannot starve the others."""

HostAddress = Callable[[int], str | None]
"""Where a guest-side destination is on the host ('127.0.0.1' for the gateway), or None when refused."""


@dataclass
class DatagramCounters:
    udp_flows: int = 0
    udp_recycled: int = 0
    udp_expired: int = 0
    udp_to_host: int = 0
    udp_to_host_bytes: int = 0
    udp_to_guest: int = 0
    udp_to_guest_bytes: int = 0
    udp_refused: int = 0
    udp_restricted: int = 0
    udp_host_errors: int = 0
    dns_queries: int = 0
    dns_answers: int = 0
    dns_servfail: int = 0
    dns_bad_queries: int = 0
    icmp_echo_forwarded: int = 0
    icmp_echo_replies: int = 0
    icmp_not_permitted: int = 0
    icmp_restricted: int = 0
    errors: dict[str, int] = field(default_factory=dict)


@dataclass
class UdpFlow:
    sock: socket.socket
    guest: int
    guest_port: int
    remote: int
    """The destination as the guest addressed it (what answers appear to come from)."""
    remote_port: int
    last_used: float
    idle: float
    dns_query: bytes = b""
    """For a DNS proxy flow: the guest's query, so that a failure can be answered with SERVFAIL."""


@dataclass
class EchoFlow:
    sock: socket.socket
    guest: int
    remote: int
    ident: int
    last_used: float


def servfail(query: bytes) -> bytes | None:
    """SERVFAIL for `query` (RFC 1035 4.1.1: the question echoed, no records), or None if it is no query."""
    try:
        message = dns.parse(query)
    except WireError:
        return None
    if message.response or len(message.questions) != 1:
        return None
    _, end = dns.read_name(query, dns.HEADER_LEN)
    flags = 0x8000 | (message.opcode << 11) | (0x0100 if message.recursion_desired else 0) | 0x0080 | dns.SERVFAIL
    return struct.pack("!HHHHHH", message.ident, flags, 1, 0, 0, 0) + query[dns.HEADER_LEN : end + 4]


class DatagramNat:
    def __init__(self, stack: Stack, host_address: HostAddress, dns_address: int, dns_upstream: str | None,
                 max_flows: int = 64) -> None:
        self.stack = stack
        self.host_address = host_address
        self.dns_address = dns_address
        self.dns_upstream = dns_upstream
        self.dns_port = dns.PORT
        """The upstream server's port (53; another only for tests with a server of their own)."""
        self.max_flows = max_flows
        self.counters = DatagramCounters()
        self.udp: OrderedDict[tuple[int, int, int, int], UdpFlow] = OrderedDict()
        self.echo: OrderedDict[tuple[int, int, int], EchoFlow] = OrderedDict()
        self.now = 0.0
        stack.udp.intercept = self.on_datagram
        stack.icmp.echo_intercept = self.on_echo_request

    def _count_error(self, what: str) -> None:
        self.counters.errors[what] = self.counters.errors.get(what, 0) + 1

    # -- UDP from the guest ----------------------------------------------------------------------------------

    def on_datagram(self, source: UdpEndpoints, payload: memoryview, tick: int) -> None:
        c = self.counters
        key = (source.src, source.src_port, source.dst, source.dst_port)
        flow = self.udp.get(key)
        if flow is None:
            flow = self._open_udp(source, bytes(payload), tick)
            if flow is None:
                return
        else:
            self.udp.move_to_end(key)
        flow.last_used = self.now
        if flow.dns_query:
            flow.dns_query = bytes(payload)
        try:
            flow.sock.send(payload)
        except BlockingIOError:
            self._count_error("udp_host_buffer_full")  # the host cannot take it now: dropped, as a router does
            return
        except OSError as exc:
            self._host_error(flow, exc, tick)
            return
        c.udp_to_host += 1
        c.udp_to_host_bytes += len(payload)

    def _open_udp(self, source: UdpEndpoints, payload: bytes, tick: int) -> UdpFlow | None:
        c = self.counters
        is_dns = source.dst == self.dns_address and source.dst_port == dns.PORT
        if is_dns:
            c.dns_queries += 1
            if self.dns_upstream is None:
                self._answer_servfail(source, payload, tick)
                return None
            target: str | None = self.dns_upstream
        else:
            target = self.host_address(source.dst)
        if target is None:
            c.udp_restricted += 1
            self._udp_unreachable(source, payload, UNREACH_HOST, tick)
            return None
        if len(self.udp) >= self.max_flows:
            _, oldest = self.udp.popitem(last=False)
            oldest.sock.close()
            c.udp_recycled += 1
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setblocking(False)
        try:
            sock.connect((target, self.dns_port if is_dns else source.dst_port))
        except OSError as exc:
            sock.close()
            self._count_error(f"udp_connect_{errno.errorcode.get(exc.errno or 0, 'error')}")
            self._udp_unreachable(source, payload, UNREACH_HOST, tick)
            return None
        flow = UdpFlow(sock, source.src, source.src_port, source.dst, source.dst_port, self.now,
                       DNS_IDLE_SECONDS if is_dns else UDP_IDLE_SECONDS, payload if is_dns else b"")
        self.udp[(source.src, source.src_port, source.dst, source.dst_port)] = flow
        c.udp_flows += 1
        return flow

    def _answer_servfail(self, source: UdpEndpoints, query: bytes, tick: int) -> None:
        answer = servfail(query)
        if answer is None:
            self.counters.dns_bad_queries += 1
            return
        self.counters.dns_servfail += 1
        self.stack.udp.send(source.dst_port, source.src, source.src_port, answer, tick, src=source.dst)

    def _udp_unreachable(self, source: UdpEndpoints, payload: bytes, code: int, tick: int) -> None:
        """Port or host unreachable to the guest, quoting the datagram as it sent it (RFC 792)."""
        datagram = build_udp(source.src, source.dst, source.src_port, source.dst_port, payload)
        original = Ipv4Repr(source.src, source.dst, PROTO_UDP, len(datagram))
        self.stack.icmp.send_unreachable_to(source.src, code, error_quote(original, datagram), tick)

    def _host_error(self, flow: UdpFlow, exc: OSError, tick: int) -> None:
        if exc.errno == errno.ECONNREFUSED:  # the far end's port unreachable, seen by the host socket
            self.counters.udp_refused += 1
            if flow.dns_query:
                self._answer_servfail(UdpEndpoints(flow.guest, flow.guest_port, flow.remote, flow.remote_port),
                                      flow.dns_query, tick)
            else:
                self._udp_unreachable(UdpEndpoints(flow.guest, flow.guest_port, flow.remote, flow.remote_port),
                                      b"", UNREACH_PORT, tick)
        else:
            self.counters.udp_host_errors += 1
            self._count_error(f"udp_{errno.errorcode.get(exc.errno or 0, 'error')}")

    # -- ICMP echo from the guest ----------------------------------------------------------------------------

    def on_echo_request(self, header: Ipv4Repr, message: IcmpRepr, tick: int) -> None:
        c = self.counters
        target = self.host_address(header.dst)
        if target is None:
            c.icmp_restricted += 1
            self._echo_unreachable(header, message, tick)
            return
        key = (header.src, header.dst, message.ident)
        flow = self.echo.get(key)
        if flow is None:
            try:
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
            except OSError:
                # net.ipv4.ping_group_range leaves us out: tell the guest, and say why in the statistics.
                c.icmp_not_permitted += 1
                self._echo_unreachable(header, message, tick)
                return
            sock.setblocking(False)
            if len(self.echo) >= self.max_flows:
                _, oldest = self.echo.popitem(last=False)
                oldest.sock.close()
            try:
                sock.connect((target, 0))
            except OSError:
                sock.close()
                self._echo_unreachable(header, message, tick)
                return
            flow = EchoFlow(sock, header.src, header.dst, message.ident, self.now)
            self.echo[key] = flow
        flow.last_used = self.now
        request = IcmpRepr(8, 0, message.ident, message.seq, message.data).to_bytes()
        try:
            flow.sock.send(request)  # the kernel puts its own identifier in; replies come to this socket
        except OSError as exc:
            self._count_error(f"icmp_{errno.errorcode.get(exc.errno or 0, 'error')}")
            return
        c.icmp_echo_forwarded += 1

    def _echo_unreachable(self, header: Ipv4Repr, message: IcmpRepr, tick: int) -> None:
        body = IcmpRepr(8, 0, message.ident, message.seq, message.data).to_bytes()
        original = Ipv4Repr(header.src, header.dst, PROTO_ICMP, len(body), header.ttl, header.ident)
        self.stack.icmp.send_unreachable_to(header.src, UNREACH_HOST, error_quote(original, body), tick)

    # -- the host side ---------------------------------------------------------------------------------------

    def fds(self) -> list[int]:
        return [flow.sock.fileno() for flow in self.udp.values()] + \
            [flow.sock.fileno() for flow in self.echo.values()]

    def readable(self, ready: set[int], tick: int) -> int:
        """Carry what the host sockets in `ready` hold back to the guest; returns datagrams moved."""
        moved = 0
        for flow in list(self.udp.values()):
            if flow.sock.fileno() in ready:
                moved += self._read_udp(flow, tick)
        for echo in list(self.echo.values()):
            if echo.sock.fileno() in ready:
                moved += self._read_echo(echo, tick)
        return moved

    def _read_udp(self, flow: UdpFlow, tick: int) -> int:
        c = self.counters
        moved = 0
        for _ in range(READS_PER_TURN):
            try:
                data = flow.sock.recv(65_535)
            except BlockingIOError:
                break
            except OSError as exc:
                self._host_error(flow, exc, tick)
                break
            flow.last_used = self.now
            if flow.dns_query:
                c.dns_answers += 1
            self.stack.udp.send(flow.remote_port, flow.guest, flow.guest_port, data, tick, src=flow.remote)
            c.udp_to_guest += 1
            c.udp_to_guest_bytes += len(data)
            moved += 1
        return moved

    def _read_echo(self, flow: EchoFlow, tick: int) -> int:
        moved = 0
        for _ in range(READS_PER_TURN):
            try:
                data = flow.sock.recv(65_535)
            except (BlockingIOError, OSError):
                break
            try:
                reply = IcmpRepr.parse(data)
            except WireError:
                continue
            if reply.type != 0:
                continue
            flow.last_used = self.now
            self.stack.icmp.send_echo_reply(flow.remote, flow.guest, flow.ident, reply.seq, reply.data, tick)
            self.counters.icmp_echo_replies += 1
            moved += 1
        return moved

    def expire(self, now: float) -> None:
        self.now = now
        for key, flow in list(self.udp.items()):
            if now - flow.last_used > flow.idle:
                flow.sock.close()
                del self.udp[key]
                self.counters.udp_expired += 1
        for echo_key, echo in list(self.echo.items()):
            if now - echo.last_used > ICMP_IDLE_SECONDS:
                echo.sock.close()
                del self.echo[echo_key]

    def next_expiry(self) -> float | None:
        times = [f.last_used + f.idle for f in self.udp.values()]
        times += [e.last_used + ICMP_IDLE_SECONDS for e in self.echo.values()]
        return min(times) if times else None

    def close(self) -> None:
        for flow in self.udp.values():
            flow.sock.close()
        for echo in self.echo.values():
            echo.sock.close()
        self.udp.clear()
        self.echo.clear()

