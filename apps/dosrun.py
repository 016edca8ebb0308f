"""mtcp-dosrun: real DOS packet-driver programs on the emulated packet driver (see docs/dosrun.md).

The machine and its command line live in `pktdrv.dos`, which knows nothing of the stack. This program
adds one thing only a program above both can: `--serve IP` puts a Python stack at IP on the same
in-memory hub as the DOS program, running the small services (echo 7, discard 9, chargen 19, daytime 13),
so real mTCP programs can talk to this project's TCP with nothing else running.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from mtcp_py.runtime import turn
from mtcp_py.stack import Stack, StackConfig
from mtcp_py.wire import ip_from_str
from pktdrv import MonotonicTicks, open_link
from pktdrv.clock import TICK_SECONDS
from pktdrv.dos.cli import USAGE_STATUS, Extension, error
from pktdrv.dos.cli import main as dosrun_main
from pktdrv.dos.machine import Companion

from .servers import DEFAULT_PORTS, Servers


class PythonPeer:
    """A stack running the small services, given a turn by the DOS machine between its CPU slices (a
    `Companion`: no thread of its own, so the stack is only ever touched from the machine's line)."""

    def __init__(self, link_spec: str, address: int) -> None:
        self.stack = Stack(open_link(link_spec), StackConfig(address), MonotonicTicks()).init_stack()
        self.servers = Servers(self.stack, dict(DEFAULT_PORTS))
        self.servers.start()

    def turn(self) -> float | None:
        stack, servers = self.stack, self.servers
        turn(stack)
        servers.turn()
        if any(c.carry or c.service == "chargen" and c.sock.send_space for c in servers.connections):
            return 0.0  # data waits for room that a drained ACK may already have made
        deadline = stack.next_deadline()
        if deadline is None:
            return None
        return max(0.0, (deadline - stack.clock.now()) * TICK_SECONDS)

    def fileno(self) -> int | None:
        return self.stack.fileno()

    def stop(self) -> None:
        self.servers.stop()
        turn(self.stack)
        self.stack.end_stack()


class ServeExtension(Extension):
    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--serve", metavar="IP", help="also run a Python stack at IP on the same hub, "
                            "serving echo (7), discard (9), chargen (19) and daytime (13)")

    def around(self, options: argparse.Namespace, link_spec: str,
               run: Callable[[Sequence[Companion]], int]) -> int:
        if not options.serve:
            return run(())
        if not link_spec.startswith("hub:"):
            error(f"--serve needs a hub: link (the Python stack joins it in this process), not {link_spec}")
            return USAGE_STATUS
        try:
            address = ip_from_str(options.serve)
        except ValueError as exc:
            error(f"--serve: {exc}")
            return USAGE_STATUS
        # The peer joins the hub itself, without the DOS side's wrappers (its pcap records both anyway).
        peer = PythonPeer(link_spec.partition("?")[0], address)
        try:
            return run([peer])
        finally:
            peer.stop()


def main(argv: list[str] | None = None) -> int:
    return dosrun_main(argv, ServeExtension())


if __name__ == "__main__":
    sys.exit(main())
