"""`tap:NAME`: a Linux TAP device, created (or attached to, if it exists and is free) by name.

The kernel's side of the device is an interface like any other: give it an address and it answers ARP,
ICMP and TCP. The stack on this side has a MAC of its own, different from the device's.
"""

from __future__ import annotations

import fcntl
import os
import struct

from ._device import FdLink, interface_mtu, os_error_reason
from .base import LinkError, random_mac

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000


class TapLink(FdLink):
    def __init__(self, name: str, mac: bytes | None = None, mtu: int | None = None) -> None:
        spec = f"tap:{name}"
        if not name or len(name.encode()) > 15:
            raise LinkError(f"{spec}: a device name is 1 to 15 characters")
        try:
            fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
        except OSError as exc:
            raise LinkError(f"{spec}: cannot open /dev/net/tun: {os_error_reason(exc)}") from exc
        try:
            fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", name.encode(), IFF_TAP | IFF_NO_PI))
        except OSError as exc:
            os.close(fd)
            raise LinkError(f"{spec}: {os_error_reason(exc)}") from exc
        self.device = name
        super().__init__(spec, fd, mac or random_mac(), mtu or interface_mtu(name) or 1500)
