"""DHCP messages: the layout of RFC 2131 figure 1, the options of RFC 2132 (joined per RFC 3396, overloaded
per RFC 2131 4.1), every malformed input refused with WireError and nothing else (fuzzed)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mtcp_py.wire import WireError
from mtcp_py.wire.dhcp import DhcpMessage, MessageType, Option, build, parse

from .test_dhcp_peer import (
    ACK,
    DNS,
    DOMAIN,
    NETMASK,
    OFFER,
    OFFERED,
    ROUTER,
    SERVER_IP,
    addr,
    bootp_reply,
    option,
    read_bootp,
    standard_options,
)

MAC = bytes.fromhex("020000000001")


def test_built_discover_has_rfc_2131_layout() -> None:
    message = DhcpMessage(op=1, xid=0xDEADBEEF, chaddr=MAC, secs=3, flags=0x8000,
                          options={Option.MESSAGE_TYPE: bytes((MessageType.DISCOVER,)), Option.HOST_NAME: b"retro"})
    data = build(message)
    assert len(data) == 300  # padded to BOOTP's minimum
    assert data[0:4] == bytes((1, 1, 6, 0))  # op, htype, hlen, hops
    assert struct.unpack_from("!IHH", data, 4) == (0xDEADBEEF, 3, 0x8000)  # xid, secs, flags
    assert data[12:28] == bytes(16)  # ciaddr, yiaddr, siaddr, giaddr
    assert data[28:44] == MAC + bytes(10)  # chaddr, 16 octets
    assert data[44:236] == bytes(192)  # sname and file
    assert data[236:240] == bytes((99, 130, 83, 99))
    assert data[240:251] == bytes((53, 1, 1, 12, 5)) + b"retro" + b"\xff"
    assert data[251:] == bytes(49)
    seen = read_bootp(data, 0)  # and the peer's own reader agrees
    assert seen.options == {53: b"\x01", 12: b"retro"}


def test_reply_from_the_rfc_layout_parses() -> None:
    message = parse(bootp_reply(0x11223344, MAC, OFFERED, standard_options(OFFER)))
    assert (message.op, message.htype, message.xid, message.chaddr) == (2, 1, 0x11223344, MAC)
    assert message.yiaddr == OFFERED and message.siaddr == SERVER_IP
    assert message.message_type == MessageType.OFFER
    assert message.address(Option.SERVER_ID) == SERVER_IP
    assert message.address(Option.SUBNET_MASK) == NETMASK
    assert message.addresses(Option.ROUTER) == (ROUTER,)
    assert message.addresses(Option.DOMAIN_NAME_SERVER) == DNS
    assert message.seconds(Option.LEASE_TIME) == 3600
    assert message.name(Option.DOMAIN_NAME) == DOMAIN.decode()


def test_pad_options_are_skipped_and_end_stops_the_walk() -> None:
    options = [b"\x00\x00", option(53, bytes((ACK,))), b"\x00", option(1, addr(NETMASK)), b"\xff",
               option(3, addr(ROUTER))]  # after END: not an option
    message = parse(bootp_reply(1, MAC, OFFERED, options, end=False))
    assert message.address(Option.SUBNET_MASK) == NETMASK
    assert Option.ROUTER not in message.options


def test_options_without_end_are_accepted() -> None:
    data = bootp_reply(1, MAC, OFFERED, [option(53, bytes((ACK,)))], end=False)[:243]
    assert parse(data).message_type == MessageType.ACK


def test_long_option_is_split_and_joined_rfc_3396() -> None:
    servers = tuple(0x0A000000 + i for i in range(80))  # 320 octets: more than one option can carry
    data = build(DhcpMessage(op=2, xid=1, chaddr=MAC, options={Option.DOMAIN_NAME_SERVER: addr(*servers)}))
    pieces = []
    index = 240
    while data[index] != 255:
        pieces.append((data[index], data[index + 1]))
        index += 2 + data[index + 1]
    assert pieces == [(6, 255), (6, 65)]
    assert parse(data).addresses(Option.DOMAIN_NAME_SERVER) == servers


def test_overload_reads_file_then_sname() -> None:
    main = [option(53, bytes((ACK,))), option(52, b"\x03"), option(15, b"first.")]
    file = option(15, b"second.") + b"\xff"
    sname = option(15, b"third") + b"\xff"
    message = parse(bootp_reply(1, MAC, OFFERED, main, file=file, sname=sname))
    assert message.name(Option.DOMAIN_NAME) == "first.second.third"  # RFC 2131 4.1's order
    assert Option.OVERLOAD not in message.options


def test_without_overload_sname_and_file_are_not_options() -> None:
    message = parse(bootp_reply(1, MAC, OFFERED, [option(53, bytes((ACK,)))], file=option(3, addr(ROUTER)),
                                sname=b"server"))
    assert Option.ROUTER not in message.options


def test_nul_ended_names_are_taken() -> None:
    message = parse(bootp_reply(1, MAC, OFFERED, [option(12, b"dos\x00")]))
    assert message.name(Option.HOST_NAME) == "dos"


def test_nak_message_text_is_made_printable() -> None:
    message = parse(bootp_reply(1, MAC, 0, [option(53, bytes((6,))), option(56, b"no\x1b[2Jway\x00")]))
    assert message.server_message == "no?[2Jway"


BAD = [
    (b"\x02" * 239, "dhcp_truncated"),
    (bootp_reply(1, MAC, OFFERED, [], cookie=b"\x00\x00\x00\x00"), "dhcp_bad_cookie"),
    (bootp_reply(1, MAC, OFFERED, [b"\x01"], end=False)[:241], "dhcp_option_truncated"),
    (bootp_reply(1, MAC, OFFERED, [b"\x01\x04\xff\xff"], end=False)[:244], "dhcp_option_truncated"),
    (bootp_reply(1, MAC, OFFERED, [option(1, b"\xff\xff\xff")]), "dhcp_bad_option"),
    (bootp_reply(1, MAC, OFFERED, [option(54, b"")]), "dhcp_bad_option"),
    (bootp_reply(1, MAC, OFFERED, [option(3, b"\x0a\x00\x00\x01\x0a\x00")]), "dhcp_bad_option"),
    (bootp_reply(1, MAC, OFFERED, [option(6, b"")]), "dhcp_bad_option"),
    (bootp_reply(1, MAC, OFFERED, [option(51, b"\x00\x01")]), "dhcp_bad_option"),
    (bootp_reply(1, MAC, OFFERED, [option(53, b"\x02\x02")]), "dhcp_bad_option"),
    (bootp_reply(1, MAC, OFFERED, [option(52, b"\x04")]), "dhcp_bad_overload"),
    (bootp_reply(1, MAC, OFFERED, [option(52, b"\x01")], file=bytes(126) + b"\x03\x09"), "dhcp_option_truncated"),
    (bootp_reply(1, MAC, OFFERED, [option(12, b"bad name")]), "dhcp_bad_name"),
    (bootp_reply(1, MAC, OFFERED, [option(15, b"evil\nIPADDR 1.2.3.4")]), "dhcp_bad_name"),
    (bootp_reply(1, MAC, OFFERED, [option(15, b"\x00")]), "dhcp_bad_name"),
]


@pytest.mark.parametrize(("data", "reason"), BAD)
def test_malformed_messages_are_refused_by_reason(data: bytes, reason: str) -> None:
    with pytest.raises(WireError) as caught:
        parse(data)
    assert caught.value.reason == reason


def test_hlen_beyond_chaddr_is_refused() -> None:
    data = bytearray(bootp_reply(1, MAC, OFFERED, []))
    data[2] = 17
    with pytest.raises(WireError) as caught:
        parse(bytes(data))
    assert caught.value.reason == "dhcp_bad_hlen"


def test_build_refuses_what_does_not_fit() -> None:
    with pytest.raises(ValueError):
        build(DhcpMessage(op=1, xid=1 << 32, chaddr=MAC))
    with pytest.raises(ValueError):
        build(DhcpMessage(op=1, xid=1, chaddr=bytes(17)))
    with pytest.raises(ValueError):
        build(DhcpMessage(op=1, xid=1, chaddr=MAC, options={255: b"x"}))


# -- fuzz ---------------------------------------------------------------------------------------------------

PREFIX = bootp_reply(7, MAC, OFFERED, [])[:240]


@settings(max_examples=500)
@given(st.binary(max_size=600))
def test_any_bytes_raise_only_wire_error(data: bytes) -> None:
    for candidate in (data, PREFIX + data):
        try:
            message = parse(candidate)
        except WireError:
            continue
        # What parses answers every question without raising.
        answers = [message.message_type, message.server_message, message.addresses(Option.ROUTER),
                   message.addresses(Option.DOMAIN_NAME_SERVER), message.seconds(Option.LEASE_TIME),
                   message.name(Option.HOST_NAME), message.name(Option.DOMAIN_NAME),
                   *(message.address(code) for code in (Option.SUBNET_MASK, Option.SERVER_ID))]
        assert len(answers) == 9


@settings(max_examples=300)
@given(st.integers(0, 300), st.binary(min_size=1, max_size=8), st.integers(0, 255))
def test_damaged_offers_raise_only_wire_error(position: int, patch: bytes, cut: int) -> None:
    good = bootp_reply(9, MAC, OFFERED, standard_options(OFFER))
    damaged = good[:position] + patch + good[position + len(patch):]
    for candidate in (damaged, damaged[: 240 + cut]):
        try:
            parse(candidate)
        except WireError:
            pass


UNCHECKED_CODES = st.integers(2, 254).filter(lambda c: c not in {3, 6, 12, 15, 50, 51, 52, 53, 54, 58, 59})
names = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=300)
addresses = st.integers(0, 0xFFFFFFFF)


@st.composite
def messages(draw: st.DrawFn) -> DhcpMessage:
    options: dict[int, bytes] = {}
    if draw(st.booleans()):
        options[Option.MESSAGE_TYPE] = bytes((draw(st.integers(1, 8)),))
    for code in (Option.SERVER_ID, Option.REQUESTED_ADDRESS):
        if draw(st.booleans()):
            options[code] = addr(draw(addresses))
    for code in (Option.ROUTER, Option.DOMAIN_NAME_SERVER):
        if draw(st.booleans()):
            options[code] = addr(*draw(st.lists(addresses, min_size=1, max_size=70)))
    for code in (Option.SUBNET_MASK, Option.LEASE_TIME, Option.RENEWAL_TIME):
        if draw(st.booleans()):
            options[code] = addr(draw(addresses))
    for code in (Option.HOST_NAME, Option.DOMAIN_NAME):
        if draw(st.booleans()):
            options[code] = draw(names).encode()
    for unchecked, value in draw(st.dictionaries(UNCHECKED_CODES, st.binary(max_size=300), max_size=4)).items():
        options.setdefault(unchecked, value)
    return DhcpMessage(op=draw(st.integers(1, 2)), xid=draw(addresses), chaddr=draw(st.binary(max_size=16)),
                       options=options, secs=draw(st.integers(0, 0xFFFF)), flags=draw(st.integers(0, 0xFFFF)),
                       ciaddr=draw(addresses), yiaddr=draw(addresses), siaddr=draw(addresses),
                       giaddr=draw(addresses), hops=draw(st.integers(0, 255)))


@settings(max_examples=300)
@given(messages())
def test_build_then_parse_gives_the_message_back(message: DhcpMessage) -> None:
    assert parse(build(message)) == message
