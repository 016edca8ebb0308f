"""The packet driver at the register level, without a CPU: registers in, registers and carry out."""

from __future__ import annotations

import struct

from pktdrv.driver import PacketDriver
from pktdrv.errors import ErrorCode
from pktdrv.links import HUBS, open_link
from pktdrv.registers import BytesMemory, DriverMemory, RegisterEntry, Registers

TABLES = DriverMemory(0xF000, 0x500, 0x540, 0x560, 0x580)


def make_entry(hub: str) -> tuple[RegisterEntry, BytesMemory, list[tuple[int, int, int]], PacketDriver]:
    memory = BytesMemory()
    calls: list[tuple[int, int, int]] = []

    def make_receiver(segment: int, offset: int):  # type: ignore[no-untyped-def]
        def receive(handle: int, flag: int, argument: object) -> object:
            calls.append((segment, offset, flag))
            return bytearray(argument) if flag == 0 and isinstance(argument, int) else None
        return receive

    driver = PacketDriver(open_link(f"hub:{hub}"))
    return RegisterEntry(driver, memory, TABLES, make_receiver), memory, calls, driver


def test_driver_info_names_the_driver_in_driver_memory() -> None:
    entry, memory, _, _ = make_entry("reg1")
    out = entry.call(Registers(ax=0x01FF, bx=0x1234))
    assert not out.carry
    assert out.bx == 0x010B and out.cx >> 8 == 1
    assert (out.ds, out.si) == (0xF000, 0x500)
    assert memory.read(out.ds, out.si, 6) == b"mtcp-p"


def test_access_type_send_statistics_release_and_errors() -> None:
    entry, memory, calls, driver = make_entry("reg2")
    memory.write(0x2000, 0x10, b"\x08\x00")
    out = entry.call(Registers(ax=0x0201, bx=0xFFFF, cx=2, dx=0, ds=0x2000, si=0x10, es=0x3000, di=0x44))
    assert not out.carry and out.ax == 1
    handle = out.ax
    # the same type again: TYPE_INUSE in DH with carry set
    again = entry.call(Registers(ax=0x0201, bx=0xFFFF, cx=2, ds=0x2000, si=0x10, es=0x3000, di=0x44))
    assert again.carry and again.dx >> 8 == ErrorCode.TYPE_INUSE
    # get_address into ES:DI
    out = entry.call(Registers(ax=0x0600, bx=handle, cx=6, es=0x2000, di=0x100))
    assert not out.carry and out.cx == 6 and memory.read(0x2000, 0x100, 6) == driver.link.mac
    # send_pkt from DS:SI
    frame = b"\xff" * 6 + driver.link.mac + b"\x08\x00" + bytes(46)
    memory.write(0x2000, 0x200, frame)
    out = entry.call(Registers(ax=0x0400, cx=len(frame), ds=0x2000, si=0x200))
    assert not out.carry
    # a frame from a peer reaches the receiver (both upcalls)
    peer = HUBS.get("reg2").port()
    peer.open(lambda _frame: None)
    peer.send(driver.link.mac + peer.mac + b"\x08\x00" + bytes(46))
    assert calls == [] and driver.drain(8) == 1  # the frame waits until the driver's owner drains the link
    assert calls == [(0x3000, 0x44, 0), (0x3000, 0x44, 1)]
    # get_statistics: seven dwords in driver memory
    out = entry.call(Registers(ax=0x1800, bx=handle))
    assert not out.carry and (out.ds, out.si) == (0xF000, 0x560)
    packets_in, packets_out = struct.unpack("<2I", memory.read(out.ds, out.si, 8))
    assert (packets_in, packets_out) == (1, 1)
    # get_parameters
    out = entry.call(Registers(ax=0x0A00))
    assert memory.read(out.es, out.di, 4) == bytes([1, 11, 14, 6])
    # receive modes
    assert not entry.call(Registers(ax=0x1400, bx=handle, cx=6)).carry
    assert entry.call(Registers(ax=0x1500, bx=handle)).ax == 6
    assert entry.call(Registers(ax=0x1400, bx=handle, cx=9)).dx >> 8 == ErrorCode.BAD_MODE
    # multicast list in and out
    group = bytes.fromhex("01005e000001")
    memory.write(0x2000, 0x300, group)
    assert not entry.call(Registers(ax=0x1600, cx=6, es=0x2000, di=0x300)).carry
    out = entry.call(Registers(ax=0x1700))
    assert not out.carry and out.cx == 6 and memory.read(out.es, out.di, 6) == group
    # release, then a bad handle and an unknown function
    assert not entry.call(Registers(ax=0x0300, bx=handle)).carry
    bad = entry.call(Registers(ax=0x0300, bx=handle))
    assert bad.carry and bad.dx >> 8 == ErrorCode.BAD_HANDLE
    unknown = entry.call(Registers(ax=0x6300))
    assert unknown.carry and unknown.dx >> 8 == ErrorCode.BAD_COMMAND
    short = entry.call(Registers(ax=0x0400, cx=5, ds=0x2000, si=0x200))
    assert short.carry and short.dx >> 8 == ErrorCode.CANT_SEND
    driver.shutdown()


def test_access_type_without_receiver_and_set_address() -> None:
    entry, memory, _, driver = make_entry("reg3")
    out = entry.call(Registers(ax=0x0201, bx=0xFFFF, cx=0))
    assert out.carry and out.dx >> 8 == ErrorCode.BAD_TYPE
    memory.write(0x2000, 0, bytes.fromhex("020000000099"))
    out = entry.call(Registers(ax=0x1900, cx=6, es=0x2000, di=0))
    assert not out.carry and driver.link.mac == bytes.fromhex("020000000099")
    memory.write(0x2000, 0, bytes.fromhex("ffffffffffff"))
    out = entry.call(Registers(ax=0x1900, cx=6, es=0x2000, di=0))
    assert out.carry and out.dx >> 8 == ErrorCode.BAD_ADDRESS
    out = entry.call(Registers(ax=0x0201, bx=0xFFFF, cx=9, es=0x1000, di=1))
    assert out.carry and out.dx >> 8 == ErrorCode.BAD_TYPE
    out = entry.call(Registers(ax=0x0202, bx=0xFFFF, cx=0, es=0x1000, di=1))
    assert out.carry and out.dx >> 8 == ErrorCode.NO_CLASS
    driver.shutdown()
