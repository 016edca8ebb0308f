"""mtcp-nc: mTCP's netcat. One TCP connection between stdin/stdout and the network.

    mtcp-nc -target HOST PORT [options]
    mtcp-nc -listen PORT [options]

HOST is a dotted address or a name, resolved by the stack's resolver first ("mtcp-nc: HOST: no such host
(NXDOMAIN)" and exit status 1 when it does not resolve).

Options as mTCP NC has them: -help, -verbose, -bin, -telnet_nl, -echo, -w SECS, -nocorc, -srcport N (and
--long spellings); --config FILE and --link LINK as every program. Only data goes to stdout; status goes
to stderr. Exit status 0 after a clean close, 1 with a one-line reason otherwise (refused, reset, timed
out, no route, data discarded), 2 for a bad command line or configuration, 130 after Ctrl-C or SIGTERM.

As in mTCP: when stdin ends, our side is closed (FIN) and incoming data is still taken for -w seconds
(default 0); when the peer closes, netcat ends unless -nocorc says to keep sending until stdin ends.

Nothing from the peer is lost quietly: bytes that arrive after our side closed and the -w time ran out
(they are never written to stdout) make the exit status 1, with the count on stderr ("mtcp-nc: 12345
bytes from the peer were discarded after our side closed"); so does a peer that was still sending after
our side closed and had not closed its own when we left (what it sends next is refused with a reset).
Before leaving, such a peer gets a second to close, so data it is still sending is seen and reported.

-d (--no-stdin), as in OpenBSD netcat: stdin is not read at all, so it never closes our side; the
connection ends when the peer closes (then we send our FIN). `mtcp-nc -listen 5000 -bin -d > file &`
receives a whole file even with stdin at /dev/null. -w and -echo do not apply with -d.
"""

from __future__ import annotations

import argparse
import os
import select
import sys
import time
from dataclasses import dataclass
from typing import BinaryIO

from mtcp_py.blocking import resolve
from mtcp_py.config import MtcpConfig
from mtcp_py.dns import ResolveError
from mtcp_py.runtime import run_until, turn, wait_for_work
from mtcp_py.stack import Stack
from mtcp_py.tcp import TcpError, TcpSocket
from mtcp_py.wire import ip_to_str

from .common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    app_stack,
    fail,
    host_argument,
    load,
    make_parser,
    port_number,
    seconds,
    stderr_console,
    terminate_as_interrupt,
)
from .textmode import CrlfToNewline, cut_at_ctrl_z, newline_to_crlf

PROG = "mtcp-nc"
READ_SIZE = 65_536
"""The most read from stdin at once; one chunk waits at most (constant memory)."""
CONNECT_TIMEOUT = 10.0
LINGER_TIMEOUT = 30.0
"""How long we wait, after leaving the main loop, for the peer to acknowledge what we sent."""
PEER_GRACE = 1.0
"""After stdin's end closed our side and -w ran out: how long we wait for the peer's own close."""


class NcFailure(Exception):
    """Ends the program with a one-line reason and exit status 1."""


@dataclass
class Options:
    binary: bool
    telnet_nl: bool
    echo: bool
    wait_after_stdin: float
    close_on_remote_close: bool
    verbose: bool
    no_stdin: bool = False


class StdinReader:
    """Reads stdin on the main line, when select says it is readable: the loop waits on stdin and the
    link together (runtime.wait_for_work), so no thread and no queue are needed."""

    def __init__(self, fd: int = 0) -> None:
        self.fd = fd
        self.error: str | None = None
        self.done = False

    def watch(self) -> list[int]:
        """The descriptors the loop should wake for."""
        return [] if self.done else [self.fd]

    def get(self) -> bytes | None | bool:
        """A chunk, None at end of input, or False when nothing is ready yet."""
        if self.done:
            return None
        try:
            if not select.select([self.fd], [], [], 0)[0]:
                return False
            chunk = os.read(self.fd, READ_SIZE)
        except BlockingIOError:
            return False
        except (OSError, ValueError) as exc:
            self.error = getattr(exc, "strerror", None) or str(exc)
            chunk = b""
        if not chunk:
            self.done = True
            return None
        return chunk


class Progress:
    """The -verbose progress line on a terminal: bytes each way and the rate."""

    def __init__(self, enabled: bool) -> None:
        self.console = stderr_console()
        self.enabled = enabled and self.console.is_terminal
        self.start = time.monotonic()
        self.last = 0.0
        self.sent = 0
        self.received = 0
        self.received_at_close: int | None = None
        """Bytes received when stdin's end closed our side; None while it has not."""

    def update(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self.last < 0.25:
            return
        self.last = now
        elapsed = max(now - self.start, 1e-6)
        rate = (self.sent + self.received) / elapsed / 1e6
        self.console.print(f"sent {self.sent:,} B  received {self.received:,} B  {rate:.2f} MB/s",
                           end="\r", highlight=False)


def establish(stack: Stack, args: object) -> TcpSocket:
    """Connect (-target) or wait for one connection (-listen)."""
    target = getattr(args, "target", None)
    if target:
        host, port = target
        try:
            remote = resolve(stack, host)
        except ResolveError as exc:
            raise NcFailure(f"{host}: {exc}") from None
        if ip_to_str(remote) != host:
            print(f"{PROG}: {host} is {ip_to_str(remote)}", file=sys.stderr)
        try:
            sock = stack.tcp.connect(remote, port, getattr(args, "srcport", 0) or 0, now=stack.clock.now())
        except TcpError as exc:  # no route (no GATEWAY for an address off the link), no free socket
            raise NcFailure(exc.reason) from None
        print(f"{PROG}: connecting to {host}:{port}", file=sys.stderr)
        run_until(stack, lambda: sock.is_connected or sock.error is not None or sock.is_closed, CONNECT_TIMEOUT)
        if sock.error is not None:
            raise NcFailure(sock.error)
        if not sock.is_connected:
            sock.abort()
            raise NcFailure("timed out")
        print(f"{PROG}: connected", file=sys.stderr)
        return sock
    port = args.listen  # type: ignore[attr-defined]
    try:
        listener = stack.tcp.listen(port, backlog=1)
    except TcpError as exc:
        raise NcFailure(exc.reason) from None
    print(f"{PROG}: waiting for a connection on port {port}", file=sys.stderr)
    try:
        accepted: list[TcpSocket] = []

        def got_one() -> bool:
            sock = listener.accept()
            if sock is not None:
                accepted.append(sock)
            return bool(accepted)

        while not run_until(stack, got_one, 3600.0):
            pass
    finally:
        listener.close()
    sock = accepted[0]
    host, remote_port = sock.remote_address
    print(f"{PROG}: connection received from {host}:{remote_port}", file=sys.stderr)
    return sock


def converse(stack: Stack, sock: TcpSocket, opts: Options, out: BinaryIO, progress: Progress) -> None:
    """The main loop: network to stdout, stdin to network, until one of mTCP NC's ends comes.
    When stdin's end closes our side, `progress.received_at_close` records how much had come by then."""
    reader = None if opts.no_stdin else StdinReader()
    incoming = CrlfToNewline() if opts.telnet_nl else None
    interactive_out = out.isatty()
    echo = opts.echo and os.isatty(0)
    pending = b""
    stdin_done = False
    stdin_closed_at: float | None = None
    while True:
        turn(stack)
        # Network to stdout first, as mTCP does.
        while data := sock.recv(READ_SIZE):
            progress.received += len(data)
            out.write(incoming.feed(data) if incoming else data)
        if interactive_out:
            out.flush()
        if sock.error is not None:
            raise NcFailure(sock.error)
        if sock.at_eof and (opts.close_on_remote_close or stdin_done or reader is None):
            break
        if stdin_closed_at is not None and time.monotonic() - stdin_closed_at >= opts.wait_after_stdin:
            break
        # stdin to the network, no more than the socket takes (the rest waits: constant memory).
        if reader is not None and not pending and not stdin_done:
            chunk = reader.get()
            if chunk is None:
                stdin_done = True
            elif chunk:
                assert isinstance(chunk, bytes)
                if not opts.binary:
                    chunk, ended = cut_at_ctrl_z(chunk)
                    stdin_done = ended
                    if opts.telnet_nl:
                        chunk = newline_to_crlf(chunk)
                if echo:
                    out.write(chunk)
                    out.flush()
                pending = chunk
        if pending:
            if sock.is_closed:
                raise NcFailure("connection closed before all input was sent")
            try:
                taken = sock.send(pending)
            except TcpError as exc:
                raise NcFailure(exc.reason) from None
            progress.sent += taken
            pending = pending[taken:]
        if stdin_done and not pending and stdin_closed_at is None:
            if reader is not None and reader.error:
                print(f"{PROG}: reading stdin: {reader.error}", file=sys.stderr)
            sock.close()
            stdin_closed_at = time.monotonic()
            progress.received_at_close = progress.received
            if opts.verbose:
                print(f"\n{PROG}: EOF on stdin, our side closed", file=sys.stderr)
            continue
        progress.update()
        want_input = reader is not None and not pending and not stdin_done
        wait_for_work(stack, 0.05 if not pending else 0.01, stack.next_deadline(),
                      reader.watch() if reader is not None and want_input else ())
    if incoming:
        out.write(incoming.flush())
    out.flush()


def linger(stack: Stack, sock: TcpSocket, progress: Progress) -> None:
    """Close our side and wait (bounded) until the peer has acknowledged everything we sent. When stdin's
    end closed our side and the peer has not closed its own, give it PEER_GRACE to do so: data it is still
    sending then shows (and is reported) rather than being refused unseen by the reset at the end."""
    if sock.error is None and not sock.is_closed:
        sock.close()
    # A failed socket drops its buffers, so "all sent" only counts while there is no error.
    run_until(stack, lambda: sock.error is not None or sock.all_sent or sock.is_closed, LINGER_TIMEOUT)
    if sock.error is not None:
        raise NcFailure(sock.error)
    if not sock.all_sent:
        raise NcFailure("timed out")
    if progress.received_at_close is not None and not sock.peer_closed:
        run_until(stack, lambda: sock.peer_closed or sock.readable > 0 or sock.error is not None or sock.is_closed,
                  PEER_GRACE)


def check_nothing_discarded(sock: TcpSocket, progress: Progress) -> None:
    """Fail when we are leaving data behind: bytes that arrived after our close and the -w time and were
    never written to stdout, or a peer that was still sending after our side closed and had not finished
    (the end of the stack resets the connection, so the rest of its data is refused)."""
    discarded = sock.readable
    if discarded:
        more = "" if sock.peer_closed else ", and the peer was still sending"
        raise NcFailure(f"{discarded} bytes from the peer were discarded after our side closed{more} "
                        f"(-d reads until the peer closes)")
    if progress.received_at_close is None or sock.peer_closed or sock.error is not None:
        return
    after = progress.received - progress.received_at_close
    if after:
        raise NcFailure(f"the peer had not finished sending: {after} of the {progress.received} bytes it sent came "
                        f"after our side closed, anything more was refused (-d reads until the peer closes)")


def main(argv: list[str] | None = None) -> int:
    parser = make_parser(PROG, "mTCP netcat: stdin and stdout over one TCP connection.")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("-target", "--target", nargs=2, metavar=("HOST", "PORT"), help="connect to HOST PORT")
    mode.add_argument("-listen", "--listen", metavar="PORT", help="wait for one connection on PORT")
    parser.add_argument("-verbose", "--verbose", action="store_true", help="print extra status messages")
    text = parser.add_mutually_exclusive_group()
    text.add_argument("-bin", "--bin", action="store_true", help="treat stdin and stdout as binary")
    text.add_argument("-telnet_nl", "--telnet-nl", "--telnet_nl", dest="telnet_nl", action="store_true",
                      help="send and receive newline as CR/LF")
    parser.add_argument("-echo", "--echo", action="store_true", help="local echo of what you type")
    parser.add_argument("-w", "--wait", dest="wait", default="0", metavar="SECS",
                        help="wait this long for network traffic after stdin closes")
    parser.add_argument("-nocorc", "--nocorc", action="store_true", help="do not close on remote close")
    parser.add_argument("-d", "--no-stdin", dest="no_stdin", action="store_true",
                        help="do not read stdin: our side closes only after the peer closes")
    parser.add_argument("-srcport", "--srcport", metavar="N", help="local port to connect from")
    args = parser.parse_args(argv)
    if args.target:
        host, port_text = args.target
        host_argument(PROG, host)
        args.target = (host, port_number(PROG, "-target PORT", port_text))
        args.srcport = port_number(PROG, "-srcport", args.srcport) if args.srcport is not None else 0
    else:
        args.listen = port_number(PROG, "-listen", args.listen)
        if args.srcport is not None:
            fail(PROG, "-srcport is not valid with -listen", EXIT_USAGE)
    args.wait = seconds(PROG, "-w", args.wait)
    opts = Options(args.bin, args.telnet_nl, args.echo, args.wait, not args.nocorc, args.verbose, args.no_stdin)
    config = load(PROG, args.config)
    out = sys.stdout.buffer
    progress = Progress(args.verbose)
    try:
        return run(args, opts, config, out, progress)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM again while ending the stack
        print(f"\n{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def run(args: argparse.Namespace, opts: Options, config: MtcpConfig, out: BinaryIO, progress: Progress) -> int:
    """The connection, from the stack's start to its end; the exit status."""
    status = EXIT_OK
    with terminate_as_interrupt(), app_stack(PROG, config, args.link) as stack:
        sock: TcpSocket | None = None
        try:
            if args.verbose:
                print(f"{PROG}: {stack.describe()}", file=sys.stderr)
            sock = establish(stack, args)
            converse(stack, sock, opts, out, progress)
            linger(stack, sock, progress)
            check_nothing_discarded(sock, progress)
        except NcFailure as exc:
            print(f"{PROG}: {exc}", file=sys.stderr)
            status = EXIT_FAILED
        except KeyboardInterrupt:
            print(f"\n{PROG}: interrupted", file=sys.stderr)
            status = EXIT_INTERRUPTED
            if sock is not None:
                sock.abort()
        except BrokenPipeError:
            print(f"{PROG}: stdout closed", file=sys.stderr)
            status = EXIT_FAILED
            if sock is not None:
                sock.abort()
        progress.update(force=True)
        if args.verbose:
            print(f"\n{PROG}: bytes sent {progress.sent}, received {progress.received}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
