"""Two stacks joined by a SLIP null-modem cable on loopback: one end listens (`?listen=1`, as for DOSBox's
null modem connecting to us), the other connects (`socket://`). Each stack sees Ethernet, ARPs for the
other and is answered by its own link; the IP datagrams cross as SLIP. At `baud=115200` the line carries
11520 bytes a second, so a transfer can be no faster than that, and should come near it.
"""

from __future__ import annotations

import os
import time

from mtcp_py.blocking import connect, listen
from mtcp_py.runtime import run_until
from mtcp_py.stack import Stack, StackConfig
from mtcp_py.wire import ip_from_str
from pktdrv import MonotonicTicks, open_link
from tests.links.linkutil import free_port

KiB = 1024
LINE_BYTES_PER_SECOND = 115_200 / 10


def test_two_stacks_over_a_paced_slip_cable_ping_and_transfer_near_the_line_rate() -> None:
    port = free_port()
    clock = MonotonicTicks()
    here = open_link(f"slip:socket://127.0.0.1:{port}?listen=1&baud=115200", clock)
    there = open_link(f"slip:socket://127.0.0.1:{port}?baud=115200", clock)
    a = Stack(here, StackConfig(ip_from_str("10.0.2.15"), mtu=576), clock).init_stack()
    b = Stack(there, StackConfig(ip_from_str("10.0.2.2"), mtu=576), clock).init_stack()
    try:
        replies: list[int] = []
        a.icmp.echo_listeners[7] = lambda source, seq, data, now: replies.append(seq)
        assert a.icmp.send_echo(ip_from_str("10.0.2.2"), 7, 1, b"over the cable", clock.now()).ok
        assert run_until([a, b], lambda: replies == [1], 10)
        server = listen(b, 5000, poll_also=[a])
        stream = connect(a, "10.0.2.2", 5000, poll_also=[b])
        incoming = server.accept(timeout=10)
        payload = os.urandom(32 * KiB)
        started = time.monotonic()
        stream.send_all(payload, timeout=30)
        got = incoming.recv_exactly(len(payload), timeout=30)
        elapsed = time.monotonic() - started
        assert got == payload
        rate = len(payload) / elapsed
        # Each 536-byte segment rides in 576 bytes of IP, plus two ENDs and the escapes (about 1 in 128 of
        # random bytes): the line's limit for the payload is about 10.6 KB/s.
        limit = LINE_BYTES_PER_SECOND * 536 / (576 + 2) / (1 + 2 / 256)
        assert rate <= limit * 1.05, (rate, limit)  # the pacing holds (a little slack for the first burst)
        assert rate >= limit * 0.5, (rate, limit)  # and the stack keeps the line mostly busy
        stream.abort()
        incoming.abort()
    finally:
        a.end_stack()
        b.end_stack()
