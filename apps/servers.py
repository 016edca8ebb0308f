"""mtcp-servers: the classic small services for trying a link, many connections at once.

    mtcp-servers [-echo PORT] [-discard PORT] [-chargen PORT] [-daytime PORT] [-udp on|off] [-backlog N] [-stats]

echo (RFC 862, port 7), discard (RFC 863, port 9), chargen (RFC 864, port 19) and daytime (RFC 867,
port 13); `off` disables one. Each runs over TCP and, on the same port, over UDP (`-udp off`: TCP only).
Over UDP, echo sends each datagram back, discard drops it, chargen answers any datagram with 512 bytes of
its pattern (RFC 864 leaves the length free, up to 512; each answer starts one line further on) and
daytime with the time. Datagrams to a broadcast address, and from one of these services' own ports (which
would make two servers answer each other for ever, as inetd guards against), are not answered: counted.

Each TCP connection keeps a constant amount of memory: echo reads only as much
as it can send back, chargen keeps an offset into a fixed pattern. Runs until Ctrl-C or SIGTERM, then ends
every connection and releases the link. -stats prints the stack's counters on exit, and SIGUSR1 prints
them at once, with how many connections are open and how many TCP sockets are in use.
-backlog N (at least 1, default 8; more than the stack's backlog_max, 16, is said and capped) is how many
connections per service may wait to be accepted; SYNs beyond it are refused with a reset.

Every connection that ends is given back to the stack (abort when it failed, close otherwise), so resets,
aborts and timed-out clients never leave a slot of the socket table behind: the server runs through any
number of them. (A client that is still connected keeps its slot, even when idle.)
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType

from mtcp_py.runtime import turn, wait_for_work
from mtcp_py.stack import Stack
from mtcp_py.tcp import TcpError, TcpListener, TcpSocket
from mtcp_py.udp import UdpEndpoints, UdpError

from .common import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    app_stack,
    fail,
    load,
    make_parser,
    stats_table,
    stderr_console,
    terminate_as_interrupt,
)
from .services import ChargenPattern, daytime_line

PROG = "mtcp-servers"
CHUNK = 16_384
"""The most any one connection moves per turn of the loop, so every connection gets its turn."""
DEFAULT_PORTS = {"echo": 7, "discard": 9, "chargen": 19, "daytime": 13}
UDP_CHARGEN_SIZE = 512


@dataclass
class Connection:
    service: str
    sock: TcpSocket
    carry: bytes = b""
    """Echo: bytes read but not yet sent back (at most CHUNK)."""
    offset: int = 0
    """Chargen: how far into the endless pattern this connection is."""
    closing: bool = False


@dataclass
class Servers:
    stack: Stack
    ports: dict[str, int]
    backlog: int = 8
    listeners: dict[str, TcpListener] = field(default_factory=dict)
    connections: list[Connection] = field(default_factory=list)
    pattern: ChargenPattern = field(default_factory=ChargenPattern)
    served: dict[str, int] = field(default_factory=dict)
    udp: bool = True
    udp_served: dict[str, int] = field(default_factory=dict)
    udp_ignored: int = 0
    """Datagrams not answered: sent to a broadcast address, or from a small service's own port."""
    udp_unsent: int = 0
    """Answers the stack could not send (no route, ARP failed)."""
    _udp_chargen_line: int = 0

    def start(self) -> None:
        for service, port in self.ports.items():
            self.listeners[service] = self.stack.tcp.listen(port, backlog=self.backlog)
            self.served[service] = 0
        if self.udp:
            for service, port in self.ports.items():
                self.stack.udp.register(port, self._datagram_handler(service, port))
                self.udp_served[service] = 0

    # -- UDP: one answer per datagram, from inside the stack's receive callback --------------------------

    def _datagram_handler(self, service: str, port: int) -> Callable[[UdpEndpoints, memoryview, int], None]:
        def on_datagram(source: UdpEndpoints, payload: memoryview, now: int) -> None:
            if source.broadcast or source.src_port in self.ports.values():
                self.udp_ignored += 1
                return
            self.udp_served[service] += 1
            if service == "discard":
                return
            if service == "echo":
                answer = bytes(payload)
            elif service == "chargen":
                start = self._udp_chargen_line * len(self.pattern.lines[0])
                self._udp_chargen_line = (self._udp_chargen_line + 1) % len(self.pattern.lines)
                answer = self.pattern.read(start, UDP_CHARGEN_SIZE)
            else:
                answer = daytime_line()
            if not self.stack.udp.send(port, source.src, source.src_port, answer, now).ok:
                self.udp_unsent += 1

        return on_datagram

    def accept_all(self) -> None:
        for service, listener in self.listeners.items():
            while (sock := listener.accept()) is not None:
                self.served[service] += 1
                conn = Connection(service, sock)
                if service == "daytime":
                    try:
                        sock.send(daytime_line())
                    except TcpError:
                        pass  # reset already: the next turn ends it
                    sock.close()
                    conn.closing = True
                self.connections.append(conn)

    def serve(self, conn: Connection) -> bool:
        """One turn for one connection; False once it is over, and then its socket has been given back."""
        sock = conn.sock
        if sock.error is not None:
            sock.abort()  # reset, timed out: the TCP layer frees the slot only once we say so
            return False
        if sock.is_closed:
            sock.close()  # in TIME_WAIT after our close: already closed, close() does nothing more
            return False
        handler: Callable[[Connection], None] = getattr(self, f"_serve_{conn.service}")
        try:
            handler(conn)
        except TcpError:
            sock.abort()
            return False
        if sock.at_eof and not conn.closing and not conn.carry:
            sock.close()
            conn.closing = True
        return True

    def _serve_echo(self, conn: Connection) -> None:
        sock = conn.sock
        if conn.carry:
            taken = sock.send(conn.carry)
            conn.carry = conn.carry[taken:]
        if not conn.carry and not conn.closing:
            room = min(sock.send_space, CHUNK)
            if room > 0:
                data = sock.recv(room)
                if data:
                    taken = sock.send(data)
                    conn.carry = data[taken:]

    def _serve_discard(self, conn: Connection) -> None:
        while conn.sock.recv(CHUNK):
            pass

    def _serve_chargen(self, conn: Connection) -> None:
        sock = conn.sock
        while sock.recv(CHUNK):
            pass  # whatever the client sends is thrown away (RFC 864)
        if conn.closing:
            return
        room = min(sock.send_space, CHUNK)
        if room > 0:
            conn.offset += sock.send(self.pattern.read(conn.offset, room))

    def _serve_daytime(self, conn: Connection) -> None:
        while conn.sock.recv(CHUNK):
            pass

    def turn(self) -> None:
        self.accept_all()
        self.connections = [conn for conn in self.connections if self.serve(conn)]

    def occupancy(self) -> str:
        """The -stats line that shows nothing is kept after it ended."""
        return f"connections open: {len(self.connections)}, TCP sockets in use: {len(self.stack.tcp.socket_states())}"

    def stop(self) -> None:
        for port in self.ports.values() if self.udp else ():
            self.stack.udp.unregister(port)
        for listener in self.listeners.values():
            listener.close()
        for conn in self.connections:
            conn.sock.abort()
        self.connections.clear()


def parse_port(text: str, service: str) -> int | None:
    if text.lower() == "off":
        return None
    if not (text.isascii() and text.isdecimal()) or not 0 < int(text) < 65536:
        fail(PROG, f"-{service} {text}: a port is a number from 1 to 65535, or off", EXIT_USAGE)
    return int(text)


def parse_backlog(text: str) -> int:
    if not (text.isascii() and text.isdecimal()) or int(text) < 1:
        fail(PROG, f"-backlog {text}: the backlog is a whole number of connections, at least 1", EXIT_USAGE)
    return int(text)


def main(argv: list[str] | None = None) -> int:
    parser = make_parser(PROG, "The small TCP services: echo, discard, chargen, daytime.")
    for service, port in DEFAULT_PORTS.items():
        parser.add_argument(f"-{service}", f"--{service}", default=str(port), metavar="PORT",
                            help=f"{service} port (default {port}; 'off' disables it)")
    parser.add_argument("-udp", "--udp", default="on", metavar="on|off",
                        help="the same services over UDP too (default on)")
    parser.add_argument("-backlog", "--backlog", default="8", metavar="N",
                        help="connections waiting to be accepted, per service (default 8)")
    parser.add_argument("-stats", "--stats", action="store_true", help="print counters on exit and on SIGUSR1")
    args = parser.parse_args(argv)
    ports = {s: p for s in DEFAULT_PORTS if (p := parse_port(getattr(args, s), s)) is not None}
    if len(set(ports.values())) != len(ports):
        fail(PROG, "two services on one port", EXIT_USAGE)
    if not ports:
        fail(PROG, "every service is off", EXIT_USAGE)
    backlog = parse_backlog(args.backlog)
    if args.udp.lower() not in ("on", "off"):
        fail(PROG, f"-udp {args.udp}: on or off", EXIT_USAGE)
    config = load(PROG, args.config)
    console = stderr_console()
    want_stats = [False]

    def on_usr1(signum: int, frame: FrameType | None) -> None:
        want_stats[0] = True

    previous_usr1 = signal.signal(signal.SIGUSR1, on_usr1)
    try:
        with terminate_as_interrupt(), app_stack(PROG, config, args.link) as stack:
            most = stack.tcp.config.backlog_max
            if backlog > most:  # said, not silently cut: the user asked for more than the stack gives
                print(f"{PROG}: -backlog {backlog}: the stack queues at most {most} per service; using {most}",
                      file=sys.stderr)
                backlog = most
            servers = Servers(stack, ports, backlog=backlog, udp=args.udp.lower() == "on")
            try:
                try:
                    servers.start()
                except UdpError as exc:
                    fail(PROG, str(exc))
                listing = ", ".join(f"{s} {p}" for s, p in ports.items())
                if servers.udp:
                    listing += " (TCP and UDP)"
                print(f"{PROG}: {stack.describe()}: {listing}", file=sys.stderr, flush=True)
                while True:
                    turn(stack)
                    servers.turn()
                    if want_stats[0]:
                        want_stats[0] = False
                        console.print(stats_table(stack))
                        console.print(servers.occupancy())
                    busy = any(c.carry or c.service == "chargen" and c.sock.send_space for c in servers.connections)
                    wait_for_work(stack, 0.0 if busy else 0.05, stack.next_deadline())
            except KeyboardInterrupt:
                print(f"{PROG}: stopping", file=sys.stderr)
            finally:
                servers.stop()
                turn(stack)
                if args.stats:
                    console.print(stats_table(stack))
                    served = ", ".join(f"{s} {n}" for s, n in servers.served.items())
                    console.print(f"connections served: {served}")
                    if servers.udp:
                        answered = ", ".join(f"{s} {n}" for s, n in servers.udp_served.items())
                        console.print(f"datagrams served: {answered}; not answered: {servers.udp_ignored}; "
                                      f"answers not sent: {servers.udp_unsent}")
    except KeyboardInterrupt:  # a second Ctrl-C or SIGTERM while stopping
        print(f"{PROG}: interrupted while stopping", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGUSR1, previous_usr1)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
