"""Test frames built independently of the code under test (struct and a slow checksum), and a small lab:
one fresh Stack on a hub with a VirtualClock, and a peer port that injects frames and captures replies."""

from __future__ import annotations

import itertools
import struct
from dataclasses import dataclass, field

from mtcp_py.stack import Stack, StackConfig
from pktdrv import VirtualClock, open_link
from pktdrv.links import HUBS, HubLink

STACK_MAC = bytes.fromhex("020000000001")
PEER_MAC = bytes.fromhex("020000000002")
BROADCAST = b"\xff" * 6
STACK_IP = 0x0A090001  # 10.9.0.1
PEER_IP = 0x0A090002  # 10.9.0.2
OTHER_IP = 0x0A090063  # 10.9.0.99: on the network, never answers
_names = itertools.count()


def slow_checksum(data: bytes) -> int:
    """RFC 1071 the textbook way: 16-bit words, end-around carry, complement."""
    if len(data) % 2:
        data += b"\x00"
    total = 0
    for i in range(0, len(data), 2):
        total += (data[i] << 8) | data[i + 1]
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def eth(dst: bytes, src: bytes, ethertype: int, payload: bytes) -> bytes:
    return dst + src + struct.pack("!H", ethertype) + payload


def pad(frame: bytes) -> bytes:
    """What a NIC puts on the wire: at least 60 bytes."""
    return frame + bytes(max(0, 60 - len(frame)))


def arp(op: int, smac: bytes, sip: int, tmac: bytes, tip: int) -> bytes:
    return struct.pack("!HHBBH6sI6sI", 1, 0x0800, 6, 4, op, smac, sip, tmac, tip)


def ipv4(src: int, dst: int, proto: int, payload: bytes, *, ident: int = 0, ttl: int = 64, df: bool = False,
         mf: bool = False, offset: int = 0, version: int = 4, ihl: int = 5, total: int | None = None,
         options: bytes = b"", good_checksum: bool = True) -> bytes:
    flags = (0x4000 if df else 0) | (0x2000 if mf else 0) | (offset >> 3)
    length = 20 + len(options) + len(payload) if total is None else total
    header = struct.pack("!BBHHHBBHII", (version << 4) | ihl, 0, length, ident, flags, ttl, proto, 0, src, dst)
    header += options
    csum = slow_checksum(header)
    if not good_checksum:
        csum ^= 0x5A5A
    header = header[:10] + struct.pack("!H", csum) + header[12:]
    return header + payload


def icmp(kind: int, code: int, ident: int, seq: int, data: bytes) -> bytes:
    body = struct.pack("!BBHHH", kind, code, 0, ident, seq) + data
    return body[:2] + struct.pack("!H", slow_checksum(body)) + body[4:]


def echo_request(data: bytes = b"ping", ident: int = 0x1234, seq: int = 1) -> bytes:
    return icmp(8, 0, ident, seq, data)


def peer_ip_frame(payload_ip: bytes, dst_mac: bytes = STACK_MAC) -> bytes:
    return eth(dst_mac, PEER_MAC, 0x0800, payload_ip)


@dataclass
class Lab:
    """A started Stack on a hub of its own, a peer port that records what reaches it, a virtual clock."""

    stack: Stack
    peer: HubLink
    clock: VirtualClock
    hub_name: str
    seen: list[bytes] = field(default_factory=list)

    def inject(self, frame: bytes) -> None:
        self.peer.send(frame)
        self.stack.poll(self.clock.now())

    def take(self) -> list[bytes]:
        self.peer.drain(1 << 20)  # what the hub queued for the peer's port
        out, self.seen[:] = list(self.seen), []
        return out

    def advance(self, ticks: int) -> None:
        for _ in range(ticks):
            self.stack.poll(self.clock.advance(1))

    def learn_peer(self) -> None:
        """The peer asks for our address, so the stack learns the peer's (and the reply is discarded)."""
        self.inject(eth(STACK_MAC, PEER_MAC, 0x0806, arp(1, PEER_MAC, PEER_IP, bytes(6), STACK_IP)))
        self.take()

    def close(self) -> None:
        self.stack.end_stack()
        self.peer.close()


def make_lab(*, tcp: bool = False, **config: object) -> Lab:
    clock = VirtualClock()
    name = f"unit{next(_names)}"
    link = open_link(f"hub:{name}?mac=02:00:00:00:00:01", clock)
    address = int(config.pop("ip", STACK_IP))  # type: ignore[call-overload]
    cfg = StackConfig(address, announce=bool(config.pop("announce", False)), tcp_enabled=tcp,
                      **config)  # type: ignore[arg-type]
    peer = HUBS.get(name).port(mac=PEER_MAC)
    lab_seen: list[bytes] = []
    peer.open(lab_seen.append)
    stack = Stack(link, cfg, clock).init_stack()
    return Lab(stack, peer, clock, name, lab_seen)


def udp(src: int, dst: int, sport: int, dport: int, payload: bytes, *, checksum: bool = True,
        length: int | None = None) -> bytes:
    """A UDP datagram (RFC 768) with its pseudo-header checksum, or 0 (none) when `checksum` is False."""
    size = 8 + len(payload) if length is None else length
    header = struct.pack("!HHHH", sport, dport, size, 0)
    value = 0
    if checksum:
        pseudo = struct.pack("!IIBBH", src, dst, 0, 17, 8 + len(payload))
        value = slow_checksum(pseudo + header + payload) or 0xFFFF
    return header[:6] + struct.pack("!H", value) + payload
