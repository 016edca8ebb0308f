"""The SLIP link's Ethernet view on a bridge: the far end of the line is one host among hosts on Ethernet.

What a bridge port must do follows from ARP (RFC 826) and what a host on a segment expects: only the far
end's own address is answered for (otherwise the view would claim every address on the segment), datagrams
off the line are addressed to the MAC their destination uses, which the view asks for with ARP from the far
end's address when it has not seen it, and frames for other stations never go down the serial line.
"""

from __future__ import annotations

import itertools
import os
import socket
import struct
import time

from mtcp_py.runtime import run_until
from mtcp_py.stack import Stack, StackConfig
from mtcp_py.tcp import TcpSocket
from mtcp_py.wire import ip_from_str
from pktdrv import MonotonicTicks, open_link
from pktdrv.bridge import Bridge
from pktdrv.links import HUBS
from pktdrv.links.slip import SLIP_PEER_MAC
from pktdrv.links.slip_view import SlipEthernetView
from tests.links.linkutil import free_port, ipv4

PORT_MAC = bytes.fromhex("02000000bb01")
HOST_MAC = bytes.fromhex("02000000cc05")
OTHER_MAC = bytes.fromhex("02000000cc06")
DOS_IP, HOST_IP, OTHER_IP = "10.0.2.20", "10.0.2.50", "10.0.2.99"
_names = itertools.count()


def arp(op: int, sha: bytes, spa: str, tha: bytes, tpa: str, dst: bytes) -> bytes:
    body = struct.pack(">HHBBH6s4s6s4s", 1, 0x0800, 6, 4, op, sha, socket.inet_aton(spa), tha, socket.inet_aton(tpa))
    return (dst + sha + b"\x08\x06" + body).ljust(60, b"\0")


def ip_frame(dst: bytes, src: bytes, datagram: bytes) -> bytes:
    return (dst + src + b"\x08\x00" + datagram).ljust(60, b"\0")


def test_view_on_a_bridge_answers_only_for_the_far_end_and_learns_where_to_send() -> None:
    up: list[bytes] = []
    view = SlipEthernetView(lambda: PORT_MAC, SLIP_PEER_MAC, up.append)
    who_has_dos = arp(1, HOST_MAC, HOST_IP, bytes(6), DOS_IP, b"\xff" * 6)
    assert view.to_line(who_has_dos) is None and up == []  # the far end has not spoken: not known to be there
    # The DOS machine speaks to the host that asked (seen: sent at once) and to one not seen yet (held
    # while its MAC is asked for, once, from the DOS machine's address).
    hello = ipv4(b"hello", src=DOS_IP, dst=HOST_IP)
    assert view.from_line(hello) == ip_frame(HOST_MAC, SLIP_PEER_MAC, hello)
    other = ipv4(b"other", src=DOS_IP, dst=OTHER_IP)
    assert view.from_line(ipv4(b"older", src=DOS_IP, dst=OTHER_IP)) is None
    assert view.from_line(other) is None
    assert up == [arp(1, SLIP_PEER_MAC, DOS_IP, bytes(6), OTHER_IP, b"\xff" * 6)]
    assert view.to_line(arp(2, OTHER_MAC, OTHER_IP, SLIP_PEER_MAC, DOS_IP, SLIP_PEER_MAC)) is None
    assert up[1:] == [ip_frame(OTHER_MAC, SLIP_PEER_MAC, other)]  # the latest one, once the answer came
    assert view.counters.held_dropped == 1
    # Now ARP for the DOS machine is answered, for the host that asks; ARP for another host is not.
    assert view.to_line(who_has_dos) is None
    assert up[-1] == arp(2, SLIP_PEER_MAC, DOS_IP, HOST_MAC, HOST_IP, HOST_MAC)
    view.to_line(arp(1, HOST_MAC, HOST_IP, bytes(6), OTHER_IP, b"\xff" * 6))
    assert len(up) == 3 and view.counters.arp_answered == 1
    reply = ipv4(b"reply", src=HOST_IP, dst=DOS_IP)
    # Down the line go frames for the far end and broadcasts; a frame the bridge floods for another host not.
    assert view.to_line(ip_frame(SLIP_PEER_MAC, HOST_MAC, reply)) == reply
    assert view.to_line(ip_frame(b"\xff" * 6, HOST_MAC, reply)) == reply
    assert view.to_line(ip_frame(OTHER_MAC, HOST_MAC, ipv4(b"x", src=HOST_IP, dst=OTHER_IP))) is None
    assert view.counters.tx_not_for_line == 1
    # Multicast and broadcast off the line go to their group MACs (RFC 1112 maps 224.0.0.1 to 01:00:5e:00:00:01).
    group = view.from_line(ipv4(b"m", src=DOS_IP, dst="224.0.0.1"))
    everyone = view.from_line(ipv4(b"b", src=DOS_IP, dst="255.255.255.255"))
    assert group is not None and group[:6] == bytes.fromhex("01005e000001")
    assert everyone is not None and everyone[:6] == b"\xff" * 6


def test_view_given_the_far_end_answers_before_it_speaks() -> None:
    up: list[bytes] = []
    view = SlipEthernetView(lambda: PORT_MAC, SLIP_PEER_MAC, up.append, socket.inet_aton(DOS_IP))
    view.to_line(arp(1, HOST_MAC, HOST_IP, bytes(6), DOS_IP, b"\xff" * 6))
    assert up == [arp(2, SLIP_PEER_MAC, DOS_IP, HOST_MAC, HOST_IP, HOST_MAC)]


def test_a_stack_on_slip_meets_a_stack_on_ethernet_through_the_bridge() -> None:
    """Stack A holds a SLIP link (as DOS with ETHERSL would) to the bridge's listening SLIP port; stack B is
    on a hub, the bridge's other port. They ping each other and move 16 KiB over TCP."""
    port = free_port()
    hub = f"slipbridge{next(_names)}"
    clock = MonotonicTicks()
    bridge = Bridge()
    bridge.add_port(open_link(f"slip:socket://127.0.0.1:{port}?listen=1", clock))
    bridge.add_port(HUBS.get(hub).port())
    a = Stack(open_link(f"slip:socket://127.0.0.1:{port}", clock), StackConfig(ip_from_str(DOS_IP)),
              clock).init_stack()
    b = Stack(open_link(f"hub:{hub}", clock), StackConfig(ip_from_str(HOST_IP)), clock).init_stack()

    def with_bridge(condition: object) -> object:
        def step() -> bool:
            bridge.turn(time.monotonic(), clock.now())
            return bool(condition())  # type: ignore[operator]
        return step

    try:
        replies: list[tuple[str, int]] = []
        a.icmp.echo_listeners[1] = lambda source, seq, data, now: replies.append(("a", seq))
        b.icmp.echo_listeners[2] = lambda source, seq, data, now: replies.append(("b", seq))
        assert a.icmp.send_echo(ip_from_str(HOST_IP), 1, 1, b"from slip", clock.now()).ok
        assert run_until([a, b], with_bridge(lambda: ("a", 1) in replies), 20), replies  # type: ignore[arg-type]
        assert b.icmp.send_echo(ip_from_str(DOS_IP), 2, 1, b"from ethernet", clock.now()).ok
        assert run_until([a, b], with_bridge(lambda: ("b", 1) in replies), 20), replies  # type: ignore[arg-type]
        listener = b.tcp.listen(7000)
        payload = os.urandom(16 * 1024)
        client = a.tcp.connect(ip_from_str(HOST_IP), 7000)
        got = bytearray()
        accepted: list[TcpSocket] = []
        offset = [0]

        def moved() -> bool:  # the application's work, between turns of the stacks and the bridge
            if client.is_connected and offset[0] < len(payload):
                offset[0] += client.send(memoryview(payload)[offset[0]:])
            if not accepted and (sock := listener.accept()) is not None:
                accepted.append(sock)
            if accepted:
                got.extend(accepted[0].recv(65536))
            return len(got) >= len(payload) or client.error is not None

        assert run_until([a, b], with_bridge(moved), 30), (len(got), client)  # type: ignore[arg-type]
        assert bytes(got) == payload
    finally:
        a.end_stack()
        b.end_stack()
        bridge.close()
