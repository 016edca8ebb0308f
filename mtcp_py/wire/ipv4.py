"""IPv4 headers (RFC 791): parse with every check the stack relies on, emit with the checksum filled in."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..checksum import ones_sum
from . import WireError

HEADER = struct.Struct("!BBHHHBBHII")
HEADER_LEN = 20
FLAG_DF = 0x4000
FLAG_MF = 0x2000
OFFSET_MASK = 0x1FFF
PROTO_ICMP = 1
PROTO_TCP = 6
PROTO_UDP = 17


@dataclass(slots=True)
class Ipv4Repr:
    src: int
    dst: int
    protocol: int
    payload_len: int
    ttl: int = 64
    ident: int = 0
    dont_fragment: bool = False
    more_fragments: bool = False
    frag_offset: int = 0
    """In bytes (a multiple of 8)."""
    tos: int = 0
    header_len: int = HEADER_LEN
    """Options are accepted and skipped on receive; never sent."""

    @property
    def is_fragment(self) -> bool:
        return self.more_fragments or self.frag_offset != 0

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview, verify_checksum: bool = True) -> Ipv4Repr:
        """Check version, header length, total length and checksum; the payload is data[header_len:total]."""
        if len(data) < HEADER_LEN:
            raise WireError("ip_truncated", f"{len(data)} bytes")
        ver_ihl, tos, total, ident, flags_off, ttl, proto, _csum, src, dst = HEADER.unpack_from(data, 0)
        if ver_ihl >> 4 != 4:
            raise WireError("ip_bad_version", f"version {ver_ihl >> 4}")
        header_len = (ver_ihl & 0xF) * 4
        if header_len < HEADER_LEN or header_len > len(data):
            raise WireError("ip_bad_header_len", f"header length {header_len}")
        if total < header_len or total > len(data):
            raise WireError("ip_bad_total_len", f"total length {total}, have {len(data)}")
        if verify_checksum and ones_sum(data[:header_len]) != 0xFFFF:
            raise WireError("ip_bad_checksum")
        if flags_off & 0x8000:
            raise WireError("ip_reserved_flag")
        more = bool(flags_off & FLAG_MF)
        offset = (flags_off & OFFSET_MASK) * 8
        if offset + total - header_len > 65_535:
            raise WireError("ip_fragment_too_long", f"offset {offset} + {total - header_len}")
        return cls(src, dst, proto, total - header_len, ttl, ident, bool(flags_off & FLAG_DF), more, offset,
                   tos, header_len)

    @classmethod
    def parse_quoted(cls, data: bytes | bytearray | memoryview) -> Ipv4Repr:
        """The header an ICMP error quotes: the whole header we sent, whose total length usually exceeds
        the quote (only the start of the datagram comes back). The checksum is not rechecked."""
        try:
            return cls.parse(data, verify_checksum=False)
        except WireError:
            pass
        if len(data) < HEADER_LEN:
            raise WireError("icmp_quote_truncated")
        padded = bytearray(data[:60])
        header_len = (padded[0] & 0xF) * 4
        if header_len < HEADER_LEN or header_len > len(padded):
            raise WireError("icmp_quote_bad_header")
        padded[2:4] = len(padded).to_bytes(2, "big")  # claim only what was quoted, so the length checks pass
        return cls.parse(padded, verify_checksum=False)

    def buffer_len(self) -> int:
        return HEADER_LEN

    def emit(self, buf: bytearray | memoryview, offset: int = 0) -> None:
        """Write a 20-byte header (no options) at `offset`, checksum included."""
        flags = (FLAG_DF if self.dont_fragment else 0) | (FLAG_MF if self.more_fragments else 0)
        emit_header(buf, offset, self.src, self.dst, self.protocol, self.payload_len, self.ttl, self.ident,
                    flags | (self.frag_offset >> 3), self.tos)


def header_checksum(src: int, dst: int, protocol: int, total: int, ttl: int, ident: int, flags_offset: int,
                    tos: int = 0) -> int:
    """The checksum field of a 20-byte header from its fields, summed as integers rather than as bytes
    (RFC 1071's sum is modulo 0xFFFF and 2**16 is 1 modulo 0xFFFF, so each 32-bit address counts whole).
    The sum is never zero (the version is in it): `checksum` over the packed header gives the same."""
    value = 0x4500 + tos + total + ident + flags_offset + (ttl << 8) + protocol + src + dst
    return (0xFFFF - value % 0xFFFF) % 0xFFFF


def emit_header(buf: bytearray | memoryview, offset: int, src: int, dst: int, protocol: int, payload_len: int,
                ttl: int, ident: int, flags_offset: int, tos: int = 0) -> None:
    """The 20-byte header from its fields, checksum included, with no Repr built (Ipv4Repr.emit writes
    through it too)."""
    total = HEADER_LEN + payload_len
    HEADER.pack_into(buf, offset, 0x45, tos, total, ident, flags_offset, ttl, protocol,
                     header_checksum(src, dst, protocol, total, ttl, ident, flags_offset, tos), src, dst)


FRAME_HEADER = struct.Struct("!6s8sBBHHHBBHII")
"""The Ethernet header (its destination, then source and type as one field) and a 20-byte IPv4 header."""


def emit_frame_header(buf: bytearray | memoryview, dst_mac: bytes, source_and_type: bytes, src: int, dst: int,
                      protocol: int, payload_len: int, ttl: int, ident: int, flags_offset: int, tos: int = 0) -> None:
    """Ethernet and IPv4 headers in front of a payload already in place, in one pack: the per-segment send
    path. `source_and_type` is the Ethernet header's second half (our MAC and the IPv4 type)."""
    total = HEADER_LEN + payload_len
    # header_checksum written out (one call fewer per segment sent).
    value = 0x4500 + tos + total + ident + flags_offset + (ttl << 8) + protocol + src + dst
    FRAME_HEADER.pack_into(buf, 0, dst_mac, source_and_type, 0x45, tos, total, ident, flags_offset, ttl, protocol,
                           (0xFFFF - value % 0xFFFF) % 0xFFFF, src, dst)
