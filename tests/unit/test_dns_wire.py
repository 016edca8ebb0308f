"""DNS messages against RFC 1035: the query layout (4.1.1, 4.1.2), name compression (4.1.4) with its
attacks (pointer loops, pointers out of the message), record data (3.4.1, 3.3.1), and fuzzing.

Expected bytes are written out by hand from the RFC's layouts, never produced by the module under test."""

from __future__ import annotations

import struct
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mtcp_py.wire import WireError, dns

HEADER = struct.Struct("!HHHHHH")
QR, AA, TC, RD, RA = 0x8000, 0x0400, 0x0200, 0x0100, 0x0080


def name(*labels: bytes) -> bytes:
    return b"".join(bytes([len(label)]) + label for label in labels) + b"\0"


def pointer(offset: int) -> bytes:
    return struct.pack("!H", 0xC000 | offset)


def record(owner: bytes, rtype: int, rdata: bytes, ttl: int = 300, rclass: int = 1) -> bytes:
    return owner + struct.pack("!HHIH", rtype, rclass, ttl, len(rdata)) + rdata


def response(ident: int, flags: int, question: bytes, answers: Sequence[bytes], authority: Sequence[bytes] = (),
             additional: Sequence[bytes] = ()) -> bytes:
    body = question + struct.pack("!HH", 1, 1) + b"".join(answers) + b"".join(authority) + b"".join(additional)
    return HEADER.pack(ident, flags, 1, len(answers), len(authority), len(additional)) + body


# -- queries (RFC 1035 4.1.1, 4.1.2) ------------------------------------------------------------------------


def test_query_layout_with_recursion_desired() -> None:
    expected = bytes.fromhex("1234 0100 0001 0000 0000 0000") + b"\x07example\x03com\x00" + b"\x00\x01\x00\x01"
    assert dns.build_query(0x1234, "example.com") == expected


def test_query_without_recursion_has_rd_clear() -> None:
    assert dns.build_query(7, "a.b", recursion_desired=False)[2:4] == b"\x00\x00"


def test_trailing_dot_and_case_are_the_same_name() -> None:
    assert dns.build_query(1, "Example.COM.") == dns.build_query(1, "example.com")


@pytest.mark.parametrize("bad", ["", ".", "a..b", "x" * 64 + ".com", ".".join(["a" * 63] * 4) + ".b", "ünï.de"])
def test_names_that_cannot_be_asked_for(bad: str) -> None:
    with pytest.raises(dns.BadName):
        dns.encode_name(bad)


def test_longest_name_is_accepted() -> None:
    longest = ".".join(["a" * 63] * 3 + ["b" * 61])  # 253 characters, 255 octets on the wire
    assert len(dns.encode_name(longest)) == 255


# -- compression (RFC 1035 4.1.4) ---------------------------------------------------------------------------


def test_rfc1035_compression_example() -> None:
    """The RFC's example: F.ISI.ARPA at 12 (after the header), FOO.F.ISI.ARPA as FOO and a pointer to it,
    and ARPA as a pointer into the middle of the first name."""
    question = name(b"F", b"ISI", b"ARPA")  # offset 12
    cname = record(pointer(12), dns.TYPE_CNAME, b"\x03FOO" + pointer(12))
    a_record = record(b"\x03FOO" + pointer(12), dns.TYPE_A, bytes([10, 0, 0, 7]), ttl=60)
    ns = record(pointer(12 + 6), dns.TYPE_NS, pointer(12))  # "ARPA" starts at 12 + 2 + 4
    message = dns.parse(response(0xBEEF, QR | RD | RA, question, [cname, a_record], [ns]))
    assert message.ident == 0xBEEF and message.response and message.recursion_available
    assert message.questions == (dns.Question("f.isi.arpa", 1, 1),)
    assert message.answers[0].name == "f.isi.arpa" and message.answers[0].target == "foo.f.isi.arpa"
    assert message.answers[1].name == "foo.f.isi.arpa" and message.answers[1].address == 0x0A000007
    assert message.answers[1].ttl == 60
    assert message.authority[0].name == "arpa" and message.authority[0].target == "f.isi.arpa"


def test_pointer_to_itself_is_a_loop() -> None:
    data = HEADER.pack(1, QR, 1, 0, 0, 0) + pointer(12) + b"\0\1\0\1"
    with pytest.raises(WireError) as info:
        dns.parse(data)
    assert info.value.reason == "dns_pointer_loop"


def test_two_pointers_to_each_other_are_a_loop() -> None:
    # at 12: label "a" then a pointer to 16; at 16: a pointer back to 12.
    data = HEADER.pack(1, QR, 1, 0, 0, 0) + b"\x01a" + pointer(16) + pointer(12) + b"\0\1\0\1"
    with pytest.raises(WireError) as info:
        dns.parse(data)
    assert info.value.reason == "dns_pointer_loop"


def test_pointer_out_of_the_message() -> None:
    data = HEADER.pack(1, QR, 1, 0, 0, 0) + pointer(0x3FF) + b"\0\1\0\1"
    with pytest.raises(WireError) as info:
        dns.parse(data)
    assert info.value.reason == "dns_pointer_outside"


@pytest.mark.parametrize("kind", [0x40, 0x80])
def test_reserved_label_types(kind: int) -> None:
    data = HEADER.pack(1, QR, 1, 0, 0, 0) + bytes([kind | 1]) + b"a\0\0\1\0\1"
    with pytest.raises(WireError) as info:
        dns.parse(data)
    assert info.value.reason == "dns_bad_label"


def test_name_longer_than_255_octets_through_pointers() -> None:
    """Each piece is short; pointers join them into one name of 259 octets. The pieces sit in the data of
    a record of an unknown type, so the message is well formed up to the long name."""
    part = b"\x3f" + b"a" * 63  # 64 octets
    rdata_at = 12 + 1 + 10  # after the header, the first record's owner (the root) and its fixed part
    first = rdata_at
    second = first + 65
    third = second + 66
    fourth = third + 66
    pieces = part + b"\0" + part + pointer(first) + part + pointer(second) + b"\x01b" + pointer(third)
    data = HEADER.pack(1, QR, 0, 2, 0, 0) + record(b"\0", 99, pieces)
    data += record(b"\x3f" + b"c" * 63 + pointer(fourth), dns.TYPE_A, b"\0\0\0\0")
    with pytest.raises(WireError) as info:
        dns.parse(data)
    assert info.value.reason == "dns_name_too_long"


def test_name_of_255_octets_through_pointers_is_accepted() -> None:
    part = b"\x3f" + b"a" * 63
    rdata_at = 12 + 1 + 10
    pieces = part + b"\0" + part + pointer(rdata_at) + part + pointer(rdata_at + 65)
    data = HEADER.pack(1, QR, 0, 2, 0, 0) + record(b"\0", 99, pieces)
    data += record(b"\x3d" + b"c" * 61 + pointer(rdata_at + 131), dns.TYPE_A, b"\0\0\0\0")
    assert len(dns.parse(data).answers[1].name) == 253


def test_dot_inside_a_label_is_escaped() -> None:
    data = response(1, QR, name(b"a.b", b"c"), [])
    assert dns.parse(data).questions[0].name == "a\\046b.c"


# -- records (RFC 1035 3.2.1, 3.4.1; RFC 2181 8) ------------------------------------------------------------


def test_a_record_must_be_four_bytes() -> None:
    data = response(1, QR, name(b"x"), [record(pointer(12), dns.TYPE_A, b"\1\2\3\4\5")])
    with pytest.raises(WireError) as info:
        dns.parse(data)
    assert info.value.reason == "dns_bad_rdata"


def test_cname_must_fill_its_record() -> None:
    data = response(1, QR, name(b"x"), [record(pointer(12), dns.TYPE_CNAME, name(b"y") + b"junk")])
    with pytest.raises(WireError) as info:
        dns.parse(data)
    assert info.value.reason == "dns_bad_rdata"


def test_cname_target_cannot_run_past_its_record() -> None:
    """The rdlength says 2; the name in it would go on into the next record's bytes."""
    data = response(1, QR, name(b"x"), [pointer(12) + struct.pack("!HHIH", 5, 1, 0, 2) + b"\x05yy",
                                        record(pointer(12), 1, b"\1\2\3\4")])
    with pytest.raises(WireError):
        dns.parse(data)


def test_ttl_with_the_top_bit_set_is_zero() -> None:
    data = response(1, QR, name(b"x"), [record(pointer(12), dns.TYPE_A, b"\1\2\3\4", ttl=0x8000_0001)])
    assert dns.parse(data).answers[0].ttl == 0


def test_unknown_types_are_kept_as_bytes() -> None:
    data = response(1, QR, name(b"x"), [record(pointer(12), 99, b"hello")])
    answer = dns.parse(data).answers[0]
    assert answer.rtype == 99 and answer.data == b"hello" and answer.address is None


@pytest.mark.parametrize("cut", [0, 5, 11, 13, 18, 20, 30])
def test_every_truncation_is_a_wire_error(cut: int) -> None:
    data = response(1, QR, name(b"host", b"lan"), [record(pointer(12), dns.TYPE_A, b"\1\2\3\4")])
    with pytest.raises(WireError):
        dns.parse(data[:cut])


def test_flags_and_rcode() -> None:
    message = dns.parse(response(9, QR | AA | TC | RD | 3, name(b"x"), []))
    assert message.authoritative and message.truncated and message.recursion_desired
    assert not message.recursion_available and message.rcode == dns.NXDOMAIN


def test_tcp_framing_is_a_two_byte_length() -> None:
    assert dns.tcp_frame(b"x" * 300) == b"\x01\x2c" + b"x" * 300
    assert dns.tcp_length(b"\x01\x2c") == 300
    with pytest.raises(WireError):
        dns.tcp_length(b"\x00\x00")


# -- fuzzing ------------------------------------------------------------------------------------------------


@settings(max_examples=2000, deadline=None)
@given(st.binary(max_size=600))
def test_arbitrary_bytes_raise_only_wire_error(data: bytes) -> None:
    try:
        dns.parse(data)
    except WireError:
        pass


VALID = response(0x4242, QR | RD | RA, name(b"alias", b"lan"),
                 [record(pointer(12), dns.TYPE_CNAME, b"\x04peer" + pointer(18)),
                  record(pointer(39), dns.TYPE_A, b"\x0a\x00\x02\x01")])


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), max_size=6),
       st.integers(0, len(VALID)))
def test_mutated_replies_raise_only_wire_error(changes: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(VALID)
    for index, value in changes:
        data[index] = value
    try:
        message = dns.parse(bytes(data[:cut]))
    except WireError:
        return
    for record_ in message.answers:
        dns.describe_record(record_)


def test_the_valid_reply_used_for_mutation_parses() -> None:
    message = dns.parse(VALID)
    assert [r.name for r in message.answers] == ["alias.lan", "peer.lan"]
    assert message.answers[0].target == "peer.lan" and message.answers[1].address == 0x0A000201


def test_backward_pointer_into_its_own_labels_is_a_loop() -> None:
    """A pointer back to a label that runs up to that same pointer: every pointer points backwards, yet
    the walk would go round (until the length limit) had pointers only to be before themselves."""
    # A record of an unknown type at 12 whose data (from 23) holds the trap: at 23 a label of 5 bytes
    # ("trap1") then, at 29, a pointer back to 23; a second record's owner name is a pointer to 23.
    data = HEADER.pack(1, QR, 0, 2, 0, 0) + record(b"\0", 99, b"\x05trap1" + pointer(23))
    data += pointer(23) + struct.pack("!HHIH", 1, 1, 0, 4) + b"\0\0\0\0"
    with pytest.raises(WireError) as info:
        dns.parse(data)
    assert info.value.reason == "dns_pointer_loop"
