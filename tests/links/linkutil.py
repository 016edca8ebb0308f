"""What the link tests share: frames and IPv4 datagrams written by hand, and a loop that drives a link
until a condition holds (waiting on the link's descriptor, with a deadline; never a bare sleep)."""

from __future__ import annotations

import itertools
import select
import socket
import struct
import threading
import time
from collections.abc import Callable

from pktdrv.links.base import Link

STACK_MAC = bytes.fromhex("020000000001")
PEER_MAC = bytes.fromhex("020000000002")
BROADCAST = b"\xff" * 6
_ticks = itertools.count(1)


def frame(n: int, size: int = 60, dst: bytes = BROADCAST, src: bytes = STACK_MAC) -> bytes:
    """An Ethernet frame numbered `n` (bytes 14..18), `size` bytes long."""
    return dst + src + b"\x88\xb5" + n.to_bytes(4, "big") + bytes((n + i) & 0xFF for i in range(size - 18))


def free_port(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    """A port nothing on loopback uses now (TCP, or UDP with SOCK_DGRAM), for a link to listen on."""
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def rfc1055(packet: bytes) -> bytes:
    """RFC 1055's send_packet, byte by byte, with the leading END it recommends."""
    out = b"\xc0"
    for byte in packet:
        if byte == 0xC0:
            out += b"\xdb\xdc"
        elif byte == 0xDB:
            out += b"\xdb\xdd"
        else:
            out += bytes([byte])
    return out + b"\xc0"


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071), written out here rather than taken from the code under test."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f">{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ipv4(payload: bytes, src: str = "10.0.2.15", dst: str = "10.0.2.2", proto: int = 17) -> bytes:
    """An IPv4 datagram (RFC 791) with a correct header checksum."""
    header = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0, 64, proto, 0,
                         socket.inet_aton(src), socket.inet_aton(dst))
    header = header[:10] + checksum(header).to_bytes(2, "big") + header[12:]
    return header + payload


def pump(link: Link, condition: Callable[[], bool], timeout: float = 5.0, ticks: bool = True) -> bool:
    """Drain and poll `link` until `condition()` holds or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        if ticks:
            link.poll(next(_ticks))
        link.drain(64)
        if condition():
            return True
        if time.monotonic() > deadline:
            return False
        fd = link.fileno()
        if fd is not None:
            select.select([fd], [], [], 0.01)
        else:
            select.select([], [], [], 0.01)


def read_exactly(sock: socket.socket, count: int, timeout: float = 5.0) -> bytes:
    sock.settimeout(timeout)
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise EOFError(f"the link closed after {len(data)} of {count} bytes")
        data += chunk
    return data


def serve_one(server: socket.socket, expect: int, reply: bytes = b"",
              timeout: float = 30) -> tuple[threading.Thread, list[bytes]]:
    """A started thread that accepts one connection on `server`, reads `expect` bytes (fewer if the peer
    ends first), sends `reply` and closes; what it read lands in the list."""
    received: list[bytes] = []

    def run() -> None:
        server.settimeout(timeout)
        conn, _ = server.accept()
        conn.settimeout(timeout)
        data = b""
        while len(data) < expect:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
        received.append(data)
        conn.sendall(reply)
        conn.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, received
