"""A hostile-frame generator: whole Ethernet frames written to the stack through the TAP's kernel side.

`Wire` is a raw AF_PACKET socket bound to the kernel's end of the TAP device inside a private namespace:
what it writes goes out of mtap0 and so arrives at the stack under test, exactly as written (no kernel
checks, no padding, spoofed addresses allowed). `Sniffer` is another AF_PACKET socket on the same device
that keeps the TCP segments the stack sends, so a test can see challenge ACKs and SYN-ACKs.

`Forge` builds frames field by field, each builder taking overrides for the fields an attack gets wrong
(version, header length, lengths, checksums, option bytes). The frame sets are plain generators:

- `malformed(forge, rng)`: broken frames at every layer, each with the drop reason the stack's parsers
  should count for it (or None when the frame is valid enough to be handled, or answered);
- `syn_flood(forge, rng, port, count)`: SYNs from spoofed sources inside the lab subnet;
- `ping_flood` / `udp_closed_flood`: valid echo requests and UDP datagrams to a port nobody serves.

Used by tests/real/test_hostile.py and bench/bench_loss.py. Spoofed sources are only ever inside
10.0.2.0/24, and the frames only ever go out of the private namespace's TAP device.

As a program, run inside the namespace (so the generator does not share a GIL with the stack):

    python -m tests.real.hostile STACK_MAC COUNT [PORT [RATE]]

builds COUNT frames of `mixed_flood`, prints "ready", waits for a line on stdin, writes them all (at RATE
frames per second; 0 or none: as fast as the device takes them) and prints "sent COUNT SECONDS".
"""

from __future__ import annotations

import random
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from tests.netns import KERNEL_IP, STACK_IP, TAP, NetNs

ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
PROTO_ICMP = 1
PROTO_TCP = 6
PROTO_UDP = 17
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
LAB_NET = "10.0.2.0"
"""Every spoofed source is in 10.0.2.0/24 (never .0, .1, .15 or .255)."""


def ip(text: str) -> int:
    return int.from_bytes(socket.inet_aton(text), "big")


def csum(data: bytes, initial: int = 0) -> int:
    """The Internet checksum (RFC 1071), written here independently of the stack's own."""
    if len(data) & 1:
        data += b"\0"
    total = initial + sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def pseudo(src: int, dst: int, proto: int, length: int) -> int:
    return (src >> 16) + (src & 0xFFFF) + (dst >> 16) + (dst & 0xFFFF) + proto + length


def spoofed_source(rng: random.Random) -> int:
    """A host address in the lab subnet that is neither the kernel (.1) nor the stack (.15)."""
    while True:
        host = rng.randrange(2, 255)
        if host != 15:
            return ip(LAB_NET) | host


@dataclass(frozen=True)
class Forge:
    """Frame builders between the kernel's side (src) and the stack (dst), with overrides."""

    kernel_mac: bytes
    stack_mac: bytes
    kernel_ip: int = ip(KERNEL_IP)
    stack_ip: int = ip(STACK_IP)

    def eth(self, ethertype: int, payload: bytes, dst: bytes | None = None, src: bytes | None = None) -> bytes:
        return (dst or self.stack_mac) + (src or self.kernel_mac) + struct.pack("!H", ethertype) + payload

    def ipv4(self, proto: int, payload: bytes, *, src: int | None = None, dst: int | None = None, ttl: int = 64,
             ident: int = 0, flags: int = 0, frag_offset: int = 0, tos: int = 0, options: bytes = b"",
             version: int = 4, ihl: int | None = None, total: int | None = None, checksum: int | None = None) -> bytes:
        """An IPv4 packet (no Ethernet header). `frag_offset` in bytes; `flags`: 1 = MF, 2 = DF, 4 = reserved."""
        header_len = 20 + len(options)
        ihl = header_len // 4 if ihl is None else ihl
        total = header_len + len(payload) if total is None else total
        head = struct.pack("!BBHHHBBHII", (version << 4) | (ihl & 0xF), tos, total & 0xFFFF, ident & 0xFFFF,
                           ((flags & 0x7) << 13) | ((frag_offset >> 3) & 0x1FFF), ttl, proto, 0,
                           self.kernel_ip if src is None else src, self.stack_ip if dst is None else dst) + options
        value = csum(head) if checksum is None else checksum
        return head[:10] + struct.pack("!H", value) + head[12:] + payload

    def ip_frame(self, proto: int, payload: bytes, **fields: object) -> bytes:
        return self.eth(ETH_P_IP, self.ipv4(proto, payload, **fields))  # type: ignore[arg-type]

    def tcp(self, sport: int, dport: int, seq: int, ack: int, flags: int, *, window: int = 65535,
            options: bytes = b"", payload: bytes = b"", offset: int | None = None, src: int | None = None,
            dst: int | None = None, checksum: int | None = None) -> bytes:
        """A TCP segment (no IP header); `offset` overrides the data offset in 32-bit words."""
        words = (20 + len(options) + 3) // 4 if offset is None else offset
        options = options + b"\0" * (-len(options) % 4)
        segment = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, (words & 0xF) << 4,
                              flags, window, 0, 0) + options + payload
        source = self.kernel_ip if src is None else src
        target = self.stack_ip if dst is None else dst
        value = csum(segment, pseudo(source, target, PROTO_TCP, len(segment))) if checksum is None else checksum
        return segment[:16] + struct.pack("!H", value) + segment[18:]

    def tcp_frame(self, sport: int, dport: int, seq: int, ack: int, flags: int, *, src: int | None = None,
                  ip_fields: dict[str, object] | None = None, **fields: object) -> bytes:
        segment = self.tcp(sport, dport, seq, ack, flags, src=src, **fields)  # type: ignore[arg-type]
        return self.ip_frame(PROTO_TCP, segment, src=src, **(ip_fields or {}))

    def udp(self, sport: int, dport: int, payload: bytes, *, length: int | None = None, src: int | None = None,
            checksum: int | None = None) -> bytes:
        size = 8 + len(payload) if length is None else length
        datagram = struct.pack("!HHHH", sport, dport, size & 0xFFFF, 0) + payload
        source = self.kernel_ip if src is None else src
        value = csum(datagram, pseudo(source, self.stack_ip, PROTO_UDP, len(datagram))) or 0xFFFF
        value = value if checksum is None else checksum
        return datagram[:6] + struct.pack("!H", value) + datagram[8:]

    @staticmethod
    def icmp(kind: int, code: int, rest: int = 0, data: bytes = b"", checksum: int | None = None) -> bytes:
        message = struct.pack("!BBHI", kind, code, 0, rest) + data
        value = csum(message) if checksum is None else checksum
        return message[:2] + struct.pack("!H", value) + message[4:]

    def echo_request(self, echo_ident: int, seq: int, data: bytes = b"", **ip_fields: object) -> bytes:
        return self.ip_frame(PROTO_ICMP, self.icmp(8, 0, (echo_ident << 16) | seq, data), **ip_fields)

    def arp(self, op: int, sender_ip: int, target_ip: int, *, sender_mac: bytes | None = None,
            target_mac: bytes = bytes(6), htype: int = 1, ptype: int = ETH_P_IP, hlen: int = 6, plen: int = 4,
            dst: bytes | None = None) -> bytes:
        body = struct.pack("!HHBBH6sI6sI", htype, ptype, hlen, plen, op, sender_mac or self.kernel_mac, sender_ip,
                           target_mac, target_ip)
        return self.eth(ETH_P_ARP, body, dst=dst or b"\xff" * 6)


# -- the socket -------------------------------------------------------------------------------------------------


class Wire:
    """A raw socket on the kernel's side of the TAP device: `send(frame)` delivers a frame to the stack."""

    def __init__(self, ns: NetNs | None, iface: str = TAP) -> None:
        """`ns` None: this process is already inside the namespace."""
        def open_raw() -> socket.socket:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)  # protocol 0: send only
            sock.bind((iface, 0))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 22)
            return sock

        self.sock = open_raw() if ns is None else ns.call(open_raw)
        self.kernel_mac: bytes = self.sock.getsockname()[4][:6]
        self.sent = 0
        self.refused = 0
        """Frames the kernel would not send (shorter than an Ethernet header); counted, not raised."""

    def send(self, frame: bytes) -> None:
        while True:
            try:
                self.sock.send(frame)
                self.sent += 1
                return
            except BlockingIOError:
                time.sleep(0.0005)  # the device queue is full: back off briefly (pacing, not synchronising)
            except OSError:
                self.refused += 1
                return

    def send_all(self, frames: Iterable[bytes]) -> int:
        count = 0
        for frame in frames:
            self.send(frame)
            count += 1
        return count

    def close(self) -> None:
        self.sock.close()


@dataclass(frozen=True)
class Seen:
    """A TCP segment the stack sent, as the sniffer saw it."""

    when: float
    src: int
    dst: int
    sport: int
    dport: int
    seq: int
    ack: int
    flags: int
    window: int
    length: int
    options: bytes


@dataclass
class Sniffer:
    """Keeps every IPv4/TCP segment the stack sends (source MAC = the stack's) while it runs."""

    ns: NetNs
    stack_mac: bytes
    iface: str = TAP
    segments: list[Seen] = field(default_factory=list)
    echo_replies: set[tuple[int, int]] = field(default_factory=set)
    """(identifier, sequence) of every ICMP echo reply the stack sent."""
    frames_from_stack: int = 0

    def __enter__(self) -> Sniffer:
        def open_raw() -> socket.socket:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            sock.bind((self.iface, 0))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 24)
            sock.settimeout(0.1)
            return sock

        self._sock = ns_sock = self.ns.call(open_raw)
        self._stop = threading.Event()
        self._cond = threading.Condition()

        def run() -> None:
            while not self._stop.is_set():
                try:
                    frame = ns_sock.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if frame[6:12] != self.stack_mac:
                    continue
                self.frames_from_stack += 1
                seen = _parse_tcp(frame)
                reply = _parse_echo_reply(frame)
                if seen is not None or reply is not None:
                    with self._cond:
                        if seen is not None:
                            self.segments.append(seen)
                        if reply is not None:
                            self.echo_replies.add(reply)
                        self._cond.notify_all()

        self._thread = threading.Thread(target=run, name="sniffer", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()

    def mark(self) -> int:
        with self._cond:
            return len(self.segments)

    def since(self, mark: int, match: Callable[[Seen], bool] = lambda s: True) -> list[Seen]:
        with self._cond:
            return [s for s in self.segments[mark:] if match(s)]

    def wait_reply(self, ident: int, seq: int, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while (ident, seq) not in self.echo_replies:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def wait_total(self, mark: int, match: Callable[[Seen], bool], total: int, timeout: float = 5.0) -> int:
        """Wait until the matching segments since `mark` carry `total` payload bytes; returns what they carry."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                have = sum(s.length for s in self.segments[mark:] if match(s))
                left = deadline - time.monotonic()
                if have >= total or left <= 0:
                    return have
                self._cond.wait(left)

    def wait_for(self, mark: int, match: Callable[[Seen], bool], timeout: float = 2.0) -> Seen | None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for seen in self.segments[mark:]:
                    if match(seen):
                        return seen
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)


def _parse_echo_reply(frame: bytes) -> tuple[int, int] | None:
    if len(frame) < 42 or frame[12:14] != b"\x08\x00" or frame[23] != PROTO_ICMP:
        return None
    at = 14 + (frame[14] & 0xF) * 4
    if len(frame) < at + 8 or frame[at] != 0:
        return None
    ident, seq = struct.unpack_from("!HH", frame, at + 4)
    return ident, seq


def _parse_tcp(frame: bytes) -> Seen | None:
    if len(frame) < 54 or frame[12:14] != b"\x08\x00" or frame[23] != PROTO_TCP:
        return None
    ihl = (frame[14] & 0xF) * 4
    total = struct.unpack_from("!H", frame, 16)[0]
    src, dst = struct.unpack_from("!II", frame, 26)
    at = 14 + ihl
    sport, dport, seq, ack, off, flags, window = struct.unpack_from("!HHIIBBH", frame, at)
    header = (off >> 4) * 4
    return Seen(time.monotonic(), src, dst, sport, dport, seq, ack, flags, window, total - ihl - header,
                bytes(frame[at + 20 : at + header]))


# -- frame sets -----------------------------------------------------------------------------------------------


Labelled = tuple[str, bytes, str | None]
"""(what it is, the frame, the drop reason the stack should count for it, or None)."""


def malformed(forge: Forge, rng: random.Random, closed_tcp_port: int = 4444) -> Iterator[Labelled]:
    """Broken frames at every layer, a few of each kind."""
    f = forge
    ping = f.icmp(8, 0, 0x4242_0001, b"hostile")
    for _ in range(3):
        # -- IPv4 header
        yield "ip version 6", f.ip_frame(PROTO_ICMP, ping, version=6), "ip_bad_version"
        yield "ip version 0", f.ip_frame(PROTO_ICMP, ping, version=0), "ip_bad_version"
        yield "ip ihl 4", f.ip_frame(PROTO_ICMP, ping, ihl=4), "ip_bad_header_len"
        yield "ip ihl 0", f.ip_frame(PROTO_ICMP, ping, ihl=0), "ip_bad_header_len"
        yield "ip ihl 15 past the packet", f.eth(ETH_P_IP, f.ipv4(PROTO_ICMP, b"", ihl=15)), "ip_bad_header_len"
        yield "ip truncated", f.eth(ETH_P_IP, f.ipv4(PROTO_ICMP, b"")[:12]), "ip_truncated"
        yield "ip total length short", f.ip_frame(PROTO_ICMP, ping, total=19), "ip_bad_total_len"
        yield "ip total length long", f.ip_frame(PROTO_ICMP, ping, total=1400), "ip_bad_total_len"
        yield "ip bad checksum", f.ip_frame(PROTO_ICMP, ping, checksum=0x1234), "ip_bad_checksum"
        yield "ip reserved flag", f.ip_frame(PROTO_ICMP, ping, flags=0x4), "ip_reserved_flag"
        yield "ip fragment past 64 KiB", f.ip_frame(PROTO_ICMP, ping[:16], flags=0x1, frag_offset=65528,
                                                    ident=rng.randrange(65536)), "ip_fragment_too_long"
        yield "ip not for us", f.ip_frame(PROTO_ICMP, ping, dst=ip("10.0.2.99")), None
        yield "ip broadcast source", f.ip_frame(PROTO_ICMP, ping, src=0xFFFFFFFF), None
        yield "ip directed broadcast source (smurf)", f.ip_frame(PROTO_ICMP, ping, src=ip("10.0.2.255")), None
        yield "ip loopback source", f.ip_frame(PROTO_ICMP, ping, src=ip("127.0.0.1")), None
        yield "ip ttl 0 (still for us: RFC 1122 3.2.1.7)", f.ip_frame(PROTO_ICMP, ping, ttl=0), None
        garbage = rng.randbytes(4 * rng.randrange(1, 11))
        yield "ip options garbage", f.ip_frame(PROTO_ICMP, ping, options=garbage), None
        yield "ip unknown protocol", f.ip_frame(253, b"x" * 20), None
        # -- ICMP
        yield "icmp truncated", f.ip_frame(PROTO_ICMP, ping[:5]), "icmp_truncated"
        yield "icmp bad checksum", f.ip_frame(PROTO_ICMP, f.icmp(8, 0, 1, b"abc", checksum=0xBEEF)), \
            "icmp_bad_checksum"
        yield "icmp error quoting 10 bytes", f.ip_frame(PROTO_ICMP, f.icmp(3, 3, 0, rng.randbytes(10))), \
            "icmp_error_truncated"
        yield "icmp error quoting garbage", f.ip_frame(PROTO_ICMP, f.icmp(3, 1, 0, rng.randbytes(40))), None
        quote = f.ipv4(PROTO_TCP, rng.randbytes(8), src=ip("10.0.2.77"), dst=f.kernel_ip)
        yield "icmp error quoting someone else's datagram", f.ip_frame(PROTO_ICMP, f.icmp(3, 3, 0, quote)), None
        quote = f.ipv4(PROTO_UDP, rng.randbytes(8), src=f.stack_ip, dst=f.kernel_ip)
        yield "icmp error quoting our UDP (we have none)", f.ip_frame(PROTO_ICMP, f.icmp(11, 0, 0, quote)), None
        yield "icmp unknown type", f.ip_frame(PROTO_ICMP, f.icmp(42, 7, 0, b"??")), None
        yield "icmp echo to the subnet broadcast", f.ip_frame(PROTO_ICMP, ping, dst=ip("10.0.2.255")), None
        # -- UDP (the stack has no UDP: protocol unreachable)
        yield "udp to a closed port", f.ip_frame(PROTO_UDP, f.udp(40000, 9999, b"hello")), None
        yield "udp length past the datagram", f.ip_frame(PROTO_UDP, f.udp(40000, 9999, b"hi", length=900)), None
        yield "udp length below 8", f.ip_frame(PROTO_UDP, f.udp(40000, 9999, b"hi", length=3)), None
        yield "udp truncated header", f.ip_frame(PROTO_UDP, b"\x01\x02\x03"), None
        # -- TCP header (to a closed port: a valid one would be answered with a reset)
        port = closed_tcp_port
        seq = rng.getrandbits(32)
        yield "tcp truncated", f.ip_frame(PROTO_TCP, f.tcp(40001, port, seq, 0, SYN)[:12]), "tcp_truncated"
        yield "tcp data offset 4", f.ip_frame(PROTO_TCP, f.tcp(40001, port, seq, 0, SYN, offset=4)), \
            "tcp_bad_data_offset"
        yield "tcp data offset past the segment", f.ip_frame(PROTO_TCP, f.tcp(40001, port, seq, 0, SYN, offset=15)), \
            "tcp_bad_data_offset"
        yield "tcp bad checksum", f.ip_frame(PROTO_TCP, f.tcp(40001, port, seq, 0, SYN, checksum=0x4321)), \
            "tcp_bad_checksum"
        yield "tcp source port 0", f.ip_frame(PROTO_TCP, f.tcp(0, port, seq, 0, SYN)), "tcp_port_zero"
        yield "tcp SYN+FIN", f.ip_frame(PROTO_TCP, f.tcp(40001, port, seq, 0, SYN | FIN)), "tcp_bad_flags"
        yield "tcp SYN+RST", f.ip_frame(PROTO_TCP, f.tcp(40001, port, seq, 0, SYN | RST)), "tcp_bad_flags"
        # -- ARP
        yield "arp truncated", f.arp(1, f.kernel_ip, f.stack_ip)[:30], "arp_truncated"
        yield "arp opcode 7", f.arp(7, f.kernel_ip, f.stack_ip), "arp_bad_operation"
        yield "arp opcode 0", f.arp(0, f.kernel_ip, f.stack_ip), "arp_bad_operation"
        yield "arp hardware type 6", f.arp(1, f.kernel_ip, f.stack_ip, htype=6), "arp_unsupported"
        yield "arp protocol length 16", f.arp(1, f.kernel_ip, f.stack_ip, plen=16), "arp_unsupported"
        yield "arp multicast sender", f.arp(1, spoofed_source(rng), f.stack_ip, sender_mac=b"\x01\0^\0\0\1"), \
            "arp_bad_sender"
        yield "arp request for another address", f.arp(1, spoofed_source(rng), ip("10.0.2.77"),
                                                       sender_mac=b"\x02" + rng.randbytes(5)), None
        # -- random bytes, under each type the stack reads and one it does not
        for kind in (ETH_P_IP, ETH_P_ARP, 0x86DD, rng.randrange(0x0600, 0x10000)):
            yield "random bytes", f.eth(kind, rng.randbytes(rng.randrange(0, 200))), None


def fragment_attacks(forge: Forge, rng: random.Random, ids: int = 64) -> Iterator[tuple[str, bytes]]:
    """Fragments that overlap (with different bytes) or never complete, under many identifications, so the
    reassembly slots fill; and one datagram in 8-byte pieces that never gets its last one."""
    f = forge
    base = rng.randrange(1 << 15)
    for i in range(ids // 4):
        ident = base + i
        first = f.icmp(8, 0, (0x4343 << 16) | i, rng.randbytes(24))
        yield "overlap, first", f.ip_frame(PROTO_ICMP, first, ident=ident, flags=1)
        yield "overlap, rewriting", f.ip_frame(PROTO_ICMP, rng.randbytes(24), ident=ident, flags=1, frag_offset=8)
    for i in range(ids):
        ident = base + 1000 + i
        yield "never completes", f.ip_frame(PROTO_ICMP, f.icmp(8, 0, i, rng.randbytes(32)), ident=ident, flags=1)
    ident = base + 5000
    for offset in range(0, 8 * 512, 8):
        yield "8-byte pieces", f.ip_frame(PROTO_ICMP, rng.randbytes(8), ident=ident, flags=1, frag_offset=offset)


def bad_option_syns(forge: Forge, port: int, first_sport: int) -> Iterator[tuple[str, bytes, int]]:
    """SYNs from the kernel's address (whose kernel resets the SYN-ACK) with options no honest peer sends.

    Yields (what, frame, source port). RFC 9293 3.1 asks a receiver to be prepared for an illegal option
    length: each of these must still be answered (a SYN-ACK, or a reset), never silently dropped.
    """
    cases = [
        ("option length 0", b"\x08\x00\x02\x04\x05\xb4"),       # unknown kind 8 with length 0, then MSS
        ("option length 1", b"\x08\x01\x02\x04\x05\xb4"),
        ("MSS option length past the header", b"\x01\x01\x01\x02\x04"),  # NOPs, then an MSS cut off
        ("MSS length 3", b"\x02\x03\x05\x01"),
        ("MSS length 6", b"\x02\x06\x05\xb4\x00\x00"),
        ("window scale length 4", b"\x03\x04\x07\x00\x01\x01\x01\x01"),
        ("odd-length unknown options", b"\x1e\x03\x00\x1f\x05\x00\x00\x00\x02\x04\x05\xb4"),
        ("MSS 0", b"\x02\x04\x00\x00"),
    ]
    for i, (what, options) in enumerate(cases):
        sport = first_sport + i
        yield what, forge.tcp_frame(sport, port, 1_000_000 * (i + 1), 0, SYN, options=options, window=8192), sport


def syn_flood(forge: Forge, rng: random.Random, port: int, count: int) -> Iterator[bytes]:
    """SYNs to `port` from spoofed sources in the lab subnet, random ports and sequence numbers."""
    for _ in range(count):
        yield forge.tcp_frame(rng.randrange(1024, 65536), port, rng.getrandbits(32), 0, SYN, src=spoofed_source(rng),
                              options=b"\x02\x04\x05\xb4", window=rng.randrange(1024, 65536))


def ping_flood(forge: Forge, count: int, size: int = 56, ident: int = 0x5151) -> Iterator[bytes]:
    """Valid echo requests from the kernel's address (its kernel drops the replies it did not ask for)."""
    data = bytes(range(256)) * (size // 256 + 1)
    for seq in range(count):
        yield forge.echo_request(ident, seq & 0xFFFF, data[:size], ident=seq & 0xFFFF)


def udp_closed_flood(forge: Forge, count: int, size: int = 32) -> Iterator[bytes]:
    for i in range(count):
        yield forge.ip_frame(PROTO_UDP, forge.udp(30000 + i % 1000, 9 + i % 50, bytes(size)), ident=i & 0xFFFF)


def mixed_flood(forge: Forge, rng: random.Random, count: int, port: int) -> Iterator[bytes]:
    """Everything at once, for the benchmark: malformed frames, spoofed SYNs, pings and UDP, interleaved."""
    bad = [frame for _, frame, _ in malformed(forge, rng)]
    syns = syn_flood(forge, rng, port, count)
    pings = ping_flood(forge, count)
    udps = udp_closed_flood(forge, count)
    for i in range(count):
        pick = i % 4
        if pick == 0:
            yield bad[i // 4 % len(bad)]
        elif pick == 1:
            yield next(syns)
        elif pick == 2:
            yield next(pings)
        else:
            yield next(udps)


def main(argv: list[str]) -> None:
    stack_mac = bytes.fromhex(argv[0].replace(":", ""))
    count = int(argv[1])
    port = int(argv[2]) if len(argv) > 2 else 7
    rate = float(argv[3]) if len(argv) > 3 else 0.0
    wire = Wire(None)
    frames = list(mixed_flood(Forge(wire.kernel_mac, stack_mac), random.Random(3), count, port))
    print("ready", flush=True)
    sys.stdin.readline()
    start = time.perf_counter()
    if rate <= 0:
        wire.send_all(frames)
    else:
        for i in range(0, len(frames), 64):
            wire.send_all(frames[i : i + 64])
            ahead = start + (i + 64) / rate - time.perf_counter()
            if ahead > 0:
                time.sleep(ahead)  # pacing the offered rate
    print("sent", wire.sent, f"{time.perf_counter() - start:.6f}", flush=True)
    wire.close()


if __name__ == "__main__":
    main(sys.argv[1:])
