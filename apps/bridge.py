"""mtcp-bridge: a learning Ethernet switch between any links, optionally with our stack as one more host.

    mtcp-bridge LINK LINK [LINK...] [--stack CONFIG] [--pcap FILE] [--ageing SECONDS] [--stats]

Joins a DOSBox null-modem SLIP listener and a TAP device, a QEMU stream socket and 86Box's switch, two
TAP devices...: every link string the stack takes is a port. The MAC table learns and ages (300 s); per
port counters print as a table on exit with --stats, and at once on SIGUSR1. --pcap FILE records every
frame that comes into the switch, once. --stack CONFIG puts this project's stack on the bridge as one more
host, configured by an mTCP configuration file (its LINK is ignored), answering ping and ARP like any
mTCP program's stack. Runs until Ctrl-C or SIGTERM.

There is no spanning tree: do not build a loop of bridges. If one is built, frames stay bounded (each port
drains a budget per turn, every queue is bounded) and the counters show it (`moved`, floods, drops).
"""

from __future__ import annotations

import os
import select
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from types import FrameType

from rich.table import Table

from mtcp_py.runtime import turn
from mtcp_py.stack import Stack
from pktdrv import LinkError, MonotonicTicks, open_link
from pktdrv.bridge import Bridge, FrameTap
from pktdrv.clock import TICK_SECONDS
from pktdrv.links import HUBS, LinkSpecError, PcapWriter, parse_link

from .common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    app_stack,
    fail,
    load,
    make_parser,
    seconds,
    stats_table,
    stderr_console,
    terminate_as_interrupt,
)

PROG = "mtcp-bridge"
LONGEST_WAIT = 1.0


def port_table(bridge: Bridge) -> Table:
    table = Table(title=f"mtcp-bridge: {len(bridge.table)} stations known, learned {bridge.learned}, "
                        f"moved {bridge.moved}, aged {bridge.aged}")
    for column in ("port", "link", "rx frames", "rx bytes", "tx frames", "tx bytes", "flooded", "filtered",
                   "dropped", "state"):
        table.add_column(column, justify="left" if column in ("link", "state") else "right")
    for port in bridge.ports:
        c = port.counters
        dropped = c.runts + c.too_big + c.tx_errors
        table.add_row(str(port.index), port.link.spec, str(c.rx_frames), str(c.rx_bytes), str(c.tx_frames),
                      str(c.tx_bytes), str(c.flooded), str(c.filtered), str(dropped), port.failed or "up")
    return table


@contextmanager
def bridge_stack(config_path: str | None, bridge: Bridge) -> Iterator[Stack | None]:
    """Our stack on a hub of its own that is one more port of the bridge (--stack), or None."""
    if config_path is None:
        yield None
        return
    config = load(PROG, config_path)
    hub = f"mtcp-bridge-{os.getpid()}"
    bridge.add_port(open_link(f"hub:{hub}"))
    try:
        with app_stack(PROG, config, f"hub:{hub}") as stack:
            yield stack
    finally:
        HUBS.get(hub).ports.clear()


def main(argv: list[str] | None = None) -> int:
    parser = make_parser(PROG, "A learning Ethernet switch between links.")
    parser.add_argument("links", nargs="*", metavar="LINK", help="a link string per port (tap:, raw:, hub:...)")
    parser.add_argument("--stack", "-stack", metavar="CONFIG", help="also put our stack on the bridge, "
                        "configured by this mTCP configuration file")
    parser.add_argument("--pcap", "-pcap", metavar="FILE", help="record every frame that comes in")
    parser.add_argument("--ageing", "-ageing", default="300", metavar="SECONDS",
                        help="forget a station silent this long (default 300)")
    parser.add_argument("--stats", "-stats", action="store_true", help="print the port table on exit")
    args = parser.parse_args(argv)
    if len(args.links) + (1 if args.stack else 0) < 2:
        fail(PROG, "a bridge needs at least two ports: give two links, or a link and --stack CONFIG", EXIT_USAGE)
    for spec in args.links:
        try:
            parse_link(spec)
        except LinkSpecError as exc:
            fail(PROG, str(exc), EXIT_USAGE)
    ageing = seconds(PROG, "--ageing", args.ageing, zero=False)
    console = stderr_console()
    want_table = [False]

    def on_usr1(signum: int, frame: FrameType | None) -> None:
        want_table[0] = True

    previous_usr1 = signal.signal(signal.SIGUSR1, on_usr1)
    clock = MonotonicTicks()
    try:
        with ExitStack() as cleanup, terminate_as_interrupt():
            writer = None
            if args.pcap:
                try:
                    writer = PcapWriter(args.pcap)
                except LinkError as exc:
                    fail(PROG, str(exc))
                cleanup.callback(writer.close)
            bridge = Bridge(ageing=ageing, tap=pcap_tap(writer, clock) if writer is not None else None)
            cleanup.callback(bridge.close)
            for spec in args.links:
                try:
                    bridge.add_port(open_link(spec, clock))
                except LinkError as exc:
                    fail(PROG, str(exc))
                except OSError as exc:
                    fail(PROG, f"{spec}: {exc.strerror or exc}")
            stack = cleanup.enter_context(bridge_stack(args.stack, bridge))
            names = ", ".join(f"{p.index}: {p.link.spec}" for p in bridge.ports)
            host = f"; our stack {stack.describe()} on port {len(bridge.ports) - 1}" if stack is not None else ""
            try:
                print(f"{PROG}: ports {names}{host}", file=sys.stderr, flush=True)
                return run(bridge, stack, clock, want_table)
            except KeyboardInterrupt:
                print(f"{PROG}: stopping", file=sys.stderr)
                return EXIT_OK
            finally:
                if args.stats:
                    console.print(port_table(bridge))
                    if stack is not None:
                        console.print(stats_table(stack, "Our stack's counters"))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGUSR1, previous_usr1)


def pcap_tap(writer: PcapWriter, clock: MonotonicTicks) -> FrameTap:
    """Stamps in wall-clock time, for Wireshark: the clock's offset to the epoch read once, here at the edge."""
    offset = time.time() - clock.seconds()

    def record(now: float, frame: bytes) -> None:
        writer.write(offset + now, frame)

    return record


def run(bridge: Bridge, stack: Stack | None, clock: MonotonicTicks, want_table: list[bool]) -> int:
    failed_reported: set[int] = set()
    while True:
        moved = bridge.turn(clock.seconds(), clock.now())
        if stack is not None:
            moved += turn(stack)
        for port in bridge.ports:
            if port.failed and port.index not in failed_reported:
                failed_reported.add(port.index)
                print(f"{PROG}: port {port.index} ({port.link.spec}) stopped: {port.failed}", file=sys.stderr)
        if all(port.failed for port in bridge.ports):
            print(f"{PROG}: no port is working", file=sys.stderr)
            return EXIT_FAILED
        if want_table[0]:
            want_table[0] = False
            stderr_console().print(port_table(bridge))
        if moved:
            continue
        wait = LONGEST_WAIT
        expiry = bridge.next_expiry()
        if expiry is not None:
            wait = min(wait, max(0.0, expiry - clock.seconds()))
        deadlines = [d for d in (bridge.link_deadline(), stack.next_deadline() if stack else None) if d is not None]
        if deadlines:
            wait = min(wait, max(0.0, (min(deadlines) - clock.now()) * TICK_SECONDS))
        try:
            select.select(bridge.fds(), [], [], wait)
        except InterruptedError:
            pass


if __name__ == "__main__":
    sys.exit(main())
