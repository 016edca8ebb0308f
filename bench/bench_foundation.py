"""Foundation benchmark (not a test): per-frame cost on the hub, kernel ping RTT over TAP, checksum speed.

    python bench/bench_foundation.py [--skip-tap]

The TAP part needs root; it makes a private namespace and sends nothing outside it.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mtcp_py.checksum import checksum  # noqa: E402
from mtcp_py.runtime import turn  # noqa: E402
from mtcp_py.stack import Stack, StackConfig  # noqa: E402
from mtcp_py.wire import ip_from_str  # noqa: E402
from pktdrv import MonotonicTicks, VirtualClock, open_link  # noqa: E402


def bench_checksum() -> float:
    data = os.urandom(1480)
    rounds = 200_000
    start = time.perf_counter()
    for _ in range(rounds):
        checksum(data)
    return rounds * len(data) / (time.perf_counter() - start) / 1e6


def bench_hub_echo(count: int = 20_000) -> float:
    clock = VirtualClock()
    a = Stack(open_link("hub:bench", clock), StackConfig(ip_from_str("10.0.0.1")), clock).init_stack()
    b = Stack(open_link("hub:bench", clock), StackConfig(ip_from_str("10.0.0.2")), clock).init_stack()
    got = [0]
    a.icmp.echo_listeners[1] = lambda src, seq, data, now: got.__setitem__(0, got[0] + 1)
    target = ip_from_str("10.0.0.2")
    payload = bytes(56)
    a.icmp.send_echo(target, 1, 0, payload, 0)
    for _ in range(3):
        turn(a), turn(b)
    got[0] = 0
    start = time.perf_counter()
    for seq in range(count):
        a.icmp.send_echo(target, 1, seq & 0xFFFF, payload, 0)
        turn(b)
        turn(a)
    elapsed = time.perf_counter() - start
    assert got[0] == count, got
    a.end_stack()
    b.end_stack()
    return count / elapsed


def bench_tap_rtt() -> tuple[float, float] | None:
    if os.geteuid() != 0:
        return None
    from tests.netns import STACK_IP, StackThread, private_netns

    with private_netns() as ns:
        clock = MonotonicTicks()
        link = ns.call(lambda: open_link("tap:mtap0", clock))
        stack = Stack(link, StackConfig(ip_from_str(STACK_IP)), clock).init_stack()
        with StackThread(stack):
            out = ns.run("ping", "-c", "1000", "-i", "0.002", "-W", "1", STACK_IP, check=False, timeout=120).stdout
        stack.end_stack()
    times = sorted(float(t) for t in re.findall(r"time=([\d.]+) ms", out))
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-tap", action="store_true")
    args = parser.parse_args()
    print(f"checksum of 1480-byte payloads: {bench_checksum():.0f} MB/s")
    print(f"hub ICMP echo round trips (two stacks, one process): {bench_hub_echo():.0f} /s")
    if not args.skip_tap:
        rtt = bench_tap_rtt()
        if rtt is None:
            print("kernel->stack ping over TAP: skipped (needs root)")
        else:
            print(f"kernel->stack ping over TAP, 1000 echoes: median {rtt[0]:.3f} ms, p99 {rtt[1]:.3f} ms")


if __name__ == "__main__":
    main()
