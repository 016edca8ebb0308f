"""The foundation against the Linux kernel: ARP, ICMP echo both ways, fragments both ways, a pcap.

Each test makes a private network namespace with a TAP device (kernel 10.0.2.1/24, stack 10.0.2.15),
so no frame leaves the machine. Skipped with a reason when not root.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mtcp_py.stack import Stack, StackConfig
from mtcp_py.wire import ip_from_str
from pktdrv import MonotonicTicks, open_link
from pktdrv.links import read_pcap
from tests.netns import KERNEL_IP, STACK_IP, NetNs, StackThread, need_root, private_netns

pytestmark = pytest.mark.real


@pytest.fixture
def ns() -> Iterator[NetNs]:
    need_root()
    with private_netns() as namespace:
        yield namespace


def start_stack(ns: NetNs, pcap: Path | None = None) -> Stack:
    clock = MonotonicTicks()
    spec = "tap:mtap0" + (f"?pcap={pcap}" if pcap else "")
    link = ns.call(lambda: open_link(spec, clock))
    config = StackConfig(ip_from_str(STACK_IP), gateway=ip_from_str(KERNEL_IP))
    return Stack(link, config, clock).init_stack()


def replies(output: str) -> int:
    match = re.search(r"(\d+) received", output)
    assert match, output
    return int(match.group(1))


def test_kernel_ping_100_and_neighbour_table(ns: NetNs, tmp_path: Path) -> None:
    pcap = tmp_path / "run.pcap"
    stack = start_stack(ns, pcap)
    with StackThread(stack):
        result = ns.run("ping", "-c", "100", "-i", "0.005", "-W", "2", STACK_IP, check=False)
        assert replies(result.stdout) == 100, result.stdout
        neigh = ns.run("ip", "neigh", "show", STACK_IP).stdout
    assert stack.mac.hex(":") in neigh.lower()
    counters = stack.counters()
    stack.end_stack()
    assert counters["icmp"]["echo_replies_sent"] >= 100
    assert counters["stack"]["internal_errors"] == 0
    # The capture holds the ARP exchange and the echoes, and tcpdump reads it.
    frames = [frame for _, frame in read_pcap(pcap)]
    assert any(f[12:14] == b"\x08\x06" for f in frames)
    assert sum(1 for f in frames if f[12:14] == b"\x08\x00" and f[23] == 1) >= 200
    if shutil.which("tcpdump"):
        dump = subprocess.run(["tcpdump", "-nr", str(pcap)], capture_output=True, text=True, check=True)
        assert f"{KERNEL_IP} > {STACK_IP}: ICMP echo request" in dump.stdout
        assert f"{STACK_IP} > {KERNEL_IP}: ICMP echo reply" in dump.stdout
        assert f"ARP, Reply {STACK_IP} is-at" in dump.stdout


@pytest.mark.parametrize("size", [1472, 4000])
def test_kernel_ping_sizes_fragmented_both_ways(ns: NetNs, size: int) -> None:
    stack = start_stack(ns)
    with StackThread(stack):
        result = ns.run("ping", "-c", "10", "-i", "0.01", "-W", "2", "-s", str(size), STACK_IP, check=False)
    counters = stack.counters()
    stack.end_stack()
    assert replies(result.stdout) == 10, result.stdout
    if size > 1472:
        assert counters["reassembly"]["reassembled"] >= 10
        assert counters["ip"]["fragments_sent"] >= 20


def test_arping_sees_stack_mac(ns: NetNs) -> None:
    if shutil.which("arping") is None:
        pytest.skip("arping is not installed")
    stack = start_stack(ns)
    with StackThread(stack):
        result = ns.run("arping", "-c", "3", "-w", "5", "-I", "mtap0", STACK_IP, check=False)
    stack.end_stack()
    assert stack.mac.hex(":").lower() in result.stdout.lower(), result.stdout


def mtcp_ping(ns: NetNs, tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    config = tmp_path / "mtcp.cfg"
    config.write_text(f"LINK tap:mtap0\nIPADDR {STACK_IP}\nNETMASK 255.255.255.0\nGATEWAY {KERNEL_IP}\n")
    env = dict(os.environ, MTCPCFG=str(config))
    return ns.popen_text(sys.executable, "-m", "mtcp_py.apps.ping", *args, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)


def test_mtcp_ping_gets_replies_and_answers_kernel(ns: NetNs, tmp_path: Path) -> None:
    proc = mtcp_ping(ns, tmp_path, "-count", "10", "-interval", "0.2", KERNEL_IP)
    assert proc.stderr is not None
    banner = proc.stderr.readline()  # printed once the stack is up and holds the device
    assert STACK_IP in banner, banner
    # While mtcp-ping runs, its stack answers the kernel's pings too.
    kernel = ns.run("ping", "-c", "5", "-i", "0.2", "-W", "2", STACK_IP, check=False)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, (out, err)
    assert "Packets sent: 10, Replies received: 10, Replies lost: 0" in out
    assert len(re.findall(r"Packet sequence number \d+ received in", out)) == 10
    assert replies(kernel.stdout) == 5, kernel.stdout


def test_mtcp_ping_unanswered_exits_non_zero(ns: NetNs, tmp_path: Path) -> None:
    proc = mtcp_ping(ns, tmp_path, "-count", "2", "-timeout", "0.5", "-interval", "0.1", "10.0.2.99")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, (out, err)
    assert "Replies received: 0" in out


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_ends_mtcp_ping_cleanly_and_releases_tap(ns: NetNs, tmp_path: Path, signum: int) -> None:
    proc = mtcp_ping(ns, tmp_path, "-count", "1000", "-interval", "0.05", KERNEL_IP)
    assert proc.stdout is not None
    # Wait for the first reply: by then the stack is up and holds the device.
    first = proc.stdout.readline() + proc.stdout.readline() + proc.stdout.readline()
    assert "received in" in first, first
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, (out, err)
    assert "Packets sent:" in out
    assert "Traceback" not in err
    # The device is free again: another program can attach to it.
    link = ns.call(lambda: open_link("tap:mtap0"))
    link.close()


def test_raw_link_on_a_veth_pair(ns: NetNs) -> None:
    """raw:IFACE joins an existing interface (as on a bridge an emulator shares): here one end of a veth."""
    ns.run("ip", "link", "add", "vk0", "type", "veth", "peer", "name", "vs0")
    ns.run("ip", "addr", "add", "10.0.3.1/24", "dev", "vk0")
    ns.run("ip", "link", "set", "vk0", "up")
    ns.run("ip", "link", "set", "vs0", "up")
    clock = MonotonicTicks()
    link = ns.call(lambda: open_link("raw:vs0", clock))
    stack = Stack(link, StackConfig(ip_from_str("10.0.3.15")), clock).init_stack()
    with StackThread(stack):
        result = ns.run("ping", "-c", "5", "-i", "0.05", "-W", "2", "10.0.3.15", check=False)
    stack.end_stack()
    assert replies(result.stdout) == 5, result.stdout


def test_unusable_links_name_themselves(ns: NetNs) -> None:
    from pktdrv import LinkError

    with pytest.raises(LinkError, match=r"raw:nosuch0: no such device"):
        ns.call(lambda: open_link("raw:nosuch0"))
    first = ns.call(lambda: open_link("tap:mtap0"))
    try:
        with pytest.raises(LinkError, match=r"tap:mtap0: busy"):
            ns.call(lambda: open_link("tap:mtap0"))
    finally:
        first.close()
