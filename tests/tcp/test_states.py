"""Opening, closing and resetting connections, one RFC 9293 transition per test."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mtcp_py.tcp import REFUSED, RESET, TcpError

from .harness import (
    ACK,
    FIN,
    KEY,
    LOCAL_PORT,
    MSS,
    RECV_TEMPL,
    REMOTE_ISS,
    REMOTE_PORT,
    RST,
    SEND_TEMPL,
    SYN,
    Harness,
    State,
    config,
    established,
    ours,
    syn_sent,
    theirs,
)


def test_active_open_sends_syn_with_mss_and_completes() -> None:
    h, sock = established()
    assert sock.is_connected and sock.snd_mss == MSS
    assert h.tcp.counters.established == 1


def test_active_open_offers_window_scale_when_asked() -> None:
    h = Harness(config(window_scale=True, receive_buffer=1 << 20))
    sock = h.tcp.connect(h.ip.address ^ 3, REMOTE_PORT, local_port=LOCAL_PORT, now=0)
    h.poll(0)
    (syn,) = h.take()
    assert syn.flags == SYN and syn.mss == MSS and syn.window_scale == 5 and syn.window == 0xFFFF
    assert sock.state is State.SYN_SENT


def test_passive_open_through_backlog_and_accept() -> None:
    h = Harness()
    listener = h.tcp.listen(LOCAL_PORT, backlog=2)
    h.deliver(replace(SEND_TEMPL, seq=REMOTE_ISS, flags=SYN, mss=536), at=3)
    (sock,) = h.tcp.sockets
    h.expect([replace(RECV_TEMPL, seq=sock.iss, flags=SYN | ACK, window=16_384, mss=MSS)], at=3)
    assert listener.accept() is None  # not until the handshake completes
    h.deliver(theirs(sock), at=4)
    h.expect_nothing()
    assert listener.accept() is sock and sock.is_connected and sock.snd_mss == 536


def test_syn_ack_lost_is_sent_again_when_syn_repeats() -> None:
    h = Harness()
    h.tcp.listen(LOCAL_PORT)
    syn = replace(SEND_TEMPL, seq=REMOTE_ISS, flags=SYN, mss=MSS)
    h.deliver(syn, at=0)
    (sock,) = h.tcp.sockets
    synack = replace(RECV_TEMPL, seq=sock.iss, flags=SYN | ACK, window=16_384, mss=MSS)
    h.expect([synack])
    h.deliver(syn, at=2)
    h.expect([synack])
    assert len(h.tcp.sockets) == 1


def test_syn_to_full_accept_queue_is_refused_without_a_socket() -> None:
    h = Harness()
    h.tcp.listen(LOCAL_PORT, backlog=1)
    h.deliver(replace(SEND_TEMPL, seq=REMOTE_ISS, flags=SYN), at=0)
    (sock,) = h.tcp.sockets
    h.take()
    h.deliver(theirs(sock), at=0)  # established, waiting in the accept queue: the backlog is full
    other = replace(SEND_TEMPL, src_port=REMOTE_PORT + 1, seq=5, flags=SYN)
    h.deliver(other, at=0)
    h.expect([replace(RECV_TEMPL, dst_port=REMOTE_PORT + 1, seq=0, ack=6, flags=RST | ACK, window=0)])
    assert len(h.tcp.sockets) == 1 and h.tcp.counters.syn_refused_backlog == 1


def test_segment_to_closed_port_gets_reset() -> None:
    h = Harness()
    h.deliver(replace(SEND_TEMPL, seq=100, flags=SYN), at=0)
    h.expect([replace(RECV_TEMPL, seq=0, ack=101, flags=RST | ACK, window=0)])
    h.deliver(replace(SEND_TEMPL, seq=100, ack=777, flags=ACK, payload=b"xy"), at=0)
    h.expect([replace(RECV_TEMPL, seq=777, ack=0, flags=RST, window=0)])
    h.deliver(replace(SEND_TEMPL, seq=100, flags=RST), at=0)
    h.expect_nothing()
    assert h.tcp.counters.no_socket == 2


def test_reset_answering_syn_is_connection_refused() -> None:
    h, sock = syn_sent()
    h.deliver(replace(SEND_TEMPL, seq=0, ack=sock.iss + 1, flags=RST | ACK), at=1)
    h.expect_nothing()
    assert sock.error == REFUSED and sock.is_closed
    with pytest.raises(TcpError, match="connection refused"):
        sock.send(b"x")
    sock.close()
    assert not h.tcp.sockets


def test_reset_with_wrong_ack_in_syn_sent_is_ignored() -> None:
    h, sock = syn_sent()
    h.deliver(replace(SEND_TEMPL, seq=0, ack=sock.iss + 5, flags=RST | ACK), at=1)
    h.expect_nothing()
    assert sock.state is State.SYN_SENT


def test_simultaneous_open() -> None:
    h, sock = syn_sent()
    h.deliver(replace(SEND_TEMPL, seq=REMOTE_ISS, ack=0, flags=SYN, mss=MSS), at=1)
    h.expect([replace(RECV_TEMPL, seq=sock.iss, flags=SYN | ACK, window=16_384, mss=MSS)])
    assert sock.state is State.SYN_RECEIVED
    h.deliver(replace(SEND_TEMPL, seq=REMOTE_ISS, ack=sock.iss + 1, flags=SYN | ACK, mss=MSS), at=2)
    h.expect([ours(sock)])
    assert sock.state is State.ESTABLISHED


def test_active_close_to_time_wait_then_closed() -> None:
    h, sock = established()
    sock.close()
    h.expect([ours(sock, flags=FIN | ACK)], at=1)
    assert sock.state is State.FIN_WAIT_1
    h.deliver(theirs(sock), at=2)
    assert sock.state is State.FIN_WAIT_2
    h.deliver(theirs(sock, flags=FIN | ACK), at=3)
    h.expect([ours(sock, 1, window=16_383)])  # the FIN took a sequence number; the right edge stays
    assert sock.state is State.TIME_WAIT and sock.is_closed and sock.at_eof
    h.expect_nothing(at=3 + 1091)  # 2 MSL = 60 s = 1092 ticks
    assert h.tcp.sockets == [sock]
    h.expect_nothing(at=3 + 1092)
    assert sock.state is State.CLOSED and not h.tcp.sockets


def test_passive_close_through_last_ack() -> None:
    h, sock = established()
    h.deliver(theirs(sock, flags=FIN | ACK), at=1)
    h.expect([ours(sock, window=16_383)])
    assert sock.state is State.CLOSE_WAIT and sock.peer_closed and sock.at_eof
    sock.close()
    h.expect([ours(sock, flags=FIN | ACK, window=16_383)], at=2)
    assert sock.state is State.LAST_ACK
    h.deliver(theirs(sock, 1), at=3)
    h.expect_nothing()
    assert sock.state is State.CLOSED and sock.error is None and not h.tcp.sockets


def test_simultaneous_close_through_closing() -> None:
    h, sock = established()
    sock.close()
    h.expect([ours(sock, flags=FIN | ACK)], at=1)
    h.deliver(theirs(sock, ack=sock.iss + 1, flags=FIN | ACK), at=1)
    h.expect([ours(sock, 1, ack=REMOTE_ISS + 2, window=16_383)])
    assert sock.state is State.CLOSING
    h.deliver(theirs(sock, 1), at=2)
    assert sock.state is State.TIME_WAIT


def test_half_close_we_keep_receiving_after_our_fin() -> None:
    h, sock = established()
    sock.close()
    h.expect([ours(sock, flags=FIN | ACK)], at=1)
    h.deliver(theirs(sock, payload=b"still here"), at=2)
    assert sock.state is State.FIN_WAIT_2
    assert sock.recv() == b"still here"
    h.deliver(theirs(sock, 10, flags=FIN | ACK), at=3)
    # Reading 10 bytes opened the window by less than an MSS: the right edge stays where it was.
    h.expect([ours(sock, 1, window=16_384 - 11)])
    assert sock.state is State.TIME_WAIT


def test_half_close_peer_fin_then_we_still_send() -> None:
    h, sock = established()
    h.deliver(theirs(sock, flags=FIN | ACK), at=1)
    h.take()
    assert sock.send(b"reply") == 5
    h.expect([ours(sock, flags=ACK | 0x08, payload=b"reply", window=16_383)], at=2)
    assert sock.state is State.CLOSE_WAIT


def test_exact_reset_ends_connection_with_connection_reset() -> None:
    h, sock = established()
    h.deliver(theirs(sock, flags=RST), at=1)
    h.expect_nothing()
    assert sock.error == RESET and sock.is_closed and h.tcp.counters.connections_reset == 1


def test_reset_in_window_but_not_exact_gets_challenge_ack() -> None:
    h, sock = established()
    h.deliver(theirs(sock, 100, flags=RST), at=1)
    h.expect([ours(sock)])
    assert sock.is_connected and h.tcp.counters.challenge_acks == 1


def test_reset_outside_window_is_ignored_silently() -> None:
    h, sock = established()
    h.deliver(theirs(sock, 1_000_000, flags=RST), at=1)
    h.expect_nothing()
    assert sock.is_connected and h.tcp.counters.rst_ignored == 1


def test_syn_on_established_connection_gets_challenge_ack() -> None:
    h, sock = established()
    h.deliver(theirs(sock, 5, flags=SYN), at=1)
    h.expect([ours(sock)])
    assert sock.is_connected


def test_abort_sends_reset_and_frees_slot() -> None:
    h, sock = established()
    sock.send(b"queued")
    sock.abort()
    h.expect([ours(sock, flags=RST | ACK, window=0)])  # the queued bytes never went out
    assert not h.tcp.sockets and h.tcp.pool.free == h.tcp.pool.count


def test_ack_for_unsent_data_is_answered_not_taken() -> None:
    h, sock = established()
    h.deliver(theirs(sock, ack=sock.snd_nxt + 1000), at=1)
    h.expect([ours(sock)])
    assert sock.snd_una == sock.iss + 1


def test_isn_is_keyed_per_connection() -> None:
    a, b = Harness(config(isn_key=KEY)), Harness(config(isn_key=b"another key"))
    sa = a.tcp.connect(a.ip.address ^ 3, REMOTE_PORT, local_port=LOCAL_PORT, now=0)
    sb = b.tcp.connect(b.ip.address ^ 3, REMOTE_PORT, local_port=LOCAL_PORT, now=0)
    sc = a.tcp.connect(a.ip.address ^ 3, REMOTE_PORT, local_port=LOCAL_PORT + 1, now=0)
    assert len({sa.iss, sb.iss, sc.iss}) == 3
    later = Harness(config(isn_key=KEY))
    sd = later.tcp.connect(a.ip.address ^ 3, REMOTE_PORT, local_port=LOCAL_PORT, now=100)
    assert (sd.iss - sa.iss) & 0xFFFF_FFFF == 100 * 13_733  # same tuple later: the clock moved it on


def test_table_full_refuses_connect_and_reclaims_time_wait() -> None:
    h = Harness(config(max_sockets=1))
    h.tcp.connect(h.ip.address ^ 3, REMOTE_PORT, local_port=LOCAL_PORT, now=0)
    with pytest.raises(TcpError, match="table is full"):
        h.tcp.connect(h.ip.address ^ 3, REMOTE_PORT, local_port=LOCAL_PORT + 1)


def test_icmp_port_unreachable_while_opening_is_refused() -> None:
    from mtcp_py.ip import IcmpError
    from mtcp_py.wire.ipv4 import Ipv4Repr

    from .harness import LOCAL_IP, REMOTE_IP

    h, sock = syn_sent()
    quoted = replace(RECV_TEMPL, seq=sock.iss, flags=SYN).to_bytes(LOCAL_IP, REMOTE_IP)[:8]
    h.tcp.on_icmp_error(IcmpError(3, 3, REMOTE_IP, Ipv4Repr(LOCAL_IP, REMOTE_IP, 6, 20), quoted), 1)
    assert sock.error == REFUSED


def test_segment_for_a_failed_socket_gets_reset() -> None:
    h, sock = established()
    h.deliver(theirs(sock, flags=RST), at=1)
    h.deliver(theirs(sock, payload=b"late"), at=2)
    h.expect([replace(RECV_TEMPL, seq=sock.snd_nxt, ack=0, flags=RST, window=0)])


def test_passive_open_negotiates_window_scale_both_ways() -> None:
    h = Harness(config(window_scale=True, receive_buffer=1 << 20))
    h.tcp.listen(LOCAL_PORT)
    h.deliver(replace(SEND_TEMPL, seq=REMOTE_ISS, flags=SYN, mss=MSS, window_scale=7), at=0)
    (sock,) = h.tcp.sockets
    h.expect([replace(RECV_TEMPL, seq=sock.iss, flags=SYN | ACK, window=0xFFFF, mss=MSS, window_scale=5)])
    h.deliver(theirs(sock, window=100), at=1)
    assert sock.snd_wnd == 100 << 7 and sock.rcv_shift == 5
    h.deliver(theirs(sock, payload=b"x" * 10), at=2)
    h.expect([ours(sock, window=((1 << 20) - 10) >> 5)], at=3)


def test_no_scaling_unless_both_offer() -> None:
    h = Harness(config(window_scale=True, receive_buffer=1 << 20))
    h.tcp.listen(LOCAL_PORT)
    h.deliver(replace(SEND_TEMPL, seq=REMOTE_ISS, flags=SYN, mss=MSS), at=0)
    (sock,) = h.tcp.sockets
    h.expect([replace(RECV_TEMPL, seq=sock.iss, flags=SYN | ACK, window=0xFFFF, mss=MSS)])
    assert sock.snd_shift == sock.rcv_shift == 0


def test_bad_segment_counted_and_raised_as_wire_error_for_the_stack() -> None:
    from mtcp_py.wire import WireError

    h, sock = established()
    raw = bytearray(theirs(sock, payload=b"abc").to_bytes(h.ip.address ^ 3, h.ip.address))
    raw[-1] ^= 0xFF
    with pytest.raises(WireError, match="tcp_bad_checksum"):
        h.deliver(theirs(sock), at=1, raw=bytes(raw))
    assert h.tcp.counters.bad_segments == 1 and sock.readable == 0


def test_reset_in_syn_received_frees_the_embryo_and_listener_goes_on() -> None:
    h = Harness()
    listener = h.tcp.listen(LOCAL_PORT, backlog=1)
    h.deliver(replace(SEND_TEMPL, seq=REMOTE_ISS, flags=SYN), at=0)
    (sock,) = h.tcp.sockets
    h.take()
    h.deliver(theirs(sock, flags=RST), at=1)
    assert not h.tcp.sockets and listener.embryonic == 0 and not listener.full
    h.deliver(replace(SEND_TEMPL, seq=REMOTE_ISS + 5, flags=SYN), at=2)
    assert len(h.tcp.sockets) == 1  # the backlog slot came back


def test_syn_ack_retransmitted_then_embryo_dropped_silently() -> None:
    h = Harness(config(syn_retries=2))
    listener = h.tcp.listen(LOCAL_PORT)
    h.deliver(replace(SEND_TEMPL, seq=REMOTE_ISS, flags=SYN), at=0)
    (sock,) = h.tcp.sockets
    synack = replace(RECV_TEMPL, seq=sock.iss, flags=SYN | ACK, window=16_384, mss=MSS)
    h.expect([synack])
    h.expect([synack], at=18)
    h.expect([synack], at=18 + 36)
    h.expect_nothing(at=18 + 36 + 72)
    assert not h.tcp.sockets and listener.embryonic == 0 and h.tcp.counters.connections_timed_out == 0
