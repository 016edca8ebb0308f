"""Ctrl-C as DOS delivers it: INT 23h from inside a DOS call that checks, restarted when the handler IRETs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import rom
from .machineconfig import CTRL_C_STATUS, FAULT_STATUS
from .memory import ROM_SEGMENT

if TYPE_CHECKING:
    from .machine import Machine


def deliver_ctrl_c(machine: Machine, restart_cs: int, restart_ip: int) -> None:
    """INT 23h from inside a DOS call, with the caller's registers; IRET restarts the call."""
    machine.break_pending = False
    machine.break_requests = 0
    vector = machine.memory.vector(0x23)
    if vector == machine.default_vectors[0x23]:
        machine.exit(CTRL_C_STATUS, "^C")
        return
    cpu = machine.cpu
    machine.ctrl_c_frames.append((cpu.sp, restart_cs, restart_ip))
    cpu.deliver(vector[0], vector[1], ROM_SEGMENT, rom.CTRL_C_RETURN)
    machine.trace("INT 23h (Ctrl-C) delivered")


def ctrl_c_returned(machine: Machine) -> None:
    """The program's INT 23h handler returned to our ROM: restart the interrupted DOS call, or end."""
    cpu = machine.cpu
    if not machine.ctrl_c_frames:
        machine.exit(FAULT_STATUS, machine.fault_text("stray Ctrl-C return", cpu.cs, cpu.ip - 2))
        return
    sp_before, restart_cs, restart_ip = machine.ctrl_c_frames.pop()
    if cpu.sp != sp_before:
        cpu.pop()  # the handler returned with RETF: the FLAGS word is still there; its CF decides
        if cpu.eflags & 1:
            machine.exit(CTRL_C_STATUS, "^C")
            return
    cpu.cs, cpu.ip = restart_cs, restart_ip
