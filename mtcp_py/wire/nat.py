"""Rewriting the addresses and ports of IPv4 TCP segments in place, for a gateway that translates them
(mtcp-nat), with the checksums updated incrementally (RFC 1624, eqn. 3: HC' = ~(~HC + ~m + m')).

Stateless: each function is given the bytes and the new values, changes them where they lie, and touches
nothing else. Only TCP is rewritten here; mtcp-nat ends UDP and ICMP itself instead of translating them.
"""

from __future__ import annotations

import struct

from . import ethernet

_WORD = struct.Struct("!H")
_ADDRESS = struct.Struct("!I")
TCP_CHECKSUM = 16
IP_CHECKSUM = 10
IP_SRC = 12
IP_DST = 16


def adjust(checksum: int, old: int, new: int, words: int) -> int:
    """The checksum after a field of `words` 16-bit words changed from `old` to `new` (RFC 1624)."""
    total = ~checksum & 0xFFFF
    for shift in range(0, 16 * words, 16):
        total += (~(old >> shift) & 0xFFFF) + ((new >> shift) & 0xFFFF)
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _set_port(segment: bytearray | memoryview, offset: int, port: int) -> None:
    old = _WORD.unpack_from(segment, offset)[0]
    if old != port:
        _WORD.pack_into(segment, offset, port)
        _WORD.pack_into(segment, TCP_CHECKSUM, adjust(_WORD.unpack_from(segment, TCP_CHECKSUM)[0], old, port, 1))


def retarget_segment(segment: bytearray | memoryview, old_dst: int, new_dst: int, new_dst_port: int) -> None:
    """A TCP segment (no IP header) now for `new_dst`:`new_dst_port`: the port and, through the
    pseudo-header, the checksum."""
    if old_dst != new_dst:
        checksum = _WORD.unpack_from(segment, TCP_CHECKSUM)[0]
        _WORD.pack_into(segment, TCP_CHECKSUM, adjust(checksum, old_dst, new_dst, 2))
    _set_port(segment, 2, new_dst_port)


def resource_frame(frame: bytearray | memoryview, new_src: int, new_src_port: int) -> None:
    """An Ethernet frame holding IPv4 and TCP, now from `new_src`:`new_src_port`: the IP source and its
    header checksum, the TCP source port and the TCP checksum (whose pseudo-header holds the source)."""
    ip = ethernet.HEADER_LEN
    header_len = (frame[ip] & 0x0F) * 4
    old_src = _ADDRESS.unpack_from(frame, ip + IP_SRC)[0]
    tcp = ip + header_len
    segment = memoryview(frame)[tcp:]
    if old_src != new_src:
        _ADDRESS.pack_into(frame, ip + IP_SRC, new_src)
        _WORD.pack_into(frame, ip + IP_CHECKSUM,
                        adjust(_WORD.unpack_from(frame, ip + IP_CHECKSUM)[0], old_src, new_src, 2))
        _WORD.pack_into(segment, TCP_CHECKSUM, adjust(_WORD.unpack_from(segment, TCP_CHECKSUM)[0], old_src, new_src, 2))
    _set_port(segment, 0, new_src_port)
