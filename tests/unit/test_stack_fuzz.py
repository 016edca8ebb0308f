"""A whole Stack fed arbitrary frames: nothing raises, only counters move, every buffer comes back."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .frames import BROADCAST, PEER_IP, PEER_MAC, STACK_IP, STACK_MAC, Lab, eth, ipv4, make_lab

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    lab = make_lab(tcp=True)
    lab.learn_peer()
    yield lab
    lab.close()


def feed(lab: Lab, frame: bytes) -> None:
    lab.inject(frame)
    lab.advance(1)
    lab.take()
    stack = lab.stack
    assert stack.internal_errors == 0, stack.last_internal_error
    assert stack.pool.free == stack.pool.count
    assert stack.pool.pending == 0


@FUZZ
@given(st.binary(max_size=200))
def test_arbitrary_bytes(lab: Lab, data: bytes) -> None:
    feed(lab, data)


@FUZZ
@given(st.sampled_from([STACK_MAC, BROADCAST]), st.sampled_from([0x0800, 0x0806, 0x1234]), st.binary(max_size=200))
def test_arbitrary_payload_behind_ethernet(lab: Lab, dst: bytes, kind: int, data: bytes) -> None:
    feed(lab, eth(dst, PEER_MAC, kind, data))


@FUZZ
@given(proto=st.sampled_from([1, 6, 17]), src=st.sampled_from([PEER_IP, 0, 0xFFFFFFFF, 0xE0000001, STACK_IP]),
       dst=st.sampled_from([STACK_IP, 0xFFFFFFFF, 0x0A0900FF]), mf=st.booleans(), offset=st.integers(0, 0x1FFF),
       ident=st.integers(0, 3), df=st.booleans(), options=st.sampled_from([b"", b"\x01\x01\x01\x00"]),
       payload=st.binary(max_size=200))
def test_arbitrary_payload_behind_valid_ipv4(lab: Lab, proto: int, src: int, dst: int, mf: bool, offset: int,
                                             ident: int, df: bool, options: bytes, payload: bytes) -> None:
    if offset * 8 + len(payload) > 65_515:
        offset = 0
    header_words = 5 + len(options) // 4
    packet = ipv4(src, dst, proto, payload, ident=ident, mf=mf, offset=offset * 8 if mf or offset else 0,
                  df=df, ihl=header_words, options=options)
    feed(lab, eth(STACK_MAC, PEER_MAC, 0x0800, packet))


@FUZZ
@given(kind=st.integers(0, 255), code=st.integers(0, 255), rest=st.binary(min_size=4, max_size=4),
       quote=st.binary(max_size=80))
def test_arbitrary_icmp_with_valid_checksum(lab: Lab, kind: int, code: int, rest: bytes, quote: bytes) -> None:
    from .frames import slow_checksum

    body = bytes([kind, code, 0, 0]) + rest + quote
    body = body[:2] + slow_checksum(body).to_bytes(2, "big") + body[4:]
    feed(lab, eth(STACK_MAC, PEER_MAC, 0x0800, ipv4(PEER_IP, STACK_IP, 1, body)))


@FUZZ
@given(kind=st.sampled_from([3, 4, 11, 12]), proto=st.sampled_from([1, 6, 17]), quote_tail=st.binary(max_size=40))
def test_icmp_errors_quoting_our_datagrams(lab: Lab, kind: int, proto: int, quote_tail: bytes) -> None:
    from .frames import slow_checksum

    quoted = ipv4(STACK_IP, PEER_IP, proto, quote_tail[:8].ljust(8, b"\x00"))[:20] + quote_tail
    body = bytes([kind, 3, 0, 0, 0, 0, 0, 0]) + quoted
    body = body[:2] + slow_checksum(body).to_bytes(2, "big") + body[4:]
    feed(lab, eth(STACK_MAC, PEER_MAC, 0x0800, ipv4(PEER_IP, STACK_IP, 1, body)))
