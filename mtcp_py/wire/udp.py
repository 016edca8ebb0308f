"""UDP datagrams (RFC 768): the 8-byte header, the pseudo-header checksum, and the checks a receiver makes.

A received checksum of zero means the sender computed none (RFC 768); a computed checksum that comes out
zero is sent as 0xFFFF, its other one's-complement form, so that it is never mistaken for "none".
"""

from __future__ import annotations

import struct

from ..checksum import transport_checksum, transport_ok
from . import WireError
from .ipv4 import PROTO_UDP

HEADER = struct.Struct("!HHHH")
HEADER_LEN = 8
MAX_PAYLOAD = 65_535 - 20 - HEADER_LEN
_CHECKSUM = struct.Struct("!H")


def parse(data: bytes | bytearray | memoryview, src_ip: int, dst_ip: int,
          verify_checksum: bool = True) -> tuple[int, int, memoryview]:
    """(source port, destination port, payload) of the datagram `data` (the IP payload, exactly).

    Raises WireError: `udp_truncated` (shorter than a header), `udp_bad_length` (the length field is
    below 8 or runs past the IP payload), `udp_bad_checksum`. Bytes after the UDP length (IP padding)
    are not part of the datagram. A source or destination port of zero is left for the layer to judge.
    """
    if len(data) < HEADER_LEN:
        raise WireError("udp_truncated", f"{len(data)} bytes")
    src_port, dst_port, length, checksum = HEADER.unpack_from(data, 0)
    if length < HEADER_LEN or length > len(data):
        raise WireError("udp_bad_length", f"length field {length}, {len(data)} bytes carried")
    view = memoryview(data)[:length]
    if checksum and verify_checksum and not transport_ok(view, src_ip, dst_ip, PROTO_UDP):
        raise WireError("udp_bad_checksum")
    return src_port, dst_port, view[HEADER_LEN:]


def emit(buf: bytearray | memoryview, offset: int, src_ip: int, dst_ip: int, src_port: int, dst_port: int,
         payload: bytes | bytearray | memoryview) -> int:
    """Write header and payload at `offset`, with the checksum; returns the datagram's length."""
    length = HEADER_LEN + len(payload)
    if length > 65_535:
        raise ValueError(f"a UDP datagram carries at most {MAX_PAYLOAD} bytes, not {len(payload)}")
    HEADER.pack_into(buf, offset, src_port, dst_port, length, 0)
    buf[offset + HEADER_LEN : offset + length] = payload
    value = transport_checksum(memoryview(buf)[offset : offset + length], src_ip, dst_ip, PROTO_UDP)
    _CHECKSUM.pack_into(buf, offset + 6, value or 0xFFFF)
    return length


def build(src_ip: int, dst_ip: int, src_port: int, dst_port: int, payload: bytes | bytearray | memoryview) -> bytes:
    """The datagram as bytes (header and payload), checksum filled."""
    buf = bytearray(HEADER_LEN + len(payload))
    emit(buf, 0, src_ip, dst_ip, src_port, dst_port, payload)
    return bytes(buf)
