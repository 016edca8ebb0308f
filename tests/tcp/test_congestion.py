"""Congestion control and loss recovery, scripted: RFC 6928's initial window, slow start (RFC 5681 with
RFC 3465's L = 2), NewReno fast recovery (RFC 6582), SACK both ways (RFC 2018, RFC 6675), the timeout's
slow start, RTO after a lost SYN (RFC 6298 5.7), silly window avoidance on both sides (RFC 9293
3.8.6.2), zero-window probing (RFC 1122 4.2.2.17) and the urgent mark (RFC 9293 3.8.5).

Data segments are compared as (offset from ISS + 1, length), offsets written out from the RFC's rules."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from mtcp_py.tcp import TIMED_OUT, TcpSocket
from mtcp_py.tcp.recovery import initial_window
from mtcp_py.wire.tcp import TcpRepr

from .harness import (
    ACK,
    LOCAL_PORT,
    MSS,
    RECV_TEMPL,
    REMOTE_IP,
    REMOTE_ISS,
    REMOTE_PORT,
    SEND_TEMPL,
    SYN,
    Harness,
    active_open,
    config,
    established,
    theirs,
)

MASK = 0xFFFF_FFFF
URG = 0x20


def data_out(h: Harness, sock: TcpSocket) -> list[tuple[int, int]]:
    return [((seg.seq - sock.iss - 1) & MASK, len(seg.payload)) for seg in h.take() if seg.payload]


def acking(sock: TcpSocket, upto: int, **changes: Any) -> TcpRepr:
    """The peer's pure ACK for our first `upto` bytes, window 64000 unless changed."""
    return theirs(sock, ack=(sock.iss + 1 + upto) & MASK, window=64_000, **changes)


def segs(*indices: int) -> list[tuple[int, int]]:
    return [(i * MSS, MSS) for i in indices]


def established_sack(window: int = 64_000) -> tuple[Harness, TcpSocket]:
    h = Harness(config(sack=True))
    sock, syn = active_open(h, window=window, sack_permitted=True)
    assert syn.sack_permitted and sock.sack_ok  # offered, and taken when the peer offers too (RFC 2018 2)
    return h, sock


def sack_block(sock: TcpSocket, first: int, last: int) -> tuple[int, int]:
    """Our segments first..last (inclusive) as a SACK block from the peer."""
    return ((sock.iss + 1 + first * MSS) & MASK, (sock.iss + 1 + (last + 1) * MSS) & MASK)


# -- windows ---------------------------------------------------------------------------------------------------

def test_initial_window_is_ten_segments_then_slow_start_adds_two_per_ack() -> None:
    h, sock = established()
    assert sock.send(b"x" * 30 * MSS) == 30 * MSS
    h.poll(1)
    assert data_out(h, sock) == segs(*range(10))  # min(10 * MSS, max(2 * MSS, 14600)) = 10 segments
    h.deliver(acking(sock, 2 * MSS), at=2)  # two acknowledged: cwnd 10 + 2, two left the network
    assert data_out(h, sock) == segs(10, 11, 12, 13)


def test_initial_window_follows_rfc_6928() -> None:
    # min(10 * MSS, max(2 * MSS, 14600)) bytes, in segments
    assert [initial_window(mss, None) for mss in (536, 1460, 4000, 8960)] == [10, 10, 3, 2]
    assert initial_window(1460, 4) == 4


def test_newreno_fast_retransmit_partial_ack_and_exit() -> None:
    h, sock = established()
    sock.send(b"y" * 10 * MSS)
    h.poll(1)
    assert data_out(h, sock) == segs(*range(10))
    h.deliver(acking(sock, MSS), at=2)
    h.take()
    h.deliver(acking(sock, MSS), at=2)
    h.deliver(acking(sock, MSS), at=2)
    assert data_out(h, sock) == []  # two duplicates are not enough
    h.deliver(acking(sock, MSS), at=2)
    assert data_out(h, sock) == segs(1)  # the third: fast retransmit of the first hole only
    assert h.tcp.counters.fast_retransmits == 1
    h.deliver(acking(sock, 5 * MSS), at=3)
    assert data_out(h, sock) == segs(5)  # partial ACK: the next hole at once (RFC 6582 3.2 step 3)
    h.deliver(acking(sock, 10 * MSS), at=4)
    # Full ACK: recovery ends with cwnd = ssthresh = FlightSize / 2 = 9 / 2 -> 4 segments.
    sock.send(b"z" * 10 * MSS)
    h.poll(5)
    assert data_out(h, sock) == segs(10, 11, 12, 13)


def test_timeout_resends_one_segment_then_slow_starts() -> None:
    h, sock = established()
    sock.send(b"w" * 4 * MSS)
    h.poll(1)
    assert data_out(h, sock) == segs(0, 1, 2, 3)
    h.poll(2)  # the tail loss probe: 2 SRTT (0 here) + 1 tick; the last segment again (RFC 8985 7.3)
    assert data_out(h, sock) == segs(3) and h.tcp.counters.loss_probes == 1
    h.poll(3)
    assert data_out(h, sock) == []
    h.poll(4)  # a second probe at twice the timeout, then no more
    assert data_out(h, sock) == segs(3) and h.tcp.counters.loss_probes == 2
    h.poll(5)  # sent at 1 with an RTO of 4 ticks
    assert data_out(h, sock) == segs(0)  # cwnd = 1 (RFC 5681 3.1)
    h.deliver(acking(sock, MSS), at=6)
    assert data_out(h, sock) == segs(1, 2)  # slow start: cwnd 2
    h.deliver(acking(sock, 4 * MSS), at=7)
    assert sock.all_sent and h.tcp.counters.timeouts == 1


def test_rto_is_three_seconds_once_connected_after_a_syn_was_resent() -> None:
    h = Harness()
    sock = h.tcp.connect(REMOTE_IP, REMOTE_PORT, local_port=LOCAL_PORT, now=0)
    h.poll(0)
    h.take()
    h.poll(18)  # the initial RTO, one second
    (again,) = h.take()
    assert again.flags == SYN
    h.deliver(replace(SEND_TEMPL, seq=REMOTE_ISS, ack=(sock.iss + 1) & MASK, flags=SYN | ACK, mss=MSS), at=20)
    h.take()
    sock.send(b"d")
    h.poll(20)
    assert data_out(h, sock) == [(0, 1)]
    h.poll(20 + 21)
    assert data_out(h, sock) == []
    h.poll(20 + 22)  # a tail loss probe: no RTT sample, so 1 s, plus 4 ticks of delayed ACK for one segment
    assert data_out(h, sock) == [(0, 1)]
    h.poll(20 + 54)
    assert data_out(h, sock) == []
    h.poll(20 + 55)  # the RTO: 3 s = 55 ticks (no RTT sample: Karn's rule kept the resent SYN's)
    assert data_out(h, sock) == [(0, 1)] and h.tcp.counters.timeouts == 2


# -- SACK ------------------------------------------------------------------------------------------------------

def test_sack_blocks_retransmit_only_the_holes() -> None:
    h, sock = established_sack()
    sock.send(b"s" * 10 * MSS)
    h.poll(1)
    assert data_out(h, sock) == segs(*range(10))
    h.deliver(acking(sock, MSS, sack=(sack_block(sock, 2, 4),)), at=2)
    assert data_out(h, sock) == segs(1)  # three segments SACKed above segment 1: it is lost (RFC 6675)
    h.deliver(acking(sock, MSS, sack=(sack_block(sock, 6, 9), sack_block(sock, 2, 4))), at=2)
    assert data_out(h, sock) == segs(5)  # and 5; never 2-4 or 6-9, which the peer has
    assert h.tcp.counters.sacked_segments == 7
    h.deliver(acking(sock, 10 * MSS), at=3)
    assert sock.all_sent and h.tcp.counters.retransmits == 2


def test_sack_blocks_outside_what_is_outstanding_are_ignored() -> None:
    h, sock = established_sack()
    sock.send(b"s" * 4 * MSS)
    h.poll(1)
    h.take()
    bogus = ((sock.iss + 1 + 100 * MSS) & MASK, (sock.iss + 1 + 200 * MSS) & MASK)
    below = ((sock.iss - 1000) & MASK, (sock.iss + 1) & MASK)
    h.deliver(acking(sock, 0, sack=(bogus, below)), at=1)
    assert h.tcp.counters.sacked_segments == 0 and data_out(h, sock) == []


def test_our_acks_carry_sack_blocks_newest_first() -> None:
    h, sock = established_sack()
    base = REMOTE_ISS + 1
    h.deliver(theirs(sock, 1000, payload=b"a" * 100), at=1)
    (dup,) = h.take()
    assert dup.ack == base and dup.sack == ((base + 1000, base + 1100),)
    h.deliver(theirs(sock, 2000, payload=b"b" * 100), at=1)
    (dup,) = h.take()
    assert dup.sack == ((base + 2000, base + 2100), (base + 1000, base + 1100))
    h.deliver(theirs(sock, 0, payload=b"c" * 1000), at=1)
    (ack,) = h.take()
    assert ack.ack == base + 1100 and ack.sack == ((base + 2000, base + 2100),)


def test_no_sack_blocks_unless_both_offered() -> None:
    h = Harness(config(sack=True))
    sock, _ = active_open(h)
    assert not sock.sack_ok
    h.deliver(theirs(sock, 1000, payload=b"a" * 100), at=1)
    (dup,) = h.take()
    assert dup.sack == ()


# -- silly windows and zero windows ----------------------------------------------------------------------------

def test_tail_loss_probe_sends_new_data_when_the_window_allows() -> None:
    h, sock = established()
    h.deliver(theirs(sock, ack=(sock.iss + 1) & MASK), at=0)
    sock.send(b"t" * 12 * MSS)
    h.poll(0)
    assert data_out(h, sock) == segs(*range(10))  # the initial window; two wait
    h.poll(1)
    assert data_out(h, sock) == segs(10)  # the probe is new data, outside cwnd (RFC 8985 7.3)
    h.deliver(acking(sock, 11 * MSS), at=2)
    assert data_out(h, sock) == segs(11) and h.tcp.counters.timeouts == 0


def test_override_timer_sends_what_fits_in_a_small_window() -> None:
    h, sock = established(window=64_000)
    h.deliver(theirs(sock, window=500), at=1)  # the peer's window shrank below one MSS and stays there
    sock.send(b"o" * MSS)
    h.poll(1)
    assert data_out(h, sock) == []  # sender SWS: not a 500-byte piece while more waits
    h.poll(4)
    assert data_out(h, sock) == []
    h.poll(5)  # the override timeout (one RTO) has passed
    assert data_out(h, sock) == [(0, 500)] and h.tcp.counters.window_overrides == 1


def test_receiver_does_not_open_its_window_by_less_than_an_mss() -> None:
    h, sock = established()
    for offset in range(0, 16_384, MSS):
        h.deliver(theirs(sock, offset, payload=b"r" * min(MSS, 16_384 - offset)), at=1)
    h.poll(2)
    out = h.take()
    assert out[-1].window == 0 and out[-1].ack == REMOTE_ISS + 1 + 16_384
    assert len(sock.recv(100)) == 100
    h.poll(3)
    assert h.take() == []  # 100 bytes free is not worth a window update
    h.deliver(theirs(sock, 16_383, payload=b"!"), at=4)  # the peer's probe
    (reply,) = h.take()
    assert reply.window == 0 and reply.ack == REMOTE_ISS + 1 + 16_384  # the right edge stays
    assert len(sock.recv(1400)) == 1400  # now 1500 free: at least one MSS
    h.poll(5)
    (update,) = h.take()
    assert update.window == 1500 and h.tcp.counters.window_updates == 1


def test_window_update_only_when_the_window_doubles_what_the_peer_may_still_send() -> None:
    """Linux's tcp_cleanup_rbuf rule: a read that leaves the peer plenty of window sends no update (the next
    ordinary ACK carries it); one after the window ran low does."""
    h, sock = established()
    for offset in range(0, 2 * MSS, MSS):
        h.deliver(theirs(sock, offset, payload=b"r" * MSS), at=1)
    h.poll(2)
    (ack,) = h.take()
    assert ack.window == 16_384 - 2 * MSS
    assert len(sock.recv(2 * MSS)) == 2 * MSS
    h.poll(3)
    assert h.take() == []  # 16384 is less than twice the 13464 the peer may still send
    for offset in range(2 * MSS, 10 * MSS, MSS):
        h.deliver(theirs(sock, offset, payload=b"r" * MSS), at=4)
    h.poll(5)
    out = h.take()
    assert out[-1].window == 16_384 - 8 * MSS and out[-1].ack == REMOTE_ISS + 1 + 10 * MSS
    assert len(sock.recv(8 * MSS)) == 8 * MSS
    h.poll(6)
    (update,) = h.take()
    assert update.window == 16_384 and update.ack == REMOTE_ISS + 1 + 10 * MSS


def run_probes(h: Harness, sock: TcpSocket, answer: bool, until: int) -> int:
    """Follow the timers to `until`; answer each zero-window probe with a zero window. Returns probes seen."""
    probes = 0
    while (deadline := h.tcp.next_deadline()) is not None and deadline <= until and not sock.error:
        h.poll(max(deadline, h.now))
        for seg in h.take():
            if seg.seq == sock.iss & MASK:  # SND.UNA - 1: Linux's probe
                probes += 1
                if answer:
                    h.deliver(theirs(sock, window=0), at=h.now)
    return probes


def test_zero_window_held_while_probes_are_answered_never_times_out() -> None:
    h, sock = established()
    h.deliver(theirs(sock, window=0), at=1)
    sock.send(b"p" * 100)
    h.poll(1)
    hour = 65_543
    probes = run_probes(h, sock, answer=True, until=hour)
    assert sock.error is None and sock.is_connected and probes > 60  # one a minute at the cap, for an hour
    assert run_probes(h, sock, answer=False, until=2 * hour) == 8  # max_retransmits unanswered, then given up
    assert sock.error == TIMED_OUT


def test_urgent_mark_visible_to_the_reader() -> None:
    h, sock = established()
    assert sock.urgent_pending is None
    h.deliver(theirs(sock, flags=ACK | URG, urgent=3, payload=b"ab\xffcd"), at=1)
    assert sock.urgent_pending == 3 and h.tcp.counters.urgent_received == 1
    assert sock.recv(2) == b"ab" and sock.urgent_pending == 1
    assert sock.recv(1) == b"\xff" and sock.urgent_pending is None
    assert sock.recv() == b"cd"


def test_urgent_pointer_never_moves_back() -> None:
    h, sock = established()
    h.deliver(theirs(sock, flags=ACK | URG, urgent=4, payload=b"abcd"), at=1)
    h.deliver(theirs(sock, 4, flags=ACK | URG, urgent=0, payload=b"ef"), at=1)  # pointer at 4: not beyond
    assert sock.urgent_pending == 4


def test_window_probe_template_matches_linux() -> None:
    h, sock = established()
    h.deliver(theirs(sock, window=0), at=1)
    sock.send(b"q")
    h.poll(1)
    assert h.take() == []
    h.poll(5)  # one RTO after the window closed on waiting data
    (probe,) = h.take()
    assert probe == replace(RECV_TEMPL, seq=sock.iss & MASK, ack=REMOTE_ISS + 1, flags=ACK, window=16_384)
