"""TCP through loss that the Linux kernel itself makes: nftables in the private namespace drops a share of
the TCP segments crossing the TAP device, both directions, at random (`numgen random`), in a bridge's
hooks (see add_loss for why not the inet output hook).

16 MiB each way between the stack and the kernel, sha256-exact. The same transfers through the project's
own fault link (`tap:mtap0?drop=...`) are test_tcp_kernel.py's test_lossy_tap_16_mib_each_way. Skipped
with a reason when not root or without nft.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator

import pytest

from tests.netns import KERNEL_IP, TAP, NetNs, need_root, private_netns
from tests.real.test_tcp_kernel import (
    MiB,
    expected_sha,
    finish,
    open_to_kernel,
    peer,
    peer_result,
    receive_all,
    send_all_and_close,
    start_stack,
)

pytestmark = pytest.mark.real
SIZE = 16 * MiB
LOSS_PERCENT = 5
MTU = 1500


def need_nft() -> None:
    need_root()
    if shutil.which("nft") is None:
        pytest.skip("needs nft (Debian package nftables) to drop segments in the kernel")


def add_loss(ns: NetNs, percent: int, port: str = TAP, cidr: str = f"{KERNEL_IP}/24", table: str = "loss") -> None:
    """Make the kernel lose `percent`% of the TCP segments crossing `port`, each direction, at random.

    The inet family's output hook cannot do it: a packet dropped there (or at netdev egress) is a local
    drop, and the kernel's TCP simply sends the segment again (no loss, no retransmission counted; measured
    here). So `port` goes into a bridge that takes over its address, and the bridge family's hooks drop
    frames on their way out to `port` and in from it: to both TCPs that is loss on the wire. One segment
    per GSO packet, or a single drop would lose a whole 64 KiB burst.
    """
    for command in (f"ip addr del {cidr} dev {port}", "ip link add br0 type bridge",
                    f"ip link set br0 mtu {ns.run('cat', f'/sys/class/net/{port}/mtu').stdout.strip()}",
                    f"ip link set {port} master br0", f"ip addr add {cidr} dev br0", "ip link set br0 gso_max_segs 1",
                    "ip link set br0 up"):
        ns.run(*command.split())
    ns.run("nft", f"add table bridge {table}")
    for chain, hook, match in (("rx", "input", "iifname"), ("tx", "output", "oifname")):
        ns.run("nft", f"add chain bridge {table} {chain} {{ type filter hook {hook} priority 0; }}")
        ns.run("nft", f"add rule bridge {table} {chain} {match} {port} meta l4proto tcp "
                      f"numgen random mod 100 < {percent} counter drop")


def dropped(ns: NetNs, table: str = "loss") -> dict[str, int]:
    """Packets each chain's rule dropped so far."""
    counts = {}
    for chain in ("rx", "tx"):
        text = ns.run("nft", "list", "chain", "bridge", table, chain).stdout
        match = re.search(r"counter packets (\d+)", text)
        assert match, text
        counts[chain] = int(match.group(1))
    return counts


@pytest.fixture
def lossy_ns() -> Iterator[NetNs]:
    need_nft()
    with private_netns(mtu=MTU) as namespace:
        add_loss(namespace, LOSS_PERCENT)
        yield namespace


def test_kernel_to_stack_16_mib_through_kernel_loss(lossy_ns: NetNs) -> None:
    ns = lossy_ns
    stack = start_stack(ns, MTU)
    proc = peer(ns, "send", SIZE)
    start = time.monotonic()
    sock = open_to_kernel(stack)
    count, digest = receive_all(stack, sock, 55)
    elapsed = time.monotonic() - start
    total, kernel_digest = peer_result(proc)
    counters = stack.counters()
    drops = dropped(ns)
    print(f"kernel -> stack, {LOSS_PERCENT}% loss each way: {SIZE / elapsed / 1e6:.2f} MB/s in {elapsed:.1f} s; "
          f"nft dropped {drops}")
    assert sock.error is None and count == SIZE == int(total)
    assert digest == kernel_digest == expected_sha(SIZE)
    assert drops["rx"] > 0 and drops["tx"] > 0  # both directions really lost segments
    assert counters["tcp"]["out_of_order"] > 0  # the kernel's segments were really lost on the way
    finish(stack)


def test_stack_to_kernel_16_mib_through_kernel_loss(lossy_ns: NetNs) -> None:
    ns = lossy_ns
    stack = start_stack(ns, MTU)
    proc = peer(ns, "recv", SIZE)
    start = time.monotonic()
    sock = open_to_kernel(stack)
    send_all_and_close(stack, sock, SIZE, 55)
    elapsed = time.monotonic() - start
    total, digest = peer_result(proc)
    counters = stack.counters()
    drops = dropped(ns)
    print(f"stack -> kernel, {LOSS_PERCENT}% loss each way: {SIZE / elapsed / 1e6:.2f} MB/s in {elapsed:.1f} s; "
          f"nft dropped {drops}; retransmits {counters['tcp']['retransmits']}")
    assert sock.error is None and int(total) == SIZE and digest == expected_sha(SIZE)
    assert drops["rx"] > 0 and drops["tx"] > 0
    assert counters["tcp"]["retransmits"] > 0
    finish(stack)
