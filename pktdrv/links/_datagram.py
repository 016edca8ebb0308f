"""What the UDP links share (QEMU's dgram, 86Box's switch, DOSBox-X's ethnet): one socket the program's
loop selects on, read in `drain` on the caller's line, each datagram handed to the link's `take`.

A datagram that is not a frame for us is counted by `take` and dropped; an ICMP error for an earlier send
(a peer not up yet) shows as an error on a read, and is skipped, never raised.
"""

from __future__ import annotations

import socket
from abc import abstractmethod

from .base import Deliver, Link, LinkError

READS_PER_DRAIN = 256
"""Datagrams one drain reads at most, so a flood cannot hold the loop."""


class DatagramLink(Link):
    sock: socket.socket
    """The socket the link receives on (the subclass makes it)."""

    def __init__(self, spec: str, mac: bytes, mtu: int) -> None:
        self.spec = spec
        self.mac = mac
        self.mtu = mtu
        self.failed: str | None = None
        """Why the link stopped (a tunnel timed out, say); drain raises LinkError with it."""
        self._deliver: Deliver | None = None
        self._closed = False

    @abstractmethod
    def take(self, datagram: bytes, source: tuple[str, int]) -> int:
        """Deal with one datagram from `source`; returns 1 when it handed a frame to the receiver."""

    def deliver(self, frame: bytes) -> None:
        assert self._deliver is not None  # take() runs only from drain, which checks
        self._deliver(frame)

    def fileno(self) -> int | None:
        return None if self._closed or self.failed else self.sock.fileno()

    def open(self, deliver: Deliver) -> None:
        if self._closed:
            raise LinkError(f"{self.spec}: link is closed")
        self._deliver = deliver

    def drain(self, max_frames: int) -> int:
        if self._deliver is None or self._closed:
            return 0
        if self.failed:
            raise LinkError(f"{self.spec}: {self.failed}")
        done = 0
        for _ in range(READS_PER_DRAIN):
            if done >= max_frames:
                break
            try:
                datagram, source = self.sock.recvfrom(65_536)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                continue  # an ICMP error for an earlier send: not a datagram
            done += self.take(datagram, (str(source[0]), int(source[1])))
        return done

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._deliver = None
        self.close_sockets()

    def close_sockets(self) -> None:
        self.sock.close()
