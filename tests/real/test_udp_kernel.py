"""UDP with the Linux kernel as the peer: mtcp-servers' UDP services, fragments, port unreachable.

mtcp-servers runs as a user runs it, in a private namespace over TAP; the kernel's side is `nc -u`
(netcat-openbsd) and UDP sockets opened inside the namespace. What comes back is judged by RFC 862/864/867
and by what the kernel's own socket reports (ECONNREFUSED from ICMP port unreachable, RFC 1122 4.1.3.3).
"""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mtcp_py.apps.services import ChargenPattern
from tests.netns import STACK_IP, NetNs
from tests.real.apputil import need_nc, running_servers

pytestmark = pytest.mark.real


@pytest.fixture
def servers(ns: NetNs, config: Path) -> Iterator[subprocess.Popen[bytes]]:
    with running_servers(ns, config, "-stats") as proc:
        yield proc


def kernel_udp(ns: NetNs, timeout: float = 10) -> socket.socket:
    def make() -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.settimeout(timeout)
        return sock

    return ns.call(make)


def ask(sock: socket.socket, port: int, data: bytes, tries: int = 5) -> bytes:
    """Send `data` to the stack's `port` and return the answer; resent a few times (the first datagram
    may wait for ARP on our side), as any UDP client does."""
    sock.connect((STACK_IP, port))
    for _ in range(tries - 1):
        sock.send(data)
        try:
            return sock.recv(65_536)
        except TimeoutError:
            continue
    sock.send(data)
    return sock.recv(65_536)


def test_nc_u_to_udp_echo_and_back(ns: NetNs, servers: subprocess.Popen[bytes]) -> None:
    need_nc()
    result = ns.run("sh", "-c", f"printf 'hello over udp\\n' | nc -u -w 2 {STACK_IP} 7", timeout=30)
    assert result.stdout == "hello over udp\n", result.stderr


@pytest.mark.parametrize("size", [0, 1, 1472, 1473, 4000, 8192])
def test_echo_datagrams_up_to_8_kib_fragmented_both_ways(ns: NetNs, servers: subprocess.Popen[bytes],
                                                         size: int) -> None:
    data = os.urandom(size)
    sock = kernel_udp(ns)
    with sock:
        assert ask(sock, 7, data) == data


def test_chargen_and_daytime_answer_a_datagram(ns: NetNs, servers: subprocess.Popen[bytes]) -> None:
    sock = kernel_udp(ns)
    with sock:
        answer = ask(sock, 19, b"x")
    assert len(answer) == 512  # RFC 864: 0 to 512 characters; ours always 512
    assert answer == ChargenPattern().read(0, 512)
    sock = kernel_udp(ns)
    with sock:
        line = ask(sock, 13, b"")
    assert line.endswith(b"\r\n") and str(time.gmtime().tm_year).encode() in line


def test_udp_off_closes_the_udp_ports(ns: NetNs, config: Path) -> None:
    with running_servers(ns, config, "-udp", "off"):
        sock = kernel_udp(ns, timeout=2)
        with sock:
            sock.connect((STACK_IP, 7))
            refused = None
            for _ in range(5):
                sock.send(b"anyone?")
                try:
                    sock.recv(100)
                except ConnectionRefusedError:
                    refused = True
                    break
                except TimeoutError:
                    continue
            assert refused, "echo over UDP still answered with -udp off"


def test_closed_port_is_refused_as_the_kernel_sees_it(ns: NetNs, servers: subprocess.Popen[bytes]) -> None:
    sock = kernel_udp(ns, timeout=2)
    with sock:
        sock.connect((STACK_IP, 4444))
        for _ in range(5):
            sock.send(b"knock")
            try:
                sock.recv(100)
            except ConnectionRefusedError:
                return
            except TimeoutError:
                continue
    pytest.fail("no ECONNREFUSED from a datagram to a closed port")


def test_port_unreachable_is_rate_limited_under_a_flood(ns: NetNs, servers: subprocess.Popen[bytes]) -> None:
    """A flood of datagrams to a closed port draws at most a burst of ICMP per second (10 per 18 ticks),
    counted by a raw ICMP socket on the kernel side."""
    def make_raw() -> socket.socket:
        raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        raw.setblocking(False)
        return raw

    raw = ns.call(make_raw)
    sock = kernel_udp(ns)
    with raw, sock:
        ask(sock, 7, b"warm up ARP")
        start = time.monotonic()
        for _ in range(2000):
            try:
                sock.sendto(b"flood", (STACK_IP, 4444))
            except OSError as exc:  # a pending ICMP error surfaces on the next send
                assert exc.errno == errno.ECONNREFUSED
        sock.settimeout(2)
        sock.connect((STACK_IP, 7))
        assert ask(sock, 7, b"still serving") == b"still serving"
        elapsed = time.monotonic() - start
        unreachables = 0
        while True:
            try:
                packet = raw.recv(2048)
            except BlockingIOError:
                break
            if packet[20] == 3 and packet[21] == 3:
                unreachables += 1
    assert unreachables >= 1
    assert unreachables <= 10 * (elapsed / (18 * 0.0549) + 2)
