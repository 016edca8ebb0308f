"""ICMP messages (RFC 792): echo, destination unreachable, time exceeded."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..checksum import checksum, ones_sum
from . import WireError
from .ipv4 import HEADER_LEN as IP_HEADER_LEN
from .ipv4 import Ipv4Repr

HEADER = struct.Struct("!BBHHH")
HEADER_LEN = 8
ECHO_REPLY = 0
DEST_UNREACHABLE = 3
SOURCE_QUENCH = 4
ECHO_REQUEST = 8
TIME_EXCEEDED = 11
PARAMETER_PROBLEM = 12

UNREACH_NET = 0
UNREACH_HOST = 1
UNREACH_PROTOCOL = 2
UNREACH_PORT = 3
UNREACH_FRAG_NEEDED = 4
ERROR_TYPES = (DEST_UNREACHABLE, SOURCE_QUENCH, TIME_EXCEEDED, PARAMETER_PROBLEM)
_CHECKSUM = struct.Struct("!H")


@dataclass(slots=True)
class IcmpRepr:
    """One ICMP message. For echo, `ident` and `seq` are the two header words; for errors they carry
    the rest-of-header (next-hop MTU for fragmentation needed). `data` is everything after the header."""

    type: int
    code: int
    ident: int = 0
    seq: int = 0
    data: bytes = b""

    @classmethod
    def parse(cls, message: bytes | bytearray | memoryview) -> IcmpRepr:
        if len(message) < HEADER_LEN:
            raise WireError("icmp_truncated", f"{len(message)} bytes")
        if ones_sum(message) != 0xFFFF:
            raise WireError("icmp_bad_checksum")
        kind, code, _csum, ident, seq = HEADER.unpack_from(message, 0)
        if kind in ERROR_TYPES and len(message) < HEADER_LEN + 20 + 8:
            raise WireError("icmp_error_truncated", "an error quotes an IP header and 8 bytes")
        return cls(kind, code, ident, seq, bytes(message[HEADER_LEN:]))

    def buffer_len(self) -> int:
        return HEADER_LEN + len(self.data)

    def emit(self, buf: bytearray | memoryview, offset: int = 0) -> None:
        end = offset + self.buffer_len()
        HEADER.pack_into(buf, offset, self.type, self.code, 0, self.ident, self.seq)
        buf[offset + HEADER_LEN : end] = self.data
        _CHECKSUM.pack_into(buf, offset + 2, checksum(memoryview(buf)[offset:end]))

    def to_bytes(self) -> bytes:
        out = bytearray(self.buffer_len())
        self.emit(out)
        return bytes(out)


def error_quote(original: Ipv4Repr, payload: bytes | bytearray | memoryview) -> bytes:
    """What an ICMP error quotes (RFC 792): the original datagram's IP header, written as a whole
    datagram's (no options, no fragment fields), and the first 8 bytes of its payload."""
    header = bytearray(IP_HEADER_LEN)
    original.emit(header)
    return bytes(header) + bytes(payload[:8])
