"""mtcp-demo: two stacks on an in-memory hub, no root, no configuration.

Stack A (10.0.2.15) pings stack B (10.0.2.1), then moves data to it over TCP, and prints what crossed
the hub. It is the quickest way to see the whole path work: link -> packet driver -> buffer ring ->
protocol dispatch -> socket -> application, and back down.
"""

from __future__ import annotations

import argparse
import sys

from rich.console import Console
from rich.table import Table

from mtcp_py.runtime import run_until
from mtcp_py.stack import Stack, StackConfig
from mtcp_py.wire import ip_from_str
from pktdrv import MonotonicTicks, open_link
from pktdrv.links import LinkSpecError, parse_link

from .common import EXIT_USAGE, fail, terminate_as_interrupt, whole_number
from .demo_tcp import transfer
from .ping import PingSession

PROG = "mtcp-demo"

A_IP, B_IP = "10.0.2.15", "10.0.2.1"


def counters_table(stacks: dict[str, Stack]) -> Table:
    table = Table(title="What crossed the hub", show_lines=False)
    table.add_column("counter")
    for name in stacks:
        table.add_column(name, justify="right")
    rows = [("driver", "packets_in"), ("driver", "packets_out"), ("driver", "bytes_in"), ("driver", "bytes_out"),
            ("driver", "packets_lost"), ("arp", "requests_sent"), ("arp", "replies_sent"),
            ("ip", "received"), ("ip", "sent"), ("icmp", "echo_requests_sent"), ("icmp", "echo_replies_sent"),
            ("buffers", "low_free")]
    if all(s.tcp_layer is not None for s in stacks.values()):
        rows += [("tcp", name) for name in ("segments_received", "segments_sent", "retransmits")]
    tables = {name: s.counters() for name, s in stacks.items()}
    for layer, key in rows:
        values = [str(tables[name].get(layer, {}).get(key, "-")) for name in stacks]
        table.add_row(f"{layer}.{key}", *values)
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("--count", default="4", metavar="N", help="echo requests (default 4)")
    parser.add_argument("--size", default="56", metavar="N", help="echo payload bytes (default 56)")
    parser.add_argument("--bytes", default=str(4 << 20), metavar="N", help="TCP transfer size (default 4 MiB)")
    parser.add_argument("--link-params", default="", help="wrappers for both links, e.g. drop=0.02&seed=1")
    args = parser.parse_args(argv)
    args.count = whole_number(PROG, "--count", args.count, 0, what="echo requests")
    args.size = whole_number(PROG, "--size", args.size, 0, 65_507, what="payload bytes")
    args.bytes = whole_number(PROG, "--bytes", args.bytes, 0, what="bytes to transfer")
    console = Console()
    clock = MonotonicTicks()
    query = f"?{args.link_params}" if args.link_params else ""
    try:
        parse_link(f"hub:demo{query}")
    except LinkSpecError as exc:
        fail(PROG, f"--link-params: {exc.reason}", EXIT_USAGE)
    stack_a = Stack(open_link(f"hub:demo{query}", clock), StackConfig(ip_from_str(A_IP)), clock)
    stack_b = Stack(open_link(f"hub:demo{query}", clock), StackConfig(ip_from_str(B_IP)), clock)
    with terminate_as_interrupt(), stack_a, stack_b:
        console.print(f"[bold]A[/] {stack_a.describe()}\n[bold]B[/] {stack_b.describe()}")
        session = PingSession(stack_a, ip_from_str(B_IP), args.size)
        for seq in range(args.count):
            session.send(seq)
            got = run_until([stack_a, stack_b], lambda s=seq: s in session.rtts, 1.0)  # type: ignore[misc]
            line = f"{session.rtts[seq]:.3f} ms" if got else "timeout"
            console.print(f"  echo {seq}: {line}")
        session.close()
        replies = len(session.rtts)
        ok = replies == args.count
        if stack_a.tcp_layer is not None and args.bytes:
            ok = transfer(console, stack_a, stack_b, B_IP, args.bytes) and ok
        console.print(counters_table({"A": stack_a, "B": stack_b}))
        console.print(f"[{'green' if ok else 'red'}]ping: {replies}/{args.count} replies[/]")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
