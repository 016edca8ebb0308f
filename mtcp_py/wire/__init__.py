"""Stateless views and values, one module per protocol: parse bytes into a Repr, emit a Repr into bytes.

Reprs are plain values: nothing mutates one after it is made. They are not frozen dataclasses only
because a frozen one costs about 3 us to build against 0.6 us (measured here), and the receive and send
paths build several per frame.

All validation lives here. Anything wrong with untrusted bytes raises `WireError(reason)`, and only that:
the layer above counts the reason and drops the frame. Nothing here keeps state, reads a clock, or imports
from the layers above.
"""

from __future__ import annotations

import socket
import struct


class WireError(ValueError):
    """Bytes that cannot be what they claim to be; `reason` is a short name fit for a drop counter."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        super().__init__(f"{reason}: {detail}" if detail else reason)


_IP = struct.Struct("!I")


def ip_from_str(text: str) -> int:
    """Dotted quad to a 32-bit integer. Raises ValueError for anything else."""
    try:
        packed = socket.inet_pton(socket.AF_INET, text.strip())
    except OSError:
        raise ValueError(f"not an IPv4 address: {text!r}") from None
    return int(_IP.unpack(packed)[0])


def ip_to_str(address: int) -> str:
    return socket.inet_ntoa(_IP.pack(address))
