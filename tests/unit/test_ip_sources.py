"""Datagrams from source addresses no host may have are dropped silently (RFC 1122 3.2.1.3).

Regression: only the limited broadcast and multicast sources were refused. A ping "from" the subnet's
directed broadcast address was answered, and the reply went to the Ethernet broadcast address, so one
forged frame made the stack send a frame to every host on the LAN (a smurf reflector); loopback sources
(127/8), which must never appear on a wire, and the reserved 240/4 were answered too.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .frames import BROADCAST, PEER_IP, STACK_IP, Lab, echo_request, ipv4, make_lab, peer_ip_frame

DIRECTED_BROADCAST = (STACK_IP & 0xFFFFFF00) | 0xFF


@pytest.fixture
def lab() -> Iterator[Lab]:
    lab = make_lab()
    yield lab
    lab.close()


@pytest.mark.parametrize("source", [DIRECTED_BROADCAST, 0xFFFFFFFF, 0x7F000001, 0x7F0A0B0C, 0xE0000001, 0xF0000001],
                         ids=["directed-broadcast", "limited-broadcast", "loopback", "loopback-net", "multicast",
                              "reserved-240"])
def test_ping_from_an_address_no_host_has_is_dropped_silently(lab: Lab, source: int) -> None:
    lab.learn_peer()
    lab.inject(peer_ip_frame(ipv4(source, STACK_IP, 1, echo_request(b"smurf"))))
    sent = lab.take()
    assert not any(frame[:6] == BROADCAST for frame in sent)
    assert sent == []
    assert lab.stack.ip.counters.bad_source == 1
    assert lab.stack.icmp.counters.echo_replies_sent == 0


def test_a_ping_from_a_host_is_still_answered(lab: Lab) -> None:
    lab.learn_peer()
    lab.inject(peer_ip_frame(ipv4(PEER_IP, STACK_IP, 1, echo_request(b"fine"))))
    assert len(lab.take()) == 1
    assert lab.stack.ip.counters.bad_source == 0
