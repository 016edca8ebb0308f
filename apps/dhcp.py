"""mtcp-dhcp: mTCP's DHCP. Gets an address from a DHCP server and writes it into the configuration file.

    mtcp-dhcp [-retries N] [-timeout N] [-packetstats] [--config FILE] [--link LINK]

The stack starts with no address (it sends from 0.0.0.0 and takes the server's answers whether broadcast
or sent to the offered address), tries `-retries` times (default 3) for `-timeout` seconds each (default
10), and on an ACK writes IPADDR, NETMASK, GATEWAY, NAMESERVER and LEASE_TIME, with DHCPVER and TIMESTAMP,
into the file MTCPCFG or --config names, as DHCP.EXE writes them, every other line kept as it was (see
mtcp_py.cfgfile). The old values of those keys are not read, since they are what a run is to mend (DHCP.EXE
reads only PACKETINT, HOSTNAME and MTU); the rest of the file is checked as every program checks it. The
settings go to stdout, progress to stderr.

Exit status 0 with the lease written; 1 when no lease was had (no offer, NAK, timeout; the line says
which) or it could not be written, and the file is then untouched, so a script can test it as a batch file
tests DHCP.EXE with ERRORLEVEL; 2 for a bad command line or configuration; 130 after Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import importlib.metadata
import random
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.table import Table

from mtcp_py import cfgfile
from mtcp_py.config import ConfigError, MtcpConfig, parse_config
from mtcp_py.dhcp import INFINITE, DhcpClient, Lease
from mtcp_py.runtime import run_until
from mtcp_py.stack import Stack
from mtcp_py.wire import ip_to_str
from pktdrv import Clock
from pktdrv.links import format_mac
from pktdrv.mtcpcfg import cfg_path

from .common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    app_stack,
    fail,
    make_parser,
    stats_table,
    stderr_console,
    terminate_as_interrupt,
    whole_number,
)

PROG = "mtcp-dhcp"
MOST_TIMEOUT = 120
"""DHCP.EXE's limit for -timeout. Its least, 5 s, is for slow DOS hardware; here a second is allowed."""


def client_version() -> str:
    try:
        return f"mtcp-py {importlib.metadata.version('mtcp-py')}"
    except importlib.metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "mtcp-py"


def note(text: str) -> None:
    print(f"{PROG}: {text}", file=sys.stderr, flush=True)


def dhcp_table(client: DhcpClient) -> Table:
    table = Table(title="DHCP")
    table.add_column("counter")
    table.add_column("value", justify="right")
    for key, value in asdict(client.counters).items():
        if isinstance(value, dict):
            for reason, count in value.items():
                table.add_row(f"{key}: {reason}", str(count))
        elif value:
            table.add_row(key, str(value))
    return table


def link_hint(stack: Stack) -> str:
    """What the frame counters say about a conversation that got nowhere (mTCP's DHCP gives the same)."""
    eth = stack.eth
    if eth.sent == 0 and eth.send_errors:
        return f" (the link refused every frame we sent: check {stack.driver.link.spec})"
    if eth.frames == 0:
        return f" (no frame at all was seen on {stack.driver.link.spec}: check LINK and the network)"
    return ""


def print_lease(lease: Lease) -> None:
    out = sys.stdout
    print(f"IPADDR = {ip_to_str(lease.address)}", file=out)
    print(f"NETMASK = {ip_to_str(lease.netmask)}" + ("" if lease.netmask_given else " (the server sent none)"),
          file=out)
    print(f"GATEWAY = {ip_to_str(lease.gateway)}", file=out)
    print(f"NAMESERVER = {ip_to_str(lease.nameserver)}", file=out)
    seconds = lease.lease_seconds
    shown = "infinite" if seconds == INFINITE else "not given" if seconds is None else f"{seconds} seconds"
    print(f"LEASE_TIME = {shown}", file=out)
    if lease.domain_name:
        print(f"Domain name: {lease.domain_name}", file=out)
    if lease.host_name:
        print(f"Host name: {lease.host_name}", file=out)
    out.flush()


def main(argv: list[str] | None = None, clock: Clock | None = None, rng: random.Random | None = None,
         wall_clock: Callable[[], float] = time.time, poll_also: Sequence[Stack] = ()) -> int:
    """The program. For tests in one process: `clock` (a virtual one), `rng` (seeded transaction IDs),
    `wall_clock` (a fixed TIMESTAMP), `poll_also` (a server's stack on the same hub, polled with ours)."""
    parser = make_parser(PROG, "Get an address by DHCP and write it into the mTCP configuration file.")
    parser.add_argument("-retries", "--retries", default="3", metavar="N", help="attempts (default 3)")
    parser.add_argument("-timeout", "--timeout", default="10", metavar="N",
                        help="seconds for each attempt (default 10)")
    parser.add_argument("-packetstats", "--packetstats", action="store_true",
                        help="print the stack's counters at the end")
    args = parser.parse_args(argv)
    retries = whole_number(PROG, "-retries", args.retries, 1, 255, "attempts")
    timeout = whole_number(PROG, "-timeout", args.timeout, 1, MOST_TIMEOUT, "seconds")
    path = cfg_path(args.config)
    if path is None:
        fail(PROG, "no configuration file to write the lease into: set MTCPCFG or give --config", EXIT_USAGE)
    config = load_for_dhcp(path)
    progress = Progress()
    try:
        with terminate_as_interrupt():
            return run(config, path, args.link, retries, timeout, args.packetstats, progress, clock=clock, rng=rng,
                       wall_clock=wall_clock, poll_also=poll_also)
    except KeyboardInterrupt:
        note(f"interrupted: the lease was written to {path}" if progress.written else
             f"interrupted: {path} was not changed")
        return EXIT_INTERRUPTED


def load_for_dhcp(path: str) -> MtcpConfig:
    """The configuration without the keys the lease replaces, whose old values may well be wrong."""
    try:
        try:
            text = Path(path).read_text(encoding="latin-1")
        except OSError as exc:
            raise ConfigError(path, 0, "", f"cannot read: {exc.strerror or exc}") from None
        return parse_config(cfgfile.without_lease_keys(text), path)
    except ConfigError as exc:
        fail(PROG, str(exc), EXIT_USAGE)


@dataclass
class Progress:
    written: bool = False
    """The new file is in place (an interrupt after this point must not say the file was left alone)."""


def run(config: MtcpConfig, path: str, link: str | None, retries: int, timeout: int, packetstats: bool,
        progress: Progress, *, clock: Clock | None, rng: random.Random | None, wall_clock: Callable[[], float],
        poll_also: Sequence[Stack]) -> int:
    with app_stack(PROG, config, link, clock, ip=0, no_address=True, tcp_enabled=False) as stack:
        client = DhcpClient(stack.udp, stack.mac, hostname=config.hostname, attempts=retries,
                            attempt_seconds=timeout, rng=rng or random.SystemRandom(), report=note)
        stack.add_layer(client)
        note(f"{format_mac(stack.mac)} on {stack.driver.link.spec}: {retries} attempt(s) of {timeout} s")
        client.start(stack.clock.now())
        run_until([stack, *poll_also], lambda: client.done)
        if packetstats:
            console = stderr_console()
            console.print(stats_table(stack))
            console.print(dhcp_table(client))
        hint = link_hint(stack)
    result = client.result
    if not isinstance(result, Lease):
        fail(PROG, f"{result or 'stopped'}{hint if result else ''}; {path} was not changed", EXIT_FAILED)
    try:
        write_whole(path, result, wall_clock(), progress)
    except OSError as exc:
        fail(PROG, f"{path}: the lease could not be written: {exc.strerror or exc}; the file was not changed",
             EXIT_FAILED)
    print_lease(result)
    note(f"settings written to {path}")
    return EXIT_OK


def write_whole(path: str, lease: Lease, wall_time: float, progress: Progress) -> None:
    """Write the lease with Ctrl-C and SIGTERM held off, so that an interrupt comes before the new file is in
    place or after, and the program can say which."""
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        cfgfile.write_lease(path, lease, wall_time, client_version())
        progress.written = True
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


if __name__ == "__main__":
    sys.exit(main())
