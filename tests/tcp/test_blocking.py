"""The blocking layer and the stack glue, on two stacks joined by the in-memory hub (virtual clock)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from mtcp_py.blocking import WaitTimeout, connect, listen
from mtcp_py.runtime import run_until
from mtcp_py.stack import Stack, StackConfig
from mtcp_py.tcp import NO_ROUTE, REFUSED, TIMED_OUT, TcpConfig, TcpError
from mtcp_py.wire import ip_from_str
from pktdrv import VirtualClock, open_link

_names = itertools.count()


@pytest.fixture
def pair() -> Iterator[tuple[Stack, Stack]]:
    clock = VirtualClock()
    hub = f"hub:blocking{next(_names)}"
    a = Stack(open_link(hub, clock), StackConfig(ip_from_str("10.5.0.1"), tcp=TcpConfig(isn_key=b"a")),
              clock).init_stack()
    b = Stack(open_link(hub, clock), StackConfig(ip_from_str("10.5.0.2"), tcp=TcpConfig(isn_key=b"b")),
              clock).init_stack()
    yield a, b
    a.end_stack()
    b.end_stack()


def test_connect_send_recv_close(pair: tuple[Stack, Stack]) -> None:
    a, b = pair
    server = listen(b, 7, poll_also=[a])
    client = connect(a, "10.5.0.2", 7, timeout=5, poll_also=[b])
    accepted = server.accept(timeout=5)
    client.send_all(b"ping", timeout=5)
    assert accepted.recv(timeout=5) == b"ping"
    accepted.send_all(b"pong" * 10_000, timeout=5)
    accepted.shutdown()
    assert client.recv_exactly(40_000, timeout=30) == b"pong" * 10_000
    assert client.recv(timeout=5) == b""  # the FIN
    client.close(timeout=5)
    assert accepted.recv(timeout=5) == b""
    assert run_until([a, b], lambda: client.sock.is_closed and accepted.sock.is_closed, 30)


def test_connect_refused(pair: tuple[Stack, Stack]) -> None:
    a, _ = pair
    with pytest.raises(TcpError) as info:
        connect(a, "10.5.0.2", 9, timeout=5, poll_also=[pair[1]])
    assert info.value.reason == REFUSED


def test_connect_to_silent_host_is_no_route(pair: tuple[Stack, Stack]) -> None:
    a, _ = pair
    with pytest.raises(TcpError) as info:
        connect(a, "10.5.0.99", 9, timeout=120)  # nobody answers ARP
    assert info.value.reason == NO_ROUTE


def test_connect_off_net_without_gateway_is_no_route(pair: tuple[Stack, Stack]) -> None:
    a, _ = pair
    with pytest.raises(TcpError, match=NO_ROUTE):
        connect(a, "192.0.2.1", 80)


def test_wait_timeout_is_timed_out(pair: tuple[Stack, Stack]) -> None:
    _, b = pair
    server = listen(b, 8, poll_also=[pair[0]])
    with pytest.raises(WaitTimeout) as info:
        server.accept(timeout=0.5)
    assert info.value.reason == TIMED_OUT


def test_blocking_connect_and_stream(pair: tuple[Stack, Stack]) -> None:
    a, b = pair
    b_listener = b.tcp.listen(7)
    conn = a.tcp.connect(ip_from_str("10.5.0.2"), 7)
    assert run_until([a, b], lambda: conn.is_connected and b_listener.pending == 1, 5)
    peer = b_listener.accept()
    assert peer is not None
    data = bytes(range(256)) * 2000
    sent = 0
    got = bytearray()

    def step() -> bool:
        nonlocal sent
        if sent < len(data):
            sent += conn.send(memoryview(data)[sent:])
        got.extend(peer.recv())
        return len(got) == len(data)

    assert run_until([a, b], step, 60)
    assert bytes(got) == data
    counters = a.counters()["tcp"]
    assert counters["bytes_sent"] == len(data) and counters["segments_sent"] > 0
