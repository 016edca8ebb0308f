"""Retransmission, backoff, giving up, fast retransmit, TIME_WAIT, in exact ticks."""

from __future__ import annotations

from dataclasses import replace

from mtcp_py.tcp import TIMED_OUT

from .harness import ACK, PSH, RECV_TEMPL, REMOTE_IP, REMOTE_PORT, SYN, Harness, config, established, ours, theirs


def test_syn_retransmitted_with_backoff_then_timed_out() -> None:
    h = Harness(config(syn_retries=3))
    sock = h.tcp.connect(REMOTE_IP, REMOTE_PORT, local_port=80, now=0)
    syn = replace(RECV_TEMPL, seq=sock.iss, ack=0, flags=SYN, window=16_384, mss=1460)
    h.expect([syn], at=0)
    h.expect_nothing(at=17)
    h.expect([syn], at=18)  # initial RTO: one second
    h.expect_nothing(at=18 + 35)
    h.expect([syn], at=18 + 36)  # doubled
    h.expect([syn], at=18 + 36 + 72)
    h.expect_nothing(at=18 + 36 + 72 + 143)
    h.expect_nothing(at=18 + 36 + 72 + 144)
    assert sock.error == TIMED_OUT and h.tcp.counters.connections_timed_out == 1


def test_data_retransmitted_with_backoff_and_capped_then_timed_out() -> None:
    h, sock = established(config(max_retransmits=4, rto_max_ticks=10))
    sock.send(b"lost")
    seg = ours(sock, flags=ACK | PSH, payload=b"lost")
    h.expect([seg], at=0)
    h.expect_nothing(at=3)
    h.expect([seg], at=4)  # RTO 4 ticks (samples of 0 ticks, clamped to the minimum)
    h.expect_nothing(at=11)
    h.expect([seg], at=12)  # 8
    h.expect([seg], at=22)  # 16, capped at 10
    h.expect([seg], at=32)
    h.expect_nothing(at=42)
    assert sock.error == TIMED_OUT and sock.is_closed
    assert h.tcp.pool.free == h.tcp.pool.count


def test_ack_resets_backoff_and_timer_stops_when_all_acked() -> None:
    h, sock = established()
    sock.send(b"one")
    h.expect([ours(sock, flags=ACK | PSH, payload=b"one")], at=0)
    h.expect([ours(sock, flags=ACK | PSH, payload=b"one")], at=4)
    h.deliver(theirs(sock), at=5)
    assert sock.retransmit_at is None and sock.rtt.backoff == 0
    h.expect_nothing(at=100)


def test_rtt_sample_sets_rto_and_karn_skips_retransmitted() -> None:
    h, sock = established()
    sock.send(b"x" * 10)
    h.poll(0)
    h.take()
    h.deliver(theirs(sock), at=6)  # a 6-tick round trip
    assert sock.rtt.srtt is not None and sock.rtt.srtt > 0
    rto = sock.rtt.rto
    sock.send(b"y" * 10)
    h.poll(6)
    h.take()
    h.poll(6 + rto)
    assert h.take()  # retransmitted
    h.deliver(theirs(sock), at=6 + rto + 1)
    assert sock.rtt.rto == rto  # no sample from a retransmitted segment


def test_fast_retransmit_on_third_duplicate_ack() -> None:
    h, sock = established()
    sock.send(b"m" * (4 * 1460))
    h.poll(0)
    assert len(h.take()) == 4
    dup = theirs(sock, ack=sock.iss + 1)
    h.deliver(dup, at=0)  # within the tick: before the tail loss probe's deadline
    h.deliver(dup, at=0)
    h.expect_nothing()
    h.deliver(dup, at=0)
    h.expect([ours(sock, flags=ACK | PSH, payload=b"m" * 1460)])
    assert h.tcp.counters.fast_retransmits == 1
    # A partial ACK (the receiver had segments 3 and 4) resends the next hole at once.
    h.deliver(theirs(sock, ack=sock.iss + 1 + 1460), at=2)
    h.expect([ours(sock, 1460, flags=ACK | PSH, payload=b"m" * 1460)])


def test_time_wait_answers_repeated_fin_and_restarts() -> None:
    h, sock = established()
    sock.close()
    h.poll(1)
    h.take()
    h.deliver(theirs(sock, flags=0x11), at=2)
    h.expect([ours(sock, 1, window=16_383)])
    h.deliver(theirs(sock, flags=0x11), at=10)  # our ACK was lost: the FIN comes again
    h.expect([ours(sock, 1, window=16_383)])
    h.expect_nothing(at=10 + 1091)
    assert h.tcp.sockets
    h.expect_nothing(at=10 + 1092)
    assert not h.tcp.sockets


def test_next_deadline_reports_timers() -> None:
    h, sock = established()
    assert h.tcp.next_deadline() is None
    sock.send(b"t")
    assert h.tcp.next_deadline() == 0  # something to send now
    h.poll(0)
    h.take()
    assert h.tcp.next_deadline() == 4
    _ = ACK


def test_fin_wait_2_gives_the_slot_back_after_silence() -> None:
    h, sock = established(config(fin_wait_2_ticks=100))
    sock.close()
    h.poll(1)
    h.take()
    h.deliver(theirs(sock), at=2)
    h.deliver(theirs(sock, payload=b"x"), at=50)  # activity restarts the wait
    h.poll(51)
    assert len(h.take()) == 1  # the delayed ACK of that byte
    h.expect_nothing(at=149)
    assert h.tcp.sockets == [sock]
    h.expect_nothing(at=150)
    assert not h.tcp.sockets and sock.is_closed


def test_keepalive_probes_an_idle_peer_then_gives_up() -> None:
    """RFC 1122 4.2.3.6: after the idle time, a segment with SEG.SEQ = SND.NXT - 1 (which the peer must
    answer); an answer starts the idle time again; `probes` unanswered end the connection."""
    h, sock = established()
    sock.set_keepalive(idle_ticks=100, interval_ticks=10, probes=3)
    probe = ours(sock, -1)  # seq ISS, one before SND.UNA; ack RCV.NXT; no data
    h.expect_nothing(at=99)
    h.expect([probe], at=100)
    h.deliver(theirs(sock), at=101)  # the peer's ACK: it is there
    h.expect_nothing(at=110)
    h.expect_nothing(at=200)
    h.expect([probe], at=201)  # a new idle time from the answer
    for at in (211, 221):
        h.expect([probe], at=at)
    h.expect_nothing(at=231)
    assert sock.error == TIMED_OUT and h.tcp.counters.keepalive_timeouts == 1
    assert h.tcp.counters.keepalive_probes == 4


def test_keepalive_waits_while_data_flows_and_is_off_unless_asked() -> None:
    h, sock = established()
    assert sock.keepalive_at is None and h.tcp.next_deadline() is None  # off: an idle connection costs nothing
    sock.set_keepalive(idle_ticks=50, interval_ticks=5, probes=2)
    h.deliver(theirs(sock, payload=b"still here"), at=40)  # progress during the idle time
    h.poll(41)
    h.take()
    h.expect_nothing(at=50)  # heard from at 40: no probe, the idle time runs from then
    h.expect_nothing(at=89)
    h.expect([ours(sock, -1)], at=90)
    sock.set_keepalive(None)
    h.expect_nothing(at=1000)
    assert sock.error is None
