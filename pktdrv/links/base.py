"""The one seam between the packet driver and a network: a `Link` carries whole Ethernet frames.

A link sends a frame, hands every received frame to the function given to `open()`, knows its MAC and
MTU, and closes. Frames reach that function on the caller's line only: a device link has a descriptor
(`fileno()`) that the program's one loop waits on, and `drain(max_frames)` reads what is waiting; the
in-memory hub delivers inline, as another stack sends. Wrappers (pcap writer, fault injector) are links
around links; they are given the time by `poll(now)` and never read a clock.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable

Deliver = Callable[[bytes], None]
"""Receives one frame, on the line that called `drain` (or, for the hub, `send`): short, never blocking."""

ETH_HEADER_LEN = 14
ETH_MIN_FRAME = 60
"""Shortest frame on the wire without its FCS; shorter ones are padded, as a NIC does."""


class LinkError(Exception):
    """A link could not be opened or used; the message names the link and says why."""


def random_mac() -> bytes:
    """A locally administered unicast MAC (bit 1 of the first octet set, bit 0 clear)."""
    raw = bytearray(os.urandom(6))
    raw[0] = (raw[0] & 0xFC) | 0x02
    return bytes(raw)


def format_mac(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


def parse_mac(text: str) -> bytes:
    parts = text.replace("-", ":").split(":")
    if len(parts) != 6:
        raise ValueError(f"not a MAC address: {text!r}")
    try:
        mac = bytes(int(p, 16) for p in parts)
    except ValueError:
        raise ValueError(f"not a MAC address: {text!r}") from None
    return mac


class Link(ABC):
    """A network attachment that carries Ethernet frames."""

    spec: str
    """The link string that names this link, e.g. ``tap:mtap0``."""
    mac: bytes
    """The station address the packet driver reports (get_address)."""
    mtu: int = 1500
    """Largest Ethernet payload; a frame is at most mtu + 14 bytes."""
    min_frame: int = ETH_MIN_FRAME
    """The packet driver pads shorter frames to this, as a NIC pads runts on a wire; 0 for a link that is no
    wire and whose peers take frames as they are (QEMU's stream and datagram sockets)."""
    checksum_offload: bool = False
    """The device fills TCP/UDP checksums of frames given to `send_partial`, and says per received frame
    whether it vouches for its checksum (`rx_checksum_ok`). Only a bare device link (`tap:...?offload=1`):
    a wrapper records or alters frames, so it is False on every one and stops its inner link's."""
    rx_checksum_ok: bool = False
    """While a frame is being delivered: the device vouches for its TCP/UDP checksum (made in the host's
    memory and never summed, or summed by the device), so the receiver need not verify it."""

    @abstractmethod
    def open(self, deliver: Deliver) -> None:
        """Start handing received frames to `deliver`."""

    @abstractmethod
    def send(self, frame: bytes | bytearray | memoryview) -> None:
        """Put one frame on the wire. Raises LinkError when it cannot be sent."""

    @abstractmethod
    def close(self) -> None:
        """Stop delivering, release the device, join any thread. Calling it twice is harmless."""

    def send_partial(self, frame: bytes | bytearray | memoryview, csum_start: int, csum_offset: int) -> None:
        """Put one frame on the wire, its transport checksum left for the device: the device sums from byte
        `csum_start` to the end and writes it at `csum_start + csum_offset`, where the sender has put the
        pseudo-header's sum. Only when `checksum_offload`; LinkError otherwise."""
        raise LinkError(f"{self.spec}: no checksum offload")

    def stop_checksum_offload(self) -> None:  # noqa: B027 - only a link that offloads has work to do
        """Have the device sum every frame both ways from now on (checksum_offload becomes False)."""

    def poll(self, now: int) -> None:  # noqa: B027 - most links keep no time
        """Release whatever a wrapper holds until tick `now` (delayed or rate-limited frames)."""

    def next_deadline(self) -> int | None:
        """The tick at which `poll` has work to do, or None."""
        return None

    def fileno(self) -> int | None:
        """The descriptor that becomes readable when frames wait (for the loop's select), or None."""
        return None

    def drain(self, max_frames: int) -> int:
        """Hand up to `max_frames` waiting frames to the receiver; returns how many were read."""
        return 0

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.spec} {format_mac(self.mac)}>"


class LinkWrapper(Link):
    """A link that passes everything to an inner link; subclasses change one direction or both."""

    checksum_offload = False
    rx_checksum_ok = False

    def __init__(self, inner: Link) -> None:
        # What a wrapper records or alters must carry its own checksums, both ways.
        inner.stop_checksum_offload()
        self.inner = inner
        self.spec = inner.spec
        self.mtu = inner.mtu

    @property
    def mac(self) -> bytes:  # type: ignore[override]
        return self.inner.mac

    @mac.setter
    def mac(self, value: bytes) -> None:
        self.inner.mac = value

    @property
    def min_frame(self) -> int:  # type: ignore[override]
        return self.inner.min_frame

    def fileno(self) -> int | None:
        return self.inner.fileno()

    def drain(self, max_frames: int) -> int:
        return self.inner.drain(max_frames)

    def open(self, deliver: Deliver) -> None:
        self.inner.open(deliver)

    def send(self, frame: bytes | bytearray | memoryview) -> None:
        self.inner.send(frame)

    def close(self) -> None:
        self.inner.close()

    def poll(self, now: int) -> None:
        self.inner.poll(now)

    def next_deadline(self) -> int | None:
        return self.inner.next_deadline()
