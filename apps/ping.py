"""mtcp-ping: mTCP's PING. Sends ICMP echo requests and prints each reply and a summary.

    mtcp-ping [-count N] [-size N] [-timeout S] HOST

HOST is a dotted address or a name, resolved by the stack's resolver before the first request (a name that
does not resolve is one line, `mtcp-ping: HOST: no such host (NXDOMAIN)`, and exit status 1).

Exit status 0 when every request got a reply. While it runs the stack answers the network too (ARP,
and echo requests from others), as every mTCP program does from its main loop.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

from mtcp_py.runtime import run_until
from mtcp_py.stack import Stack
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
    resolve_host,
    seconds,
    terminate_as_interrupt,
    whole_number,
)

PROG = "mtcp-ping"


@dataclass
class PingSession:
    """Echo requests sent and the replies matched to them, on one identifier."""

    stack: Stack
    target: int
    size: int
    ident: int = field(default_factory=lambda: os.getpid() & 0xFFFF)
    sent: dict[int, float] = field(default_factory=dict)
    """Sequence number -> the moment it was sent, in seconds of the stack's clock."""
    rtts: dict[int, float] = field(default_factory=dict)
    """Sequence number -> round trip in milliseconds."""
    unsent: int = 0
    """Requests that could not go out at all (no route, too big): reported once each, never waited for."""
    bad_replies: int = 0

    def __post_init__(self) -> None:
        self.stack.icmp.echo_listeners[self.ident] = self._on_reply
        self.payload = bytes((i + 0x61) & 0xFF if i < 26 else 0x20 for i in range(self.size))

    def _on_reply(self, source: int, seq: int, data: bytes, now: int) -> None:
        if source != self.target or seq not in self.sent:
            self.bad_replies += 1
            return
        if seq in self.rtts:
            return  # a duplicate reply
        if data != self.payload:
            self.bad_replies += 1
            return
        self.rtts[seq] = (self.stack.clock.seconds() - self.sent[seq]) * 1000.0

    def send(self, seq: int) -> str | None:
        """Send request `seq`; a reason string if it could not go out (then it is not counted as sent)."""
        started = self.stack.clock.seconds()
        status = self.stack.icmp.send_echo(self.target, self.ident, seq, self.payload, self.stack.clock.now())
        if not status.ok:
            self.unsent += 1
            return status.value
        self.sent[seq] = started
        return None

    def close(self) -> None:
        self.stack.icmp.echo_listeners.pop(self.ident, None)


def main(argv: list[str] | None = None) -> int:
    parser = make_parser(PROG, "Send ICMP echo requests (mTCP PING).")
    parser.add_argument("-count", "--count", default="4", metavar="N", help="requests to send (default 4)")
    parser.add_argument("-size", "--size", default="32", metavar="N", help="payload bytes (default 32)")
    parser.add_argument("-timeout", "--timeout", default="1", metavar="S",
                        help="seconds to wait for each reply (default 1)")
    parser.add_argument("-interval", "--interval", default="1", metavar="S",
                        help="seconds between requests (default 1)")
    parser.add_argument("host")
    args = parser.parse_args(argv)
    args.count = whole_number(PROG, "-count", args.count, 1, what="requests")
    args.size = whole_number(PROG, "-size", args.size, 0, 65_507, what="payload bytes")
    args.timeout = seconds(PROG, "-timeout", args.timeout, zero=False)
    args.interval = seconds(PROG, "-interval", args.interval)
    host_argument(PROG, args.host)
    config = load(PROG, args.config)
    out = sys.stdout
    with terminate_as_interrupt(), app_stack(PROG, config, args.link) as stack:
        print(f"mtcp-ping: {stack.describe()}", file=sys.stderr)
        target = resolve_host(PROG, stack, args.host)
        if ip_to_str(target) != args.host:
            print(f"mtcp-ping: {args.host} is {ip_to_str(target)}", file=sys.stderr)
        session = PingSession(stack, target, args.size)
        print(f"ICMP Packet payload is {args.size} bytes.\n", file=out)
        interrupted = False
        try:
            for seq in range(args.count):
                started = stack.clock.seconds()
                reason = session.send(seq)
                if reason:  # it never went out: say why, once, and do not wait for a reply
                    print(f"Packet sequence number {seq}: {reason}", file=out)
                elif run_until(stack, lambda s=seq: s in session.rtts, args.timeout):  # type: ignore[misc]
                    print(f"Packet sequence number {seq} received in {session.rtts[seq]:.2f} ms", file=out)
                else:
                    print(f"Packet sequence number {seq}: timeout", file=out)
                out.flush()
                if seq + 1 < args.count:
                    spent = stack.clock.seconds() - started
                    if spent < args.interval:
                        run_until(stack, lambda: False, max(args.interval - spent, TICK_SECONDS / 10))
        except KeyboardInterrupt:
            interrupted = True
        finally:
            session.close()
        sent = len(session.sent)
        received = len(session.rtts)
        unsent = f", Not sent: {session.unsent}" if session.unsent else ""
        print(f"\nPackets sent: {sent}, Replies received: {received}, Replies lost: {sent - received}{unsent}",
              file=out)
        if session.bad_replies:
            print(f"Replies that did not match a request: {session.bad_replies}", file=out)
        if received:
            times = sorted(session.rtts.values())
            average = sum(times) / received
            print(f"Average time for a reply: {average:.2f} ms (min {times[0]:.2f}, max {times[-1]:.2f})",
                  file=out)
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if received == args.count else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
