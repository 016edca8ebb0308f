"""The packet driver's interrupt and the NIC interrupt's two Python steps, for the machine's ROM traps."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..registers import Registers
from . import rom
from .memory import ROM_SEGMENT

if TYPE_CHECKING:
    from .machine import Machine


def serve_packet_driver(machine: Machine) -> None:
    """INT 60h (or PACKETINT): the registers go to the register-level entry and back."""
    assert machine.pktdrv is not None
    cpu = machine.cpu
    regs = Registers(cpu.ax, cpu.bx, cpu.cx, cpu.dx, cpu.si, cpu.di, cpu.ds, cpu.es)
    out = machine.pktdrv.call(regs)
    cpu.ax, cpu.bx, cpu.cx, cpu.dx = out.ax, out.bx, out.cx, out.dx
    cpu.si, cpu.di, cpu.ds, cpu.es = out.si, out.di, out.ds, out.es
    cpu.set_carry(out.carry)
    if regs.ah == 4:
        machine.note_activity()
    machine.trace(f"pktdrv {machine.pktdrv.last_call}")


def nic_begin(machine: Machine) -> None:
    """NIC interrupt, step 1: the next frame; AX=0, BX=handle, CX=length for the first upcall (CF: none)."""
    assert machine.nic is not None
    cpu = machine.cpu
    item = machine.nic.next_frame()
    if item is None:
        machine.nic.in_interrupt = False
        cpu.set_carry(True)
        return
    machine.memory.write(ROM_SEGMENT, rom.RECEIVER_POINTER,
                         item.receiver_offset.to_bytes(2, "little") + item.receiver_segment.to_bytes(2, "little"))
    cpu.ax, cpu.bx, cpu.cx, cpu.dx, cpu.di, cpu.es = 0, item.handle, len(item.frame), 0, 0, 0
    cpu.set_carry(False)


def nic_copy(machine: Machine) -> None:
    """NIC interrupt, step 2: the receiver answered ES:DI; copy the frame there and set up the second upcall
    (AX=1, DS:SI), or drop and count the frame when it answered 0:0 (CF set)."""
    assert machine.nic is not None
    cpu = machine.cpu
    item = machine.nic.current
    segment, offset = cpu.es, cpu.di
    if item is None or (segment == 0 and offset == 0):
        machine.nic.refused_current()
        machine.trace("nic receiver refused the frame")
        cpu.set_carry(True)
        return
    machine.memory.write(segment, offset, item.frame)
    machine.nic.current = None
    machine.nic.delivered += 1
    machine.note_frame()
    if machine.config.trace:
        machine.trace(f"nic receiver handle={item.handle} length={len(item.frame)} buffer={segment:04x}:{offset:04x}")
    cpu.ax, cpu.bx, cpu.cx, cpu.ds, cpu.si = 1, item.handle, len(item.frame), segment, offset
    cpu.set_carry(False)
