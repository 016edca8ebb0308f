"""mtcp-dosrun: real DOS packet-driver programs on the emulated packet driver (see docs/dosrun.md).

The machine and its command line live in `pktdrv.dos`, which knows nothing of the stack. This program
adds one thing only a program above both can: `--serve IP` puts a Python stack at IP on the same
in-memory hub as the DOS program, running the small services (echo 7, discard 9, chargen 19, daytime 13),
so real mTCP programs can talk to this project's TCP with nothing else running.
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Callable

from mtcp_py.runtime import turn, wait_for_work
from mtcp_py.stack import Stack, StackConfig
from mtcp_py.wire import ip_from_str
from pktdrv import MonotonicTicks, open_link
from pktdrv.dos.cli import USAGE_STATUS, Extension, error
from pktdrv.dos.cli import main as dosrun_main

from .servers import DEFAULT_PORTS, Servers


class PythonPeer(threading.Thread):
    """A stack running the small services on its own thread (its poll loop), until stopped."""

    def __init__(self, link_spec: str, address: int) -> None:
        super().__init__(name="python peer", daemon=True)
        self.stack = Stack(open_link(link_spec), StackConfig(address), MonotonicTicks()).init_stack()
        self.servers = Servers(self.stack, dict(DEFAULT_PORTS))
        self.servers.start()
        self.stopping = threading.Event()

    def run(self) -> None:
        stack, servers = self.stack, self.servers
        while not self.stopping.is_set():
            turn(stack)
            servers.turn()
            wait_for_work(stack, 0.002, stack.next_deadline())

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=10)
        self.servers.stop()
        turn(self.stack)
        self.stack.end_stack()


class ServeExtension(Extension):
    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--serve", metavar="IP", help="also run a Python stack at IP on the same hub, "
                            "serving echo (7), discard (9), chargen (19) and daytime (13)")

    def around(self, options: argparse.Namespace, link_spec: str, run: Callable[[], int]) -> int:
        if not options.serve:
            return run()
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
        peer.start()
        try:
            return run()
        finally:
            peer.stop()


def main(argv: list[str] | None = None) -> int:
    return dosrun_main(argv, ServeExtension())


if __name__ == "__main__":
    sys.exit(main())
