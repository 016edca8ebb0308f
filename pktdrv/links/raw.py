"""`raw:IFACE`: an existing interface through an AF_PACKET socket: every frame a pcap capture sees.

Use it to join a bridge that an emulator (DOSBox-X's pcap backend, QEMU's tap) is also on. The interface
is put in promiscuous mode for as long as the link is open, so frames for this link's own MAC arrive.
"""

from __future__ import annotations

import socket
import struct

from ._device import FdLink, interface_mtu, os_error_reason
from .base import LinkError, random_mac

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_MR_PROMISC = 1
PACKET_OUTGOING = 4


class RawLink(FdLink):
    def __init__(self, iface: str, mac: bytes | None = None) -> None:
        spec = f"raw:{iface}"
        try:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        except OSError as exc:
            raise LinkError(f"{spec}: {os_error_reason(exc)}") from exc
        try:
            sock.bind((iface, ETH_P_ALL))
            index = socket.if_nametoindex(iface)
            mreq = struct.pack("iHH8s", index, PACKET_MR_PROMISC, 0, b"")
            sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)
        except OSError as exc:
            sock.close()
            raise LinkError(f"{spec}: {os_error_reason(exc)}") from exc
        self._sock = sock
        super().__init__(spec, sock.fileno(), mac or random_mac(), interface_mtu(iface) or 1500)

    def _read_frame(self) -> bytes | None:
        try:
            frame, address = self._sock.recvfrom(self.READ_SIZE)
        except BlockingIOError:
            return None
        # Our own transmissions come back as "outgoing" on the same interface; a host's outgoing frames
        # to an emulator on the bridge also do, and those we keep.
        if address[2] == PACKET_OUTGOING and frame[6:12] == self.mac:
            return b""
        return frame

    def send(self, frame: bytes | bytearray | memoryview) -> None:
        if self._closed:
            raise LinkError(f"{self.spec}: link is closed")
        try:
            self._sock.send(frame)
        except OSError as exc:
            raise LinkError(f"{self.spec}: cannot send: {os_error_reason(exc)}") from exc

    def close(self) -> None:
        if self._closed:
            return
        super().close()
        self._sock.detach()
