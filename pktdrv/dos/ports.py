"""Port I/O (IN and OUT instructions): the PIT (40h-43h), the PIC (20h/21h), the keyboard data port (60h)
and the video ports (3B0h-3DFh). A port nobody answers reads FFh, as an empty bus does."""

from __future__ import annotations

from typing import TYPE_CHECKING

from unicorn import Uc

if TYPE_CHECKING:
    from .machine import Machine

VIDEO_PORTS = range(0x3B0, 0x3E0)


class PortBus:
    def __init__(self, machine: Machine) -> None:
        self.machine = machine

    def on_out(self, uc: Uc, port: int, size: int, value: int, _data: object) -> None:
        machine = self.machine
        if port in VIDEO_PORTS:
            machine.bios.video.port_out(port, value, size)
            return
        value &= 0xFF
        if port == 0x20:
            machine.pic.write_command(value)
        elif port == 0x21:
            machine.pic.write_mask(value)
        elif port == 0x43:
            machine.pit.write_control(value)
        elif port == 0x40:
            machine.pit.write_data(value)
            machine.trace(f"pit channel 0 divisor {machine.pit.divisor}")

    def on_in(self, uc: Uc, port: int, size: int, _data: object) -> int:
        machine = self.machine
        if port == 0x40:
            return machine.pit.read_data()
        if port == 0x20:
            return machine.pic.read_command()
        if port == 0x21:
            return machine.pic.mask
        if port == 0x60:
            return 0
        if port in VIDEO_PORTS:
            value = machine.bios.video.port_in(port)
            return 0xFF if value is None else value
        return 0xFF
