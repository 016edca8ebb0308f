"""The Internet checksum against a slow reference; every parser fed arbitrary bytes raises only WireError."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mtcp_py import checksum as checksum_module
from mtcp_py.checksum import checksum, checksum_parts, pseudo_header_sum, residue, verify
from mtcp_py.wire import WireError
from mtcp_py.wire.arp import ArpRepr
from mtcp_py.wire.ethernet import EthernetRepr
from mtcp_py.wire.icmp import IcmpRepr
from mtcp_py.wire.ipv4 import HEADER, Ipv4Repr, emit_frame_header, header_checksum

from .frames import PEER_IP, STACK_IP, icmp, ipv4, slow_checksum


def test_checksum_known_values() -> None:
    assert checksum(b"") == 0xFFFF
    assert checksum(b"\x00\x01\xf2\x03\xf4\xf5\xf6\xf7") == slow_checksum(b"\x00\x01\xf2\x03\xf4\xf5\xf6\xf7")
    assert checksum(b"\xff\xff") == 0
    assert checksum(b"\x01") == 0xFEFF  # odd length: a zero byte follows
    header = ipv4(PEER_IP, STACK_IP, 1, b"")
    assert verify(header)
    assert not verify(header[:10] + b"\x00\x00" + header[12:])


@given(st.binary(max_size=2000))
def test_checksum_matches_reference(data: bytes) -> None:
    assert checksum(data) == slow_checksum(data)
    assert checksum(memoryview(data)) == slow_checksum(data)
    assert checksum(bytearray(data)) == slow_checksum(data)


@given(st.lists(st.binary(min_size=0, max_size=50).map(lambda b: b + b"\x00" * (len(b) % 2)), max_size=5),
       st.binary(max_size=51))
def test_checksum_parts_equals_whole(parts: list[bytes], last: bytes) -> None:
    assert checksum_parts([*parts, last]) == slow_checksum(b"".join(parts) + last)


@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), st.integers(0, 255), st.integers(0, 0xFFFF),
       st.binary(max_size=64))
def test_pseudo_header(src: int, dst: int, proto: int, length: int, data: bytes) -> None:
    pseudo = src.to_bytes(4, "big") + dst.to_bytes(4, "big") + bytes([0, proto]) + length.to_bytes(2, "big")
    assert checksum(data, pseudo_header_sum(src, dst, proto, length)) == slow_checksum(pseudo + data)


@given(st.one_of(st.integers(0, 2**4000), st.integers(0, 2**80_000),
                 st.integers(1, 9000).map(lambda n: (1 << 8 * n) - 1),         # all ones: a multiple of 0xFFFF
                 st.integers(1, 9000).map(lambda n: 0xFFFF << 16 * n)))
def test_residue_is_the_remainder(value: int) -> None:
    assert residue(value) == value % 0xFFFF


def test_residue_keeps_few_masks() -> None:
    for size in range(300, 9000, 7):  # many widths, as a peer sending odd sizes would cause
        value = int.from_bytes(bytes(range(256)) * (size // 256 + 1), "big") >> 8 * (-size % 256)
        assert residue(value) == value % 0xFFFF
    assert len(checksum_module._masks) <= checksum_module._MAX_MASKS


@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), st.integers(1, 255), st.binary(max_size=1600))
def test_transport_checksum_in_one_sum(src: int, dst: int, proto: int, data: bytes) -> None:
    pseudo = src.to_bytes(4, "big") + dst.to_bytes(4, "big") + bytes([0, proto]) + len(data).to_bytes(2, "big")
    value = checksum_module.transport_checksum(data, src, dst, proto)
    assert value == slow_checksum(pseudo + data) == checksum(data, pseudo_header_sum(src, dst, proto, len(data)))
    if len(data) >= 2:  # put the checksum in the first word's place: the segment then verifies, and only then
        filled = bytearray(data)
        filled[0:2] = b"\0\0"
        filled[0:2] = checksum_module.transport_checksum(filled, src, dst, proto).to_bytes(2, "big")
        assert checksum_module.transport_ok(filled, src, dst, proto)
        assert checksum_module.transport_ok(memoryview(bytes(filled)), src, dst, proto)
        filled[-1] ^= 0x01
        assert not checksum_module.transport_ok(filled, src, dst, proto)


def test_filled_in_checksum_verifies() -> None:
    message = icmp(8, 0, 1, 2, b"odd")
    assert verify(message)


PARSERS = [EthernetRepr.parse, ArpRepr.parse, Ipv4Repr.parse, IcmpRepr.parse]


@settings(max_examples=400)
@given(st.binary(max_size=120))
def test_parsers_raise_only_wire_error(data: bytes) -> None:
    for parse in PARSERS:
        for view in (data, memoryview(data), bytearray(data)):
            try:
                parse(view)
            except WireError as exc:
                assert exc.reason


@settings(max_examples=300)
@given(st.integers(0, 255), st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.binary(max_size=60),
       st.binary(max_size=40))
def test_ipv4_parse_with_valid_checksum_raises_only_wire_error(ver_ihl: int, total: int, flags: int,
                                                                options: bytes, rest: bytes) -> None:
    header = bytearray(ipv4(PEER_IP, STACK_IP, 6, b"") + options + rest)
    header[0], header[2:4], header[6:8] = ver_ihl, total.to_bytes(2, "big"), flags.to_bytes(2, "big")
    header[10:12] = b"\x00\x00"
    ihl = min((ver_ihl & 0xF) * 4, len(header))
    header[10:12] = slow_checksum(bytes(header[:ihl])).to_bytes(2, "big")
    try:
        parsed = Ipv4Repr.parse(header)
    except WireError:
        return
    assert parsed.header_len + parsed.payload_len <= len(header)
    assert parsed.header_len >= 20


@given(st.integers(0, 255), st.integers(0, 255), st.binary(max_size=60))
def test_icmp_round_trip(kind: int, code: int, data: bytes) -> None:
    message = icmp(kind, code, 7, 9, data)
    try:
        parsed = IcmpRepr.parse(message)
    except WireError as exc:
        assert exc.reason == "icmp_error_truncated"
        return
    assert (parsed.type, parsed.code, parsed.ident, parsed.seq, parsed.data) == (kind, code, 7, 9, data)
    assert parsed.to_bytes() == message


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80))
def test_quoted_headers_parse_or_raise_wire_error(data: bytes) -> None:
    from mtcp_py.wire.tcp import parse_quoted

    for parse in (Ipv4Repr.parse_quoted, parse_quoted):
        try:
            parse(data)
        except WireError:
            pass


def test_a_quote_shorter_than_its_datagram_still_parses() -> None:
    header = bytearray(20)
    Ipv4Repr(1, 2, 6, 1000).emit(header)  # a 1020-byte datagram, of which an ICMP error quotes 28 bytes
    quoted = Ipv4Repr.parse_quoted(bytes(header) + bytes(8))
    assert (quoted.src, quoted.dst, quoted.protocol) == (1, 2, 6)


@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), st.integers(0, 255), st.integers(0, 1480),
       st.integers(0, 255), st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.integers(0, 255))
def test_frame_header_in_one_pack_matches_the_reprs(src: int, dst: int, proto: int, payload_len: int, ttl: int,
                                                   ident: int, flags_offset: int, tos: int) -> None:
    """The send path's one pack (its checksum summed from the fields) writes what the Reprs write."""
    mac, ours = bytes.fromhex("020000000001"), bytes.fromhex("020000000002")
    fast = bytearray(34)
    emit_frame_header(fast, mac, ours + b"\x08\x00", src, dst, proto, payload_len, ttl, ident, flags_offset, tos)
    slow = bytearray(34)
    EthernetRepr(mac, ours, 0x0800).emit(slow)
    HEADER.pack_into(slow, 14, 0x45, tos, 20 + payload_len, ident, flags_offset, ttl, proto, 0, src, dst)
    slow[24:26] = checksum(slow[14:34]).to_bytes(2, "big")
    assert fast == slow
    assert header_checksum(src, dst, proto, 20 + payload_len, ttl, ident, flags_offset, tos) == \
        int.from_bytes(slow[24:26], "big")
    assert slow_checksum(bytes(slow[14:34])) == 0
