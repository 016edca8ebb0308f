"""The prepared send path keeps the route of its last datagram while ARP holds the same entry: what it
puts on the wire is what a full resolution would, through a new MAC, an expired entry, an eviction."""

from __future__ import annotations

from mtcp_py.arp import ArpConfig, ArpLayer
from mtcp_py.ip import FRAME_HEADERS, IpConfig, IpLayer, SendStatus
from mtcp_py.wire import ip_from_str
from mtcp_py.wire.ipv4 import PROTO_TCP, Ipv4Repr

from .frames import slow_checksum

OURS = bytes.fromhex("020000000001")
PEER = ip_from_str("10.0.0.2")
OTHER = ip_from_str("10.0.0.3")
MAC_A = bytes.fromhex("02000000000a")
MAC_B = bytes.fromhex("02000000000b")


def layer(entry_ticks: int = 100) -> tuple[IpLayer, list[bytes]]:
    sent: list[bytes] = []

    def send_frame(frame: bytes | bytearray | memoryview) -> bool:
        sent.append(bytes(frame))
        return True

    arp = ArpLayer(OURS, ip_from_str("10.0.0.1"), send_frame, ArpConfig(entry_ticks=entry_ticks, cache_size=1))
    return IpLayer(IpConfig(ip_from_str("10.0.0.1"), 0xFFFFFF00), OURS, arp, send_frame), sent


def prepared(ip: IpLayer, dst: int, now: int) -> SendStatus:
    buf = bytearray(FRAME_HEADERS + 5)
    buf[FRAME_HEADERS:] = b"hello"
    return ip.send_prepared(buf, 5, dst, PROTO_TCP, now)


def test_the_kept_route_follows_arp() -> None:
    ip, sent = layer()
    ip.arp.learn(PEER, MAC_A, 0)
    assert prepared(ip, PEER, 1) is SendStatus.SENT
    assert prepared(ip, PEER, 2) is SendStatus.SENT
    ip.arp.learn(PEER, MAC_B, 3)  # the peer's MAC changed: the next frame goes to the new one
    assert prepared(ip, PEER, 4) is SendStatus.SENT
    assert [frame[:6] for frame in sent] == [MAC_A, MAC_A, MAC_B]
    assert ip.arp.counters.cache_hits == 3  # counted as resolve() counts them, kept route or not
    for frame in sent:
        header = Ipv4Repr.parse(frame[14:])
        assert (header.src, header.dst, header.payload_len) == (ip.address, PEER, 5)
        assert slow_checksum(frame[14:34]) == 0 and frame[6:14] == OURS + b"\x08\x00"
    assert [Ipv4Repr.parse(frame[14:]).ident for frame in sent] == [1, 2, 3]


def test_an_expired_or_evicted_entry_is_resolved_again() -> None:
    ip, sent = layer(entry_ticks=10)
    ip.arp.learn(PEER, MAC_A, 0)
    assert prepared(ip, PEER, 5) is SendStatus.SENT
    assert prepared(ip, PEER, 10) is SendStatus.PENDING_ARP  # expired at tick 10: asked again, held
    assert ip.arp.counters.requests_sent == 1 and len(sent) == 2 and sent[1][12:14] == b"\x08\x06"
    ip.arp.learn(PEER, MAC_B, 11)  # the answer releases the held datagram
    assert sent[2][:6] == MAC_B and Ipv4Repr.parse(sent[2][14:]).dst == PEER
    ip.arp.learn(OTHER, MAC_A, 12)  # a cache of one: this evicts the peer
    assert prepared(ip, PEER, 13) is SendStatus.PENDING_ARP
    assert prepared(ip, OTHER, 13) is SendStatus.SENT and sent[-1][:6] == MAC_A
