"""The receive buffer pool and ring; ticks and clocks."""

from __future__ import annotations

import time
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mtcp_py.buffers import PacketPool
from pktdrv.clock import PIT_HZ, MonotonicTicks, VirtualClock, ms_to_ticks


def fill(pool: PacketPool, length: int = 60) -> int | None:
    view = pool.receiver(1, 0, length)
    if view is None:
        return None
    pool.receiver(1, 1, view)
    index = pool.views.index(view)
    return index


def test_pool_lifo_reuse_most_recently_freed_first() -> None:
    pool = PacketPool(4, 100)
    pool.start_receiving()
    for _ in range(3):
        fill(pool)
    taken = [pool.take() for _ in range(3)]
    assert all(t is not None for t in taken)
    indices = [t[0] for t in taken if t is not None]
    pool.release(indices[0])
    pool.release(indices[2])
    view = pool.receiver(1, 0, 60)
    assert view is pool.views[indices[2]]
    pool.receiver(1, 1, view)
    view = pool.receiver(1, 0, 60)
    assert view is pool.views[indices[0]]


def test_pool_ring_keeps_arrival_order_and_lengths() -> None:
    pool = PacketPool(4, 100)
    pool.start_receiving()
    for length in (60, 70, 80):
        view = pool.receiver(1, 0, length)
        assert view is not None
        view[0:1] = bytes([length])
        pool.receiver(1, 1, view)
    assert pool.pending == 3
    got = []
    while (item := pool.take()) is not None:
        got.append((pool.buffers[item[0]][0], item[1]))
        pool.release(item[0])
    assert got == [(60, 60), (70, 70), (80, 80)]
    assert pool.counters.frames_received == 3
    assert pool.free == 4


def test_pool_drops_when_empty_and_counts_low_water() -> None:
    pool = PacketPool(2, 100)
    pool.start_receiving()
    assert fill(pool) is not None
    assert pool.counters.low_free == 1
    assert fill(pool) is not None
    assert pool.counters.low_free == 0
    assert pool.receiver(1, 0, 60) is None
    assert pool.counters.dropped_pool_empty == 1
    pool.drain()
    assert pool.free == 2
    assert pool.counters.low_free == 0  # the low-water mark stays


def test_pool_gate_and_too_long() -> None:
    pool = PacketPool(2, 100)
    assert pool.receiver(1, 0, 60) is None
    assert pool.counters.dropped_not_receiving == 1
    pool.start_receiving()
    assert pool.receiver(1, 0, 101) is None
    assert pool.counters.dropped_too_long == 1
    assert pool.free == 2
    pool.stop_receiving()
    assert pool.receiver(1, 0, 60) is None
    assert pool.counters.dropped_not_receiving == 2


def test_pool_rejects_silly_sizes() -> None:
    with pytest.raises(ValueError):
        PacketPool(0, 100)
    with pytest.raises(ValueError):
        PacketPool(1, 59)


def test_ms_to_ticks_examples() -> None:
    assert ms_to_ticks(0) == 0
    assert ms_to_ticks(-5) == 0
    assert ms_to_ticks(1) == 1
    assert ms_to_ticks(54) == 1
    assert ms_to_ticks(55) == 2  # a tick is 54.9 ms: 55 ms needs two
    assert ms_to_ticks(1000) == 19


@given(st.integers(1, 10**8))
def test_ms_to_ticks_rounds_up(ms: int) -> None:
    exact = Fraction(ms) * PIT_HZ / (1000 * 65_536)
    ticks = ms_to_ticks(ms)
    assert ticks >= exact
    assert ticks - 1 < exact


def test_virtual_clock_never_goes_back() -> None:
    clock = VirtualClock(5)
    assert clock.now() == 5
    assert clock.advance(3) == 8
    clock.set(8)
    clock.set(10)
    with pytest.raises(ValueError):
        clock.set(9)
    with pytest.raises(ValueError):
        clock.advance(-1)
    assert clock.now() == 10
    assert clock.seconds() == pytest.approx(10 * 65_536 / PIT_HZ)


def test_monotonic_ticks_increase() -> None:
    clock = MonotonicTicks()
    first = clock.now()
    last = first
    deadline = time.monotonic() + 5
    while last == first and time.monotonic() < deadline:
        now = clock.now()
        assert now >= last
        last = now
    assert last > first
