"""A scripted DHCP server on a hub port, for the client's tests, built from RFC 2131 and RFC 2132 with
struct (never with mtcp_py.wire.dhcp, the code under test); and the checks that what it builds has the
layout RFC 2131 figure 1 gives, so the tests that use it rest on the RFC.

Two transports for one script: a bare hub port that reads and writes every frame by hand (for the client's
own tests, and as the DOS machine's companion for mTCP's DHCP.EXE), and a stack of its own (for a program,
which polls the stacks it is given).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from mtcp_py.stack import Stack, StackConfig
from mtcp_py.udp import UdpEndpoints
from pktdrv import VirtualClock, open_link
from pktdrv.links import HUBS

from .frames import BROADCAST, eth, ipv4, slow_checksum

SERVER_MAC = bytes.fromhex("02000000aa01")
SERVER_IP = 0x0A090001  # 10.9.0.1
OFFERED = 0x0A090032  # 10.9.0.50
NETMASK = 0xFFFFFF00
ROUTER = 0x0A0900FE  # 10.9.0.254
DNS = (0x0A090035, 0x0A090036)  # 10.9.0.53, 10.9.0.54
LEASE_SECONDS = 3600
DOMAIN = b"lab.example"
COOKIE = bytes((99, 130, 83, 99))  # RFC 2131 3: the first four octets of `options`
BOOTP = struct.Struct("!BBBBIHHIIII16s64s128s")  # RFC 2131 figure 1, up to `options`
UDP = struct.Struct("!HHHH")
DISCOVER, OFFER, REQUEST, DECLINE, ACK, NAK = 1, 2, 3, 4, 5, 6  # RFC 2132 9.6


def option(code: int, value: bytes) -> bytes:
    return bytes((code, len(value))) + value


def addr(*addresses: int) -> bytes:
    return b"".join(struct.pack("!I", a) for a in addresses)


def standard_options(kind: int, server: int = SERVER_IP) -> list[bytes]:
    """Message type first (DHCP.EXE insists on it), then what dnsmasq sends: server id, lease, mask, router,
    name servers, domain."""
    return [option(53, bytes((kind,))), option(54, addr(server)), option(51, struct.pack("!I", LEASE_SECONDS)),
            option(1, addr(NETMASK)), option(3, addr(ROUTER)), option(6, addr(*DNS)), option(15, DOMAIN)]


def bootp_reply(xid: int, chaddr: bytes, yiaddr: int, options: list[bytes], *, op: int = 2, flags: int = 0,
                siaddr: int = SERVER_IP, sname: bytes = b"", file: bytes = b"", cookie: bytes = COOKIE,
                end: bool = True) -> bytes:
    fixed = BOOTP.pack(op, 1, 6, 0, xid, 0, flags, 0, yiaddr, siaddr, 0, chaddr.ljust(16, b"\x00"),
                       sname.ljust(64, b"\x00"), file.ljust(128, b"\x00"))
    body = fixed + cookie + b"".join(options) + (b"\xff" if end else b"")
    return body.ljust(300, b"\x00")


def udp_frame(dst_mac: bytes, src_ip: int, dst_ip: int, src_port: int, dst_port: int, payload: bytes) -> bytes:
    length = 8 + len(payload)
    pseudo = struct.pack("!IIBBH", src_ip, dst_ip, 0, 17, length)
    header = UDP.pack(src_port, dst_port, length, 0)
    checksum = slow_checksum(pseudo + header + payload) or 0xFFFF
    datagram = UDP.pack(src_port, dst_port, length, checksum) + payload
    return eth(dst_mac, SERVER_MAC, 0x0800, ipv4(src_ip, dst_ip, 17, datagram))


@dataclass
class ClientMessage:
    """One message from the client, every field read by hand (the frame's fields when it came in one)."""

    at: int
    op: int
    htype: int
    hlen: int
    xid: int
    secs: int
    flags: int
    ciaddr: int
    yiaddr: int
    chaddr: bytes
    cookie: bytes
    options: dict[int, bytes]
    length: int
    """The BOOTP message's length (the UDP payload's)."""
    src_port: int = 68
    dst_port: int = 67
    ip_src: int = 0
    ip_dst: int = 0
    eth_dst: bytes = b""
    eth_src: bytes = b""

    @property
    def kind(self) -> int:
        return self.options[53][0]


def read_options(data: bytes) -> dict[int, bytes]:
    found: dict[int, bytes] = {}
    index = 0
    while index < len(data) and data[index] != 255:
        if data[index] == 0:
            index += 1
            continue
        code, size = data[index], data[index + 1]
        found[code] = found.get(code, b"") + data[index + 2 : index + 2 + size]
        index += 2 + size
    assert index < len(data), "the options never reached END (RFC 2131 4.1: the last option must be END)"
    return found


def read_bootp(payload: bytes, at: int) -> ClientMessage:
    op, htype, hlen, _hops, xid, secs, flags, ciaddr, yiaddr, _si, _gi, chaddr, _sname, _file = \
        BOOTP.unpack_from(payload, 0)
    return ClientMessage(at, op, htype, hlen, xid, secs, flags, ciaddr, yiaddr, chaddr[:hlen], payload[236:240],
                         read_options(payload[240:]), len(payload))


def read_client_frame(frame: bytes, at: int) -> ClientMessage | None:
    """The DHCP message in an Ethernet frame from the client; None for anything else (ARP...)."""
    if frame[12:14] != b"\x08\x00" or frame[23] != 17:
        return None
    ihl = (frame[14] & 0x0F) * 4
    src_ip, dst_ip = struct.unpack_from("!II", frame, 26)
    udp_at = 14 + ihl
    src_port, dst_port, length, _ = UDP.unpack_from(frame, udp_at)
    if dst_port != 67:
        return None
    message = read_bootp(frame[udp_at + 8 : udp_at + length], at)
    message.src_port, message.dst_port, message.ip_src, message.ip_dst = src_port, dst_port, src_ip, dst_ip
    message.eth_dst, message.eth_src = frame[0:6], frame[6:12]
    return message


Script = Callable[[ClientMessage], list[bytes]]


@dataclass
class DhcpScript:
    """What the server answers: a DISCOVER gets an OFFER of 10.9.0.50, a REQUEST for it an ACK (any other
    request a NAK), unless a test sets `on_discover` / `on_request` to a script of its own."""

    seen: list[ClientMessage] = field(default_factory=list)
    on_discover: Script | None = None
    on_request: Script | None = None
    broadcast: bool = False
    """Send replies to ff:ff:ff:ff:ff:ff and 255.255.255.255 (as for the broadcast flag), not to the
    offered address at the client's MAC."""

    def offer(self, message: ClientMessage) -> list[bytes]:
        return [bootp_reply(message.xid, message.chaddr, OFFERED, standard_options(OFFER))]

    def ack(self, message: ClientMessage) -> list[bytes]:
        if addr(OFFERED) != message.options.get(50):
            return [bootp_reply(message.xid, message.chaddr, 0, [option(53, bytes((NAK,))),
                                                                 option(54, addr(SERVER_IP))])]
        return [bootp_reply(message.xid, message.chaddr, OFFERED, standard_options(ACK))]

    def answer(self, message: ClientMessage) -> list[bytes]:
        self.seen.append(message)
        if message.kind == DISCOVER:
            return (self.on_discover or self.offer)(message)
        if message.kind == REQUEST:
            return (self.on_request or self.ack)(message)
        return []

    def destination(self, message: ClientMessage, reply: bytes) -> tuple[bytes, int]:
        """(MAC, address) a reply goes to (RFC 2131 4.1): the offered address at the client's MAC, unless
        the client set the broadcast bit or there is no address to send to."""
        yiaddr = struct.unpack_from("!I", reply, 16)[0] if len(reply) >= 20 else 0  # junk a test sends
        if self.broadcast or message.flags & 0x8000 or not yiaddr:
            return BROADCAST, 0xFFFFFFFF
        return message.chaddr, yiaddr

    def kinds(self) -> list[int]:
        return [m.kind for m in self.seen]


class ScriptedServer(DhcpScript):
    """The script on a bare hub port: it reads the client's frames and writes its own, every byte by hand.
    `serve()` answers what has reached the port."""

    def __init__(self, hub: str, clock: VirtualClock) -> None:
        super().__init__()
        self.clock = clock
        self.port = HUBS.get(hub).port(mac=SERVER_MAC)
        self.port.open(self._on_frame)

    def _on_frame(self, frame: bytes) -> None:
        message = read_client_frame(frame, self.clock.now())
        if message is None:
            return
        for reply in self.answer(message):
            dst_mac, dst_ip = self.destination(message, reply)
            self.port.send(udp_frame(dst_mac, SERVER_IP, dst_ip, 67, 68, reply))

    def serve(self) -> int:
        return self.port.drain(1 << 20)

    def turn(self) -> float | None:
        """As a DOS machine's companion (pktdrv.dos.machine.Companion): answer what has come, no timers."""
        self.serve()
        return None

    def fileno(self) -> int | None:
        return None

    def close(self) -> None:
        self.port.close()


def run_with(stack: Stack, server: ScriptedServer, condition: Callable[[], bool]) -> bool:
    """Poll the stack and serve until `condition()`; on the virtual clock, jump to the stack's next deadline
    whenever neither side has anything to do. False when nothing is left to happen."""
    clock = server.clock
    while not condition():
        busy = stack.poll(clock.now()) + server.serve()
        if condition():
            break
        if busy or server.port.queue:
            continue
        deadline = stack.next_deadline()
        if deadline is None:
            return False
        clock.set(max(deadline, clock.now() + 1))
    return True


class StackServer(DhcpScript):
    """The script on a stack of its own at 10.9.0.1 (UDP port 67), for a program that polls several stacks
    (`poll_also`). The client does not answer ARP before it has an address, so the server puts the offered
    address at the client's MAC in its ARP cache first, as dnsmasq does in the kernel's."""

    def __init__(self, hub: str, clock: VirtualClock) -> None:
        super().__init__()
        self.stack = Stack(open_link(f"hub:{hub}?mac={SERVER_MAC.hex(':')}", clock),
                           StackConfig(SERVER_IP, tcp_enabled=False, announce=False), clock).init_stack()
        self.stack.udp.register(67, self._on_datagram)

    def _on_datagram(self, endpoints: UdpEndpoints, payload: memoryview, now: int) -> None:
        message = read_bootp(bytes(payload), now)
        message.ip_src, message.ip_dst = endpoints.src, endpoints.dst
        for reply in self.answer(message):
            dst_mac, dst_ip = self.destination(message, reply)
            if dst_ip != 0xFFFFFFFF:
                self.stack.arp.add_static(dst_ip, dst_mac)
            self.stack.udp.send(67, dst_ip, 68, reply, now)

    def close(self) -> None:
        self.stack.end_stack()


# -- the peer against the RFC ------------------------------------------------------------------------------


def test_reply_layout_is_rfc_2131_figure_1() -> None:
    chaddr = bytes.fromhex("020000000001")
    reply = bootp_reply(0x01020304, chaddr, OFFERED, [option(53, bytes((OFFER,)))])
    assert len(reply) == 300
    assert reply[0] == 2 and reply[1] == 1 and reply[2] == 6  # op BOOTREPLY, htype Ethernet, hlen 6
    assert reply[4:8] == bytes((1, 2, 3, 4))  # xid at octet 4
    assert reply[16:20] == bytes((10, 9, 0, 50))  # yiaddr at octet 16
    assert reply[20:24] == bytes((10, 9, 0, 1))  # siaddr at octet 20
    assert reply[28:34] == chaddr  # chaddr at octet 28
    assert reply[236:240] == bytes((99, 130, 83, 99))  # the magic cookie right after `file`
    assert reply[240:244] == bytes((53, 1, 2, 255))


def test_frame_checksums_verify() -> None:
    frame = udp_frame(BROADCAST, SERVER_IP, 0xFFFFFFFF, 67, 68, b"hello")
    assert slow_checksum(frame[14:34]) == 0
    pseudo = struct.pack("!IIBBH", SERVER_IP, 0xFFFFFFFF, 0, 17, 13)
    assert slow_checksum(pseudo + frame[34:]) == 0
