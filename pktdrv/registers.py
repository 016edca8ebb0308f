"""The packet driver at the register level: what a DOS program sees when it executes `INT 60h`.

`RegisterEntry.call(regs)` takes the registers of the caller (AH names the function, as in the
specification), runs the matching `PacketDriver` method and returns the registers with the carry flag and,
on failure, the error code in DH. It needs no CPU emulator: memory behind DS:SI and ES:DI is reached
through the small `Memory` protocol, so the same entry serves a unicorn machine and a unit test with a
bytearray.

Tables the driver hands out by address (its name for driver_info, get_parameters' table, get_statistics'
counters) live in "driver memory": a region of the caller's address space that `DriverMemory` names.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

from .driver import FunctionNumber, PacketDriver, Receiver
from .errors import ErrorCode, PacketDriverError


class Memory(Protocol):
    """Real-mode memory as the driver reaches it: segment:offset, bytes in and out."""

    def read(self, segment: int, offset: int, length: int) -> bytes: ...

    def write(self, segment: int, offset: int, data: bytes) -> None: ...


@dataclass
class Registers:
    """The registers a packet driver call reads and writes (16-bit each), and the carry flag."""

    ax: int = 0
    bx: int = 0
    cx: int = 0
    dx: int = 0
    si: int = 0
    di: int = 0
    ds: int = 0
    es: int = 0
    carry: bool = False

    @property
    def ah(self) -> int:
        return (self.ax >> 8) & 0xFF

    @property
    def al(self) -> int:
        return self.ax & 0xFF

    @property
    def dl(self) -> int:
        return self.dx & 0xFF

    def with_dh(self, value: int) -> Registers:
        return replace(self, dx=((value & 0xFF) << 8) | (self.dx & 0xFF))


@dataclass(frozen=True)
class DriverMemory:
    """Where the driver's own tables sit in the caller's address space."""

    segment: int
    name_offset: int
    parameters_offset: int
    statistics_offset: int
    multicast_offset: int | None = None
    """Room for get_multicast_list's table (MULTICAST_BYTES), or None: that call then fails NO_MULTICAST."""


ReceiverFactory = Callable[[int, int], Receiver]
"""make_receiver(segment, offset) -> a Python receiver that stands for the guest's far receiver."""

NAME_BYTES = 32
"""Room for the driver's name (ASCIIZ) in driver memory."""
PARAMETERS_BYTES = 14
STATISTICS_BYTES = 28
MULTICAST_BYTES = 96
"""Sixteen addresses."""


def pack_parameters(driver: PacketDriver) -> bytes:
    """get_parameters' table: revisions, length, address length, MTU, multicast, buffers, interrupt."""
    p = driver.get_parameters()
    return struct.pack("<BBBBHHHHH", p.major_rev, p.minor_rev, p.length, p.addr_len, p.mtu,
                       p.multicast_aval, p.rcv_bufs, p.xmt_bufs, p.int_num)


class RegisterEntry:
    """One packet driver reached through registers; `describe` gives the last call for a trace."""

    def __init__(self, driver: PacketDriver, memory: Memory, driver_memory: DriverMemory,
                 make_receiver: ReceiverFactory) -> None:
        self.driver = driver
        self.memory = memory
        self.tables = driver_memory
        self.make_receiver = make_receiver
        self.last_call = ""
        name = driver.name.encode("ascii", "replace")[: NAME_BYTES - 1] + b"\x00"
        memory.write(driver_memory.segment, driver_memory.name_offset, name)

    def call(self, regs: Registers) -> Registers:
        """Serve one call; never raises for a bad call, as a DOS driver never crashes its caller."""
        function = regs.ah
        handler = self._HANDLERS.get(function)
        if handler is None:
            self.last_call = f"function {function} (unknown)"
            return self._fail(regs, ErrorCode.BAD_COMMAND)
        try:
            out = handler(self, regs)
        except PacketDriverError as exc:
            self.last_call += f" -> error {exc.code.name}"
            return self._fail(regs, exc.code)
        out.carry = False
        return out

    @staticmethod
    def _fail(regs: Registers, code: ErrorCode) -> Registers:
        out = regs.with_dh(int(code))
        out.carry = True
        return out

    # -- the functions ------------------------------------------------------------------------------------

    def _driver_info(self, regs: Registers) -> Registers:
        # BX may name a handle, but the specification makes it optional and callers leave anything there
        # (mTCP's and others' first call happens before they own a handle): never fail on it.
        handle = regs.bx if regs.bx in self.driver.handles else None
        self.last_call = "driver_info"
        info = self.driver.driver_info(handle)
        self.last_call += f" -> version {info.version:#06x} class={info.if_class} type={info.if_type}"
        return replace(regs, ax=(regs.ax & 0xFF00) | info.functionality, bx=info.version,
                       cx=((info.if_class & 0xFF) << 8) | (info.if_number & 0xFF), dx=info.if_type & 0xFFFF,
                       ds=self.tables.segment, si=self.tables.name_offset)

    def _access_type(self, regs: Registers) -> Registers:
        type_bytes = self.memory.read(regs.ds, regs.si, regs.cx) if regs.cx else b""
        self.last_call = (f"access_type class={regs.al} type={regs.bx:04x} number={regs.dl} "
                          f"typelen={regs.cx} types={type_bytes.hex() or '-'} receiver={regs.es:04x}:{regs.di:04x}")
        if regs.cx > 8:
            raise PacketDriverError(ErrorCode.BAD_TYPE, f"type length {regs.cx}")
        if regs.es == 0 and regs.di == 0:
            raise PacketDriverError(ErrorCode.BAD_TYPE, "no receiver")
        receiver = self.make_receiver(regs.es, regs.di)
        handle = self.driver.access_type(regs.al, regs.bx, regs.dl, type_bytes, receiver)
        self.last_call += f" -> handle {handle}"
        return replace(regs, ax=handle)

    def _release_type(self, regs: Registers) -> Registers:
        self.last_call = f"release_type handle={regs.bx}"
        self.driver.release_type(regs.bx)
        return replace(regs)

    def _send_pkt(self, regs: Registers) -> Registers:
        frame = self.memory.read(regs.ds, regs.si, regs.cx)
        self.last_call = f"send_pkt length={regs.cx}"
        if len(frame) >= 14:
            self.last_call += f" to={frame[0:6].hex(':')} type={frame[12:14].hex()}"
        self.driver.send_pkt(frame)
        return replace(regs)

    def _terminate(self, regs: Registers) -> Registers:
        self.last_call = f"terminate handle={regs.bx}"
        self.driver.terminate(regs.bx)
        return replace(regs)

    def _get_address(self, regs: Registers) -> Registers:
        self.last_call = f"get_address handle={regs.bx} buffer={regs.cx}"
        address = self.driver.get_address(regs.bx)
        if regs.cx < len(address):
            raise PacketDriverError(ErrorCode.NO_SPACE, f"buffer of {regs.cx} bytes")
        self.memory.write(regs.es, regs.di, address)
        self.last_call += f" -> {address.hex(':')}"
        return replace(regs, cx=len(address))

    def _reset_interface(self, regs: Registers) -> Registers:
        self.last_call = f"reset_interface handle={regs.bx}"
        self.driver.reset_interface(regs.bx)
        return replace(regs)

    def _get_parameters(self, regs: Registers) -> Registers:
        self.last_call = "get_parameters"
        self.memory.write(self.tables.segment, self.tables.parameters_offset, pack_parameters(self.driver))
        return replace(regs, es=self.tables.segment, di=self.tables.parameters_offset)

    def _set_rcv_mode(self, regs: Registers) -> Registers:
        self.last_call = f"set_rcv_mode handle={regs.bx} mode={regs.cx}"
        self.driver.set_rcv_mode(regs.bx, regs.cx)
        return replace(regs)

    def _get_rcv_mode(self, regs: Registers) -> Registers:
        self.last_call = f"get_rcv_mode handle={regs.bx}"
        mode = self.driver.get_rcv_mode(regs.bx)
        self.last_call += f" -> {mode}"
        return replace(regs, ax=mode)

    def _set_multicast_list(self, regs: Registers) -> Registers:
        data = self.memory.read(regs.es, regs.di, regs.cx)
        self.last_call = f"set_multicast_list length={regs.cx}"
        if regs.cx % 6:
            raise PacketDriverError(ErrorCode.BAD_ADDRESS, f"list of {regs.cx} bytes")
        self.driver.set_multicast_list([data[i : i + 6] for i in range(0, len(data), 6)])
        return replace(regs)

    def _get_multicast_list(self, regs: Registers) -> Registers:
        self.last_call = "get_multicast_list"
        offset = self.tables.multicast_offset
        if offset is None:
            raise PacketDriverError(ErrorCode.NO_MULTICAST, "no room for the list in driver memory")
        table = b"".join(self.driver.get_multicast_list())[:MULTICAST_BYTES]
        self.memory.write(self.tables.segment, offset, table)
        self.last_call += f" -> {len(table) // 6} addresses"
        return replace(regs, es=self.tables.segment, di=offset, cx=len(table))

    def _get_statistics(self, regs: Registers) -> Registers:
        self.last_call = f"get_statistics handle={regs.bx}"
        stats = self.driver.get_statistics(regs.bx)
        self.memory.write(self.tables.segment, self.tables.statistics_offset,
                          struct.pack("<7I", *stats.spec_values()))
        return replace(regs, ds=self.tables.segment, si=self.tables.statistics_offset)

    def _set_address(self, regs: Registers) -> Registers:
        address = self.memory.read(regs.es, regs.di, regs.cx)
        self.last_call = f"set_address {address.hex(':')}"
        self.driver.set_address(address)
        return replace(regs, cx=len(address))

    _HANDLERS: dict[int, Callable[[RegisterEntry, Registers], Registers]] = {
        FunctionNumber.DRIVER_INFO: _driver_info,
        FunctionNumber.ACCESS_TYPE: _access_type,
        FunctionNumber.RELEASE_TYPE: _release_type,
        FunctionNumber.SEND_PKT: _send_pkt,
        FunctionNumber.TERMINATE: _terminate,
        FunctionNumber.GET_ADDRESS: _get_address,
        FunctionNumber.RESET_INTERFACE: _reset_interface,
        FunctionNumber.GET_PARAMETERS: _get_parameters,
        FunctionNumber.SET_RCV_MODE: _set_rcv_mode,
        FunctionNumber.GET_RCV_MODE: _get_rcv_mode,
        FunctionNumber.SET_MULTICAST_LIST: _set_multicast_list,
        FunctionNumber.GET_MULTICAST_LIST: _get_multicast_list,
        FunctionNumber.GET_STATISTICS: _get_statistics,
        FunctionNumber.SET_ADDRESS: _set_address,
    }


class BytesMemory:
    """A flat 1 MiB real-mode memory in a bytearray: for tests and tools without a CPU."""

    def __init__(self, size: int = 0x100000) -> None:
        self.data = bytearray(size)

    def read(self, segment: int, offset: int, length: int) -> bytes:
        start = (segment << 4) + offset
        return bytes(self.data[start : start + length])

    def write(self, segment: int, offset: int, data: bytes) -> None:
        start = (segment << 4) + offset
        self.data[start : start + len(data)] = data
