"""UDP echo round trips per second with the kernel over TAP (not a test; figures go in the session note).

    python bench/bench_udp.py [--seconds 5] [--size 64]

mtcp-servers runs as a user runs it, in a private namespace (needs root); a kernel UDP socket there sends a
datagram to its echo port and waits for it to come back, one at a time, for the given time. Prints round
trips per second and the median round trip, for a small and a fragmented (8 KiB) datagram.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.netns import KERNEL_IP, STACK_IP, private_netns  # noqa: E402


def round_trips(sock: socket.socket, size: int, seconds: float) -> tuple[float, float]:
    data = os.urandom(size)
    times: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        start = time.perf_counter()
        sock.send(data)
        while sock.recv(65_536) != data:
            pass
        times.append(time.perf_counter() - start)
    return len(times) / seconds, statistics.median(times) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (a private network namespace and a TAP device)")
    with tempfile.TemporaryDirectory() as tmp, private_netns() as ns:
        config = Path(tmp) / "mtcp.cfg"
        config.write_text(f"LINK tap:mtap0\nIPADDR {STACK_IP}\nNETMASK 255.255.255.0\nGATEWAY {KERNEL_IP}\n")
        proc = ns.popen(sys.executable, "-m", "mtcp_py.apps.servers", env=dict(os.environ, MTCPCFG=str(config)),
                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            assert proc.stderr is not None
            while b"mtcp-servers:" not in proc.stderr.readline():
                pass

            def make() -> socket.socket:
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sock.settimeout(5)
                sock.connect((STACK_IP, 7))
                return sock

            sock = ns.call(make)
            round_trips(sock, args.size, 0.5)  # ARP, caches warm
            for size in (args.size, 8192):
                rate, median = round_trips(sock, size, args.seconds)
                print(f"UDP echo {size:5d} bytes: {rate:8.0f} round trips/s, median {median:6.0f} us")
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
