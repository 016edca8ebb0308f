"""Throughput through mtcp-nat beside passt, our stack as the guest of each over a Unix stream socket in
QEMU's format (not a test; figures go in the session note).

    python bench/bench_nat_vs_passt.py [--mib 32]

In a private namespace (needs root) a TCP server on 127.0.0.1 sends --mib MiB ("download") or takes them
("upload"). The guest, our stack on `qemu-stream:unix:`, reaches it at the gateway 10.0.2.2, which both
mtcp-nat and passt map to the host's loopback. mtcp-nat runs as its command; passt (Debian `passt`) as
`passt -f -s SOCKET`, copying the namespace's TAP device as its template. Same guest code for both.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_nat import serve_transfers  # noqa: E402

from mtcp_py.blocking import connect  # noqa: E402
from mtcp_py.runtime import run_until  # noqa: E402
from mtcp_py.stack import Stack, StackConfig  # noqa: E402
from mtcp_py.tcp import TcpConfig  # noqa: E402
from mtcp_py.wire import ip_from_str  # noqa: E402
from pktdrv import MonotonicTicks, open_link  # noqa: E402
from tests.netns import NetNs, private_netns  # noqa: E402


def server(ns: NetNs, size: int) -> int:
    """bench_nat's transfer server on the namespace's 127.0.0.1 (the gateway 10.0.2.2 of both); its port."""
    listener = ns.call(lambda: socket.create_server(("127.0.0.1", 0), backlog=8))
    serve_transfers(listener, size)
    return int(listener.getsockname()[1])


def transfer(ns: NetNs, sock_path: str, address: str, port: int, size: int) -> tuple[float, float]:
    def inside() -> tuple[float, float]:
        clock = MonotonicTicks()
        stack = Stack(open_link(f"qemu-stream:unix:{sock_path}", clock),
                      StackConfig(ip_from_str(address), gateway=ip_from_str("10.0.2.2")), clock).init_stack()
        try:
            stream = connect(stack, "10.0.2.2", port, timeout=20)
            stream.send_all(b"DOWNLOAD")
            start, got = time.perf_counter(), 0
            while got < size:
                got += len(stream.recv(1 << 20, timeout=30))
            down = size / (time.perf_counter() - start) / 1e6
            stream.abort()
            stream = connect(stack, "10.0.2.2", port, timeout=20)
            start = time.perf_counter()
            stream.send_all(b"UPLOAD__" + bytes(size), timeout=120)
            stream.shutdown()
            stream.recv_exactly(1, timeout=60)
            up = size / (time.perf_counter() - start) / 1e6
            stream.abort()
            return down, up
        finally:
            stack.end_stack()

    return ns.call(inside)


def idle_cpu(ns: NetNs, sock_path: str, port: int, nat_pid: int, flows: int) -> float:
    """mtcp-nat's own CPU share (from /proc) over three seconds while `flows` guest connections sit idle."""
    def inside() -> float:
        clock = MonotonicTicks()
        stack = Stack(open_link(f"qemu-stream:unix:{sock_path}", clock),
                      StackConfig(ip_from_str("10.0.2.15"), gateway=ip_from_str("10.0.2.2"),
                                  tcp=TcpConfig(max_sockets=flows + 8)), clock).init_stack()
        try:
            streams = [connect(stack, "10.0.2.2", port, timeout=20) for _ in range(flows)]
            for stream in streams:
                stream.send_all(b"IDLE____")
            run_until(stack, lambda: False, 1.0)  # settle: every ACK exchanged
            before, start = process_cpu(nat_pid), time.monotonic()
            run_until(stack, lambda: False, 3.0)
            return (process_cpu(nat_pid) - before) / (time.monotonic() - start)
        finally:
            stack.end_stack()

    return ns.call(inside)


def process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_for_socket(path: str) -> None:
    deadline = time.monotonic() + 20
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise SystemExit(f"{path} never appeared")
        time.sleep(0.01)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=32)
    parser.add_argument("--flows", type=int, default=100)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (a private network namespace)")
    size = args.mib << 20
    with private_netns() as ns, tempfile.TemporaryDirectory() as folder:
        os.chmod(folder, 0o1777)
        port = server(ns, size)
        path = os.path.join(folder, "nat.sock")
        nat = ns.popen("setpriv", "--bounding-set=-all", sys.executable, "-m", "mtcp_py.apps.nat", "--guest",
                       f"qemu-stream:unix:{path}?listen=1", "--max-flows", str(args.flows + 8),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_socket(path)
            down, up = transfer(ns, path, "10.0.2.15", port, size)
            print(f"mtcp-nat: download {down:6.1f} MB/s, upload {up:6.1f} MB/s ({args.mib} MiB)")
            share = idle_cpu(ns, path, port, nat.pid, args.flows)
            print(f"mtcp-nat: {share * 100:4.1f}% of a core with {args.flows} idle flows open (over the socket)")
        finally:
            nat.terminate()
            nat.wait(10)
        if shutil.which("passt") is None:
            print("passt: not installed (Debian package passt)")
            return
        ns.run("ip", "route", "add", "default", "via", "10.0.2.2", "dev", "mtap0")
        path = os.path.join(folder, "passt.sock")
        passt = ns.popen("passt", "-f", "-e", "-s", path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_socket(path)
            down, up = transfer(ns, path, "10.0.2.1", port, size)  # passt gives the guest the template's address
            print(f"passt:    download {down:6.1f} MB/s, upload {up:6.1f} MB/s ({args.mib} MiB)")
        finally:
            passt.terminate()
            passt.wait(10)


if __name__ == "__main__":
    main()
