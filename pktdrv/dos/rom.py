"""The ROM segment (F000): the code every interrupt vector points at before a program changes it.

Each default handler is a trap into Python (`INT 0FEh`) followed by IRET. A program that executes
`INT n` while vector n is ours is served straight from the CPU's interrupt hook; one that chains to our
handler after hooking the vector (PUSHF / CALL FAR, or JMP FAR) runs the stub, whose trap is told apart
by its address. A few routines are real code: the BIOS timer handler (it must call INT 1Ch through the
vector table and send EOI), and the NIC interrupt routine that calls the program's receiver twice.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..registry import handler_stub

TRAP = 0xFE
"""The software interrupt our ROM uses to call into Python."""
TRAP_BYTES = bytes([0xCD, TRAP])

STUB_SIZE = 4
PKT_HANDLER = 0x0400
BIOS_TIMER = 0x0420
NIC_ISR = 0x0440
CTRL_C_RETURN = 0x0480
TICK_CHAIN = 0x0490
RECEIVER_POINTER = 0x04F0
DRIVER_NAME = 0x0500
DRIVER_PARAMETERS = 0x0540
DRIVER_STATISTICS = 0x0560
DRIVER_MULTICAST = 0x0580
ROM_SIZE = 0x10000


@dataclass(frozen=True)
class RomTraps:
    """The addresses (IP just after the INT 0FEh) of each trap in the ROM."""

    pkt_handler: int
    bios_tick: int
    nic_begin: int
    nic_copy: int
    ctrl_c_return: int
    tick_chain: int


def vector_stub(number: int) -> int:
    return number * STUB_SIZE


def vector_of_stub_trap(ip: int) -> int | None:
    """Which vector's stub a trap at IP (just after the INT) belongs to, or None."""
    if ip < PKT_HANDLER and ip % STUB_SIZE == 2:
        return ip // STUB_SIZE
    return None


def build_rom() -> tuple[bytes, RomTraps]:
    rom = bytearray(b"\xcf" * 0x0600)
    for number in range(256):
        at = vector_stub(number)
        rom[at : at + STUB_SIZE] = TRAP_BYTES + b"\xcf\x90"

    # The packet driver: a jump over "PKT DRVR" (bytes 3-10, where programs look), then the trap.
    stub = handler_stub()
    rom[PKT_HANDLER : PKT_HANDLER + len(stub)] = stub
    pkt_trap = PKT_HANDLER + len(stub)
    rom[pkt_trap : pkt_trap + 3] = TRAP_BYTES + b"\xcf"

    # BIOS INT 08h: count the tick (Python), INT 1Ch through the vector table, EOI, IRET.
    timer = TRAP_BYTES + bytes([0xCD, 0x1C, 0x50, 0xB0, 0x20, 0xE6, 0x20, 0x58, 0xCF])
    rom[BIOS_TIMER : BIOS_TIMER + len(timer)] = timer

    # The NIC interrupt: for each queued frame, receiver(AX=0) -> ES:DI, copy, receiver(AX=1, DS:SI).
    call_receiver = bytes([0x2E, 0xFF, 0x1E]) + struct.pack("<H", RECEIVER_POINTER)  # CALL FAR [CS:ptr]
    code = bytearray(bytes([0x60, 0x1E, 0x06]))  # PUSHA, PUSH DS, PUSH ES
    next_frame = len(code)
    code += TRAP_BYTES  # nic_begin: CF set when no frame is left
    nic_begin = NIC_ISR + len(code)
    done_jump = len(code)
    code += b"\x72\x00"  # JC done (patched)
    code += call_receiver
    code += TRAP_BYTES  # nic_copy: CF set when the receiver refused
    nic_copy = NIC_ISR + len(code)
    code += bytes([0x72, (next_frame - (len(code) + 2)) & 0xFF])  # JC next_frame
    code += call_receiver
    code += bytes([0xEB, (next_frame - (len(code) + 2)) & 0xFF])  # JMP next_frame
    done = len(code)
    code[done_jump + 1] = done - (done_jump + 2)
    code += bytes([0x07, 0x1F, 0x61, 0xCF])  # POP ES, POP DS, POPA, IRET
    rom[NIC_ISR : NIC_ISR + len(code)] = code
    assert NIC_ISR + len(code) <= CTRL_C_RETURN

    rom[CTRL_C_RETURN : CTRL_C_RETURN + 2] = TRAP_BYTES
    # Where a timer interrupt returns: Python hands over the next owed tick, or resumes the program.
    rom[TICK_CHAIN : TICK_CHAIN + 2] = TRAP_BYTES
    traps = RomTraps(pkt_handler=pkt_trap + 2, bios_tick=BIOS_TIMER + 2, nic_begin=nic_begin, nic_copy=nic_copy,
                     ctrl_c_return=CTRL_C_RETURN + 2, tick_chain=TICK_CHAIN + 2)
    return bytes(rom), traps
