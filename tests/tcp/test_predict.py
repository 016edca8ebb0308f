"""Header prediction changes nothing but speed: two connections get the same random in-order traffic, one
through the full path only, one through the short path where it applies; every step must put exactly the
same segments on the wire and leave the same state behind."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from mtcp_py.tcp.predict import predicted_input
from mtcp_py.wire.ipv4 import Ipv4Repr
from mtcp_py.wire.tcp import TcpRepr

from .harness import ACK, LOCAL_IP, PSH, REMOTE_IP, Harness, TcpSocket, config, established, theirs

MASK = 0xFFFF_FFFF


def packet_for(seg: TcpRepr) -> bytes:
    raw = seg.to_bytes(REMOTE_IP, LOCAL_IP)
    header = bytearray(20)
    Ipv4Repr(REMOTE_IP, LOCAL_IP, 6, len(raw)).emit(header)
    return bytes(header) + raw


def deliver_predicted(h: Harness, seg: TcpRepr, at: int) -> None:
    h.now = at
    if not predicted_input(h.tcp, memoryview(packet_for(seg)), at):
        h.deliver(seg, at=at)
        return
    h.tcp.drive(at)


step = st.one_of(
    st.tuples(st.just("data"), st.integers(1, 1460), st.booleans()),
    st.tuples(st.just("data_win"), st.integers(1, 1460), st.integers(0, 0xFFFF)),
    st.tuples(st.just("send"), st.integers(1, 5000), st.booleans()),
    st.tuples(st.just("ack"), st.integers(0, 100), st.integers(1000, 64_000)),
    st.tuples(st.just("read"), st.integers(0, 20_000), st.booleans()),
    st.tuples(st.just("tick"), st.integers(1, 3), st.booleans()),
)


def state(sock: TcpSocket) -> tuple[object, ...]:
    return (sock.state, sock.rcv_nxt, sock.snd_una, sock.snd_nxt, sock.snd_wnd, sock.cwnd, sock.ssthresh,
            sock.rx.ready, sock.rcv_adv, len(sock.sent), len(sock.outgoing), sock.retransmit_at, sock.probe_at,
            sock.ack_due, sock.ack_now, sock.snd_wl1, sock.snd_wl2, sock.max_snd_wnd, sock.persist_at,
            sock.persist_backoff, sock.probes_unanswered, sock.probes_sent, sock.dup_acks, sock.unacked_segments,
            sock.timing_seq, sock.retries, sock.rtt.srtt, sock.rtt.rto, sock.rtt.backoff, sock.cwnd_count,
            sock.xmit_count, sock.rx.head)


@settings(max_examples=120, deadline=None)
@given(st.lists(step, min_size=1, max_size=60))
def test_short_path_and_full_path_send_the_same_segments(steps: list[tuple[str, int, int]]) -> None:
    full, full_sock = established(config(header_prediction=False))
    short, short_sock = established(config())
    received = 0
    now = 0
    for kind, amount, extra in steps:
        if kind == "data":
            segs = [theirs(sock, received, ack=sock.snd_nxt, window=64_000, payload=b"d" * amount,
                           flags=ACK | PSH if extra else ACK) for sock in (full_sock, short_sock)]
            received += amount
            full.deliver(segs[0], at=now)
            deliver_predicted(short, segs[1], now)
        elif kind == "data_win":
            # Data that acknowledges nothing new, with a window of its own: only the window may move.
            segs = [theirs(sock, received, ack=sock.snd_una, window=int(extra), payload=b"w" * amount)
                    for sock in (full_sock, short_sock)]
            received += amount
            full.deliver(segs[0], at=now)
            deliver_predicted(short, segs[1], now)
        elif kind == "send":
            for h, sock in ((full, full_sock), (short, short_sock)):
                sock.send(b"s" * amount)
                h.poll(now)
        elif kind == "ack":
            segs = []
            for sock in (full_sock, short_sock):
                outstanding = (sock.snd_nxt - sock.snd_una) & MASK
                upto = (sock.snd_una + outstanding * amount // 100) & MASK
                segs.append(theirs(sock, received, ack=upto, window=extra))
            full.deliver(segs[0], at=now)
            deliver_predicted(short, segs[1], now)
        elif kind == "read":
            assert full_sock.recv(amount) == short_sock.recv(amount)
        else:
            now += amount
            full.poll(now)
            short.poll(now)
        assert full.take() == short.take(), (kind, amount, extra)
        assert state(full_sock) == state(short_sock), (kind, amount, extra)
    assert replace(short.tcp.counters, predicted=0) == full.tcp.counters


def test_the_short_path_is_taken_for_in_order_data_and_plain_acks() -> None:
    h, sock = established()
    deliver_predicted(h, theirs(sock, payload=b"x" * 100), 1)
    sock.send(b"y" * 10)
    h.poll(1)
    h.take()
    deliver_predicted(h, theirs(sock, 100, ack=(sock.iss + 11) & MASK), 2)
    assert h.tcp.counters.predicted == 2 and sock.recv() == b"x" * 100 and sock.all_sent


def test_anything_unusual_takes_the_full_path() -> None:
    h, sock = established()
    unusual = [
        theirs(sock, 5, payload=b"late"),                            # out of order
        theirs(sock, payload=b"fin", flags=ACK | 0x01),              # FIN
        theirs(sock, payload=b"urg", flags=ACK | 0x20, urgent=1),    # urgent data
        replace(theirs(sock, payload=b"mss"), mss=1000),             # an option
        theirs(sock),                                                # a duplicate ACK
    ]
    for seg in unusual:
        assert not predicted_input(h.tcp, memoryview(packet_for(seg)), 1)
    bad = bytearray(packet_for(theirs(sock, payload=b"bad checksum")))
    bad[-1] ^= 1
    assert not predicted_input(h.tcp, memoryview(bytes(bad)), 1)
    assert h.tcp.counters.predicted == 0 and sock.readable == 0
