"""Throughput through mtcp-nat's gateway, flows opened per second, and idle CPU with open idle flows
(not a test; figures go in the session note).

    python bench/bench_nat.py [--mib 32] [--flows 100]

The gateway and our stack as its guest run in this process on a hub (the guest's side of mtcp-nat); the
"internet" is a TCP server on 198.51.100.1, the loopback of a private namespace (needs root), which the
gateway reaches through host sockets. Measured: the guest downloading and uploading --mib MiB, connections
opened and closed per second, and the process's CPU over two seconds with --flows idle flows open.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import socket
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mtcp_py.apps.nat import Gateway, Plan  # noqa: E402
from mtcp_py.runtime import turn  # noqa: E402
from mtcp_py.stack import Stack, StackConfig  # noqa: E402
from mtcp_py.tcp import TcpConfig, TcpSocket  # noqa: E402
from mtcp_py.wire import ip_from_str  # noqa: E402
from pktdrv import MonotonicTicks, open_link  # noqa: E402
from tests.netns import private_netns  # noqa: E402

INTERNET = "198.51.100.1"


def serve_transfers(listener: socket.socket, size: int) -> None:
    """Serve each connection on `listener` by its 8-byte command: DOWNLOAD sends `size` bytes, UPLOAD__
    takes bytes to the end and answers K, anything else is an idle flow. The server never closes first:
    it waits for the client's end (the passt here turns a server's close into a reset). Commands are 8
    bytes because that passt ignores a first data segment of one byte, as if it were a keep-alive probe."""

    def serve(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            command = conn.recv(8)
            if command == b"DOWNLOAD":
                block = bytes(65536)
                left = size
                while left:
                    left -= conn.send(block[: min(left, len(block))])
            elif command == b"UPLOAD__":
                while conn.recv(1 << 18):
                    pass
                conn.sendall(b"K")
            conn.recv(1)  # until the client ends it

    def run() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=run, daemon=True).start()


def measure(size: int, flows: int) -> None:
    listener = socket.create_server((INTERNET, 9000), backlog=256)
    serve_transfers(listener, size)
    hub = "benchnat"
    clock = MonotonicTicks()
    plan = Plan.from_cidr("10.0.2.0/24")
    stack = Stack(open_link(f"hub:{hub}", clock),
                  StackConfig(plan.gateway, tcp=TcpConfig(max_sockets=flows * 2 + 16, tx_buffers=512)),
                  clock).init_stack()
    gateway = Gateway(stack, plan, None, False, flows + 8)
    guest = Stack(open_link(f"hub:{hub}", clock), StackConfig(plan.guest, gateway=plan.gateway,
                  tcp=TcpConfig(max_sockets=flows + 16, tx_buffers=512)), clock).init_stack()

    def step(longest: float = 0.001) -> None:
        gateway.step({}, longest)
        turn(guest)

    def connect(command: bytes) -> TcpSocket:
        sock = guest.tcp.connect(ip_from_str(INTERNET), 9000)
        while not sock.is_connected:
            step()
        sock.send(command)
        return sock

    sock = connect(b"DOWNLOAD")
    start, got = time.perf_counter(), 0
    while got < size:
        step()
        while chunk := sock.recv():
            got += len(chunk)
    print(f"download {size >> 20} MiB through the gateway: {got / (time.perf_counter() - start) / 1e6:6.1f} MB/s")
    sock.close()
    sock = connect(b"UPLOAD__")
    data, sent, start = bytes(size), 0, time.perf_counter()
    while sent < size:
        sent += sock.send(memoryview(data)[sent:])
        step()
    sock.close()
    while not sock.at_eof:
        step()
        sock.recv()
    print(f"upload   {size >> 20} MiB through the gateway: {size / (time.perf_counter() - start) / 1e6:6.1f} MB/s")
    start, opened = time.perf_counter(), 0
    while time.perf_counter() - start < 3:
        sock = connect(b"IDLE____")
        sock.close()
        while not sock.is_closed:
            step()
        opened += 1
    print(f"flows opened and closed: {opened / (time.perf_counter() - start):6.0f} per second")
    idle = [connect(b"IDLE____") for _ in range(flows)]
    for _ in range(200):
        step()
    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    while time.perf_counter() - start < 2:
        step(1.0)  # as the program waits: on the hub (no descriptor) at most 5 ms
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / (time.perf_counter() - start)
    print(f"idle CPU with {len(idle)} open idle flows: {cpu * 100:5.1f}% of a core")
    gateway.close()
    guest.end_stack()
    stack.end_stack()
    listener.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=32)
    parser.add_argument("--flows", type=int, default=100)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (a private network namespace)")
    with private_netns() as ns:
        ns.run("ip", "addr", "add", f"{INTERNET}/32", "dev", "lo")
        ns.call(lambda: measure(args.mib << 20, args.flows))


if __name__ == "__main__":
    main()
