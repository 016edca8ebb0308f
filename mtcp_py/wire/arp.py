"""ARP for IPv4 over Ethernet (RFC 826): the only kind this stack speaks."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from . import WireError

PACKET = struct.Struct("!HHBBH6sI6sI")
PACKET_LEN = 28
HTYPE_ETHERNET = 1
PTYPE_IPV4 = 0x0800
OP_REQUEST = 1
OP_REPLY = 2


@dataclass(slots=True)
class ArpRepr:
    operation: int
    sender_mac: bytes
    sender_ip: int
    target_mac: bytes
    target_ip: int

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview) -> ArpRepr:
        if len(data) < PACKET_LEN:
            raise WireError("arp_truncated", f"{len(data)} bytes")
        htype, ptype, hlen, plen, op, smac, sip, tmac, tip = PACKET.unpack_from(data, 0)
        if htype != HTYPE_ETHERNET or ptype != PTYPE_IPV4 or hlen != 6 or plen != 4:
            raise WireError("arp_unsupported", f"htype={htype} ptype={ptype:#06x} hlen={hlen} plen={plen}")
        if op not in (OP_REQUEST, OP_REPLY):
            raise WireError("arp_bad_operation", f"operation {op}")
        if smac[0] & 1:
            raise WireError("arp_bad_sender", "sender MAC is multicast")
        return cls(op, smac, sip, tmac, tip)

    def emit(self, buf: bytearray | memoryview, offset: int = 0) -> None:
        PACKET.pack_into(buf, offset, HTYPE_ETHERNET, PTYPE_IPV4, 6, 4, self.operation, self.sender_mac,
                         self.sender_ip, self.target_mac, self.target_ip)

    def buffer_len(self) -> int:
        return PACKET_LEN
