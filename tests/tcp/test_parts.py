"""The pieces on their own: sequence arithmetic, the RTT estimator, the receive queue, the transmit pool."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mtcp_py.tcp import TcpConfig, TcpLayer
from mtcp_py.tcp.rtt import RttEstimator
from mtcp_py.tcp.rxqueue import ReceiveQueue
from mtcp_py.tcp.seq import seq_add, seq_diff, seq_ge, seq_gt, seq_le, seq_lt
from mtcp_py.tcp.txbuf import TxPool

from .harness import FakeIp


def test_sequence_comparison_wraps() -> None:
    assert seq_lt(0xFFFF_FFF0, 0x10) and seq_gt(0x10, 0xFFFF_FFF0)
    assert seq_le(5, 5) and seq_ge(5, 5) and not seq_lt(5, 5)
    assert seq_add(0xFFFF_FFFF, 2) == 1 and seq_diff(1, 0xFFFF_FFFF) == 2 and seq_diff(0xFFFF_FFFF, 1) == -2


def test_rto_from_samples_with_backoff_and_cap() -> None:
    rtt = RttEstimator(initial=18, minimum=4, maximum=100)
    assert rtt.timeout() == 18
    rtt.sample(10)  # srtt 10, rttvar 5: 10 + 20
    assert rtt.rto == 30
    rtt.back_off()
    rtt.back_off()
    assert rtt.timeout() == 100  # 120 capped
    rtt.reset_backoff()
    assert rtt.timeout() == 30
    for _ in range(50):
        rtt.sample(0)
    assert rtt.rto == 4


def test_receive_queue_wraps_and_fills_holes() -> None:
    q = ReceiveQueue(10, max_ranges=2)
    assert q.add(0, b"abcdef") == 6
    assert q.read(4) == b"abcd"
    assert q.add(2, b"ijk") == 0  # early, lands across the ring's end
    assert q.add(0, b"gh") == 5
    assert q.read(100) == b"efghijk" and q.free == 10


def test_receive_queue_bounds_islands() -> None:
    q = ReceiveQueue(100, max_ranges=2)
    assert q.add(10, b"x") == 0
    assert q.add(20, b"y") == 0
    assert q.add(30, b"z") is None  # a third island is refused
    assert q.add(11, b"x") == 0  # touching an island is fine


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 60), st.integers(1, 20)), max_size=30))
def test_receive_queue_any_arrival_order_gives_the_stream(pieces: list[tuple[int, int]]) -> None:
    stream = bytes(range(80))
    q = ReceiveQueue(80, max_ranges=4)
    delivered = 0
    for start, size in pieces + [(0, 80)]:
        start = max(start, delivered)
        end = min(start + size if (start, size) != (0, 80) else 80, 80)
        if end <= start:
            continue
        q.add(start - delivered, stream[start:end])
        delivered = q.ready
    assert q.read(80) == stream


def test_transmit_pool_recycles_and_catches_double_free() -> None:
    pool = TxPool(2, 100)
    a, b = pool.alloc(), pool.alloc()
    assert a is not None and b is not None and pool.alloc() is None and pool.low_free == 0
    assert a.append(b"x" * 150) == 100 and a.room == 0
    pool.release(a)
    with pytest.raises(ValueError):
        pool.release(a)
    assert pool.alloc() is a and a.length == 0


@given(st.lists(st.tuples(st.binary(min_size=1, max_size=40), st.integers(0, 40)), max_size=40))
def test_append_is_add_at_zero(steps: list[tuple[bytes, int]]) -> None:
    """The short path's append and add(0, ...) leave the ring alike, wrapping around its end included."""
    a, b = ReceiveQueue(64), ReceiveQueue(64)
    for data, read in steps:
        if len(data) <= a.free:
            a.append(data)
            assert b.add(0, data) == len(data)
        assert a.read(read) == b.read(read)
        assert (a.head, a.ready, bytes(a.ring)) == (b.head, b.ready, bytes(b.ring))


@pytest.mark.parametrize(("mss", "pool", "per_socket", "want"), [
    (1460, None, None, (240, 180)),   # 256 KiB of segments in flight, a third more in the pool
    (8960, None, None, (64, 48)),     # at least 48: the old defaults
    (1460, 64, None, (64, 48)),       # a pool given: one socket takes at most three quarters of it
    (1460, 32, None, (32, 24)),
    (1460, None, 10, (13, 10)),
    (1460, 8, 10, (8, 10)),           # both given: as given (the pool is the limit then)
])
def test_transmit_buffers_follow_the_send_window(mss: int, pool: int | None, per_socket: int | None,
                                                 want: tuple[int, int]) -> None:
    config = TcpConfig(mss=mss, tx_buffers=pool, tx_buffers_per_socket=per_socket)
    layer = TcpLayer(FakeIp(mtu=mss + 40), config)  # type: ignore[arg-type]
    assert (layer.pool.count, layer.tx_per_socket) == want
