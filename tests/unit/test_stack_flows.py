"""ARP, IPv4 and ICMP as frame-in / frame-out pairs on a fresh Stack over a hub port, on a virtual clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mtcp_py.arp import ArpConfig
from mtcp_py.ip import SendStatus

from .frames import (
    BROADCAST,
    OTHER_IP,
    PEER_IP,
    PEER_MAC,
    STACK_IP,
    STACK_MAC,
    Lab,
    arp,
    echo_request,
    eth,
    icmp,
    ipv4,
    make_lab,
    pad,
    peer_ip_frame,
)


@pytest.fixture
def lab() -> Iterator[Lab]:
    lab = make_lab()
    yield lab
    lab.close()


def arp_request_from_peer(target: int = STACK_IP) -> bytes:
    return pad(eth(BROADCAST, PEER_MAC, 0x0806, arp(1, PEER_MAC, PEER_IP, bytes(6), target)))


def check_clean(lab: Lab) -> None:
    assert lab.stack.internal_errors == 0, lab.stack.last_internal_error
    assert lab.stack.pool.free == lab.stack.pool.count


def test_arp_request_in_exact_reply_out(lab: Lab) -> None:
    lab.inject(arp_request_from_peer())
    assert lab.take() == [pad(eth(PEER_MAC, STACK_MAC, 0x0806, arp(2, STACK_MAC, STACK_IP, PEER_MAC, PEER_IP)))]
    c = lab.stack.arp.counters
    assert (c.requests_received, c.replies_sent) == (1, 1)
    assert lab.stack.arp.lookup(PEER_IP, lab.clock.now()) == PEER_MAC
    check_clean(lab)


def test_arp_request_for_someone_else_is_not_answered_nor_learned(lab: Lab) -> None:
    lab.inject(arp_request_from_peer(OTHER_IP))
    assert lab.take() == []
    assert lab.stack.arp.counters.not_for_us == 1
    assert lab.stack.arp.lookup(PEER_IP, 0) is None


def test_gratuitous_arp_at_start() -> None:
    lab = make_lab(announce=True)
    try:
        assert lab.take() == [pad(eth(BROADCAST, STACK_MAC, 0x0806,
                                      arp(1, STACK_MAC, STACK_IP, bytes(6), STACK_IP)))]
        assert lab.stack.arp.counters.announcements_sent == 1
    finally:
        lab.close()


def test_echo_request_in_exact_reply_out(lab: Lab) -> None:
    lab.learn_peer()
    lab.inject(peer_ip_frame(ipv4(PEER_IP, STACK_IP, 1, echo_request(b"hello", 0x1234, 7), ident=0x55)))
    reply = ipv4(STACK_IP, PEER_IP, 1, icmp(0, 0, 0x1234, 7, b"hello"), ident=1)
    assert lab.take() == [pad(eth(PEER_MAC, STACK_MAC, 0x0800, reply))]
    c = lab.stack.icmp.counters
    assert (c.echo_requests_received, c.echo_replies_sent) == (1, 1)
    check_clean(lab)


def test_echo_request_waits_for_arp_then_goes(lab: Lab) -> None:
    lab.inject(peer_ip_frame(ipv4(PEER_IP, STACK_IP, 1, echo_request(b"x"))))
    assert lab.take() == [pad(eth(BROADCAST, STACK_MAC, 0x0806, arp(1, STACK_MAC, STACK_IP, bytes(6), PEER_IP)))]
    lab.inject(pad(eth(STACK_MAC, PEER_MAC, 0x0806, arp(2, PEER_MAC, PEER_IP, STACK_MAC, STACK_IP))))
    reply = ipv4(STACK_IP, PEER_IP, 1, icmp(0, 0, 0x1234, 1, b"x"), ident=1)
    assert lab.take() == [pad(eth(PEER_MAC, STACK_MAC, 0x0800, reply))]
    assert lab.stack.arp.counters.replies_received == 1


def fragments(payload: bytes, size: int, ident: int = 0x77, dst: int = STACK_IP, proto: int = 1) -> list[bytes]:
    out = []
    for offset in range(0, len(payload), size):
        chunk = payload[offset : offset + size]
        more = offset + size < len(payload)
        out.append(peer_ip_frame(ipv4(PEER_IP, dst, proto, chunk, ident=ident, mf=more, offset=offset)))
    return out


def test_fragmented_echo_reassembled_and_answered_in_fragments(lab: Lab) -> None:
    lab.learn_peer()
    data = bytes(range(256)) * 12  # 3072 bytes of data, 3080 of ICMP
    for piece in fragments(echo_request(data, 9, 3), 1000):
        lab.inject(piece)
    message = icmp(0, 0, 9, 3, data)
    expected = [
        eth(PEER_MAC, STACK_MAC, 0x0800,
            ipv4(STACK_IP, PEER_IP, 1, message[off : off + 1480], ident=1, mf=off + 1480 < len(message),
                 offset=off))
        for off in range(0, len(message), 1480)
    ]
    assert lab.take() == expected
    r = lab.stack.ip.reassembler.counters
    assert (r.fragments, r.reassembled) == (4, 1)
    assert lab.stack.ip.counters.fragments_sent == 3
    check_clean(lab)


def test_fragments_out_of_order_and_duplicated(lab: Lab) -> None:
    lab.learn_peer()
    pieces = fragments(echo_request(b"z" * 40), 16)
    for piece in [pieces[2], pieces[0], pieces[0], pieces[1]]:
        lab.inject(piece)
    assert len(lab.take()) == 1
    assert lab.stack.ip.reassembler.counters.duplicates == 1
    assert lab.stack.icmp.counters.echo_replies_sent == 1


def test_overlapping_fragments_drop_the_datagram(lab: Lab) -> None:
    lab.learn_peer()
    message = echo_request(b"o" * 40)
    lab.inject(peer_ip_frame(ipv4(PEER_IP, STACK_IP, 1, message[:16], ident=5, mf=True)))
    lab.inject(peer_ip_frame(ipv4(PEER_IP, STACK_IP, 1, b"X" * 16, ident=5, mf=True, offset=8)))
    lab.inject(peer_ip_frame(ipv4(PEER_IP, STACK_IP, 1, message[16:], ident=5, offset=16)))
    assert lab.take() == []
    r = lab.stack.ip.reassembler.counters
    assert r.overlaps == 1
    assert r.reassembled == 0
    assert lab.stack.icmp.counters.received == 0


def test_reassembly_timeout_counted(lab: Lab) -> None:
    lab.learn_peer()
    lab.inject(fragments(echo_request(b"t" * 40), 16)[0])
    assert lab.stack.ip.reassembler.in_progress == 1
    assert lab.stack.next_deadline() == 91
    lab.advance(90)
    assert lab.stack.ip.reassembler.counters.timeouts == 0
    lab.advance(1)
    assert lab.stack.ip.reassembler.counters.timeouts == 1
    assert lab.stack.ip.reassembler.in_progress == 0
    assert lab.take() == []


def test_not_for_us_dropped(lab: Lab) -> None:
    lab.learn_peer()
    lab.inject(peer_ip_frame(ipv4(PEER_IP, OTHER_IP, 1, echo_request())))
    assert lab.take() == []
    assert lab.stack.ip.counters.not_for_us == 1


@pytest.mark.parametrize(("packet", "reason"), [
    (ipv4(PEER_IP, STACK_IP, 1, echo_request(), good_checksum=False), "ip_bad_checksum"),
    (ipv4(PEER_IP, STACK_IP, 1, echo_request(), version=6), "ip_bad_version"),
    (ipv4(PEER_IP, STACK_IP, 1, echo_request(), ihl=4), "ip_bad_header_len"),
    (ipv4(PEER_IP, STACK_IP, 1, echo_request(), ihl=15), "ip_bad_header_len"),
    (ipv4(PEER_IP, STACK_IP, 1, echo_request(), total=19), "ip_bad_total_len"),
    (ipv4(PEER_IP, STACK_IP, 1, echo_request(), total=200), "ip_bad_total_len"),
    (ipv4(PEER_IP, STACK_IP, 1, b"\x08\x00\x00\x00"), "icmp_truncated"),
    (ipv4(PEER_IP, STACK_IP, 1, echo_request()[:2] + b"\x00\x00" + echo_request()[4:]), "icmp_bad_checksum"),
])
def test_bad_datagrams_counted_by_reason(lab: Lab, packet: bytes, reason: str) -> None:
    lab.learn_peer()
    lab.inject(peer_ip_frame(packet))
    assert lab.take() == []
    assert dict(lab.stack.drops) == {reason: 1}
    check_clean(lab)


def test_runt_and_unknown_ethertype(lab: Lab) -> None:
    lab.inject(eth(STACK_MAC, PEER_MAC, 0x86DD, bytes(46)))
    assert lab.stack.eth.unknown_type == 1
    lab.inject(eth(STACK_MAC, PEER_MAC, 0x0806, bytes(10)))
    assert lab.stack.drops["arp_truncated"] == 1
    check_clean(lab)


def test_ip_options_accepted(lab: Lab) -> None:
    lab.learn_peer()
    lab.inject(peer_ip_frame(ipv4(PEER_IP, STACK_IP, 1, echo_request(b"opt"), ihl=6, options=b"\x01\x01\x01\x00")))
    assert len(lab.take()) == 1


def test_arp_retries_then_failure_then_host_unreachable(lab: Lab) -> None:
    cfg = lab.stack.config.arp
    assert lab.stack.icmp.send_echo(OTHER_IP, 1, 1, b"?", lab.clock.now()) is SendStatus.PENDING_ARP
    request = pad(eth(BROADCAST, STACK_MAC, 0x0806, arp(1, STACK_MAC, STACK_IP, bytes(6), OTHER_IP)))
    sent_at = [0] if lab.take() == [request] else []
    for _ in range(cfg.retry_ticks * (cfg.retries + 1)):
        lab.advance(1)
        for seen in lab.take():
            assert seen == request
            sent_at.append(lab.clock.now())
    assert sent_at == [i * cfg.retry_ticks for i in range(cfg.retries)]
    c = lab.stack.arp.counters
    assert (c.requests_sent, c.resolve_failures, c.pending_dropped) == (cfg.retries, 1, 1)
    status = lab.stack.icmp.send_echo(OTHER_IP, 1, 2, b"?", lab.clock.now())
    assert status is SendStatus.HOST_UNREACHABLE
    assert lab.take() == []


def test_arp_cache_bound_and_expiry() -> None:
    lab = make_lab(arp=ArpConfig(cache_size=2, entry_ticks=10))
    try:
        hosts = [(bytes.fromhex(f"0200000001{i:02x}"), PEER_IP + 10 + i) for i in range(3)]
        for mac, ip in hosts:
            lab.inject(pad(eth(BROADCAST, mac, 0x0806, arp(1, mac, ip, bytes(6), STACK_IP))))
        arp_layer = lab.stack.arp
        assert arp_layer.counters.cache_evictions == 1
        assert arp_layer.lookup(hosts[0][1], lab.clock.now()) is None
        assert arp_layer.lookup(hosts[2][1], lab.clock.now()) == hosts[2][0]
        assert len(arp_layer.cache) == 2
        lab.advance(10)
        assert arp_layer.lookup(hosts[2][1], lab.clock.now()) is None
    finally:
        lab.close()


def test_one_datagram_waiting_for_arp_is_one_cache_miss(lab: Lab) -> None:
    assert lab.stack.icmp.send_echo(PEER_IP, 1, 1, b"a", lab.clock.now()) is SendStatus.PENDING_ARP
    c = lab.stack.arp.counters
    assert (c.cache_misses, c.requests_sent) == (1, 1)
    assert lab.stack.icmp.send_echo(PEER_IP, 1, 2, b"b", lab.clock.now()) is SendStatus.PENDING_ARP
    assert (c.cache_misses, c.requests_sent) == (2, 1)
    assert len(lab.stack.arp.pending[PEER_IP].datagrams) == 2
    lab.take()
    lab.inject(pad(eth(STACK_MAC, PEER_MAC, 0x0806, arp(2, PEER_MAC, PEER_IP, STACK_MAC, STACK_IP))))
    assert [f[12:14] for f in lab.take()] == [b"\x08\x00", b"\x08\x00"]
    assert c.cache_hits == 0


def test_protocol_unreachable_after_reassembly_quotes_the_whole_datagram(lab: Lab) -> None:
    """Regression: the quote was the last fragment's header (its offset, its length, no first bytes)."""
    lab.learn_peer()
    body = bytes(range(256)) * 12
    for piece in fragments(body, 1000, proto=99):
        lab.inject(piece)
    out = [f for f in lab.take() if f[12:14] == b"\x08\x00" and f[23] == 1]
    assert len(out) == 1
    message = out[0][34:]
    assert (message[0], message[1]) == (3, 2)  # destination unreachable, protocol
    quote = message[8:]
    assert quote[6:8] == b"\x00\x00"  # no MF, offset 0
    assert int.from_bytes(quote[2:4], "big") == 20 + len(body)
    assert quote[20:28] == body[:8]


def test_static_arp_entry_survives_arp_from_the_wire(lab: Lab) -> None:
    """Regression: an ARP request from the host replaced a static entry with one that expires."""
    lab.stack.arp.add_static(PEER_IP, b"\xff" * 6)
    lab.learn_peer()
    assert lab.stack.arp.lookup(PEER_IP, 10**9) == b"\xff" * 6
