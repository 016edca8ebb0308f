"""What the TAP and raw links share: a non-blocking file descriptor, read by the program's loop.

No thread of its own: the loop waits in select/poll on `fileno()` with everything else it waits on, then
calls `drain`, which reads the frames that are ready (a bounded number, so timers and the application
get their turn) and hands each to the packet driver on that same line.
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import socket
import struct

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
    """A link over a non-blocking file descriptor, drained by the caller."""

    READ_SIZE = 65_536

    def __init__(self, spec: str, fd: int, mac: bytes, mtu: int) -> None:
        self.spec = spec
        self.mac = mac
        self.mtu = mtu
        self._fd = fd
        os.set_blocking(fd, False)
        self._deliver: Deliver | None = None
        self._closed = False
        self.rx_errors = 0
        self.failed: str | None = None
        """Why the device stopped working (it went away, say); drain() raises LinkError with it."""

    def fileno(self) -> int | None:
        return None if self._closed or self.failed else self._fd

    def _read_frame(self) -> bytes | None:
        """One frame, or None when none is ready. Subclasses filter what is not for this link."""
        try:
            return os.read(self._fd, self.READ_SIZE)
        except BlockingIOError:
            return None

    def open(self, deliver: Deliver) -> None:
        if self._closed:
            raise LinkError(f"{self.spec}: link is closed")
        if self._deliver is not None:
            raise LinkError(f"{self.spec}: link is already open")
        self._deliver = deliver

    def drain(self, max_frames: int) -> int:
        deliver = self._deliver
        if deliver is None or self._closed:
            return 0
        if self.failed:
            raise LinkError(f"{self.spec}: {self.failed}")
        read_frame = self._read_frame
        done = 0
        while done < max_frames:
            try:
                frame = read_frame()
            except OSError as exc:
                # The device went away (ip link del) or broke: say so once, never spin on it.
                self.rx_errors += 1
                self.failed = f"cannot receive: {os_error_reason(exc)}"
                raise LinkError(f"{self.spec}: {self.failed}") from exc
            if frame is None:
                break
            done += 1
            if frame:
                deliver(frame)
        return done

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
        self._closed = True
        self._deliver = None
        try:
            os.close(self._fd)
        except OSError:
            pass
