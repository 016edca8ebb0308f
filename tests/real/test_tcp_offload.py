"""Checksum offload (`tap:mtap0?offload=1`) against the Linux kernel, in a private namespace.

The kernel trusts a frame whose checksum was left to it (it was made in memory), so a transfer with the
kernel as the peer proves little about the sum we seed: here the kernel also forwards between two TAP
devices, one with offload and one without, so it completes our checksums in software on the way out to a
second stack, which verifies every one (a wrong seed would be dropped there and the transfer would stall).
With a wrapper asked for (pcap, drop), the device opens without offload and every checksum is ours again,
as the capture shows.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from mtcp_py.stack import Stack, StackConfig
from mtcp_py.tcp import TcpConfig
from mtcp_py.wire import ip_from_str
from pktdrv import MonotonicTicks, open_link
from pktdrv.links import read_pcap
from pktdrv.links.tap import TapLink
from tests.exchange import connect_pair, exchange_exact
from tests.netns import NetNs, need_root, private_netns
from tests.real.test_tcp_kernel import (
    expected_sha,
    finish,
    open_to_kernel,
    peer,
    peer_result,
    receive_all,
    send_all_and_close,
    start_stack,
)
from tests.unit.frames import slow_checksum

pytestmark = pytest.mark.real

MiB = 1 << 20
MTU = 1500
FAR_KERNEL_IP, FAR_IP = "10.0.3.1", "10.0.3.2"


@pytest.fixture
def ns() -> Iterator[NetNs]:
    need_root()
    with private_netns(mtu=MTU) as namespace:
        yield namespace


def csum_errors(ns: NetNs) -> dict[str, int]:
    """The namespace's InCsumErrors for TCP and UDP (/proc/net/snmp is per namespace)."""
    lines = [line.split() for line in ns.run("cat", "/proc/net/snmp").stdout.splitlines()]
    found = {}
    for names, values in zip(lines[::2], lines[1::2], strict=True):
        if names[0] in ("Tcp:", "Udp:") and "InCsumErrors" in names:
            found[names[0]] = int(values[names.index("InCsumErrors")])
    return found


def tcp_checksum_ok(frame: bytes) -> bool:
    """RFC 1071 the textbook way over an Ethernet frame carrying IPv4 and TCP."""
    ihl = (frame[14] & 0x0F) * 4
    total = struct.unpack_from("!H", frame, 16)[0]
    segment = frame[14 + ihl : 14 + total]
    pseudo = frame[26:34] + struct.pack("!BBH", 0, 6, len(segment))
    return slow_checksum(pseudo + segment) == 0


def tap_of(stack: Stack) -> TapLink:
    link = stack.driver.link
    assert isinstance(link, TapLink)
    return link


def test_offload_both_ways_with_the_kernel_sha256(ns: NetNs) -> None:
    size = 16 * MiB
    before = csum_errors(ns)
    stack = start_stack(ns, MTU, "offload=1")
    assert stack.driver.checksum_offload
    proc = peer(ns, "send", size)
    sock = open_to_kernel(stack)
    count, digest = receive_all(stack, sock, 120)
    assert count == size and peer_result(proc)[-1] == digest == expected_sha(size)
    proc = peer(ns, "recv", size, 5002)
    send_all_and_close(stack, open_to_kernel(stack, 5002), size, 120)
    total, kernel_digest = peer_result(proc)
    assert int(total) == size and kernel_digest == expected_sha(size)
    eth, driver = stack.eth, stack.driver.stats
    assert eth.checksums_offloaded >= size // (MTU - 40)  # every data segment left to the kernel
    assert eth.checksums_vouched >= size // (MTU - 40)  # and every one it sent vouched for
    # No TSO/UFO was asked for, so nothing larger than the MTU ever came: no GSO frame, none too long.
    assert tap_of(stack).rx_gso_dropped == 0 and driver.dropped_refused == 0
    assert not stack.drops, stack.drops
    assert csum_errors(ns) == before
    finish(stack)


def test_forwarded_segments_carry_the_sums_the_kernel_completed(ns: NetNs) -> None:
    """Offloading stack on mtap0 -> the kernel forwards -> mtap1 (no offload: the kernel sums in software)
    -> a second stack that verifies every checksum; and back."""
    ns.run("sysctl", "-qw", "net.ipv4.ip_forward=1")
    ns.run("ip", "tuntap", "add", "dev", "mtap1", "mode", "tap")
    ns.run("ip", "link", "set", "mtap1", "mtu", str(MTU))
    ns.run("ip", "addr", "add", f"{FAR_KERNEL_IP}/24", "dev", "mtap1")
    ns.run("ip", "link", "set", "mtap1", "up")
    clock = MonotonicTicks()
    a = start_stack(ns, MTU, "offload=1")
    far_link = ns.call(lambda: open_link("tap:mtap1", clock))
    b = Stack(far_link, StackConfig(ip_from_str(FAR_IP), gateway=ip_from_str(FAR_KERNEL_IP), mtu=MTU,
                                    buffer_size=MTU + 14, tcp=TcpConfig(mss=MTU - 40)), clock).init_stack()
    assert a.driver.checksum_offload and not b.driver.checksum_offload
    listener = b.tcp.listen(7)
    client = a.tcp.connect(ip_from_str(FAR_IP), 7)
    size = 4 * MiB
    exchange_exact([a, b], client, connect_pair([a, b], client, listener, 10), size)
    assert a.eth.checksums_offloaded >= size // (MTU - 40)
    assert not b.drops and not a.drops, (a.drops, b.drops)  # no tcp_bad_checksum on either side
    finish(a)
    finish(b)


@pytest.mark.parametrize("wrapper", ["pcap", "drop=0.01&seed=3"])
def test_a_wrapper_falls_back_to_computed_checksums(ns: NetNs, tmp_path: Path, wrapper: str) -> None:
    capture = tmp_path / "run.pcap"
    stack = start_stack(ns, MTU, "offload=1&" + (f"pcap={capture}" if wrapper == "pcap" else wrapper))
    assert not stack.driver.checksum_offload and not tap_of_inner(stack).vnet
    size = 2 * MiB
    proc = peer(ns, "recv", size)
    send_all_and_close(stack, open_to_kernel(stack), size, 60)
    assert int(peer_result(proc)[0]) == size
    proc = peer(ns, "send", size, 5002)
    count, digest = receive_all(stack, open_to_kernel(stack, 5002), 60)
    assert count == size and peer_result(proc)[-1] == digest
    assert stack.eth.checksums_offloaded == stack.eth.checksums_vouched == 0
    finish(stack)
    if wrapper == "pcap":
        # What the capture shows is what went on the wire, every checksum whole, ours and the kernel's.
        tcp = [frame for _, frame in read_pcap(capture) if frame[12:14] == b"\x08\x00" and frame[23] == 6]
        assert len(tcp) > 2 * size // (MTU - 40)
        assert all(tcp_checksum_ok(frame) for frame in tcp)


def tap_of_inner(stack: Stack) -> TapLink:
    link = stack.driver.link
    while not isinstance(link, TapLink):
        link = link.inner  # type: ignore[attr-defined]
    return link
