"""`tap:NAME`: a Linux TAP device, created (or attached to, if it exists and is free) by name.

The kernel's side of the device is an interface like any other: give it an address and it answers ARP,
ICMP and TCP. The stack on this side has a MAC of its own, different from the device's.

`tap:NAME?offload=1` opens it with IFF_VNET_HDR and TUNSETOFFLOAD(TUN_F_CSUM): every read and write then
starts with a 10-byte virtio_net_hdr. A sender may leave a frame's TCP/UDP checksum to the kernel
(`send_partial`: NEEDS_CSUM, its field holding the pseudo-header sum), and the kernel marks each frame it
hands us whose checksum it vouches for (NEEDS_CSUM: made here, in memory, never computed; DATA_VALID:
verified), which `rx_checksum_ok` reports for the frame being delivered. No TSO/UFO flag is set, so the
kernel never hands us a frame larger than the MTU. Measured here at MTU 1500 (bench/bench_sol.py
--offload), the stack moves about 1.5x the bytes per CPU second receiving and 1.8x sending: our sums
are spared, and (most likely, as sending gains more than our sum costs) so is the kernel's check of ours,
which runs on our time inside write().
"""

from __future__ import annotations

import fcntl
import os
import select
import struct

from ._device import FdLink, interface_mtu, os_error_reason
from .base import LinkError, random_mac

TUNSETIFF = 0x400454CA
TUNSETOFFLOAD = 0x400454D0
TUNSETVNETHDRSZ = 0x400454D8
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
IFF_VNET_HDR = 0x4000
TUN_F_CSUM = 0x01

VNET_HDR = struct.Struct("=BBHHHH")
"""struct virtio_net_hdr: flags, gso_type, hdr_len, gso_size, csum_start, csum_offset. A TAP's header is
virtio's legacy one, in the host's byte order unless TUNSETVNETLE/BE says otherwise (we never do)."""
VNET_HDR_LEN = VNET_HDR.size
F_NEEDS_CSUM = 1
F_DATA_VALID = 2
GSO_NONE = 0
_PLAIN = VNET_HDR.pack(0, GSO_NONE, 0, 0, 0, 0)
"""The header of a frame whose checksums are all in it: the kernel verifies them as a wire's."""


def encode_vnet(csum_start: int = 0, csum_offset: int = 0) -> bytes:
    """The header for one frame sent: NEEDS_CSUM (the kernel sums from `csum_start` to the end and writes the
    result at `csum_start + csum_offset`) when `csum_offset` is given, else no flag."""
    if not csum_offset:
        return _PLAIN
    return VNET_HDR.pack(F_NEEDS_CSUM, GSO_NONE, 0, 0, csum_start, csum_offset)


def decode_vnet(header: bytes | bytearray | memoryview) -> tuple[int, int, int, int]:
    """(flags, gso_type, csum_start, csum_offset) of a received header."""
    flags, gso_type, _hdr_len, _gso_size, csum_start, csum_offset = VNET_HDR.unpack_from(header, 0)
    return flags, gso_type, csum_start, csum_offset


class TapLink(FdLink):
    def __init__(self, name: str, mac: bytes | None = None, mtu: int | None = None, offload: bool = False) -> None:
        spec = f"tap:{name}"
        if not name or len(name.encode()) > 15:
            raise LinkError(f"{spec}: a device name is 1 to 15 characters")
        try:
            fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
        except OSError as exc:
            raise LinkError(f"{spec}: cannot open /dev/net/tun: {os_error_reason(exc)}") from exc
        flags = IFF_TAP | IFF_NO_PI | (IFF_VNET_HDR if offload else 0)
        try:
            fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", name.encode(), flags))
            if offload:
                # Said, not assumed: another program may have left the device with a longer header.
                fcntl.ioctl(fd, TUNSETVNETHDRSZ, struct.pack("i", VNET_HDR_LEN))
                fcntl.ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM)
        except OSError as exc:
            os.close(fd)
            raise LinkError(f"{spec}: {os_error_reason(exc)}") from exc
        self.device = name
        self.vnet = offload
        """Every read and write carries a virtio_net_hdr (kept while offload is stopped: it is the fd's)."""
        super().__init__(spec, fd, mac or random_mac(), mtu or interface_mtu(name) or 1500)
        self.checksum_offload = offload
        self._partial_headers: dict[tuple[int, int], bytes] = {}
        self.rx_gso_dropped = 0
        """GSO frames (larger than the MTU) the kernel handed us: never expected, as no TSO flag is set."""

    def stop_checksum_offload(self) -> None:
        """The kernel sums every frame again both ways (a wrapper records or alters frames)."""
        if self.checksum_offload:
            fcntl.ioctl(self._fd, TUNSETOFFLOAD, 0)
            self.checksum_offload = False
            self.rx_checksum_ok = False

    def _read_frame(self) -> bytes | None:
        if not self.vnet:
            return super()._read_frame()
        while True:
            try:
                data = os.read(self._fd, self.READ_SIZE)
            except BlockingIOError:
                return None
            if len(data) <= VNET_HDR_LEN:
                return b""  # no frame behind the header: counted as read, never delivered
            flags = data[0]
            if data[1] != GSO_NONE:
                self.rx_gso_dropped += 1
                continue
            # The flag of the frame about to be delivered: the driver reads it during its upcall.
            self.rx_checksum_ok = bool(flags & (F_NEEDS_CSUM | F_DATA_VALID)) and self.checksum_offload
            return data[VNET_HDR_LEN:]

    def send(self, frame: bytes | bytearray | memoryview) -> None:
        if not self.vnet:
            super().send(frame)
        else:
            self._write((_PLAIN, frame))

    def send_partial(self, frame: bytes | bytearray | memoryview, csum_start: int, csum_offset: int) -> None:
        if not self.checksum_offload:
            raise LinkError(f"{self.spec}: no checksum offload")
        header = self._partial_headers.get((csum_start, csum_offset))
        if header is None:  # made once: a stack sends its segments with one or two layouts
            header = self._partial_headers[(csum_start, csum_offset)] = encode_vnet(csum_start, csum_offset)
        self._write((header, frame))

    def _write(self, parts: tuple[bytes, bytes | bytearray | memoryview]) -> None:
        if self._closed:
            raise LinkError(f"{self.spec}: link is closed")
        while True:
            try:
                os.writev(self._fd, parts)
                return
            except BlockingIOError:
                select.select([], [self._fd], [], 0.05)
            except OSError as exc:
                raise LinkError(f"{self.spec}: cannot send: {os_error_reason(exc)}") from exc
