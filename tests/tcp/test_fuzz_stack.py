"""The whole stack fed arbitrary TCP: raw bytes and well-formed segments with random fields, aimed at a
listener and at a live connection. Only counters may move; nothing raises, no internal error."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mtcp_py.runtime import run_until
from mtcp_py.stack import Stack, StackConfig
from mtcp_py.tcp import TcpConfig, TcpSocket
from mtcp_py.wire import ip_from_str
from mtcp_py.wire.ethernet import TYPE_IPV4, EthernetRepr
from mtcp_py.wire.ipv4 import Ipv4Repr
from mtcp_py.wire.tcp import TcpRepr
from pktdrv import VirtualClock, open_link
from pktdrv.links import Link

STACK_IP = ip_from_str("10.9.0.1")
PEER_IP = ip_from_str("10.9.0.2")
_names = itertools.count()


class Target:
    def __init__(self) -> None:
        self.clock = VirtualClock()
        name = f"hub:fuzz{next(_names)}"
        cfg = StackConfig(STACK_IP, announce=False, tcp=TcpConfig(isn_key=b"fuzz"))
        self.stack = Stack(open_link(name, self.clock), cfg, self.clock).init_stack()
        peer_cfg = StackConfig(PEER_IP, announce=False, tcp=TcpConfig(isn_key=b"peer"))
        self.peer = Stack(open_link(name, self.clock), peer_cfg, self.clock).init_stack()
        self.listener = self.stack.tcp.listen(7)
        self.conn: TcpSocket = self.peer.tcp.connect(STACK_IP, 7)
        run_until([self.stack, self.peer], lambda: self.listener.pending > 0, 5)
        self.server = self.listener.accept()
        self.injector: Link = open_link(name, self.clock)
        self.injector.open(lambda frame: None)

    def inject(self, tcp_bytes: bytes) -> None:
        frame = bytearray(14 + 20 + len(tcp_bytes))
        EthernetRepr(self.stack.mac, self.injector.mac, TYPE_IPV4).emit(frame)
        Ipv4Repr(PEER_IP, STACK_IP, 6, len(tcp_bytes)).emit(frame, 14)
        frame[34:] = tcp_bytes
        self.injector.send(frame)
        self.stack.poll(self.clock.now())
        self.stack.poll(self.clock.advance(1))


@pytest.fixture(scope="module")
def target() -> Iterator[Target]:
    t = Target()
    yield t
    t.stack.end_stack()
    t.peer.end_stack()


def check(t: Target) -> None:
    assert t.stack.internal_errors == 0, t.stack.last_internal_error
    assert t.stack.counters()["stack"]["internal_errors"] == 0


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=120))
def test_raw_tcp_payloads(target: Target, data: bytes) -> None:
    target.inject(data)
    check(target)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(port=st.sampled_from([7, 9, 0]), seq_delta=st.integers(-70_000, 70_000), ack_delta=st.integers(-70_000, 70_000),
       flags=st.integers(0, 0xFF), window=st.integers(0, 0xFFFF), payload=st.binary(max_size=64),
       mss=st.one_of(st.none(), st.integers(0, 0xFFFF)), scale=st.one_of(st.none(), st.integers(0, 255)))
def test_well_formed_segments_with_random_fields(target: Target, port: int, seq_delta: int, ack_delta: int,
                                                 flags: int, window: int, payload: bytes, mss: int | None,
                                                 scale: int | None) -> None:
    conn = target.conn
    src_port = conn.local_port if port == 0 else 40_000 + (seq_delta & 0xFF)
    dst_port = 7 if port in (0, 7) else port
    seg = TcpRepr(src_port, dst_port, (conn.snd_nxt + seq_delta) & 0xFFFF_FFFF,
                  (conn.rcv_nxt + ack_delta) & 0xFFFF_FFFF, flags, window, payload, mss,
                  None if scale is None else min(scale, 255))
    try:
        raw = seg.to_bytes(PEER_IP, STACK_IP)
    except Exception:
        return
    target.inject(raw)
    check(target)
