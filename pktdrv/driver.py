"""The PC/TCP Packet Driver Specification 1.11, emulated in Python over a `Link`.

Functions carry the spec's names and numbers. A caller registers a receiver with `access_type`; for every
received frame that matches its type, the driver calls the receiver twice, as a DOS driver does from its
interrupt handler:

    buffer = receiver(handle, 0, length)    # "give me a buffer of `length` bytes" (None refuses: dropped)
    receiver(handle, 1, view)               # the frame has been copied into buffer; view covers it

Those calls happen on the link's receive thread (the "interrupt"): a receiver must be quick and must not
block. Everything else runs on the caller's thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Protocol

from .errors import ErrorCode, PacketDriverError
from .links.base import ETH_HEADER_LEN, Link

SPEC_VERSION = 0x010B
"""Version 1.11 as driver_info reports it in BX."""
DRIVER_NAME = "mtcp-py emulated packet driver"
BROADCAST = b"\xff" * 6


class FunctionNumber(IntEnum):
    DRIVER_INFO = 1
    ACCESS_TYPE = 2
    RELEASE_TYPE = 3
    SEND_PKT = 4
    TERMINATE = 5
    GET_ADDRESS = 6
    RESET_INTERFACE = 7
    GET_PARAMETERS = 10
    AS_SEND_PKT = 11
    SET_RCV_MODE = 20
    GET_RCV_MODE = 21
    SET_MULTICAST_LIST = 22
    GET_MULTICAST_LIST = 23
    GET_STATISTICS = 24
    SET_ADDRESS = 25


class InterfaceClass(IntEnum):
    DIX_ETHERNET = 1
    TOKEN_RING = 3
    SLIP = 6
    ARCNET = 8
    IEEE_8023 = 11
    PPP = 16


class ReceiveMode(IntEnum):
    OFF = 1
    DIRECT = 2
    BROADCAST = 3
    MULTICAST_LIST = 4
    ALL_MULTICAST = 5
    PROMISCUOUS = 6


IF_TYPE_ANY = 0xFFFF
IF_NUMBER_ANY = 0
IF_TYPE_GENERIC = 1
FUNCTIONALITY_BASIC_EXTENDED = 2
"""driver_info's AL: basic and extended functions (set_rcv_mode, statistics, set_address...)."""


class Buffer(Protocol):
    """Anything a frame can be copied into: bytearray, memoryview, a DOS machine's memory window."""

    def __len__(self) -> int: ...

    def __setitem__(self, key: slice, value: bytes) -> None: ...


Receiver = Callable[[int, int, Any], Any]
"""receiver(handle, 0, length) -> Buffer | None, then receiver(handle, 1, memoryview | Buffer) -> None."""


@dataclass(frozen=True)
class DriverInfo:
    version: int
    if_class: int
    if_type: int
    if_number: int
    name: str
    functionality: int


@dataclass(frozen=True)
class Parameters:
    """get_parameters' table (spec 1.09+): all fields a DOS caller would read at ES:DI."""

    major_rev: int = 1
    minor_rev: int = 11
    length: int = 14
    addr_len: int = 6
    mtu: int = 1514
    multicast_aval: int = 0
    rcv_bufs: int = 0
    xmt_bufs: int = 0
    int_num: int = 0


@dataclass
class Statistics:
    """get_statistics: the spec's seven 32-bit counters, plus drops separated by cause."""

    packets_in: int = 0
    packets_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    errors_in: int = 0
    errors_out: int = 0
    packets_lost: int = 0
    dropped_no_handle: int = 0
    """No handle's type matched the frame."""
    dropped_refused: int = 0
    """The receiver answered the first call with no buffer (its pool was empty, or the frame too long)."""
    dropped_short_buffer: int = 0
    """The receiver's buffer was shorter than the frame."""
    dropped_filtered: int = 0
    """The receive mode does not take the frame's destination (not counted as lost: a NIC would not see it)."""
    dropped_runt: int = 0
    """Shorter than an Ethernet header."""
    dropped_receiver_error: int = 0
    """The receiver raised; the frame is lost and the driver carries on."""

    SPEC_FIELDS = ("packets_in", "packets_out", "bytes_in", "bytes_out", "errors_in", "errors_out",
                   "packets_lost")

    def spec_values(self) -> tuple[int, ...]:
        """The seven counters as DOS sees them (each a 32-bit unsigned that wraps)."""
        return tuple(getattr(self, name) & 0xFFFFFFFF for name in self.SPEC_FIELDS)

    def copy(self) -> Statistics:
        return Statistics(**{k: v for k, v in self.__dict__.items()})


@dataclass
class Handle:
    number: int
    if_class: int
    if_type: int
    if_number: int
    type_bytes: bytes
    receiver: Receiver

    def matches(self, frame: bytes | memoryview) -> bool:
        n = len(self.type_bytes)
        return n == 0 or bytes(frame[12 : 12 + n]) == self.type_bytes


class PacketDriver:
    """One loaded packet driver, bound to one link (one NIC)."""

    MAX_HANDLES = 16

    def __init__(self, link: Link, *, name: str = DRIVER_NAME, if_class: int = InterfaceClass.DIX_ETHERNET,
                 if_type: int = IF_TYPE_GENERIC, if_number: int = 0, interrupt: int = 0x60) -> None:
        self.link = link
        self.name = name
        self.if_class = if_class
        self.if_type = if_type
        self.if_number = if_number
        self.interrupt = interrupt
        self.stats = Statistics()
        self.handles: dict[int, Handle] = {}
        self.rcv_mode = ReceiveMode.BROADCAST
        self.multicast_list: list[bytes] = []
        self._address = bytes(link.mac)
        self._lock = threading.Lock()
        self._link_open = False
        self.terminated = False
        self.rx_checksum_ok = False
        """During the second upcall: the link vouches for the frame's TCP/UDP checksum (checksum offload; an
        extension to the spec, which has no such thing, False on every link without it)."""

    # -- helpers ------------------------------------------------------------------------------------------

    def _handle(self, handle: int) -> Handle:
        found = self.handles.get(handle)
        if found is None:
            raise PacketDriverError(ErrorCode.BAD_HANDLE, f"no handle {handle}")
        return found

    def _check_alive(self) -> None:
        if self.terminated:
            raise PacketDriverError(ErrorCode.BAD_COMMAND, "driver has been terminated")

    # -- 1 driver_info ------------------------------------------------------------------------------------

    def driver_info(self, handle: int | None = None) -> DriverInfo:
        if handle is not None:
            self._handle(handle)
        return DriverInfo(SPEC_VERSION, self.if_class, self.if_type, self.if_number, self.name,
                          FUNCTIONALITY_BASIC_EXTENDED)

    # -- 2 access_type ------------------------------------------------------------------------------------

    def access_type(self, if_class: int, if_type: int, if_number: int, type_bytes: bytes,
                    receiver: Receiver) -> int:
        self._check_alive()
        if if_class != self.if_class:
            raise PacketDriverError(ErrorCode.NO_CLASS, f"class {if_class}, this driver is {self.if_class}")
        if if_type not in (IF_TYPE_ANY, self.if_type):
            raise PacketDriverError(ErrorCode.NO_TYPE, f"type {if_type:#06x}")
        if if_number not in (IF_NUMBER_ANY, self.if_number):
            raise PacketDriverError(ErrorCode.NO_NUMBER, f"number {if_number}")
        type_bytes = bytes(type_bytes)
        if len(type_bytes) > 8:
            raise PacketDriverError(ErrorCode.BAD_TYPE, f"type of {len(type_bytes)} bytes")
        if receiver is None:
            raise PacketDriverError(ErrorCode.BAD_TYPE, "no receiver")
        with self._lock:
            for other in self.handles.values():
                # Two handles may not claim overlapping types: one would never see its frames. A catch-all
                # (type length 0) overlaps only another catch-all: named types take precedence over it.
                shorter = min(len(other.type_bytes), len(type_bytes))
                if (shorter or other.type_bytes == type_bytes) and \
                        other.type_bytes[:shorter] == type_bytes[:shorter]:
                    raise PacketDriverError(ErrorCode.TYPE_INUSE, f"type {type_bytes.hex() or 'all'}")
            if len(self.handles) >= self.MAX_HANDLES:
                raise PacketDriverError(ErrorCode.NO_SPACE, f"all {self.MAX_HANDLES} handles in use")
            number = next(n for n in range(1, self.MAX_HANDLES + 2) if n not in self.handles)
            self.handles[number] = Handle(number, if_class, if_type, if_number, type_bytes, receiver)
        self._ensure_link_open()
        return number

    def _ensure_link_open(self) -> None:
        if not self._link_open:
            self._link_open = True
            self.link.open(self.receive_frame)

    # -- 3 release_type, 5 terminate -------------------------------------------------------------------

    def release_type(self, handle: int) -> None:
        with self._lock:
            self._handle(handle)
            del self.handles[handle]

    def terminate(self, handle: int) -> None:
        """Release `handle` and unload the driver once no handle is left; the link is closed."""
        self.release_type(handle)
        with self._lock:
            if self.handles:
                return
        self.shutdown()

    def shutdown(self) -> None:
        """Unload: close the link. Harmless to call twice."""
        if self.terminated:
            return
        self.terminated = True
        with self._lock:
            self.handles.clear()
        self.link.close()

    # -- 4 send_pkt ---------------------------------------------------------------------------------------

    def send_pkt(self, frame: bytes | bytearray | memoryview) -> None:
        self._check_alive()
        length = len(frame)
        if length < ETH_HEADER_LEN or length > self.link.mtu + ETH_HEADER_LEN:
            self.stats.errors_out += 1
            raise PacketDriverError(ErrorCode.CANT_SEND, f"frame of {length} bytes")
        if length < self.link.min_frame:
            # A NIC pads runts to the minimum frame, as mTCP's Packet_send_pkt also does.
            frame = bytes(frame) + bytes(self.link.min_frame - length)
        try:
            self.link.send(frame)
        except Exception as exc:
            self.stats.errors_out += 1
            raise PacketDriverError(ErrorCode.CANT_SEND, str(exc)) from exc
        self.stats.packets_out += 1
        self.stats.bytes_out += len(frame)

    @property
    def checksum_offload(self) -> bool:
        """Whether `send_pkt_partial` may be used (the link's device fills transport checksums)."""
        return self.link.checksum_offload

    def send_pkt_partial(self, frame: bytes | bytearray | memoryview, csum_start: int, csum_offset: int) -> None:
        """send_pkt for a frame whose TCP/UDP checksum the device fills (an extension: only where
        `checksum_offload`): it sums from `csum_start` to the end into `csum_start + csum_offset`, where the
        caller has put the pseudo-header's sum. A frame of at least the minimum length, which TCP/UDP
        over IPv4 with a payload always is, so no padding is summed."""
        self._check_alive()
        length = len(frame)
        if length < self.link.min_frame or length > self.link.mtu + ETH_HEADER_LEN:
            self.stats.errors_out += 1
            raise PacketDriverError(ErrorCode.CANT_SEND, f"frame of {length} bytes")
        try:
            self.link.send_partial(frame, csum_start, csum_offset)
        except Exception as exc:
            self.stats.errors_out += 1
            raise PacketDriverError(ErrorCode.CANT_SEND, str(exc)) from exc
        self.stats.packets_out += 1
        self.stats.bytes_out += length

    # -- 6 get_address, 25 set_address --------------------------------------------------------------------

    def get_address(self, handle: int) -> bytes:
        self._handle(handle)
        return self._address

    def set_address(self, address: bytes) -> bytes:
        address = bytes(address)
        if len(address) != 6 or address[0] & 1:
            raise PacketDriverError(ErrorCode.BAD_ADDRESS, f"{address.hex(':')} is not a unicast MAC")
        with self._lock:
            if len(self.handles) > 1:
                # The spec refuses while more than one handle is open: others rely on the address.
                raise PacketDriverError(ErrorCode.CANT_SET, "more than one handle is open")
            self._address = address
            self.link.mac = address
        return address

    # -- 7 reset_interface ---------------------------------------------------------------------------------

    def reset_interface(self, handle: int) -> None:
        self._handle(handle)
        with self._lock:
            if len(self.handles) > 1:
                raise PacketDriverError(ErrorCode.CANT_RESET, "other handles are open")
            self.rcv_mode = ReceiveMode.BROADCAST
            self.multicast_list = []

    # -- 10 get_parameters ---------------------------------------------------------------------------------

    def get_parameters(self) -> Parameters:
        return Parameters(mtu=self.link.mtu + ETH_HEADER_LEN, int_num=self.interrupt)

    # -- 20/21 receive modes, 22/23 multicast list -----------------------------------------------------

    def set_rcv_mode(self, handle: int, mode: int) -> None:
        self._handle(handle)
        if mode not in ReceiveMode.__members__.values():
            raise PacketDriverError(ErrorCode.BAD_MODE, f"mode {mode}")
        with self._lock:
            if len(self.handles) > 1:
                raise PacketDriverError(ErrorCode.BAD_MODE, "other handles are open")
            self.rcv_mode = ReceiveMode(mode)

    def get_rcv_mode(self, handle: int) -> int:
        self._handle(handle)
        return int(self.rcv_mode)

    def set_multicast_list(self, addresses: list[bytes]) -> None:
        if any(len(a) != 6 or not a[0] & 1 for a in addresses):
            raise PacketDriverError(ErrorCode.BAD_ADDRESS, "multicast addresses have the group bit set")
        self.multicast_list = [bytes(a) for a in addresses]

    def get_multicast_list(self) -> list[bytes]:
        return list(self.multicast_list)

    # -- 24 get_statistics ----------------------------------------------------------------------------------

    def get_statistics(self, handle: int) -> Statistics:
        self._handle(handle)
        return self.stats.copy()

    # -- the receive side (the interrupt) -------------------------------------------------------------------

    def accepts(self, destination: bytes) -> bool:
        """Whether the receive mode lets a frame for `destination` through."""
        mode = self.rcv_mode
        if mode == ReceiveMode.PROMISCUOUS:
            return True
        if mode == ReceiveMode.OFF:
            return False
        if destination == self._address:
            return True
        if mode == ReceiveMode.DIRECT:
            return False
        if destination == BROADCAST:
            return True
        if not destination[0] & 1:
            return False
        if mode == ReceiveMode.ALL_MULTICAST:
            return True
        return mode == ReceiveMode.MULTICAST_LIST and destination in self.multicast_list

    def receive_frame(self, frame: bytes) -> None:
        """A frame came in from the link: find its handle and make the two upcalls."""
        stats = self.stats
        length = len(frame)
        if length < ETH_HEADER_LEN:
            stats.errors_in += 1
            stats.dropped_runt += 1
            return
        if not self.accepts(frame[0:6]):
            stats.dropped_filtered += 1
            return
        handle = self._find_handle(frame)
        if handle is None:
            stats.packets_lost += 1
            stats.dropped_no_handle += 1
            return
        try:
            buffer = handle.receiver(handle.number, 0, length)
            if buffer is None:
                stats.packets_lost += 1
                stats.dropped_refused += 1
                return
            if len(buffer) < length:
                stats.packets_lost += 1
                stats.dropped_short_buffer += 1
                return
            buffer[0:length] = frame
            self.rx_checksum_ok = self.link.rx_checksum_ok
            handle.receiver(handle.number, 1, buffer)
            # Counted once delivered: a receiver that fails its second call has lost the frame, not got it.
            stats.packets_in += 1
            stats.bytes_in += length
        except Exception:
            stats.packets_lost += 1
            stats.dropped_receiver_error += 1

    def _find_handle(self, frame: bytes) -> Handle | None:
        # A handle that names the frame's type comes before a catch-all (type length 0), whatever order
        # they were registered in: that is how a program that takes "all the rest" coexists with others.
        catch_all = None
        for handle in self.handles.values():
            if not handle.type_bytes:
                catch_all = handle
            elif handle.matches(frame):
                return handle
        return catch_all

    # -- time, for links that hold frames -------------------------------------------------------------------

    def poll(self, now: int) -> None:
        """Let the link release frames it holds until tick `now` (delay and rate wrappers)."""
        self.link.poll(now)

    def drain(self, max_frames: int) -> int:
        """Read up to `max_frames` waiting frames from the link, each through the two upcalls, on this line."""
        return self.link.drain(max_frames)

    def fileno(self) -> int | None:
        """The link's descriptor, readable when frames wait, for the program's select loop."""
        return self.link.fileno()

    def next_deadline(self) -> int | None:
        return self.link.next_deadline()
