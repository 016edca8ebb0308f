"""Ethernet II (DIX) frames: 6-byte destination, 6-byte source, 2-byte type, payload."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from . import WireError

HEADER = struct.Struct("!6s6sH")
HEADER_LEN = 14
TYPE_IPV4 = 0x0800
TYPE_ARP = 0x0806
BROADCAST = b"\xff" * 6
_TYPE = struct.Struct("!H")


def ethertype(frame: bytes | bytearray | memoryview) -> int:
    """The type field of a frame already known to be at least a header long."""
    return int(_TYPE.unpack_from(frame, 12)[0])


@dataclass(slots=True)
class EthernetRepr:
    dst: bytes
    src: bytes
    ethertype: int

    @classmethod
    def parse(cls, frame: bytes | bytearray | memoryview) -> EthernetRepr:
        if len(frame) < HEADER_LEN:
            raise WireError("eth_truncated", f"{len(frame)} bytes")
        dst, src, kind = HEADER.unpack_from(frame, 0)
        return cls(dst, src, kind)

    def emit(self, buf: bytearray | memoryview, offset: int = 0) -> None:
        HEADER.pack_into(buf, offset, self.dst, self.src, self.ethertype)

    def buffer_len(self) -> int:
        return HEADER_LEN
