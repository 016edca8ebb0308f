"""IRCjr's network side: the stack driven on an asyncio loop (Textual's), and IRC over one TCP socket.

`StackPump` turns the stacks (`runtime.turn`) on the loop's own thread, so the stack is only ever touched
there: it wakes when a link's descriptor is readable (`loop.add_reader`), when the next stack deadline
comes, and when the program asks (`wake()`, after the user typed something). Between those it sleeps, so an
idle connection costs nothing; a link with no descriptor (the in-memory hub) is polled every
HUB_POLL_SECONDS instead, since its frames arrive without anything to wait on.

`IrcConnection` moves bytes between a `TcpSocket` and the `IrcClient`: connect with IRCJR_CONNECT_TIMEOUT,
register, feed what arrives, send what the client queues (keeping what the socket cannot take yet), and
notice a connection that ends, with its reason.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from mtcp_py.irc import IrcClient, LineKind
from mtcp_py.runtime import turn
from mtcp_py.stack import Stack
from mtcp_py.tcp import TcpError, TcpSocket
from mtcp_py.wire import ip_from_str
from pktdrv.clock import TICK_SECONDS

HUB_POLL_SECONDS = 0.01
IDLE_WAKE_SECONDS = 1.0
"""At least this often the step runs even with nothing on the wire (timeouts, the lag probe)."""
RECV_CHUNK = 16_384
STEP_BYTES = 16_384
"""The most fed to the client in one step: under a flood the loop gets back to the keyboard and the screen
between steps (the rest stays in the socket and the step runs again at once)."""
PENDING_MOST = 1 << 20
"""What may wait for the socket (our answers to a server that sends but never reads, say) before we give up."""
QUIT_LINGER_SECONDS = 4.0
"""After QUIT, how long we wait for the server to close before closing ourselves (IRCjr waits 4 s)."""


class StackPump:
    """Turns `stacks` and then calls `step()` on the running asyncio loop; `step` returns True when it moved
    bytes (so the stack should turn again at once to send them)."""

    def __init__(self, stacks: Sequence[Stack], step: Callable[[], bool],
                 on_error: Callable[[BaseException], None] | None = None) -> None:
        self.stacks = list(stacks)
        self.step = step
        self.on_error = on_error
        self._loop: asyncio.AbstractEventLoop | None = None
        self._soon: asyncio.Handle | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._fds: list[int] = []
        self.turns = 0

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        for stack in self.stacks:
            fd = stack.fileno()
            if fd is not None:
                self._loop.add_reader(fd, self.wake)
                self._fds.append(fd)
        self.wake()

    def stop(self) -> None:
        if self._loop is not None:
            for fd in self._fds:
                self._loop.remove_reader(fd)
        self._fds.clear()
        for handle in (self._soon, self._timer):
            if handle is not None:
                handle.cancel()
        self._soon = self._timer = None
        self._loop = None

    def wake(self) -> None:
        if self._loop is not None and self._soon is None:
            self._soon = self._loop.call_soon(self._run)

    def _run(self) -> None:
        self._soon = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._loop is None:
            return
        try:
            busy = sum(turn(stack) for stack in self.stacks)
            moved = self.step()
        except Exception as exc:  # a failure is reported on the screen, never as a traceback
            if self.on_error is not None:
                self.on_error(exc)
            busy, moved = 0, False
        self.turns += 1
        if self._loop is None:  # step() stopped us
            return
        if busy or moved:
            self.wake()
            return
        self._timer = self._loop.call_later(self._next_wait(), self._run)

    def _next_wait(self) -> float:
        wait = IDLE_WAKE_SECONDS
        for stack in self.stacks:
            deadline = stack.next_deadline()
            if deadline is not None:
                wait = min(wait, max(0.0, (deadline - stack.clock.now()) * TICK_SECONDS))
            if stack.fileno() is None:
                wait = min(wait, HUB_POLL_SECONDS)
        return wait


class IrcConnection:
    """The TCP connection to the IRC server for `client`, stepped by a StackPump."""

    def __init__(self, stack: Stack, client: IrcClient, host: str, port: int,
                 clock: Callable[[], float] = time.time) -> None:
        self.stack = stack
        self.client = client
        self.host = host
        self.port = port
        self.clock = clock
        self.sock: TcpSocket | None = None
        self._pending = b""
        self._connect_deadline = 0.0
        self._quit_deadline: float | None = None
        self._registering = False
        """The TCP connection came up and registration was started."""
        self.finished = False
        """The program may end: QUIT was sent and the server closed (or the linger ran out)."""
        self.lost: str | None = None
        """Why the connection ended, once it has; None while it is up or being opened."""

    @property
    def is_up(self) -> bool:
        return self.sock is not None and self.sock.is_connected

    def open(self) -> None:
        now = self.clock()
        self.lost = None
        self._pending = b""
        client = self.client
        client.note(client.server_session, LineKind.LOCAL, f"Connecting to {self.host} port {self.port}", now)
        try:
            self.sock = self.stack.tcp.connect(ip_from_str(self.host), self.port, now=self.stack.clock.now())
        except (TcpError, ValueError) as exc:
            self._lose(str(exc), now)
            return
        self.sock.set_nodelay()  # IRC is interactive: a typed line goes out at once
        self._connect_deadline = now + client.settings.connect_timeout
        self._registering = False

    def step(self) -> bool:
        """Move what can be moved; True when bytes went either way."""
        sock = self.sock
        if sock is None:
            return False
        now = self.clock()
        client = self.client
        moved = False
        if not self._registering:
            if sock.is_connected:
                self._registering = True
                client.note(client.server_session, LineKind.LOCAL, "Connected - registering with server", now)
                client.connected(now)
            elif sock.error is not None or sock.is_closed:
                self._lose(sock.error or "connection closed", now)
                return False
            elif now >= self._connect_deadline:
                sock.abort()
                self._lose("Failed to connect to IRC server (timed out)", now)
                return False
            else:
                return False
        taken = 0
        while taken < STEP_BYTES and (data := sock.recv(RECV_CHUNK)):
            client.feed(data, now)
            taken += len(data)
            moved = True
        client.tick(now)
        moved = self._send(sock, client.take_output()) or moved
        if self.sock is None:  # the send gave up on the connection
            return moved
        if client.failure is not None and self._quit_deadline is None:
            client.quit("registration failed")
            self._send(sock, client.take_output())
        if client.quit_sent and self._quit_deadline is None:
            self._quit_deadline = now + QUIT_LINGER_SECONDS
        if sock.error is not None:
            self._lose(sock.error, now)
        elif sock.readable:
            return True  # more to read: the next step comes at once
        elif sock.at_eof or sock.is_closed:
            self._lose("the server closed the connection", now)
        elif self._quit_deadline is not None and (now >= self._quit_deadline or sock.peer_closed):
            self._lose("quit", now)
        return moved

    def _send(self, sock: TcpSocket, data: bytes) -> bool:
        self._pending += data
        if len(self._pending) > PENDING_MOST:
            sock.abort()
            self._lose("the server stopped reading what we send", self.clock())
            return False
        if not self._pending or not sock.is_connected:
            return False
        try:
            taken = sock.send(self._pending)
        except TcpError:
            return False
        self._pending = self._pending[taken:]
        return taken > 0

    def _lose(self, reason: str, now: float) -> None:
        if self.sock is None and (self.lost is not None or self.finished):
            return  # already reported
        sock, self.sock = self.sock, None
        if sock is not None and sock.error is None and not sock.is_closed:
            sock.close()  # a FIN after what is queued; the stack finishes it (or its end resets it)
        if self.client.quit_sent:
            self.finished = True
            return
        self.lost = reason
        self.client.disconnected(reason, now)

    def close(self) -> None:
        """Leaving: abort a connection still open (the stack is about to end)."""
        if self.sock is not None:
            self.sock.abort()
            self.sock = None
