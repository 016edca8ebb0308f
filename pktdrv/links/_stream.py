"""What the byte-stream links share (QEMU's stream socket, SLIP on a serial line or a socket).

A `ByteChannel` is one byte stream that the program's loop can select on: a connected socket, a pyserial
port, or a listening socket that takes one connection at a time and takes the next after a disconnect.
A `StreamLink` turns a channel into a link: `drain` reads what is waiting and hands whole frames to the
receiver on the caller's line; `send` encodes a frame and writes what the channel takes without blocking,
keeping the rest (bounded) for the next `poll`; an optional `LinePacer` lets bytes out at a line's rate.
A client whose peer goes away is reported once by `drain` (LinkError), as a TAP device that goes away is;
a listener goes back to waiting for the next connection.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass

from .base import Deliver, Link, LinkError
from .pacing import LinePacer

READ_SIZE = 65_536
READS_PER_DRAIN = 16
"""Reads of READ_SIZE one drain makes at most, so a peer that floods noise cannot hold the loop."""
OUT_LIMIT = 256 * 1024
"""Bytes kept for a channel that takes them slower than we send; a frame beyond this is dropped."""
CONNECT_TIMEOUT = 5.0


class ChannelClosed(Exception):
    """The other end went away (end of stream, reset, a pty whose other side closed)."""


def error_reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


class ByteChannel(ABC):
    @abstractmethod
    def fileno(self) -> int | None: ...

    @abstractmethod
    def read(self) -> bytes:
        """What is waiting (b"" when nothing is); raises ChannelClosed when the other end went away."""

    @abstractmethod
    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Write what the channel takes now; raises ChannelClosed when the other end went away."""

    @abstractmethod
    def close(self) -> None: ...

    @property
    def connected(self) -> bool:
        return True

    _fresh = True

    def take_new_connection(self) -> bool:
        """True once after a (new) peer connected: the link resets its decoder for a new byte stream. A
        channel that is connected when made (a client, a serial port) says so once, at the start."""
        fresh, self._fresh = self._fresh, False
        return fresh


class SocketChannel(ByteChannel):
    """A connected stream socket, non-blocking."""

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self.sock = sock

    def fileno(self) -> int | None:
        return self.sock.fileno()

    def read(self) -> bytes:
        try:
            data = self.sock.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return b""
        except OSError as exc:
            raise ChannelClosed(error_reason(exc)) from exc
        if not data:
            raise ChannelClosed("the peer closed the connection")
        return data

    def write(self, data: bytes | bytearray | memoryview) -> int:
        try:
            return self.sock.send(data)
        except (BlockingIOError, InterruptedError):
            return 0
        except OSError as exc:
            raise ChannelClosed(error_reason(exc)) from exc

    def close(self) -> None:
        self.sock.close()


@dataclass(frozen=True)
class Endpoint:
    """Where a stream socket connects or listens: a Unix socket path, or a TCP host and port."""

    path: str | None = None
    host: str = ""
    port: int = 0

    def __str__(self) -> str:
        return f"unix:{self.path}" if self.path is not None else f"{self.host}:{self.port}"

    def connect(self) -> socket.socket:
        """A connected socket; OSError as the system gives it."""
        if self.path is not None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.settimeout(CONNECT_TIMEOUT)
                sock.connect(self.path)
            except OSError:
                sock.close()
                raise
        else:
            sock = socket.create_connection((self.host, self.port), timeout=CONNECT_TIMEOUT)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def listen(self) -> socket.socket:
        if self.path is not None:
            # A socket file left by an earlier run would make bind fail; anything else there is not ours.
            try:
                if stat.S_ISSOCK(os.stat(self.path).st_mode):
                    os.unlink(self.path)
            except OSError:
                pass
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.bind(self.path)
                sock.listen(1)
            except OSError:
                sock.close()
                raise
            return sock
        infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
        family, _, _, _, address = infos[0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
            sock.listen(1)
        except OSError:
            sock.close()
            raise
        return sock


class ListeningChannel(ByteChannel):
    """A listening socket with at most one connection; after a disconnect it takes the next one.

    While a connection is up, `fileno()` is the connection's (a second caller waits in the backlog, as
    QEMU's `server=on` and DOSBox's null modem each serve one peer); while none is, the listener's.
    """

    def __init__(self, listener: socket.socket, path: str | None = None) -> None:
        listener.setblocking(False)
        self.listener = listener
        self.path = path
        self.conn: SocketChannel | None = None
        self.connections = 0
        self.disconnects = 0
        self._new = False

    @property
    def connected(self) -> bool:
        return self.conn is not None

    def fileno(self) -> int | None:
        return self.conn.fileno() if self.conn is not None else self.listener.fileno()

    def _accept(self) -> bool:
        try:
            sock, _ = self.listener.accept()
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return False  # a connection reset before we took it: wait for the next one
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.conn = SocketChannel(sock)
        self.connections += 1
        self._new = True
        return True

    def take_new_connection(self) -> bool:
        new, self._new = self._new, False
        return new

    def read(self) -> bytes:
        if self.conn is None and not self._accept():
            return b""
        assert self.conn is not None
        try:
            return self.conn.read()
        except ChannelClosed:
            self.hang_up()
            return b""

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self.conn is None:
            return len(data)  # no peer: the bytes go nowhere, as on an unplugged cable
        try:
            return self.conn.write(data)
        except ChannelClosed:
            self.hang_up()
            return len(data)

    def hang_up(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
            self.disconnects += 1

    def close(self) -> None:
        self.hang_up()
        self.listener.close()
        if self.path is not None:
            try:
                os.unlink(self.path)
            except OSError:
                pass


@dataclass
class StreamCounters:
    frames_in: int = 0
    frames_out: int = 0
    tx_dropped: int = 0
    """Frames dropped on the way out: the channel or the line could not keep up, or no peer was there."""


class StreamLink(Link):
    """A link over a byte channel; subclasses say how frames are cut out of bytes and put into them."""

    def __init__(self, spec: str, channel: ByteChannel, mac: bytes, mtu: int,
                 pacer: LinePacer | None = None) -> None:
        self.spec = spec
        self.mac = mac
        self.mtu = mtu
        self.channel = channel
        self.pacer = pacer
        self.counters = StreamCounters()
        self.now = 0
        self.failed: str | None = None
        self._deliver: Deliver | None = None
        self._ready: deque[bytes] = deque()
        self._out = bytearray()
        self._closed = False

    # -- what subclasses say --------------------------------------------------------------------------------

    @abstractmethod
    def decode(self, data: bytes) -> list[bytes]:
        """Frames for the receiver from the bytes just read (partial ones are kept for the next read)."""

    @abstractmethod
    def encode(self, frame: bytes) -> bytes | None:
        """The bytes that carry `frame`, or None when the frame is not carried (counted by the subclass)."""

    def on_connect(self) -> bytes:
        """A new byte stream began: reset decoding state; returns bytes to send first."""
        return b""

    def connection_broken(self) -> bool:
        """The decoder lost the stream's framing and the connection should be dropped."""
        return False

    # -- the link -------------------------------------------------------------------------------------------

    def fileno(self) -> int | None:
        return None if self._closed or self.failed else self.channel.fileno()

    def open(self, deliver: Deliver) -> None:
        if self._closed:
            raise LinkError(f"{self.spec}: link is closed")
        if self._deliver is not None:
            raise LinkError(f"{self.spec}: link is already open")
        self._deliver = deliver
        if self.channel.take_new_connection():
            self._start_stream()

    def queue_local(self, frame: bytes) -> None:
        """A frame made here for the receiver (an ARP answer), handed over by the next drain."""
        self._ready.append(frame)

    def _fail(self, reason: str) -> LinkError:
        self.failed = reason
        return LinkError(f"{self.spec}: {reason}")

    def drain(self, max_frames: int) -> int:
        deliver = self._deliver
        if deliver is None or self._closed:
            return 0
        if self.failed:
            raise LinkError(f"{self.spec}: {self.failed}")
        done = 0
        reads = 0
        ready = self._ready
        while done < max_frames:
            if ready:
                deliver(ready.popleft())
                done += 1
                continue
            if reads >= READS_PER_DRAIN:
                break
            reads += 1
            try:
                data = self.channel.read()
            except ChannelClosed as exc:
                raise self._fail(str(exc)) from None
            if self.channel.take_new_connection():
                self._start_stream()
            if not data:
                break
            frames = self.decode(data)
            self.counters.frames_in += len(frames)
            ready.extend(frames)
            if self.connection_broken():
                self._restart_stream()
        self._flush()
        return done

    def _start_stream(self) -> None:
        self._out.clear()
        if self.pacer is not None:
            self.pacer.queue.clear()
        self._write(self.on_connect())

    def _restart_stream(self) -> None:
        """The framing is lost: a listener drops the peer and waits for the next; a client says so."""
        if isinstance(self.channel, ListeningChannel):
            self.channel.hang_up()  # the next peer's stream starts afresh (on_connect resets the decoder)
            return
        raise self._fail("the peer's framing is lost (see the link's counters); connection dropped")

    def next_deadline(self) -> int | None:
        if self._ready:
            return 0
        if self.pacer is not None and self.pacer.pending:
            return self.pacer.next_deadline()
        if self._out:
            return self.now + 1
        return None

    def poll(self, now: int) -> None:
        self.now = max(self.now, now)
        self._flush()

    def send(self, frame: bytes | bytearray | memoryview) -> None:
        if self._closed:
            raise LinkError(f"{self.spec}: link is closed")
        if self.failed:
            raise LinkError(f"{self.spec}: {self.failed}")
        data = self.encode(bytes(frame))
        if data is None:
            return
        if not self.channel.connected:
            self.counters.tx_dropped += 1
            return
        if self.pacer is not None:
            if not self.pacer.push(data):
                self.counters.tx_dropped += 1
                return
        elif len(self._out) + len(data) > OUT_LIMIT:
            self.counters.tx_dropped += 1
            return
        else:
            self._out += data
        self.counters.frames_out += 1
        self._flush()
        if self.failed:
            raise LinkError(f"{self.spec}: {self.failed}")

    def _write(self, data: bytes) -> None:
        if data:
            self._out += data
            self._flush()

    def _flush(self) -> None:
        if self.pacer is not None:
            self._out += self.pacer.release(self.now)
        if not self._out or self._closed or self.failed:
            return
        try:
            written = self.channel.write(self._out)
        except ChannelClosed as exc:
            # Said by the next drain (poll, which may have called this, does not raise).
            self._out.clear()
            self.failed = f"cannot send: {exc}"
            return
        del self._out[:written]

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._deliver = None
        self._ready.clear()
        try:
            self.channel.close()
        except OSError:
            pass


def open_error(spec: str, what: str, exc: OSError) -> LinkError:
    if exc.errno == errno.ECONNREFUSED:
        reason = "connection refused (is the peer listening?)"
    elif exc.errno == errno.ENOENT:
        reason = "no such socket file (is the peer running?)"
    elif exc.errno == errno.EADDRINUSE:
        reason = "address in use (another program listens there)"
    elif isinstance(exc, TimeoutError):
        reason = "timed out"
    else:
        reason = error_reason(exc)
    return LinkError(f"{spec}: cannot {what}: {reason}")
