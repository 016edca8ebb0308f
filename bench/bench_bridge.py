"""Frames per second through the learning switch between two TAP devices at MTU 1500 (not a test).

    python bench/bench_bridge.py [--seconds 5] [--mib 64]

Two private namespaces (needs root), each with a TAP device: the kernel in one is 10.0.2.1, in the other
10.0.2.2, and the only path between them is pktdrv.bridge, run here on the main line the way mtcp-bridge
runs it. Measured: a UDP flood of 1472-byte datagrams (frames the bridge forwarded per second) and a TCP
transfer with `nc` (MB/s).
"""

from __future__ import annotations

import argparse
import os
import select
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pktdrv import MonotonicTicks, open_link  # noqa: E402
from pktdrv.bridge import Bridge  # noqa: E402
from pktdrv.links import Link  # noqa: E402
from tests.netns import private_netns  # noqa: E402

BLAST = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
data = bytes(1472)
end = time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:
    for _ in range(64):
        try:
            s.sendto(data, ("10.0.2.2", 9))
        except OSError:
            pass
"""


def run_bridge(bridge: Bridge, stop: threading.Event) -> None:
    clock = MonotonicTicks()
    while not stop.is_set():
        if not bridge.turn(clock.seconds(), clock.now()):
            select.select(bridge.fds(), [], [], 0.05)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--mib", type=int, default=64)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (private network namespaces and TAP devices)")
    with private_netns(kernel_cidr="10.0.2.1/24") as left, private_netns(kernel_cidr="10.0.2.2/24") as right:
        links: list[Link] = [left.call(lambda: open_link("tap:mtap0")), right.call(lambda: open_link("tap:mtap0"))]
        bridge = Bridge()
        for link in links:
            bridge.add_port(link)
        stop = threading.Event()
        loop = threading.Thread(target=run_bridge, args=(bridge, stop))  # the bench's own line for the bridge
        loop.start()
        try:
            left.run("ping", "-c", "2", "-W", "5", "10.0.2.2")  # ARP both ways, the table learned
            before = bridge.ports[1].counters.tx_frames
            start = time.perf_counter()
            left.run(sys.executable, "-c", BLAST, str(args.seconds), timeout=args.seconds + 60)
            frames = bridge.ports[1].counters.tx_frames - before
            print(f"UDP 1472-byte flood: {frames / (time.perf_counter() - start):9.0f} frames/s forwarded")
            sink = right.popen("sh", "-c", "nc -l 10.0.2.2 7001 > /dev/null", stdin=subprocess.DEVNULL)
            right.run("sh", "-c", "for i in $(seq 200); do ss -ltn | grep -q ':7001' && exit 0; sleep 0.02; done")
            size = args.mib << 20
            start = time.perf_counter()
            left.run("sh", "-c", f"head -c {size} /dev/zero | nc -N 10.0.2.2 7001", timeout=600)
            sink.wait(timeout=600)
            print(f"TCP through the bridge: {size / (time.perf_counter() - start) / 1e6:7.1f} MB/s")
        finally:
            stop.set()
            loop.join()
            bridge.close()


if __name__ == "__main__":
    main()
