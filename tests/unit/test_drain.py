"""Frames reach the packet driver from one line only: a descriptor link is drained by the caller, and the
fault injector releases held frames on that same line, so the pool's lent buffer is never lost.

The descriptor link here is a datagram socket pair (frame boundaries kept, no root needed); the other end
writes frames as a device would."""

from __future__ import annotations

import socket
import threading

from mtcp_py.buffers import PacketPool
from pktdrv import PacketDriver
from pktdrv.driver import IF_NUMBER_ANY, IF_TYPE_ANY, InterfaceClass
from pktdrv.links import FaultLink, Faults, LinkError
from pktdrv.links._device import FdLink

FRAMES = 100_000
MAC = bytes.fromhex("020000000001")


def frame(n: int) -> bytes:
    return b"\xff" * 6 + bytes.fromhex("020000000002") + b"\x08\x00" + n.to_bytes(4, "big") + b"\0" * 46


def test_fault_link_with_reorder_and_delay_over_a_descriptor_link_loses_no_buffer() -> None:
    ours, device = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    device.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    link = FaultLink(FdLink("fd:test", ours.fileno(), MAC, 1500),
                     Faults(reorder=0.2, delay=2, dup=0.01, drop=0.01, seed=3))
    pool = PacketPool(40, 1514)
    pool.start_receiving()
    driver = PacketDriver(link)
    driver.access_type(InterfaceClass.DIX_ETHERNET, IF_TYPE_ANY, IF_NUMBER_ANY, b"", pool.receiver)
    seen: set[int] = set()

    def writer() -> None:
        for n in range(FRAMES):
            device.send(frame(n))

    thread = threading.Thread(target=writer)
    thread.start()
    now = 0
    idle = 0
    while idle < 50:
        now += 1
        driver.poll(now)
        got = driver.drain(min(32, pool.free))
        while (item := pool.take()) is not None:  # what the stack does with each frame: copy, give back
            index, length = item
            seen.add(int.from_bytes(pool.buffers[index][14:18], "big"))
            pool.release(index)
        idle = 0 if got or thread.is_alive() or driver.next_deadline() is not None else idle + 1
    thread.join()
    faults = link.rx.counters if link.rx is not None else None
    assert faults is not None and faults.reordered > 1000 and faults.delayed > FRAMES // 2
    assert pool.free == 40 and pool.pending == 0  # every buffer back on the free list
    assert pool.counters.dropped_pool_empty == 0  # the ring was emptied between reads
    assert len(seen) == FRAMES - faults.dropped  # each frame that was not dropped arrived (dups merge)
    link.close()
    device.close()


def test_a_device_that_goes_away_is_reported_once_not_spun_on() -> None:
    import os

    import pytest

    read_end, write_end = os.pipe()
    link = FdLink("fd:gone", read_end, MAC, 1500)
    link.open(lambda f: None)
    os.write(write_end, frame(1))
    assert link.drain(8) == 1
    os.close(read_end)  # what `ip link del` does to a TAP descriptor, as far as a read can tell
    with pytest.raises(LinkError, match="fd:gone: cannot receive"):
        link.drain(8)
    assert link.fileno() is None and link.rx_errors == 1  # the loop stops watching it: no spinning
    with pytest.raises(LinkError):
        link.drain(8)
    assert link.rx_errors == 1
    link.close()
    os.close(write_end)
