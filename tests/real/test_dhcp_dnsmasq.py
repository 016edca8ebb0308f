"""mtcp-dhcp against dnsmasq, the real peer, as the DHCP server on the kernel's side of a TAP device in a
private namespace: the lease is in the configured range, the file holds what dnsmasq gave (and its lease
file agrees), every other line is kept byte for byte, and the file then works for the other programs.

Skipped with a reason when not root or without dnsmasq (`.ci/run` installs dnsmasq-base).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from mtcp_py.config import parse_config
from mtcp_py.dhcp import DhcpClient
from mtcp_py.runtime import run_until
from mtcp_py.stack import Stack, StackConfig
from mtcp_py.wire import ip_from_str
from pktdrv import MonotonicTicks, open_link
from tests.netns import KERNEL_IP, NetNs, private_netns
from tests.real.apputil import wait_until

pytestmark = pytest.mark.real

DNSMASQ = "/usr/sbin/dnsmasq"
RANGE = ("10.0.2.50", "10.0.2.99")
LEASE_SECONDS = 43200
DOMAIN = "retro.lan"
MAC = "02:00:00:0d:0c:01"
IGNORED_MAC = "02:00:00:0d:0c:02"
ORIGINAL = (b"# the lab's mTCP settings\n"
            + f"LINK tap:mtap0?mac={MAC}\n".encode()
            + b"PACKETINT 0x60\n"
            b"HOSTNAME retro\n"
            b"IRCJR_NICK  bob\r\n"
            b"; comment\n")


def need_dnsmasq() -> str:
    path = DNSMASQ if os.path.exists(DNSMASQ) else shutil.which("dnsmasq")
    if not path:
        pytest.skip("needs dnsmasq (apt-get install dnsmasq-base)")
    return path


@contextmanager
def running_dhcp_server(ns: NetNs, folder: Path, *extra: str) -> Iterator[Path]:
    """dnsmasq as a DHCP server only (no DNS: --port=0) on mtap0, handing out 10.0.2.50-99 for 12 hours with
    10.0.2.1 as router and name server; yields its lease file. Ended at the end of the block."""
    binary = need_dnsmasq()
    leases = folder / "dnsmasq.leases"
    log = folder / "dnsmasq.log"
    proc = ns.popen(binary, "--keep-in-foreground", "--conf-file=/dev/null", "--port=0", "--pid-file=",
                    "--user=root", "--interface=mtap0", "--bind-interfaces",
                    f"--dhcp-range={RANGE[0]},{RANGE[1]},255.255.255.0,{LEASE_SECONDS}",
                    f"--dhcp-option=option:router,{KERNEL_IP}", f"--dhcp-option=option:dns-server,{KERNEL_IP}",
                    f"--domain={DOMAIN}", f"--dhcp-leasefile={leases}", f"--log-facility={log}", "--log-dhcp",
                    *extra, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: proc.poll() is not None or (log.exists() and "DHCP, sockets bound" in log.read_text()),
                   "dnsmasq to listen for DHCP")
        if proc.poll() is not None:
            assert proc.stderr is not None
            raise AssertionError(f"dnsmasq did not start: {proc.stderr.read().decode(errors='replace')}")
        yield leases
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def ns() -> Iterator[NetNs]:
    need_dnsmasq()
    with private_netns() as namespace:
        yield namespace


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "mtcp.cfg"
    path.write_bytes(ORIGINAL)
    return path


def run_program(ns: NetNs, config: Path, module: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MTCPCFG"}
    env["MTCPCFG"] = str(config)
    return ns.run(sys.executable, "-m", f"mtcp_py.apps.{module}", *args, check=False, timeout=120, env=env,
                  stdin=subprocess.DEVNULL)


def in_range(address: int) -> bool:
    return ip_from_str(RANGE[0]) <= address <= ip_from_str(RANGE[1])


def test_lease_from_dnsmasq_is_written(ns: NetNs, config: Path, tmp_path: Path) -> None:
    with running_dhcp_server(ns, tmp_path) as leases:
        result = run_program(ns, config, "dhcp")
        assert result.returncode == 0, result.stderr
        written = config.read_bytes()
        settings = parse_config(written.decode("latin-1"))
        assert in_range(settings.ip)
        assert (settings.netmask, settings.gateway, settings.nameserver) == (0xFFFFFF00, ip_from_str(KERNEL_IP),
                                                                              ip_from_str(KERNEL_IP))
        assert settings.app["LEASE_TIME"] == str(LEASE_SECONDS)
        assert settings.app["DHCPVER"].startswith("DHCP Client version mtcp-py")
        # Every line that was there, byte for byte and in order, after DHCPVER and TIMESTAMP.
        lines = written.split(b"\n")
        assert lines[0].startswith(b"DHCPVER ") and lines[1].startswith(b"TIMESTAMP ( ")
        body = written.split(b"\n", 2)[2]
        assert body.startswith(ORIGINAL)
        assert [line.split(b" ")[0] for line in body[len(ORIGINAL):].splitlines()] == \
            [b"IPADDR", b"NETMASK", b"GATEWAY", b"NAMESERVER", b"LEASE_TIME"]
        assert f"Domain name: {DOMAIN}" in result.stdout
        # dnsmasq's own record: our MAC, the address in the file, the host name we sent.
        wait_until(lambda: leases.exists() and MAC in leases.read_text(), "dnsmasq to record the lease")
        record = next(line.split() for line in leases.read_text().splitlines() if MAC in line)
        assert ip_from_str(record[2]) == settings.ip
        assert record[3] == "retro"


@pytest.mark.parametrize("broadcast_flag", [False, True])
def test_how_dnsmasq_sends_its_replies(ns: NetNs, tmp_path: Path, broadcast_flag: bool) -> None:
    """Without the broadcast bit dnsmasq sends OFFER and ACK to the offered address at our MAC (which the stack
    takes while it has no address); with it, to 255.255.255.255 (RFC 2131 4.1)."""
    clock = MonotonicTicks()
    link = ns.call(lambda: open_link(f"tap:mtap0?mac={MAC}", clock))
    stack = Stack(link, StackConfig(0, no_address=True, tcp_enabled=False, announce=False), clock).init_stack()
    try:
        client = DhcpClient(stack.udp, stack.mac, hostname="retro", broadcast_flag=broadcast_flag)
        stack.add_layer(client)
        with running_dhcp_server(ns, tmp_path):
            client.start(clock.now())
            assert run_until(stack, lambda: client.done, 60)
    finally:
        stack.end_stack()
    assert client.lease is not None and in_range(client.lease.address)
    unicast, broadcast = client.counters.replies_unicast, client.counters.replies_broadcast
    assert (unicast, broadcast) == ((0, 2) if broadcast_flag else (2, 0))


def test_the_written_file_serves_the_other_programs(ns: NetNs, config: Path, tmp_path: Path) -> None:
    with running_dhcp_server(ns, tmp_path):
        assert run_program(ns, config, "dhcp").returncode == 0
        ping = run_program(ns, config, "ping", "-count", "2", "-interval", "0", KERNEL_IP)
    assert ping.returncode == 0, ping.stdout + ping.stderr
    assert "Replies received: 2" in ping.stdout


def test_a_second_run_renews_the_same_address(ns: NetNs, config: Path, tmp_path: Path) -> None:
    with running_dhcp_server(ns, tmp_path):
        assert run_program(ns, config, "dhcp").returncode == 0
        first = config.read_bytes()
        assert run_program(ns, config, "dhcp").returncode == 0
        second = config.read_bytes()
    # dnsmasq gives a client its address again; only the TIMESTAMP may differ.
    assert first.split(b"\n")[0] == second.split(b"\n")[0]
    assert first.split(b"\n")[2:] == second.split(b"\n")[2:]


def test_ignored_by_dnsmasq_is_no_offer_and_the_file_untouched(ns: NetNs, tmp_path: Path) -> None:
    config = tmp_path / "mtcp.cfg"
    original = ORIGINAL.replace(MAC.encode(), IGNORED_MAC.encode())
    config.write_bytes(original)
    with running_dhcp_server(ns, tmp_path, f"--dhcp-host={IGNORED_MAC},ignore"):
        result = run_program(ns, config, "dhcp", "-retries", "1", "-timeout", "2")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1].startswith("mtcp-dhcp: no offer: no DHCP server answered in 1 attempt")
    assert config.read_bytes() == original
