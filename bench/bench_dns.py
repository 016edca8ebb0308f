"""DNS benchmark (not a test): lookup time against dnsmasq over TAP, cold and cached.

    python bench/bench_dns.py [--runs 200]

dnsmasq answers on the kernel's side of a TAP device in a private namespace (the same set-up as
tests/real/test_dns_dnsmasq.py); the stack runs in this process. Figures, each the median of RUNS:
- first: the very first lookup (includes ARP for the nameserver), once;
- cold: a lookup with the resolver's cache emptied first: one query and its answer over UDP;
- cname: the same for a name behind two CNAMEs (dnsmasq puts the whole chain in one answer);
- tcp: a name whose answer is truncated over UDP, asked again over TCP (a handshake, the query, a close);
- cached: a lookup answered from the cache (no frame sent);
- kernel: for scale, a query from a Linux UDP socket in the namespace to the same dnsmasq.
Needs root and dnsmasq; nothing leaves the namespace.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mtcp_py.runtime import run_until  # noqa: E402
from mtcp_py.stack import Stack, StackConfig  # noqa: E402
from mtcp_py.wire import ip_from_str  # noqa: E402
from pktdrv import MonotonicTicks, open_link  # noqa: E402
from tests.netns import KERNEL_IP, STACK_IP, NetNs, private_netns  # noqa: E402
from tests.real.test_dns_dnsmasq import probe_query, running_dnsmasq  # noqa: E402


def start_stack(ns: NetNs) -> Stack:
    clock = MonotonicTicks()
    link = ns.call(lambda: open_link("tap:mtap0", clock))
    config = StackConfig(ip_from_str(STACK_IP), gateway=ip_from_str(KERNEL_IP), nameservers=(ip_from_str(KERNEL_IP),))
    return Stack(link, config, clock).init_stack()


def lookup_ms(stack: Stack, name: str) -> float:
    started = time.perf_counter()
    lookup = stack.dns.start(name, stack.clock.now())
    if not lookup.done:
        run_until(stack, lambda: lookup.done, 10)
    elapsed = (time.perf_counter() - started) * 1000.0
    if lookup.address is None:
        raise SystemExit(f"bench_dns: {name}: {lookup.error}")
    return elapsed


def median_ms(runs: int, one: Callable[[], float]) -> float:
    return statistics.median(one() for _ in range(runs))


def kernel_ms(ns: NetNs, runs: int) -> float:
    def measure() -> float:
        times = []
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(5)
            for _ in range(runs):
                started = time.perf_counter()
                sock.sendto(probe_query("peer.lan"), (KERNEL_IP, 53))
                sock.recv(512)
                times.append((time.perf_counter() - started) * 1000.0)
        return statistics.median(times)

    return ns.call(measure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    with private_netns() as ns, running_dnsmasq(ns):
        stack = start_stack(ns)
        try:
            first = lookup_ms(stack, "peer.lan")

            def cold(name: str) -> Callable[[], float]:
                def one() -> float:
                    stack.dns.cache.clear()
                    return lookup_ms(stack, name)
                return one

            figures = {
                "first (with ARP)": first,
                "cold (UDP)": median_ms(args.runs, cold("peer.lan")),
                "cold, 2 CNAMEs": median_ms(args.runs, cold("www.lan")),
                "cold, TC then TCP": median_ms(max(1, args.runs // 4), cold("big.lan")),
                "cached": median_ms(args.runs, lambda: lookup_ms(stack, "peer.lan")),
                "kernel UDP socket": kernel_ms(ns, args.runs),
            }
        finally:
            stack.end_stack()
    print(f"DNS lookup time against dnsmasq over TAP, median of {args.runs} (ms):")
    for label, value in figures.items():
        print(f"  {label:20s} {value:8.3f}")


if __name__ == "__main__":
    main()
