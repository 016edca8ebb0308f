"""mtcp-nat's TCP: the guest's connections ended in our stack and carried over host sockets.

A SYN from the guest to any address and port is held while the host `connect()`s there (non-blocking).
Only when the host's connection is up does our TCP see the SYN, translated in front of it to our own
address and the one port the NAT listens on (the guest's own address and port tell the connections
apart); every segment our TCP sends back is translated the other way on its way to the driver, so the
guest sees the address it called. A refused host connection is a reset to the guest; an unreachable one
is ICMP host unreachable. Then each flow moves bytes both ways without buffering more than one chunk per
direction: we read from one side only what the other can take now, so a slow guest slows the host's peer
through the host socket's window, and a slow host peer closes our window to the guest. Half-closes and
resets go across. Port forwards accept on the host and connect from our address to the guest.

Bounded: at most `max_flows` flows (the oldest idle one is recycled when a new one needs room, counted).
"""

from __future__ import annotations

import errno
import socket
import struct
from collections import OrderedDict
from dataclasses import dataclass, field

from mtcp_py.ip import IcmpError
from mtcp_py.stack import Stack
from mtcp_py.tcp import State, TcpSocket
from mtcp_py.wire import ethernet
from mtcp_py.wire.icmp import UNREACH_HOST, error_quote
from mtcp_py.wire.ipv4 import HEADER_LEN as IP_HEADER_LEN
from mtcp_py.wire.ipv4 import PROTO_TCP, Ipv4Repr
from mtcp_py.wire.nat import resource_frame, retarget_segment
from mtcp_py.wire.tcp import ACK, FIN, RST, SYN, TcpRepr, fill_checksum, reset_fields
from mtcp_py.wire.tcp import CHECKSUM_AT as TCP_CHECKSUM_AT

from .nat_flows import HostAddress

SINK_PORT = 1
"""The port our TCP listens on for every guest connection (translated to it in front of TCP)."""
CHUNK = 16_384
CONNECT_SECONDS = 30.0
_PORTS = struct.Struct("!HHII")


@dataclass
class TcpNatCounters:
    flows: int = 0
    forwards_accepted: int = 0
    refused: int = 0
    unreachable: int = 0
    restricted: int = 0
    recycled: int = 0
    connect_timeouts: int = 0
    guest_to_host_bytes: int = 0
    host_to_guest_bytes: int = 0
    resets_to_host: int = 0
    resets_to_guest: int = 0
    stray_segments: int = 0
    """Segments for no flow, answered with a reset (or dropped, when they were resets)."""
    errors: dict[str, int] = field(default_factory=dict)


@dataclass
class TcpFlow:
    host: socket.socket
    guest: int
    guest_port: int
    remote: int
    remote_port: int
    started: float
    syn: bytearray | None = None
    """The guest's SYN, held (translated) until the host's connect() completes."""
    syn_header: Ipv4Repr | None = None
    sock: TcpSocket | None = None
    to_host: bytes = b""
    to_guest: bytes = b""
    host_eof: bool = False
    host_shut: bool = False
    last_active: float = 0.0
    forward: bool = False
    done: bool = False
    """Both sides finished and the host socket closed; the translation stays while our TCP still sends
    for this connection (its last ACKs, TIME_WAIT's answers), until it is CLOSED."""

    @property
    def connecting(self) -> bool:
        return self.syn is not None


class TcpNat:
    def __init__(self, stack: Stack, host_address: HostAddress, max_flows: int = 32) -> None:
        self.stack = stack
        self.tcp = stack.tcp
        self.address = stack.ip.address
        self.host_address = host_address
        self.max_flows = max_flows
        self.counters = TcpNatCounters()
        self.flows: OrderedDict[tuple[int, int], TcpFlow] = OrderedDict()
        """Guest connections by the guest's (address, port)."""
        self.forwards: list[TcpFlow] = []
        self.listener = self.tcp.listen(SINK_PORT, backlog=16)
        self.now = 0.0
        stack.ip.register(PROTO_TCP, self)  # in front of TCP: translate, then hand on
        stack.predict = None  # every segment takes this path, so none skips the translation
        stack.egress_rewrite = self._translate_out

    # -- segments from the guest ---------------------------------------------------------------------------

    def on_datagram(self, header: Ipv4Repr, payload: memoryview, tick: int) -> None:
        if len(payload) < 20:
            self.tcp.on_datagram(header, payload, tick)  # TCP counts and drops what is no segment
            return
        src_port, dst_port = _PORTS.unpack_from(payload, 0)[:2]
        flags = payload[13]
        if header.dst == self.address and (header.src, src_port, dst_port) in self.tcp.connections:
            self.tcp.on_datagram(header, payload, tick)  # a connection of ours (a port forward's)
            return
        key = (header.src, src_port)
        flow = self.flows.get(key)
        if flow is not None and (flow.remote, flow.remote_port) != (header.dst, dst_port):
            flow = None if flow.sock is None or flow.sock.is_closed else flow
            if flow is not None:  # the guest reused its port for another destination while this one lives
                self._stray(header, src_port, dst_port, payload, tick)
                return
            self._end(key)
        if flow is None:
            if flags & (SYN | ACK | RST) != SYN:
                self._stray(header, src_port, dst_port, payload, tick)
                return
            self._open(header, src_port, dst_port, payload, tick)
            return
        flow.last_active = self.now
        segment = bytearray(payload)
        retarget_segment(segment, header.dst, self.address, SINK_PORT)
        translated = Ipv4Repr(header.src, self.address, PROTO_TCP, len(segment), header.ttl, header.ident,
                              header.dont_fragment, False, 0, header.tos)
        if flow.connecting:
            self._whole_if_vouched(segment, header.src)
            flow.syn, flow.syn_header = segment, translated  # a retransmitted SYN: hold the newest
            return
        self.tcp.on_datagram(translated, memoryview(segment), tick)

    def on_icmp_error(self, error: IcmpError, tick: int) -> None:
        self.tcp.on_icmp_error(error, tick)

    def _open(self, header: Ipv4Repr, src_port: int, dst_port: int, payload: memoryview, tick: int) -> None:
        c = self.counters
        target = self.host_address(header.dst)
        if target is None:
            c.restricted += 1
            self._reset_guest(header.src, src_port, header.dst, dst_port, payload, tick)
            return
        self._make_room()
        host = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        host.setblocking(False)
        result = host.connect_ex((target, dst_port))
        if result not in (0, errno.EINPROGRESS):
            host.close()
            self._connect_failed(header.src, src_port, header.dst, dst_port, payload, result, tick)
            return
        segment = bytearray(payload)
        retarget_segment(segment, header.dst, self.address, SINK_PORT)
        self._whole_if_vouched(segment, header.src)
        flow = TcpFlow(host, header.src, src_port, header.dst, dst_port, self.now, segment,
                       Ipv4Repr(header.src, self.address, PROTO_TCP, len(segment), header.ttl, header.ident,
                                header.dont_fragment, False, 0, header.tos), last_active=self.now)
        self.flows[(header.src, src_port)] = flow
        c.flows += 1

    def _make_room(self) -> None:
        active = [key for key, flow in self.flows.items() if not flow.done]
        if len(active) + len(self.forwards) < self.max_flows or not active:
            return
        oldest = min(active, key=lambda k: self.flows[k].last_active)
        self.counters.recycled += 1
        self._end(oldest, reset=True)

    def _connect_failed(self, guest: int, guest_port: int, remote: int, remote_port: int, syn: bytes | memoryview,
                        error: int, tick: int) -> None:
        if error == errno.ECONNREFUSED:
            self.counters.refused += 1
            self._reset_guest(guest, guest_port, remote, remote_port, syn, tick)
            return
        self.counters.unreachable += 1
        name = errno.errorcode.get(error, str(error))
        self.counters.errors[name] = self.counters.errors.get(name, 0) + 1
        original = Ipv4Repr(guest, remote, PROTO_TCP, len(syn))
        self.stack.icmp.send_unreachable_to(guest, UNREACH_HOST, error_quote(original, syn), tick)

    def _reset_guest(self, guest: int, guest_port: int, remote: int, remote_port: int,
                     segment: bytes | memoryview, tick: int) -> None:
        """The reset RFC 9293 3.10.7.1 answers a segment with, sent as from the address the guest called."""
        seq, ack = _PORTS.unpack_from(segment, 0)[2:]
        flags = segment[13]
        length = len(segment) - (segment[12] >> 4) * 4 + (1 if flags & SYN else 0) + (1 if flags & FIN else 0)
        reply = TcpRepr(remote_port, guest_port, *reset_fields(seq, ack, flags, length), 0)
        self.counters.resets_to_guest += 1
        self.stack.ip.send(guest, PROTO_TCP, reply.to_bytes(remote, guest), tick, src=remote)

    def _stray(self, header: Ipv4Repr, src_port: int, dst_port: int, segment: memoryview, tick: int) -> None:
        self.counters.stray_segments += 1
        if not segment[13] & RST:
            self._reset_guest(header.src, src_port, header.dst, dst_port, segment, tick)

    # -- segments to the guest -----------------------------------------------------------------------------

    def _translate_out(self, frame: bytearray | memoryview) -> None:
        if len(frame) < ethernet.HEADER_LEN + IP_HEADER_LEN + 20 or frame[12:14] != b"\x08\x00" \
                or frame[ethernet.HEADER_LEN + 9] != PROTO_TCP:
            return
        ip = ethernet.HEADER_LEN
        tcp = ip + (frame[ip] & 0x0F) * 4
        if int.from_bytes(frame[tcp : tcp + 2], "big") != SINK_PORT:
            return
        guest = int.from_bytes(frame[ip + 16 : ip + 20], "big")
        flow = self.flows.get((guest, int.from_bytes(frame[tcp + 2 : tcp + 4], "big")))
        if flow is not None:
            resource_frame(frame, flow.remote, flow.remote_port)

    # -- the host side: connects, accepts, and the splice ----------------------------------------------------

    def add_forward(self, host: socket.socket, guest: int, guest_port: int) -> None:
        """A host connection accepted on a forward: connect from our address to the guest's port."""
        if len(self.flows) + len(self.forwards) >= self.max_flows:
            self._make_room()
        host.setblocking(False)
        sock = self.tcp.connect(guest, guest_port)
        flow = TcpFlow(host, guest, guest_port, self.address, sock.local_port, self.now, sock=sock,
                       last_active=self.now, forward=True)
        self.forwards.append(flow)
        self.counters.forwards_accepted += 1

    def want_read(self) -> list[int]:
        """Host sockets worth reading now: their data has somewhere to go."""
        out = []
        for flow in self._all():
            if flow.done:
                continue
            sock = flow.sock
            if sock is not None and not flow.host_eof and not flow.to_guest and sock.send_space > 0:
                out.append(flow.host.fileno())
        return out

    def want_write(self) -> list[int]:
        return [flow.host.fileno() for flow in self._all() if not flow.done and (flow.connecting or flow.to_host)]

    def _all(self) -> list[TcpFlow]:
        return [*self.flows.values(), *self.forwards]

    def turn(self, now: float, readable: set[int], writable: set[int], tick: int) -> int:
        """Complete connects, match accepted connections to flows, move bytes; returns how much moved."""
        self.now = now
        moved = 0
        while (sock := self.listener.accept()) is not None:
            flow = self.flows.get((sock.remote_ip, sock.remote_port))
            if flow is None or flow.sock is not None:
                sock.abort()
                continue
            flow.sock = sock
        for key, flow in list(self.flows.items()):
            if flow.done:
                if flow.sock is None or flow.sock.state is State.CLOSED:
                    del self.flows[key]
                continue
            if flow.connecting:
                self._connect_progress(key, flow, writable, tick)
                continue
            if flow.sock is None and now - flow.started > CONNECT_SECONDS:
                self._end(key, reset=True)  # the guest never finished its handshake
                continue
            moved += self._splice(flow, readable)
            if self._finished(flow):
                self._close_flow(flow)
                flow.done = True
        for flow in list(self.forwards):
            moved += self._splice(flow, readable)
            if self._finished(flow):
                self.forwards.remove(flow)
                self._close_flow(flow)
        return moved

    def _connect_progress(self, key: tuple[int, int], flow: TcpFlow, writable: set[int], tick: int) -> None:
        assert flow.syn is not None and flow.syn_header is not None
        if flow.host.fileno() not in writable:
            if self.now - flow.started > CONNECT_SECONDS:
                self.counters.connect_timeouts += 1
                self._connect_failed(flow.guest, flow.guest_port, flow.remote, flow.remote_port, self._guest_syn(flow),
                                     errno.ETIMEDOUT, tick)
                self._end(key)
            return
        error = flow.host.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if error:
            self._connect_failed(flow.guest, flow.guest_port, flow.remote, flow.remote_port, self._guest_syn(flow),
                                 error, tick)
            self._end(key)
            return
        syn, header = flow.syn, flow.syn_header
        flow.syn = flow.syn_header = None
        self.tcp.on_datagram(header, memoryview(syn), tick)  # now our TCP answers the guest's SYN

    def _whole_if_vouched(self, segment: bytearray, guest: int) -> None:
        """A held SYN is handed to TCP after this frame's dispatch, when no link vouches for it any more: one
        the link vouched for (checksum offload) may carry only a partial sum, so it gets its whole one."""
        if self.stack.ip.rx_checksum_ok:
            segment[TCP_CHECKSUM_AT : TCP_CHECKSUM_AT + 2] = b"\0\0"
            fill_checksum(segment, 0, len(segment), guest, self.address)

    def _guest_syn(self, flow: TcpFlow) -> bytes:
        """The held SYN as the guest sent it (for the reset or the ICMP quote)."""
        assert flow.syn is not None
        segment = bytearray(flow.syn)
        retarget_segment(segment, self.address, flow.remote, flow.remote_port)
        return bytes(segment)

    def _splice(self, flow: TcpFlow, readable: set[int]) -> int:
        sock = flow.sock
        if sock is None:
            return 0
        c = self.counters
        moved = 0
        if sock.error is not None:
            if not flow.host_eof:
                flow.host.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                c.resets_to_host += 1
            flow.host_eof = flow.host_shut = True
            flow.to_host = flow.to_guest = b""
            return 0
        # guest -> host: read from our TCP only what the host socket takes now.
        if flow.to_host:
            moved += self._to_host(flow, flow.to_host)
        while not flow.to_host and sock.readable and not flow.host_shut:
            chunk = sock.recv(CHUNK)
            if not chunk:
                break
            moved += self._to_host(flow, chunk)
        if sock.at_eof and not flow.to_host and not flow.host_shut:
            flow.host_shut = True
            try:
                flow.host.shutdown(socket.SHUT_WR)  # the guest's FIN, carried across
            except OSError:
                pass
        # host -> guest: read from the host only what our TCP takes now.
        if flow.to_guest:
            taken = sock.send(flow.to_guest)
            flow.to_guest = flow.to_guest[taken:]
            moved += taken
        if not flow.to_guest and not flow.host_eof and flow.host.fileno() in readable:
            room = sock.send_space
            if room > 0:
                data: bytes | None
                try:
                    data = flow.host.recv(min(room, CHUNK))
                except BlockingIOError:
                    data = None
                except OSError:
                    c.resets_to_guest += 1
                    sock.abort()  # the host's peer reset: so do we
                    flow.host_eof = flow.host_shut = True
                    return moved
                if data == b"":
                    flow.host_eof = True
                    sock.close()  # FIN after what is queued
                elif data:
                    c.host_to_guest_bytes += len(data)
                    taken = sock.send(data)
                    flow.to_guest = data[taken:]
                    moved += len(data)
        if moved:
            flow.last_active = self.now
        return moved

    def _to_host(self, flow: TcpFlow, data: bytes) -> int:
        try:
            sent = flow.host.send(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            flow.to_host = b""
            flow.host_eof = flow.host_shut = True
            if flow.sock is not None:
                self.counters.resets_to_guest += 1
                flow.sock.abort()
            return 0
        self.counters.guest_to_host_bytes += sent
        flow.to_host = data[sent:]
        return sent

    def _finished(self, flow: TcpFlow) -> bool:
        sock = flow.sock
        if sock is None:
            return False
        if sock.error is not None:
            return True
        return flow.host_eof and flow.host_shut and not flow.to_guest and not flow.to_host and \
            sock.at_eof and sock.all_sent

    def _end(self, key: tuple[int, int], reset: bool = False) -> None:
        flow = self.flows.pop(key, None)
        if flow is not None:
            self._close_flow(flow, reset)

    def _close_flow(self, flow: TcpFlow, reset: bool = False) -> None:
        sock = flow.sock
        if sock is not None:
            if reset or sock.error is not None:
                sock.abort()
            else:
                sock.close()
        if reset:
            try:
                flow.host.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        flow.host.close()

    def open_flows(self) -> int:
        return sum(1 for flow in self.flows.values() if not flow.done) + len(self.forwards)

    def close(self) -> None:
        for key, flow in list(self.flows.items()):
            if flow.done:
                del self.flows[key]
            else:
                self._end(key, reset=True)
        for flow in self.forwards:
            self._close_flow(flow, reset=True)
        self.forwards.clear()
        self.listener.close()
