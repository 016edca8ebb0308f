"""Address and port rewriting (mtcp_py.wire.nat): after every change the checksums are what a checksum
computed from scratch (RFC 1071, the textbook way) says they must be."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from mtcp_py.wire.nat import adjust, resource_frame, retarget_segment

from .frames import eth, ipv4, slow_checksum

addresses = st.integers(0, 0xFFFF_FFFF)
ports = st.integers(1, 0xFFFF)


def tcp_segment(src: int, dst: int, sport: int, dport: int, payload: bytes) -> bytes:
    header = struct.pack("!HHIIBBHHH", sport, dport, 1000, 2000, 5 << 4, 0x18, 65535, 0, 0)
    pseudo = struct.pack("!IIBBH", src, dst, 0, 6, len(header) + len(payload))
    checksum = slow_checksum(pseudo + header + payload)
    return header[:16] + struct.pack("!H", checksum) + header[18:] + payload


@settings(max_examples=300, deadline=None)
@given(addresses, addresses, ports, ports, st.binary(max_size=64), addresses, ports)
def test_retarget_gives_the_checksum_of_the_new_segment(src: int, dst: int, sport: int, dport: int,
                                                        payload: bytes, new_dst: int, new_port: int) -> None:
    segment = bytearray(tcp_segment(src, dst, sport, dport, payload))
    retarget_segment(segment, dst, new_dst, new_port)
    expected = tcp_segment(src, new_dst, sport, new_port, payload)
    assert slow_checksum(struct.pack("!IIBBH", src, new_dst, 0, 6, len(segment)) + bytes(segment)) in (0, 0xFFFF)
    assert bytes(segment[:16]) == expected[:16] and segment[18:] == expected[18:]


@settings(max_examples=300, deadline=None)
@given(addresses, addresses, ports, ports, st.binary(max_size=64), addresses, ports)
def test_resource_frame_fixes_the_ip_and_tcp_checksums(src: int, dst: int, sport: int, dport: int,
                                                       payload: bytes, new_src: int, new_port: int) -> None:
    frame = bytearray(eth(b"\x02" * 6, b"\x04" * 6, 0x0800,
                          ipv4(src, dst, 6, tcp_segment(src, dst, sport, dport, payload), ident=5)))
    resource_frame(frame, new_src, new_port)
    assert slow_checksum(bytes(frame[14:34])) in (0, 0xFFFF)  # the IP header sums to all ones
    assert struct.unpack("!I", frame[26:30])[0] == new_src
    segment = bytes(frame[34:])
    assert struct.unpack("!H", segment[:2])[0] == new_port
    assert slow_checksum(struct.pack("!IIBBH", new_src, dst, 0, 6, len(segment)) + segment) in (0, 0xFFFF)


def test_adjust_is_rfc_1624s_example() -> None:
    # RFC 1624 section 4: HC = 0xDD2F, a word m = 0x5555 becomes m' = 0x3285: HC' = 0x0000.
    assert adjust(0xDD2F, 0x5555, 0x3285, 1) == 0x0000
