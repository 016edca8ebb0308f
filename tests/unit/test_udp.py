"""UDP as frame-in / frame-out pairs on a fresh Stack over a hub port (RFC 768, RFC 1122 4.1 and 3.2.2).

Every expected frame is built by tests/unit/frames.py (struct and a textbook checksum), never by the stack.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mtcp_py.ip import SendStatus
from mtcp_py.udp import UdpEndpoints, UdpError
from mtcp_py.wire import WireError
from mtcp_py.wire import udp as wire_udp

from .frames import (
    BROADCAST,
    PEER_IP,
    PEER_MAC,
    STACK_IP,
    STACK_MAC,
    Lab,
    eth,
    icmp,
    ipv4,
    make_lab,
    pad,
    peer_ip_frame,
    udp,
)

Received = list[tuple[UdpEndpoints, bytes, int]]


@pytest.fixture
def lab() -> Iterator[Lab]:
    lab = make_lab()
    lab.learn_peer()
    yield lab
    lab.close()


def listen(lab: Lab, port: int) -> Received:
    got: Received = []
    lab.stack.udp.register(port, lambda src, data, now: got.append((src, bytes(data), now)))
    return got


def from_peer(sport: int, dport: int, payload: bytes, dst: int = STACK_IP, **kw: bool) -> bytes:
    return pad(peer_ip_frame(ipv4(PEER_IP, dst, 17, udp(PEER_IP, dst, sport, dport, payload, **kw), ident=9)))


def check_clean(lab: Lab) -> None:
    assert lab.stack.internal_errors == 0, lab.stack.last_internal_error
    assert lab.stack.pool.free == lab.stack.pool.count


def test_datagram_reaches_the_registered_port(lab: Lab) -> None:
    got = listen(lab, 5000)
    lab.inject(from_peer(1234, 5000, b"hello"))
    assert got == [(UdpEndpoints(PEER_IP, 1234, STACK_IP, 5000, False), b"hello", lab.clock.now())]
    assert lab.stack.udp.counters.delivered == 1
    check_clean(lab)


def test_zero_checksum_means_none(lab: Lab) -> None:
    got = listen(lab, 5000)
    lab.inject(from_peer(1234, 5000, b"no sum", checksum=False))
    assert [data for _, data, _ in got] == [b"no sum"]


def test_ip_padding_after_the_udp_length_is_not_payload(lab: Lab) -> None:
    """A 1-byte datagram rides in a 60-byte frame: only the UDP length counts."""
    got = listen(lab, 5000)
    lab.inject(from_peer(1234, 5000, b"x"))
    assert [data for _, data, _ in got] == [b"x"]


@pytest.mark.parametrize(("datagram", "reason"), [
    (b"\x04\xd2\x13", "udp_truncated"),
    (udp(PEER_IP, STACK_IP, 1234, 5000, b"abc", length=7), "udp_bad_length"),
    (udp(PEER_IP, STACK_IP, 1234, 5000, b"abc", length=12), "udp_bad_length"),
    (udp(PEER_IP, STACK_IP, 1234, 5000, b"abc")[:8] + b"abd", "udp_bad_checksum"),
])
def test_bad_datagrams_are_counted_by_cause_and_dropped(lab: Lab, datagram: bytes, reason: str) -> None:
    got = listen(lab, 5000)
    lab.inject(pad(peer_ip_frame(ipv4(PEER_IP, STACK_IP, 17, datagram))))
    assert got == []
    assert lab.stack.drops[reason] == 1
    assert lab.take() == []  # no ICMP for a datagram that is not one
    check_clean(lab)


def test_port_zero_is_dropped(lab: Lab) -> None:
    listen(lab, 5000)
    lab.inject(from_peer(0, 5000, b"x"))
    assert lab.stack.udp.counters.bad_port == 1


def test_closed_port_gets_port_unreachable_quoting_the_datagram(lab: Lab) -> None:
    datagram = udp(PEER_IP, STACK_IP, 1234, 6000, b"anyone?")
    sent = ipv4(PEER_IP, STACK_IP, 17, datagram, ident=9)
    lab.inject(pad(peer_ip_frame(sent)))
    # RFC 792: type 3 code 3, the original IP header and at least its first 8 bytes of payload.
    expected = ipv4(STACK_IP, PEER_IP, 1, icmp(3, 3, 0, 0, sent[:28]), ident=1)
    assert lab.take() == [pad(eth(PEER_MAC, STACK_MAC, 0x0800, expected))]
    assert lab.stack.udp.counters.no_port == 1


def test_port_unreachable_is_rate_limited(lab: Lab) -> None:
    for _ in range(25):
        lab.inject(from_peer(1234, 6000, b"flood"))
    limit = lab.stack.udp.config.unreachable_burst
    assert len(lab.take()) == limit
    assert lab.stack.udp.counters.unreachables_limited == 25 - limit
    lab.advance(lab.stack.udp.config.unreachable_ticks)
    lab.inject(from_peer(1234, 6000, b"later"))
    assert len(lab.take()) == 1


def test_broadcast_is_received_and_never_answered_with_icmp(lab: Lab) -> None:
    got = listen(lab, 5000)
    for dst in (0xFFFFFFFF, 0x0A0900FF):  # limited, and our /24's directed broadcast
        frame = pad(eth(BROADCAST, PEER_MAC, 0x0800, ipv4(PEER_IP, dst, 17, udp(PEER_IP, dst, 1234, 5000, b"all"))))
        lab.inject(frame)
        frame = pad(eth(BROADCAST, PEER_MAC, 0x0800, ipv4(PEER_IP, dst, 17, udp(PEER_IP, dst, 1234, 6000, b"?"))))
        lab.inject(frame)
    assert [(src.broadcast, src.dst) for src, _, _ in got] == [(True, 0xFFFFFFFF), (True, 0x0A0900FF)]
    assert lab.take() == []


def test_send_builds_the_datagram(lab: Lab) -> None:
    assert lab.stack.udp.send(5000, PEER_IP, 53, b"query", 0) is SendStatus.SENT
    expected = ipv4(STACK_IP, PEER_IP, 17, udp(STACK_IP, PEER_IP, 5000, 53, b"query"), ident=1)
    assert lab.take() == [pad(eth(PEER_MAC, STACK_MAC, 0x0800, expected))]


def test_send_broadcast_goes_to_the_broadcast_mac(lab: Lab) -> None:
    assert lab.stack.udp.send(68, 0xFFFFFFFF, 67, b"discover", 0).ok
    expected = ipv4(STACK_IP, 0xFFFFFFFF, 17, udp(STACK_IP, 0xFFFFFFFF, 68, 67, b"discover"), ident=1)
    assert lab.take() == [pad(eth(BROADCAST, STACK_MAC, 0x0800, expected))]


def test_large_datagram_is_fragmented_and_reassembles_to_the_original(lab: Lab) -> None:
    body = bytes(range(256)) * 32  # 8 KiB
    assert lab.stack.udp.send(5000, PEER_IP, 7, body, 0).ok
    frames = lab.take()
    assert len(frames) == 6  # 8200 bytes of UDP in 1480-byte pieces
    pieces = {}
    for frame in frames:
        flags = struct.unpack("!H", frame[20:22])[0]
        total = struct.unpack("!H", frame[16:18])[0]
        pieces[(flags & 0x1FFF) * 8] = frame[34 : 14 + total]
    joined = b"".join(pieces[k] for k in sorted(pieces))
    assert joined == udp(STACK_IP, PEER_IP, 5000, 7, body)


def test_fragmented_datagram_in_is_reassembled_and_delivered(lab: Lab) -> None:
    got = listen(lab, 5000)
    body = bytes(range(256)) * 12
    datagram = udp(PEER_IP, STACK_IP, 1234, 5000, body)
    for offset in range(0, len(datagram), 1480):
        piece = datagram[offset : offset + 1480]
        more = offset + 1480 < len(datagram)
        lab.inject(pad(peer_ip_frame(ipv4(PEER_IP, STACK_IP, 17, piece, ident=77, mf=more, offset=offset))))
    assert [data for _, data, _ in got] == [body]


def test_icmp_error_quoting_our_datagram_reaches_the_port_owner(lab: Lab) -> None:
    errors: list[tuple[int, int, int]] = []
    lab.stack.udp.register(5000, lambda *a: None,
                           lambda error, port, now: errors.append((error.type, error.code, port)))
    ours = ipv4(STACK_IP, PEER_IP, 17, udp(STACK_IP, PEER_IP, 5000, 9999, b"hello"), ident=3)
    lab.inject(pad(peer_ip_frame(ipv4(PEER_IP, STACK_IP, 1, icmp(3, 3, 0, 0, ours[:28])))))
    assert errors == [(3, 3, 9999)]
    assert lab.stack.udp.counters.errors_delivered == 1


def test_ports_register_once_and_ephemeral_ports_are_distinct(lab: Lab) -> None:
    udp_layer = lab.stack.udp
    udp_layer.register(5000, lambda *a: None)
    with pytest.raises(UdpError, match="already in use"):
        udp_layer.register(5000, lambda *a: None)
    first, second = udp_layer.register(0, lambda *a: None), udp_layer.register(0, lambda *a: None)
    assert first != second and 49152 <= first <= 65535 and 49152 <= second <= 65535
    udp_layer.unregister(5000)
    udp_layer.register(5000, lambda *a: None)


def test_a_receiver_that_raises_costs_nothing(lab: Lab) -> None:
    def broken(src: UdpEndpoints, data: memoryview, now: int) -> None:
        raise RuntimeError("bug in the program")

    lab.stack.udp.register(5000, broken)
    lab.inject(from_peer(1234, 5000, b"x"))
    assert lab.stack.udp.counters.receiver_errors == 1
    check_clean(lab)


def test_stack_without_address_sends_from_zero_and_takes_any_unicast() -> None:
    lab = make_lab(ip=0, no_address=True)
    try:
        got = listen(lab, 68)
        assert lab.stack.udp.send(68, 0xFFFFFFFF, 67, b"discover", 0).ok
        expected = ipv4(0, 0xFFFFFFFF, 17, udp(0, 0xFFFFFFFF, 68, 67, b"discover"), ident=1)
        assert lab.take() == [pad(eth(BROADCAST, STACK_MAC, 0x0800, expected))]
        offered = 0x0A090032
        lab.inject(pad(peer_ip_frame(ipv4(PEER_IP, offered, 17, udp(PEER_IP, offered, 67, 68, b"offer")))))
        assert [data for _, data, _ in got] == [b"offer"]
    finally:
        lab.close()


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80), st.integers(0, 0xFFFFFFFF), st.integers(0, 0xFFFFFFFF))
def test_wire_parse_raises_only_wire_error(data: bytes, src: int, dst: int) -> None:
    try:
        sport, dport, payload = wire_udp.parse(data, src, dst)
    except WireError:
        return
    assert len(payload) == struct.unpack("!H", data[4:6])[0] - 8


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=120))
def test_arbitrary_udp_payloads_move_only_counters(data: bytes) -> None:
    lab = make_lab()
    try:
        lab.stack.udp.register(5000, lambda *a: None)
        lab.inject(pad(peer_ip_frame(ipv4(PEER_IP, STACK_IP, 17, data))))
        check_clean(lab)
    finally:
        lab.close()
