"""What an attacker on the wire tries, scripted: RFC 5961's acceptance rules, challenge-ACK limits, ICMP
checks (RFC 5927), options as Linux reads them, SYN floods and cookies (RFC 4987), ISNs (RFC 6528) and
TIME_WAIT (RFC 1122 4.2.2.13). Every expected segment is written from the RFC, with numbers, not read
back from the socket under test."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mtcp_py.ip import IcmpError
from mtcp_py.tcp import NO_ROUTE, REFUSED, State, TcpSocket
from mtcp_py.wire.ipv4 import Ipv4Repr
from mtcp_py.wire.tcp import TcpRepr

from .harness import (
    ACK,
    FIN,
    LOCAL_IP,
    LOCAL_PORT,
    MSS,
    PSH,
    RECV_TEMPL,
    REMOTE_IP,
    REMOTE_ISS,
    REMOTE_PORT,
    RST,
    SEND_TEMPL,
    SYN,
    Harness,
    active_open,
    config,
    established,
    syn_sent,
    theirs,
    with_options,
)

MASK = 0xFFFF_FFFF
WINDOW = 16_384
"""The harness's receive queue: our window while nothing waits in it."""


def ack_from_us(sock_iss: int, offset: int = 0, ack_offset: int = 0, **changes: object) -> TcpRepr:
    values: dict[str, object] = dict(seq=(sock_iss + 1 + offset) & MASK, ack=(REMOTE_ISS + 1 + ack_offset) & MASK,
                                     window=WINDOW)
    values.update(changes)
    return replace(RECV_TEMPL, **values)  # type: ignore[arg-type]


# -- RFC 5961 5.2: the ACK must lie in SND.UNA - MAX.SND.WND .. SND.NXT ----------------------------------------

def test_data_with_an_ack_older_than_max_window_is_dropped_and_challenged() -> None:
    h, sock = established(window=64_000)
    too_old = (sock.iss + 1 - 64_000 - 1) & MASK
    h.deliver(theirs(sock, ack=too_old, payload=b"INJECTED"), at=1)
    h.expect([ack_from_us(sock.iss)])
    assert sock.readable == 0 and h.tcp.counters.ack_too_old == 1
    h.deliver(theirs(sock, payload=b"genuine!"), at=2)  # the real bytes at the same place are not trimmed
    assert sock.recv() == b"genuine!"


def test_data_with_an_old_ack_inside_max_window_is_taken() -> None:
    h, sock = established(window=64_000)
    h.deliver(theirs(sock, ack=(sock.iss + 1 - 63_000) & MASK, payload=b"ok"), at=1)
    assert sock.recv() == b"ok" and h.tcp.counters.ack_too_old == 0


def test_bare_ack_too_old_does_not_move_the_window() -> None:
    h, sock = established(window=64_000)
    h.deliver(theirs(sock, 0, ack=(sock.iss + 1 - 70_000) & MASK, window=0), at=1)
    h.expect([ack_from_us(sock.iss)])
    assert sock.send(b"x" * 100) == 100
    h.expect([ack_from_us(sock.iss, flags=ACK | PSH, payload=b"x" * 100)], at=2)  # the window is still open


def test_window_moves_only_with_an_ack_between_snd_una_and_snd_nxt() -> None:
    h, sock = established(window=64_000)
    sock.send(b"a" * 1000)
    h.poll(1)
    h.take()
    h.deliver(theirs(sock, ack=(sock.iss + 1001) & MASK), at=2)
    # 100 bytes old, higher SEQ (it carries data), window 0: RFC 9293 3.10.7.4 leaves SND.WND alone.
    h.deliver(theirs(sock, ack=(sock.iss + 901) & MASK, payload=b"0123456789", window=0), at=3)
    assert sock.recv() == b"0123456789"
    sock.send(b"b" * 10)
    h.poll(4)
    sent = [seg for seg in h.take() if seg.payload]
    assert [bytes(seg.payload) for seg in sent] == [b"b" * 10]


def test_ack_for_data_never_sent_is_dropped_and_answered() -> None:
    h, sock = established()
    h.deliver(theirs(sock, ack=(sock.iss + 1 + 5000) & MASK, payload=b"data"), at=1)
    h.expect([ack_from_us(sock.iss)])
    assert sock.readable == 0 and h.tcp.counters.ack_too_new == 1


# -- RFC 5961 7: challenge ACKs are limited per connection ------------------------------------------------------

def test_challenge_acks_are_rate_limited_and_counted() -> None:
    h, sock = established()
    for i in range(100):
        h.deliver(theirs(sock, 100 + i, flags=RST), at=1)
    assert len(h.take()) == 10  # challenge_ack_limit per challenge_ack_ticks
    assert h.tcp.counters.challenge_acks == 10 and h.tcp.counters.challenge_acks_limited == 90
    assert sock.is_connected
    h.deliver(theirs(sock, 100, flags=RST), at=1 + 18)  # a new period
    h.expect([ack_from_us(sock.iss)])


def test_in_window_syn_gets_a_limited_challenge_ack_not_a_reset() -> None:
    h, sock = established()
    for _ in range(20):
        h.deliver(theirs(sock, 7, flags=SYN, ack=0), at=2)
    out = h.take()
    assert len(out) == 10 and all(seg.flags == ACK for seg in out)
    assert sock.is_connected


# -- RFC 5927: ICMP errors must quote a sequence number we have outstanding ------------------------------------

def icmp_about(seq: int, code: int = 3) -> IcmpError:
    quoted = replace(RECV_TEMPL, seq=seq, flags=SYN).to_bytes(LOCAL_IP, REMOTE_IP)[:8]
    return IcmpError(3, code, REMOTE_IP, Ipv4Repr(LOCAL_IP, REMOTE_IP, 6, 20), quoted)


def test_icmp_error_quoting_a_sequence_number_not_outstanding_is_ignored() -> None:
    h, sock = syn_sent()
    for seq in ((sock.iss + 1) & MASK, (sock.iss - 1) & MASK, (sock.iss + 123_456) & MASK):
        h.tcp.on_icmp_error(icmp_about(seq), 1)
    assert sock.error is None and sock.is_connecting and h.tcp.counters.icmp_ignored == 3
    h.tcp.on_icmp_error(icmp_about(sock.iss, code=1), 2)  # host unreachable, quoting our SYN
    assert sock.error == NO_ROUTE


def test_icmp_port_unreachable_quoting_our_syn_refuses() -> None:
    h, sock = syn_sent()
    h.tcp.on_icmp_error(icmp_about(sock.iss), 1)
    assert sock.error == REFUSED


# -- options as Linux takes them -------------------------------------------------------------------------------

def test_data_segment_with_a_length_zero_option_is_taken() -> None:
    h, sock = established()
    seg = theirs(sock, payload=b"hello")
    h.deliver(seg, at=1, raw=with_options(seg, "02 00 00 00"))
    assert sock.recv() == b"hello"
    h.expect([ack_from_us(sock.iss, ack_offset=5, window=WINDOW - 5)], at=2)


@pytest.mark.parametrize(("peer_mss", "sizes"), [
    (0, [536] * 5),  # MSS 0 is ignored: 536 (RFC 9293 3.7.1), as Linux does; Nagle holds the tail
    (65_000, [MSS, MSS]),  # clamped to ours
])
def test_peer_mss_zero_or_huge(peer_mss: int, sizes: list[int]) -> None:
    h = Harness()
    sock, _ = active_open(h, mss=peer_mss)
    sock.send(b"z" * 3000)
    h.poll(1)
    assert [len(seg.payload) for seg in h.take()] == sizes


# -- SYN floods: cookies once the half-open slots are taken ----------------------------------------------------

def flood(h: Harness, count: int, at: int = 0) -> None:
    for i in range(count):
        h.deliver(replace(SEND_TEMPL, src_port=20_000 + i, seq=1000 * i, flags=SYN, mss=MSS), at=at)
    h.take()


def test_syn_flood_does_not_lock_the_listener_a_real_client_gets_through() -> None:
    h = Harness()
    listener = h.tcp.listen(LOCAL_PORT, backlog=8)
    flood(h, 8)
    assert listener.embryonic == 8 and len(h.tcp.sockets) == 8
    h.deliver(replace(SEND_TEMPL, seq=REMOTE_ISS, flags=SYN, mss=MSS, window_scale=7, sack_permitted=True), at=1)
    (synack,) = h.take()
    # A cookie: SYN-ACK with our MSS from the table, no window scale, no SACK; nothing allocated.
    assert synack.flags == SYN | ACK and synack.ack == REMOTE_ISS + 1 and synack.mss == MSS
    assert synack.window_scale is None and not synack.sack_permitted and len(h.tcp.sockets) == 8
    assert h.tcp.counters.syn_cookies_sent == 1
    h.deliver(theirs(None, ack=(synack.seq + 1) & MASK, payload=b"GET /"), at=2)
    sock = listener.accept()
    assert sock is not None and sock.is_connected and sock.recv() == b"GET /"
    assert sock.snd_mss == MSS and h.tcp.counters.syn_cookies_accepted == 1
    sock.send(b"reply")
    # The 5 bytes read opened the window by less than an MSS: its right edge stays (RFC 9293 3.8.6.2.2).
    h.expect([replace(RECV_TEMPL, seq=(synack.seq + 1) & MASK, ack=REMOTE_ISS + 6, flags=ACK | PSH,
                      window=WINDOW - 5, payload=b"reply")], at=3)


def test_forged_or_stale_cookie_ack_gets_a_reset() -> None:
    h = Harness()
    h.tcp.listen(LOCAL_PORT, backlog=1)
    flood(h, 1)
    h.deliver(replace(SEND_TEMPL, seq=REMOTE_ISS, flags=SYN), at=0)
    (synack,) = h.take()
    forged = (synack.seq + 1) ^ 0x5A5A_5A5A
    h.deliver(theirs(None, ack=forged), at=0)
    h.expect([replace(RECV_TEMPL, seq=forged, ack=0, flags=RST, window=0)])
    h.deliver(theirs(None, ack=(synack.seq + 1) & MASK), at=2 * 1165)  # two periods later: too old
    assert h.tcp.counters.syn_cookies_failed == 2 and h.tcp.counters.syn_cookies_accepted == 0


def test_half_open_entries_still_time_out() -> None:
    h = Harness()
    listener = h.tcp.listen(LOCAL_PORT, backlog=2)
    flood(h, 2)
    for tick in range(0, 2000, 10):  # SYN-ACKs resent with backoff, 5 times, then given up (~63 s)
        h.poll(tick)
    assert listener.embryonic == 0 and not h.tcp.sockets


# -- initial sequence numbers (RFC 6528) -----------------------------------------------------------------------

def test_two_incarnations_within_one_tick_get_different_isns() -> None:
    h = Harness()
    first = h.tcp.connect(REMOTE_IP, REMOTE_PORT, local_port=LOCAL_PORT, now=5)
    first.abort()
    second = h.tcp.connect(REMOTE_IP, REMOTE_PORT, local_port=LOCAL_PORT, now=5)
    assert 0 < (second.iss - first.iss) & MASK < 1 << 31


def test_isn_follows_the_fine_clock() -> None:
    h = Harness()
    h.tcp.set_fine_time(0.5)
    first = h.tcp.connect(REMOTE_IP, REMOTE_PORT, local_port=LOCAL_PORT, now=0)
    first.abort()
    h.tcp.set_fine_time(0.75)  # a quarter of a second: 62,500 steps of 4 us, within one 55 ms tick's reach
    second = h.tcp.connect(REMOTE_IP, REMOTE_PORT, local_port=LOCAL_PORT, now=0)
    assert (second.iss - first.iss) & MASK == 62_500


# -- TIME_WAIT -------------------------------------------------------------------------------------------------

def server_in_time_wait() -> tuple[Harness, TcpSocket]:
    h = Harness()
    listener = h.tcp.listen(LOCAL_PORT)
    h.deliver(replace(SEND_TEMPL, seq=REMOTE_ISS, flags=SYN, mss=MSS), at=0)
    h.take()
    (sock,) = h.tcp.sockets
    h.deliver(theirs(sock), at=0)
    assert listener.accept() is sock
    sock.close()  # we close first: TIME_WAIT is ours
    h.poll(1)
    h.take()
    h.deliver(theirs(sock, ack=(sock.iss + 2) & MASK, flags=FIN | ACK), at=2)
    h.take()
    assert sock.state is State.TIME_WAIT
    return h, sock


def test_new_syn_above_the_old_sequence_space_reopens_time_wait() -> None:
    h, old = server_in_time_wait()
    new_isn = REMOTE_ISS + 100_000
    h.deliver(replace(SEND_TEMPL, seq=new_isn, flags=SYN, mss=MSS), at=3)
    (synack,) = h.take()
    assert synack.flags == SYN | ACK and synack.ack == new_isn + 1
    assert h.tcp.counters.time_wait_reopened == 1 and old not in h.tcp.sockets  # type: ignore[comparison-overlap]


def test_old_syn_in_time_wait_gets_an_ack_and_keeps_it() -> None:
    h, old = server_in_time_wait()
    h.deliver(replace(SEND_TEMPL, seq=REMOTE_ISS - 5, flags=SYN, mss=MSS), at=3)
    (reply,) = h.take()
    assert reply.flags == ACK and reply.ack == REMOTE_ISS + 2
    assert old.state is State.TIME_WAIT  # type: ignore[attr-defined]


def test_full_table_reuses_the_oldest_time_wait_and_counts_it() -> None:
    h = Harness(config(max_sockets=2))
    socks = []
    for port, at in ((1001, 0), (1002, 5)):
        sock = h.tcp.connect(REMOTE_IP, REMOTE_PORT, local_port=port, now=at)
        h.poll(at)
        (syn,) = [seg for seg in h.take() if seg.flags & SYN]
        h.deliver(replace(SEND_TEMPL, dst_port=port, seq=REMOTE_ISS, ack=(syn.seq + 1) & MASK, flags=SYN | ACK),
                  at=at)
        sock.close()
        h.poll(at)
        h.deliver(replace(SEND_TEMPL, dst_port=port, seq=REMOTE_ISS + 1, ack=(syn.seq + 2) & MASK,
                          flags=FIN | ACK), at=at)
        assert sock.state is State.TIME_WAIT
        socks.append(sock)
    h.tcp.connect(REMOTE_IP, REMOTE_PORT, local_port=1003, now=6)
    assert socks[0].state is State.CLOSED and socks[1].state is State.TIME_WAIT
    assert h.tcp.counters.time_wait_reused == 1


def test_reset_in_time_wait_ends_it() -> None:
    h, old = server_in_time_wait()
    h.deliver(theirs(old, 1, ack=(old.iss + 2) & MASK, flags=RST), at=3)
    assert old.state is State.CLOSED


def test_table_full_of_established_connections_refuses_a_syn_with_a_reset() -> None:
    h = Harness(config(max_sockets=1))
    listener = h.tcp.listen(LOCAL_PORT, backlog=4)
    h.deliver(replace(SEND_TEMPL, seq=REMOTE_ISS, flags=SYN), at=0)
    (sock,) = h.tcp.sockets
    h.take()
    h.deliver(theirs(sock), at=0)
    assert listener.accept() is sock
    h.deliver(replace(SEND_TEMPL, src_port=REMOTE_PORT + 1, seq=5, flags=SYN), at=1)
    h.expect([replace(RECV_TEMPL, dst_port=REMOTE_PORT + 1, seq=0, ack=6, flags=RST | ACK, window=0)])
    assert h.tcp.counters.syn_refused_table_full == 1 and h.tcp.counters.syn_cookies_sent == 0


def test_table_full_of_half_open_entries_makes_way_for_a_cookie() -> None:
    h = Harness(config(max_sockets=4))
    listener = h.tcp.listen(LOCAL_PORT, backlog=8)
    flood(h, 4)
    h.deliver(replace(SEND_TEMPL, seq=REMOTE_ISS, flags=SYN, mss=MSS), at=1)
    (synack,) = h.take()
    assert h.tcp.counters.syn_cookies_sent == 1 and len(h.tcp.sockets) == 4
    h.deliver(theirs(None, ack=(synack.seq + 1) & MASK), at=1)
    sock = listener.accept()
    assert sock is not None and sock.is_connected
    assert h.tcp.counters.half_open_evicted == 1 and len(h.tcp.sockets) == 4 and listener.embryonic == 3
