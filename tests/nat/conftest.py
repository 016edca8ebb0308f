"""The "internet" the NAT tests reach: 198.51.100.1 (a documentation address) on a private namespace's
loopback, with an HTTP server (a random 8 MiB file, its first MiB and its first 16 KiB), an echo server and
dnsmasq bound to it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.netns import NetNs, private_netns

INTERNET = "198.51.100.1"
ECHO_SERVER = """
import socket, threading
server = socket.create_server(("198.51.100.1", 7), backlog=16)
def serve(conn):
    with conn:
        while data := conn.recv(65536):
            conn.sendall(data)
while True:
    conn, _ = server.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
"""


@pytest.fixture
def internet(tmp_path: Path) -> Iterator[tuple[NetNs, bytes]]:
    with private_netns() as ns:
        # This kernel has no dummy interfaces: the namespace's loopback holds the address instead.
        ns.run("ip", "addr", "add", f"{INTERNET}/32", "dev", "lo")
        body = os.urandom(8 << 20)
        (tmp_path / "big.bin").write_bytes(body)
        (tmp_path / "mib.bin").write_bytes(body[: 1 << 20])  # for the DOS programs, slower than the rest
        (tmp_path / "small.bin").write_bytes(body[: 16 << 10])  # for a DOS machine on a 115200-baud line
        servers = [ns.popen(sys.executable, "-m", "http.server", "--bind", INTERNET, "8080", "-d", str(tmp_path),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
                   ns.popen(sys.executable, "-c", ECHO_SERVER, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
        if shutil.which("dnsmasq"):
            servers.append(ns.popen("dnsmasq", "--no-daemon", "--no-resolv", "--no-hosts",
                                    f"--listen-address={INTERNET}", "--bind-interfaces", "--local=/example/",
                                    "--host-record=retro.example,198.51.100.7", "--pid-file=",
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        ready = "ss -ltn | grep -q ':8080' && ss -ltn | grep -q ':7 '" + \
            (" && ss -lun | grep -q ':53 '" if shutil.which("dnsmasq") else "")
        ns.run("sh", "-c", f"for i in $(seq 500); do {ready} && exit 0; sleep 0.01; done; exit 1")
        try:
            yield ns, body
        finally:
            for server in servers:
                server.terminate()
                server.wait(timeout=10)


