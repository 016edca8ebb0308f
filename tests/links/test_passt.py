"""The stack on `qemu-stream:unix:` to passt (Debian `passt`), the real peer that speaks QEMU's stream
format, in a private network namespace.

passt copies its template interface (the namespace's TAP device, 10.0.2.1/24 with a default route via
10.0.2.2): it gives the guest 10.0.2.1 (by DHCP; here the address is set statically, as the DHCP client
is another piece of work) and maps the gateway address to the namespace's own loopback, so a TCP server on
the namespace's 127.0.0.1 is reached at 10.0.2.2. Started as root, passt drops to `nobody` before it makes
its socket, so the socket's folder is world-writable. Skipped with a reason when passt or root is missing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mtcp_py.blocking import connect
from mtcp_py.dhcp import DhcpClient
from mtcp_py.runtime import run_until
from mtcp_py.stack import Stack, StackConfig
from mtcp_py.wire import ip_from_str
from pktdrv import MonotonicTicks, open_link
from pktdrv.links import LinkWrapper
from pktdrv.links.qemu import QemuStreamLink
from tests.links.linkutil import serve_one
from tests.netns import NetNs, need_root, private_netns

pytestmark = pytest.mark.real
GUEST_IP = "10.0.2.1"
"""What passt gives the guest: the template interface's own address."""
GATEWAY_IP = "10.0.2.2"
KiB = 1024


@dataclass
class Passt:
    ns: NetNs
    socket_path: str
    process: subprocess.Popen[bytes]


@pytest.fixture
def passt() -> Iterator[Passt]:
    need_root()
    if shutil.which("passt") is None:
        pytest.skip("needs passt (Debian package passt)")
    with private_netns() as ns:
        ns.run("ip", "route", "add", "default", "via", GATEWAY_IP, "dev", "mtap0")
        folder = tempfile.mkdtemp(prefix="mtcp-passt-", dir="/tmp")
        os.chmod(folder, 0o1777)
        path = os.path.join(folder, "passt.sock")
        process = ns.popen("passt", "-f", "-e", "-s", path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert process.stderr is not None
        banner = b""
        try:
            # passt says where its socket is once it is bound: wait for that line (its own time-out).
            while b"UNIX domain socket bound" not in banner:
                line = process.stderr.readline()
                if not line:
                    pytest.fail(f"passt exited before binding its socket: {banner.decode(errors='replace')}")
                banner += line
            threading.Thread(target=process.stderr.read, daemon=True).start()  # keep its pipe from filling
            yield Passt(ns, path, process)
        finally:
            process.terminate()
            process.wait(10)
            shutil.rmtree(folder, ignore_errors=True)


def test_stack_over_passt_tcp_64_kib_each_way_exact(passt: Passt, tmp_path: Path) -> None:
    server = passt.ns.call(lambda: socket.create_server(("127.0.0.1", 0)))
    port = server.getsockname()[1]
    upload = os.urandom(64 * KiB)
    download = os.urandom(64 * KiB)
    thread, received = serve_one(server, len(upload), download)
    clock = MonotonicTicks()
    link = open_link(f"qemu-stream:unix:{passt.socket_path}?pcap={tmp_path / 'passt.pcap'}", clock)
    stack = Stack(link, StackConfig(ip_from_str(GUEST_IP), gateway=ip_from_str(GATEWAY_IP)), clock).init_stack()
    try:
        stream = connect(stack, GATEWAY_IP, port, timeout=20)
        stream.send_all(upload, timeout=20)
        got = stream.recv_exactly(len(download), timeout=20)
        thread.join(30)
        assert received == [upload]
        assert got == download
        stream.abort()  # (this passt answers the server's close with a reset, not a FIN: not ours to test)
        inner = link.inner if isinstance(link, LinkWrapper) else link
        assert isinstance(inner, QemuStreamLink)
        counters = inner.deframer.counters
        assert counters.frames > 40 and counters.bad_lengths == counters.oversize == counters.runts == 0
        assert stack.counters()["stack"]["internal_errors"] == 0
    finally:
        stack.end_stack()
        server.close()


def test_a_one_byte_request_and_a_download_larger_than_the_window(passt: Passt) -> None:
    """Regression: frames on the stream link were padded to 60 bytes as on a wire, and passt reads a TCP
    segment's length from the frame, so it took our padded pure ACKs and our one-byte request for other
    data: the request never arrived, and a download larger than one window stalled until passt reset it."""
    server = passt.ns.call(lambda: socket.create_server(("127.0.0.1", 0)))
    port = server.getsockname()[1]
    download = os.urandom(2 << 20)
    asked: list[bytes] = []

    def namespace_server() -> None:
        server.settimeout(30)
        conn, _ = server.accept()
        conn.settimeout(30)
        with conn, contextlib.suppress(OSError):  # the guest's abort ends it with a reset
            asked.append(conn.recv(10))
            conn.sendall(download)
            conn.recv(1)

    thread = threading.Thread(target=namespace_server)
    thread.start()
    clock = MonotonicTicks()
    stack = Stack(open_link(f"qemu-stream:unix:{passt.socket_path}", clock),
                  StackConfig(ip_from_str(GUEST_IP), gateway=ip_from_str(GATEWAY_IP)), clock).init_stack()
    try:
        stream = connect(stack, GATEWAY_IP, port, timeout=20)
        stream.send_all(b"D", timeout=20)
        got = stream.recv_exactly(len(download), timeout=30)
        assert asked == [b"D"]
        assert got == download
        stream.abort()
        thread.join(30)
    finally:
        stack.end_stack()
        server.close()


def test_the_stack_gets_its_address_from_passts_dhcp_then_reaches_its_namespace(passt: Passt) -> None:
    """Our DHCP client (mtcp-dhcp's) against passt's DHCP server, then TCP to the namespace's loopback."""
    server = passt.ns.call(lambda: socket.create_server(("127.0.0.1", 0)))
    port = server.getsockname()[1]

    def namespace_server() -> None:
        server.settimeout(30)
        conn, _ = server.accept()
        with conn, contextlib.suppress(OSError):  # our abort ends it with a reset
            conn.sendall(b"hello over passt")
            conn.recv(1)

    thread = threading.Thread(target=namespace_server)
    thread.start()
    clock = MonotonicTicks()
    stack = Stack(open_link(f"qemu-stream:unix:{passt.socket_path}", clock),
                  StackConfig(0, no_address=True, tcp_enabled=False), clock).init_stack()
    try:
        client = DhcpClient(stack.udp, stack.mac, attempts=1, attempt_seconds=10)
        stack.add_layer(client)
        client.start(clock.now())
        assert run_until(stack, lambda: client.done, 20)
        lease = client.lease
        assert lease is not None, client.result
        # passt gives the guest its template interface's address and gateway (the namespace's TAP device).
        assert (lease.address, lease.gateway) == (ip_from_str(GUEST_IP), ip_from_str(GATEWAY_IP))
    finally:
        stack.end_stack()
    stack = Stack(open_link(f"qemu-stream:unix:{passt.socket_path}", clock),
                  StackConfig(lease.address, netmask=lease.netmask, gateway=lease.gateway), clock).init_stack()
    try:
        stream = connect(stack, GATEWAY_IP, port, timeout=20)
        assert stream.recv_exactly(16, timeout=20) == b"hello over passt"
        stream.abort()
        thread.join(30)
    finally:
        stack.end_stack()
        server.close()
