"""`86box:` in a private network namespace, against itself and a peer written from 86Box's net_switch.c.

86Box's switch (src/network/net_switch.c, 86Box 6): UDP port 8086; multicast group 239.255.86.86, or
239.255.80.86 with a secret; copies for this host sent to lo's broadcast address; with a secret, each
datagram is the 32-byte SHA3-256 digest of the secret, then the frame. The namespace keeps every datagram
on the machine (its lo and a TAP device nothing is attached to). Skipped with a reason when not root.
"""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Iterator

import pytest

from pktdrv import open_link
from pktdrv.links import LinkSpecError
from pktdrv.links.box86 import Box86Link
from tests.links.linkutil import BROADCAST, frame, pump
from tests.netns import KERNEL_IP, NetNs, need_root, private_netns

pytestmark = pytest.mark.real
MAC_A = bytes.fromhex("02000000000a")
MAC_B = bytes.fromhex("02000000000b")


@pytest.fixture
def ns() -> Iterator[NetNs]:
    need_root()
    with private_netns() as namespace:
        yield namespace


def switch(ns: NetNs, spec: str) -> Box86Link:
    link = ns.call(lambda: open_link(spec))
    assert isinstance(link, Box86Link)
    return link


def test_two_switch_links_carry_frames_and_ignore_their_own(ns: NetNs) -> None:
    a = switch(ns, f"86box:?mac={MAC_A.hex(':')}")
    b = switch(ns, f"86box:switch?mac={MAC_B.hex(':')}")
    got_a: list[bytes] = []
    got_b: list[bytes] = []
    a.open(got_a.append)
    b.open(got_b.append)
    assert "lo -> 127.255.255.255" in a.counters.routes
    assert "mtap0 -> 239.255.86.86" in a.counters.routes
    a.send(frame(1, dst=BROADCAST, src=MAC_A))
    a.send(frame(2, dst=MAC_B, src=MAC_A))
    a.send(frame(3, dst=bytes.fromhex("02000000000c"), src=MAC_A))  # for a station not here
    b.send(frame(4, dst=MAC_A, src=MAC_B, size=1514))
    assert pump(b, lambda: len(got_b) == 2 and b.counters.not_for_us == 1)
    assert pump(a, lambda: len(got_a) == 1 and a.counters.own >= 3)
    assert got_b == [frame(1, dst=BROADCAST, src=MAC_A), frame(2, dst=MAC_B, src=MAC_A)]
    assert got_a == [frame(4, dst=MAC_A, src=MAC_B, size=1514)]
    a.close()
    b.close()


def test_secret_switch_speaks_86box_digest_and_ignores_other_switches(ns: NetNs) -> None:
    link = switch(ns, f"86box:?secret=retro&mac={MAC_A.hex(':')}")
    other = switch(ns, f"86box:?secret=modern&mac={MAC_B.hex(':')}")
    got: list[bytes] = []
    link.open(got.append)
    other.open(lambda f: None)
    digest = hashlib.sha3_256(b"retro").digest()
    assert "mtap0 -> 239.255.80.86" in link.counters.routes

    def peer_socket() -> socket.socket:  # as 86Box opens its sockets, inside the namespace
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        sock.bind(("0.0.0.0", 8086))
        sock.settimeout(5)
        return sock

    peer = ns.call(peer_socket)
    peer.sendto(digest + frame(7, src=MAC_B), ("127.255.255.255", 8086))
    other.send(frame(8, src=MAC_B))  # another secret: not ours
    peer.sendto(frame(9, src=MAC_B), ("127.255.255.255", 8086))  # no secret at all: not ours either
    assert pump(link, lambda: got == [frame(7, src=MAC_B)] and link.counters.other_secret >= 2)
    link.send(frame(10, src=MAC_A))
    seen: list[bytes] = []
    while len(seen) < 8:
        data = peer.recv(65536)
        seen.append(data)
        if data == digest + frame(10, src=MAC_A):
            break
    assert digest + frame(10, src=MAC_A) in seen
    peer.close()
    link.close()
    other.close()


def test_switch_joins_the_group_on_a_multicast_interface(ns: NetNs) -> None:
    """A datagram to 239.255.86.86 sent out of the namespace's TAP (looped back to this host's members)
    reaches the link: it joined the group there, as 86Box does on each multicast interface."""
    link = switch(ns, f"86box:?mac={MAC_A.hex(':')}")
    got: list[bytes] = []
    link.open(got.append)

    def sender() -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(KERNEL_IP))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
        return sock

    sock = ns.call(sender)
    sock.sendto(frame(11, src=MAC_B), ("239.255.86.86", 8086))
    assert pump(link, lambda: got == [frame(11, src=MAC_B)])
    sock.close()
    link.close()


def test_bad_switch_strings_say_why() -> None:
    with pytest.raises(LinkSpecError, match="secret=: needs a value"):
        open_link("86box:?secret=")
    with pytest.raises(LinkSpecError, match="a switch is named with letters"):
        open_link("86box:a/b")
