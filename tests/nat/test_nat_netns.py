"""mtcp-nat's gateway against a small "internet" in a private namespace: the documentation address
198.51.100.1 on the namespace's loopback, with an HTTP server, an echo server and dnsmasq bound to it.

The gateway and our own stack as its guest run in this process on a hub, on a thread that has joined the
namespace (so their host sockets are the namespace's); what the guest fetches is compared with what the
servers hold. Needs root for the namespace; skipped with the reason otherwise.
"""

from __future__ import annotations

import hashlib
import shutil

import pytest

from mtcp_py.wire import dns, ip_from_str
from tests.netns import NetNs

from .conftest import INTERNET
from .test_nat_hub import Lab, ask_dns, make_lab, read_all

pytestmark = pytest.mark.real


def http_get(lab: Lab, path: str) -> bytes:
    sock = lab.guest.tcp.connect(ip_from_str(INTERNET), 8080)
    lab.until(lambda: sock.is_connected or sock.error is not None, "connected")
    assert sock.error is None, sock.error
    sock.send(f"GET {path} HTTP/1.0\r\nHost: {INTERNET}\r\n\r\n".encode())
    response = read_all(sock, lab)
    sock.close()
    return response.partition(b"\r\n\r\n")[2]


def test_guest_fetches_8_mib_from_the_internet_exact(internet: tuple[NetNs, bytes]) -> None:
    ns, body = internet

    def inside() -> bytes:
        with make_lab(max_flows=8) as lab:
            return http_get(lab, "/big.bin")

    got = ns.call(inside)
    assert hashlib.sha256(got).digest() == hashlib.sha256(body).digest()


def test_guest_resolves_through_dnsmasq(internet: tuple[NetNs, bytes]) -> None:
    ns, _ = internet
    if not shutil.which("dnsmasq"):
        pytest.skip("needs dnsmasq (Debian dnsmasq-base)")

    def inside() -> tuple[dns.Message, dns.Message]:
        with make_lab(upstream=INTERNET) as lab:
            return ask_dns(lab, "retro.example"), ask_dns(lab, "nothing.example")

    found, missing = ns.call(inside)
    assert [r.address for r in found.answers] == [ip_from_str("198.51.100.7")]
    assert missing.rcode == dns.NXDOMAIN


@pytest.mark.parametrize("allowed", [True, False], ids=["icmp-sockets-allowed", "not-allowed"])
def test_ping_through_unprivileged_icmp_sockets(internet: tuple[NetNs, bytes], allowed: bool) -> None:
    ns, _ = internet
    ns.run("sysctl", "-w", f"net.ipv4.ping_group_range={'0 2147483647' if allowed else '1 0'}")

    def inside() -> tuple[list[int], int, int]:
        with make_lab() as lab:
            replies: list[int] = []
            lab.guest.icmp.echo_listeners[0x77] = lambda src, seq, data, now: replies.append(seq)
            errors_before = lab.guest.icmp.counters.errors_received
            for seq in range(3):
                lab.guest.icmp.send_echo(ip_from_str(INTERNET), 0x77, seq, b"ping", 0)
            lab.until(lambda: len(replies) == 3 or lab.guest.icmp.counters.errors_received - errors_before >= 3,
                      "answers")
            return replies, lab.guest.icmp.counters.errors_received - errors_before, \
                lab.gateway.datagrams.counters.icmp_not_permitted

    replies, errors, not_permitted = ns.call(inside)
    if allowed:
        assert sorted(replies) == [0, 1, 2]
    else:
        assert replies == [] and errors >= 1 and not_permitted >= 1


def test_an_unreachable_destination_is_icmp_unreachable_at_the_guest(internet: tuple[NetNs, bytes]) -> None:
    """The namespace has no route to 203.0.113.9: the host's connect() fails at once, and the guest's SYN
    is answered with ICMP host unreachable, which its TCP reports as no route (RFC 1122 4.2.3.9)."""
    ns, _ = internet

    def inside() -> tuple[str | None, int]:
        with make_lab() as lab:
            sock = lab.guest.tcp.connect(ip_from_str("203.0.113.9"), 80)
            lab.until(lambda: sock.error is not None, "the connection fails")
            return sock.error, lab.gateway.tcp.counters.unreachable

    error, unreachable = ns.call(inside)
    assert error == "no route" and unreachable == 1
