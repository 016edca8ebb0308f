"""Blocking calls with timeouts over the polling API, for scripts and simple programs: part of the edge.

Each call turns the loop (`runtime.run_until`, the one place that waits and reads the clock) until its
condition holds, so the stack keeps answering ARP, pings and other connections while a call waits. TCP
itself stays free of waiting: this module sits above the stack, beside the runtime. Timeouts are seconds
of the stack's clock (real or virtual); a wait that runs out raises `WaitTimeout` (a TcpError whose
reason is "timed out").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pktdrv.clock import TICK_SECONDS

from .dns import ResolveError
from .runtime import run_until, turn
from .stack import Stack
from .tcp import TIMED_OUT, TcpError, TcpLayer, TcpListener, TcpSocket
from .wire import ip_from_str


class WaitTimeout(TcpError):
    """A blocking call ran out of time; the connection itself may be fine."""

    def __init__(self, what: str) -> None:
        super().__init__(TIMED_OUT)
        self.what = what

    def __str__(self) -> str:
        return f"{TIMED_OUT} ({self.what})"


def _layer(stack: Stack) -> TcpLayer:
    tcp = stack.tcp_layer
    if tcp is None:
        raise TcpError("TCP is not enabled on this stack")
    return tcp


def _wait(stacks: Sequence[Stack], condition: Callable[[], bool], timeout: float | None, what: str) -> None:
    if not run_until(stacks, condition, timeout):
        if condition():
            return
        raise WaitTimeout(what)


class TcpStream:
    """A connected socket with blocking send, recv and close."""

    def __init__(self, stack: Stack, sock: TcpSocket, poll_also: Sequence[Stack] = ()) -> None:
        self.stack = stack
        self.sock = sock
        self.stacks = [stack, *poll_also]
        """Every stack the waits poll (more than one only when several share this process, as on a hub)."""

    def __repr__(self) -> str:
        return f"<TcpStream {self.sock!r}>"

    def _raise_if_failed(self) -> None:
        if self.sock.error is not None:
            raise TcpError(self.sock.error)

    def send_all(self, data: bytes | bytearray | memoryview, timeout: float | None = None) -> None:
        """Queue all of `data`, waiting for transmit buffers as the peer acknowledges (backpressure)."""
        view = memoryview(data)
        sock = self.sock
        done = sock.send(view)
        while done < len(view):
            _wait(self.stacks, lambda: sock.error is not None or sock.send_space > 0, timeout, "send")
            self._raise_if_failed()
            done += sock.send(view[done:])

    def flush(self, timeout: float | None = None) -> None:
        """Wait until the peer has acknowledged everything sent."""
        sock = self.sock
        _wait(self.stacks, lambda: sock.error is not None or sock.all_sent, timeout, "flush")
        self._raise_if_failed()

    def recv(self, max_bytes: int = 65_536, timeout: float | None = None) -> bytes:
        """Some bytes (at most `max_bytes`), waiting for the first; b"" once the peer has closed."""
        sock = self.sock
        if not sock.readable:
            _wait(self.stacks, lambda: sock.readable > 0 or sock.peer_closed or sock.error is not None
                  or sock.is_closed, timeout, "recv")
        if sock.readable:
            return sock.recv(max_bytes)
        self._raise_if_failed()
        return b""

    def recv_exactly(self, count: int, timeout: float | None = None) -> bytes:
        out = bytearray()
        while len(out) < count:
            chunk = self.recv(count - len(out), timeout)
            if not chunk:
                raise TcpError(f"connection closed after {len(out)} of {count} bytes")
            out += chunk
        return bytes(out)

    def shutdown(self) -> None:
        """Half-close: send our FIN after queued data; recv() keeps working until the peer's FIN."""
        self.sock.close()

    def close(self, timeout: float | None = 5.0) -> None:
        """Orderly close: FIN after queued data, then wait (up to `timeout`) until the peer acknowledged it.
        The peer's own FIN is not waited for; if the wait runs out the connection is aborted."""
        sock = self.sock
        sock.close()
        try:
            _wait(self.stacks, lambda: sock.is_closed or (sock.fin_sent and sock.snd_una == sock.snd_nxt),
                  timeout, "close")
        except WaitTimeout:
            sock.abort()
            raise

    def abort(self) -> None:
        self.sock.abort()

    def __enter__(self) -> TcpStream:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.sock.is_closed or self.sock.error is not None:
            self.sock.close()
            return
        try:
            self.close()
        except TcpError:
            pass


def resolve(stack: Stack, name: str, timeout: float | None = None, recurse: bool = True,
            poll_also: Sequence[Stack] = ()) -> int:
    """The IPv4 address of `name` (a dotted address and our HOSTNAME need no query); ResolveError says why
    not: "no such host (NXDOMAIN)", "server failure (SERVFAIL)", "refused (REFUSED)", "timed out"...
    `timeout` (seconds) replaces the resolver's own (ResolverConfig.timeout_ticks)."""
    ticks = max(1, round(timeout / TICK_SECONDS)) if timeout is not None else None
    turn(stack)  # the runtime reads the clock; the lookup starts at the tick the stack was just given
    lookup = stack.dns.start(name, stack.now, recurse, ticks)
    # The resolver times the lookup out itself; the wait only needs a bound for a clock that stops.
    run_until([stack, *poll_also], lambda: lookup.done, None)
    if not lookup.done:
        stack.dns.cancel(lookup, stack.now)
    if lookup.address is None:
        raise ResolveError(name, lookup.error or "not resolved")
    return lookup.address


def _address(host: str | int) -> int:
    return host if isinstance(host, int) else ip_from_str(host)


def connect(stack: Stack, host: str | int, port: int, timeout: float | None = 10.0, local_port: int = 0,
            poll_also: Sequence[Stack] = ()) -> TcpStream:
    """Open a connection; raises TcpError with 'connection refused', 'timed out' or 'no route'."""
    sock = _layer(stack).connect(_address(host), port, local_port)  # at the tick of the last poll
    try:
        _wait([stack, *poll_also], lambda: sock.is_connected or sock.error is not None or sock.is_closed, timeout,
              "connect")
    except WaitTimeout:
        sock.abort()
        raise
    if sock.error is not None:
        sock.close()
        raise TcpError(sock.error)
    return TcpStream(stack, sock, poll_also)


class TcpServer:
    """A listening port with a blocking accept()."""

    def __init__(self, stack: Stack, listener: TcpListener, poll_also: Sequence[Stack] = ()) -> None:
        self.stack = stack
        self.listener = listener
        self.poll_also = list(poll_also)
        self.stacks = [stack, *poll_also]

    @property
    def port(self) -> int:
        return self.listener.port

    def accept(self, timeout: float | None = None) -> TcpStream:
        listener = self.listener
        _wait(self.stacks, lambda: listener.pending > 0, timeout, "accept")
        sock = listener.accept()
        if sock is None:  # reset while waiting in the backlog; wait for the next
            return self.accept(timeout)
        return TcpStream(self.stack, sock, self.poll_also)

    def close(self) -> None:
        self.listener.close()

    def __enter__(self) -> TcpServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def listen(stack: Stack, port: int, backlog: int = 5, poll_also: Sequence[Stack] = ()) -> TcpServer:
    return TcpServer(stack, _layer(stack).listen(port, backlog), poll_also)
