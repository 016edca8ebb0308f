"""Data both ways: acknowledgements, ordering, trimming, windows, Nagle, zero-copy, sequence wrap."""

from __future__ import annotations

from dataclasses import replace

from mtcp_py.tcp import TcpSocket

from .harness import (
    ACK,
    FIN,
    PSH,
    REMOTE_IP,
    REMOTE_ISS,
    REMOTE_PORT,
    SEND_TEMPL,
    SYN,
    Harness,
    State,
    config,
    established,
    ours,
    theirs,
)


def test_lone_segment_acked_after_delayed_ack_tick() -> None:
    h, sock = established()
    h.deliver(theirs(sock, payload=b"hello"), at=10)
    h.expect_nothing()
    h.expect([ours(sock)], at=11)
    assert sock.recv() == b"hello"
    assert h.tcp.counters.delayed_acks == 1


def test_every_second_segment_acked_at_once() -> None:
    h, sock = established()
    h.deliver(theirs(sock, payload=b"a" * 100), at=1)
    h.expect_nothing()
    h.deliver(theirs(sock, 100, payload=b"b" * 100), at=1)
    h.expect([ours(sock)])
    assert sock.recv() == b"a" * 100 + b"b" * 100


def test_send_goes_out_and_ack_frees_buffers() -> None:
    h, sock = established()
    assert sock.send(b"x" * 3000) == 3000
    h.expect([ours(sock, 0, payload=b"x" * 1460), ours(sock, 1460, payload=b"x" * 1460)], at=1)
    assert h.tcp.pool.free == h.tcp.pool.count - 3
    h.deliver(theirs(sock), at=2)  # Nagle held the small tail until now
    h.expect([ours(sock, 2920, flags=ACK | PSH, payload=b"x" * 80)])
    h.deliver(theirs(sock), at=3)
    h.expect_nothing()
    assert h.tcp.pool.free == h.tcp.pool.count and sock.all_sent


def test_out_of_order_held_and_delivered_when_gap_fills() -> None:
    h, sock = established()
    h.deliver(theirs(sock, 5, payload=b"world"), at=1)
    h.expect([ours(sock)])  # duplicate ACK at once: still waiting for byte 0
    assert sock.recv() == b""
    h.deliver(theirs(sock, payload=b"hello"), at=2)
    h.expect([ours(sock)])
    assert sock.rcv_nxt == REMOTE_ISS + 11
    assert sock.recv() == b"helloworld"


def test_duplicate_and_overlapping_segments_trimmed() -> None:
    h, sock = established()
    h.deliver(theirs(sock, payload=b"abcdef"), at=1)
    h.deliver(theirs(sock, payload=b"abcdef"), at=1)  # all old: answered with an ACK
    h.expect([ours(sock)])
    h.deliver(theirs(sock, 3, payload=b"defghi"), at=2)  # half old
    assert sock.recv() == b"abcdefghi"
    assert h.tcp.counters.duplicate_bytes == 9


def test_window_is_free_queue_space_and_update_after_read() -> None:
    h, sock = established(config(receive_buffer=4000))
    h.deliver(theirs(sock, payload=b"z" * 1460), at=1)
    h.deliver(theirs(sock, 1460, payload=b"z" * 1460), at=1)
    h.expect([ours(sock, window=4000 - 2920)])
    h.deliver(theirs(sock, 2920, payload=b"z" * 1460), at=1)  # only 1080 fit
    assert sock.readable == 4000
    h.expect([ours(sock, window=0)], at=2)
    assert len(sock.recv(10_000)) == 4000
    h.expect([ours(sock, window=4000)], at=2)  # window update: grew by more than an MSS


def test_zero_window_peer_probed_then_resumed() -> None:
    h, sock = established(window=0)
    sock.send(b"data")
    h.expect_nothing(at=1)
    h.expect([ours(sock, -1)], at=5)  # the persist timer: one RTO (4 ticks) after the send was held
    h.deliver(theirs(sock, window=0), at=6)  # the answer: still closed
    h.expect_nothing(at=12)
    h.expect([ours(sock, -1)], at=13)  # the next probe backs off: 8 ticks
    h.deliver(theirs(sock, window=1000), at=14)
    h.expect([ours(sock, flags=ACK | PSH, payload=b"data")])


def test_nagle_holds_small_segment_until_ack() -> None:
    h, sock = established()
    sock.send(b"a")
    h.expect([ours(sock, flags=ACK | PSH, payload=b"a")], at=1)
    sock.send(b"b")
    h.expect_nothing(at=2)
    sock.send(b"c")
    h.deliver(theirs(sock), at=3)
    h.expect([ours(sock, 1, flags=ACK | PSH, payload=b"bc")])


def test_nodelay_sends_small_segments_at_once() -> None:
    h, sock = established()
    sock.set_nodelay()
    sock.send(b"a")
    h.expect([ours(sock, flags=ACK | PSH, payload=b"a")], at=1)
    sock.send(b"b")
    h.expect([ours(sock, 1, flags=ACK | PSH, payload=b"b")], at=2)


def test_peer_mss_splits_segments() -> None:
    h = Harness()
    sock = h.tcp.connect(REMOTE_IP, REMOTE_PORT, local_port=80, now=0)
    h.poll(0)
    h.take()
    h.deliver(replace(SEND_TEMPL, seq=REMOTE_ISS, ack=sock.iss + 1, flags=SYN | ACK, mss=500), at=0)
    h.take()
    sock.set_nodelay()
    sock.send(b"q" * 1200)
    h.poll(1)
    segs = h.take()
    assert [len(s.payload) for s in segs] == [500, 500, 200]


def test_backpressure_send_returns_zero_when_buffers_full() -> None:
    h, sock = established(config(tx_buffers=4, tx_buffers_per_socket=4), window=0)
    assert sock.send(b"x" * 100_000) == 4 * 1460
    assert sock.send(b"more") == 0 and sock.send_space == 0


def test_zero_copy_send_and_receive_callback() -> None:
    h, sock = established()
    buf = sock.alloc_buffer()
    assert buf is not None
    buf.data[:5] = b"zcopy"
    sock.send_buffer(buf, 5)
    h.expect([ours(sock, flags=ACK | PSH, payload=b"zcopy")], at=1)
    seen: list[bytes] = []

    def callback(s: TcpSocket, view: memoryview) -> bool:
        seen.append(bytes(view))
        return True

    sock.set_receive_callback(callback)
    h.deliver(theirs(sock, payload=b"to the app"), at=2)
    assert seen == [b"to the app"] and sock.readable == 0 and sock.rcv_nxt == REMOTE_ISS + 11


def test_sequence_numbers_wrap() -> None:
    h = Harness()
    h.tcp.listen(80)
    start = 0xFFFF_FFFF - 100
    h.deliver(replace(SEND_TEMPL, seq=start, flags=SYN), at=0)
    (sock,) = h.tcp.sockets
    sock.iss = 0xFFFF_FFF0  # our side wraps too
    sock.snd_una, sock.snd_nxt = sock.iss, 0xFFFF_FFF1
    h.poll(0)
    h.take()
    wrap = 0xFFFF_FFFF
    h.deliver(replace(SEND_TEMPL, seq=(start + 1) & wrap, ack=0xFFFF_FFF1), at=1)
    assert sock.state is State.ESTABLISHED
    sock.set_nodelay()
    sock.send(b"w" * 200)
    h.poll(1)
    (out,) = h.take()
    assert out.seq == 0xFFFF_FFF1
    data = bytes(range(256))
    acked = (0xFFFF_FFF1 + 200) & wrap
    h.deliver(replace(SEND_TEMPL, seq=(start + 1 + 128) & wrap, ack=acked, payload=data[128:]), at=2)
    h.deliver(replace(SEND_TEMPL, seq=(start + 1) & wrap, ack=acked, payload=data[:128]), at=2)
    assert sock.recv() == data and sock.rcv_nxt == (start + 257) & wrap
    assert sock.all_sent and sock.snd_una == 0xB9


def test_fin_out_of_order_is_held_until_the_data_before_it_arrives() -> None:
    h, sock = established()
    h.deliver(theirs(sock, 3, flags=FIN | ACK, payload=b"def"), at=1)
    assert not sock.peer_closed
    h.take()
    h.deliver(theirs(sock, payload=b"abc"), at=1)
    # The hole filled: data and the held FIN are taken together, and acknowledged at once (RFC 5681 4.2).
    assert sock.peer_closed and sock.state is State.CLOSE_WAIT
    h.expect([ours(sock, ack=REMOTE_ISS + 1 + 7, window=16_384 - 7)])
    assert sock.recv() == b"abcdef" and sock.at_eof
