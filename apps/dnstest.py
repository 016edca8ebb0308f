"""mtcp-dnstest: mTCP's DNSTEST. Resolves one name with the stack's resolver and says how long it took.

    mtcp-dnstest -name NAME [-norecurse] [-timeout N] [-verbose]

As DNSTEST: the query asks for recursion unless -norecurse (then referrals are followed from server to
server); -timeout N gives up after N seconds (default 10); -verbose prints every message sent and received.
The answer and the time go to stdout; a name that cannot be resolved is one line on stderr ("mtcp-dnstest:
NAME: no such host (NXDOMAIN)"). Exit status 0 when the name resolved, 1 when it did not, 2 for a bad command
line or configuration, 130 after Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import sys

from mtcp_py.dns import Lookup
from mtcp_py.runtime import run_until
from mtcp_py.wire import ip_to_str
from pktdrv.clock import TICK_SECONDS

from .common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    app_stack,
    host_argument,
    load,
    make_parser,
    terminate_as_interrupt,
    whole_number,
)

PROG = "mtcp-dnstest"
DEFAULT_TIMEOUT = 10
"""Seconds, as DNSTEST's default."""


def show_exchanges(lookup: Lookup, started_tick: int) -> None:
    for exchange in lookup.exchanges:
        at = (exchange.tick - started_tick) * TICK_SECONDS
        lines = exchange.describe()
        print(f"[{at:7.3f} s] {lines[0]}")
        for line in lines[1:]:
            print(f"            {line}")
    if lookup.exchanges_not_kept:
        print(f"({lookup.exchanges_not_kept} more not kept)")
    print()


def main(argv: list[str] | None = None) -> int:
    parser = make_parser(PROG, "Resolve a machine name to an IP address (mTCP DNSTEST).")
    parser.add_argument("-name", "--name", required=True, metavar="NAME", help="the machine name to resolve")
    parser.add_argument("-norecurse", "--norecurse", action="store_true",
                        help="do not request a recursive lookup (follow referrals instead)")
    parser.add_argument("-timeout", "--timeout", default=str(DEFAULT_TIMEOUT), metavar="N",
                        help=f"give up after N seconds (default {DEFAULT_TIMEOUT})")
    parser.add_argument("-verbose", "--verbose", action="store_true", help="show the messages exchanged")
    args = parser.parse_args(argv)
    timeout = whole_number(PROG, "-timeout", args.timeout, 1, what="seconds")
    host_argument(PROG, args.name)
    config = load(PROG, args.config)
    with terminate_as_interrupt(), app_stack(PROG, config, args.link) as stack:
        if args.verbose:
            print(f"{PROG}: {stack.describe()}", file=sys.stderr)
        print(f"Timeout set to {timeout} seconds, DNS Recursion = {'off' if args.norecurse else 'on'}\n")
        clock = stack.clock
        started = clock.seconds()
        started_tick = clock.now()
        lookup = stack.dns.start(args.name, started_tick, not args.norecurse, max(1, round(timeout / TICK_SECONDS)))
        try:
            run_until(stack, lambda: lookup.done)
        except KeyboardInterrupt:
            stack.dns.cancel(lookup, clock.now())
            print(f"{PROG}: interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED
        elapsed = clock.seconds() - started
        if args.verbose:
            show_exchanges(lookup, started_tick)
        if lookup.address is None:
            print(f"{PROG}: {args.name}: {lookup.error or 'not resolved'}", file=sys.stderr)
            return EXIT_FAILED
        if lookup.cname_chain:
            print(f"Machine name {args.name} is an alias of {' -> '.join(lookup.cname_chain)}")
        print(f"Machine name {args.name} resolved to {ip_to_str(lookup.address)}")
        if len(lookup.addresses) > 1:
            print(f"Other addresses: {', '.join(ip_to_str(a) for a in lookup.addresses[1:])}")
        print(f"Elapsed time in seconds: {elapsed:.3f}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
