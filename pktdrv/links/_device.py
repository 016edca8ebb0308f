"""What the TAP and raw links share: a file descriptor read on a thread of its own.

The thread waits in poll() on the device and on a wake-up pipe (so close() never waits on a blocked
read), then reads every frame that is ready before waiting again: one wake-up per burst, not per frame.
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import socket
import struct
import threading
from collections.abc import Callable

from .base import Deliver, Link, LinkError

SIOCGIFMTU = 0x8921
SIOCGIFHWADDR = 0x8927


def interface_mtu(name: str) -> int | None:
    """The MTU the kernel has for interface `name`, or None if it cannot be read."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            req = struct.pack("16si12x", name.encode()[:15], 0)
            out = fcntl.ioctl(sock.fileno(), SIOCGIFMTU, req)
            return int(struct.unpack("16si12x", out)[1])
    except OSError:
        return None


def os_error_reason(exc: OSError) -> str:
    """Why a device could not be used, in the words a user needs."""
    if exc.errno in (errno.EPERM, errno.EACCES):
        return "not permitted (run as root, or give the program CAP_NET_ADMIN/CAP_NET_RAW)"
    if exc.errno == errno.EBUSY:
        return "busy (another program has the device open)"
    if exc.errno in (errno.ENODEV, errno.ENXIO):
        return "no such device"
    if exc.errno == errno.ENOENT:
        return "no such device (or /dev/net/tun is missing)"
    return exc.strerror or str(exc)


class FdLink(Link):
    """A link over a non-blocking file descriptor, read on a receive thread."""

    READ_SIZE = 65_536

    def __init__(self, spec: str, fd: int, mac: bytes, mtu: int) -> None:
        self.spec = spec
        self.mac = mac
        self.mtu = mtu
        self._fd = fd
        os.set_blocking(fd, False)
        self._wake_r, self._wake_w = os.pipe()
        self._thread: threading.Thread | None = None
        self._closing = False
        self._closed = False
        self.rx_errors = 0

    @property
    def threaded(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def _read_frame(self) -> bytes | None:
        """One frame, or None when none is ready. Subclasses filter what is not for this link."""
        try:
            return os.read(self._fd, self.READ_SIZE)
        except BlockingIOError:
            return None

    def open(self, deliver: Deliver) -> None:
        if self._closed:
            raise LinkError(f"{self.spec}: link is closed")
        if self._thread is not None:
            raise LinkError(f"{self.spec}: link is already open")
        self._thread = threading.Thread(
            target=self._receive_loop, args=(deliver,), name=f"rx {self.spec}", daemon=True
        )
        self._thread.start()

    def _receive_loop(self, deliver: Deliver) -> None:
        poller = select.poll()
        poller.register(self._fd, select.POLLIN)
        poller.register(self._wake_r, select.POLLIN)
        read_frame: Callable[[], bytes | None] = self._read_frame
        while not self._closing:
            try:
                poller.poll()
            except InterruptedError:
                continue
            while not self._closing:
                try:
                    frame = read_frame()
                except OSError:
                    self.rx_errors += 1
                    if self._closing:
                        return
                    break
                if frame is None:
                    break
                if frame:
                    deliver(frame)

    def send(self, frame: bytes | bytearray | memoryview) -> None:
        if self._closed:
            raise LinkError(f"{self.spec}: link is closed")
        while True:
            try:
                os.write(self._fd, frame)
                return
            except BlockingIOError:
                # The device queue is full for a moment; wait until it drains rather than drop.
                select.select([], [self._fd], [], 0.05)
            except OSError as exc:
                raise LinkError(f"{self.spec}: cannot send: {os_error_reason(exc)}") from exc

    def close(self) -> None:
        if self._closed:
            return
        self._closing = True
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._closed = True
        for fd in (self._fd, self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
