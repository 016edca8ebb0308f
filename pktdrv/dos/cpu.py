"""Register access for services written in Python, and interrupt delivery the way an 8086 does it.

A service runs inside unicorn's interrupt hook. When the program executed `INT n` on a vector that is
still ours, the flags it gets back are the live FLAGS register; when it reached our ROM stub through a
vector it had hooked (PUSHF/CALL FAR), they are the word the IRET will pop. `flags_at` says which.
"""

from __future__ import annotations

import ctypes
import struct
from collections.abc import Callable

from unicorn import Uc
from unicorn import x86_const as x86

try:  # unicorn's C entry points: a register access through them costs a tenth of uc.reg_read's
    from unicorn.unicorn_py3.unicorn import uclib as _uclib
except ImportError:  # pragma: no cover - another unicorn layout: the public API still works
    _uclib = None  # type: ignore[assignment]

CARRY = 0x0001
ZERO = 0x0040
TRAP_FLAG = 0x0100
INTERRUPT = 0x0200


def _register(reg_id: int) -> property:
    def get(self: Cpu) -> int:
        return self.read_register(reg_id)

    def put(self: Cpu, value: int) -> None:
        self.write_register(reg_id, value & 0xFFFF)

    return property(get, put)


def _half(reg_id: int, high: bool) -> property:
    shift = 8 if high else 0

    def get(self: Cpu) -> int:
        return (self.read_register(reg_id) >> shift) & 0xFF

    def put(self: Cpu, value: int) -> None:
        whole = self.read_register(reg_id)
        self.write_register(reg_id, (whole & ~(0xFF << shift) & 0xFFFF) | ((value & 0xFF) << shift))

    return property(get, put)


class Cpu:
    ax = _register(x86.UC_X86_REG_AX)
    bx = _register(x86.UC_X86_REG_BX)
    cx = _register(x86.UC_X86_REG_CX)
    dx = _register(x86.UC_X86_REG_DX)
    si = _register(x86.UC_X86_REG_SI)
    di = _register(x86.UC_X86_REG_DI)
    bp = _register(x86.UC_X86_REG_BP)
    sp = _register(x86.UC_X86_REG_SP)
    cs = _register(x86.UC_X86_REG_CS)
    ds = _register(x86.UC_X86_REG_DS)
    es = _register(x86.UC_X86_REG_ES)
    ss = _register(x86.UC_X86_REG_SS)
    ip = _register(x86.UC_X86_REG_IP)
    ah = _half(x86.UC_X86_REG_AX, True)
    al = _half(x86.UC_X86_REG_AX, False)
    bh = _half(x86.UC_X86_REG_BX, True)
    bl = _half(x86.UC_X86_REG_BX, False)
    ch = _half(x86.UC_X86_REG_CX, True)
    cl = _half(x86.UC_X86_REG_CX, False)
    dh = _half(x86.UC_X86_REG_DX, True)
    dl = _half(x86.UC_X86_REG_DX, False)

    def __init__(self, uc: Uc) -> None:
        self.uc = uc
        self.read_register, self.write_register = _register_access(uc)
        self.cs_ip = _pair_reader(uc, x86.UC_X86_REG_CS, x86.UC_X86_REG_IP)
        """(CS, IP) in one call into unicorn: read at every INT the program executes."""
        self.flags_at: int | None = None
        """Linear address of the stacked FLAGS a service's result goes to, or None for the live FLAGS."""

    @property
    def eflags(self) -> int:
        return self.read_register(x86.UC_X86_REG_EFLAGS)

    @eflags.setter
    def eflags(self, value: int) -> None:
        self.write_register(x86.UC_X86_REG_EFLAGS, value)

    def interrupts_enabled(self) -> bool:
        return bool(self.eflags & INTERRUPT)

    def _result_flags(self) -> int:
        if self.flags_at is None:
            return self.eflags
        value: int = struct.unpack("<H", self.uc.mem_read(self.flags_at, 2))[0]
        return value

    def _set_result_flags(self, value: int) -> None:
        if self.flags_at is None:
            self.eflags = value
        else:
            self.uc.mem_write(self.flags_at, struct.pack("<H", value & 0xFFFF))

    def set_flag(self, mask: int, on: bool) -> None:
        flags = self._result_flags()
        self._set_result_flags(flags | mask if on else flags & ~mask)

    def set_carry(self, on: bool) -> None:
        self.set_flag(CARRY, on)

    def set_zero(self, on: bool) -> None:
        self.set_flag(ZERO, on)

    def fail(self, code: int) -> None:
        """The DOS way to fail: AX = error code, CF set."""
        self.ax = code
        self.set_carry(True)

    def ok(self) -> None:
        self.set_carry(False)

    def retry(self) -> None:
        """Make the interrupt instruction (two bytes, INT n or our trap) run again when the hook returns."""
        self.ip = (self.ip - 2) & 0xFFFF

    def push(self, value: int) -> None:
        sp = (self.sp - 2) & 0xFFFF
        self.sp = sp
        self.uc.mem_write(((self.ss << 4) + sp) & 0xFFFFF, struct.pack("<H", value & 0xFFFF))

    def pop(self) -> int:
        sp = self.sp
        value: int = struct.unpack("<H", self.uc.mem_read(((self.ss << 4) + sp) & 0xFFFFF, 2))[0]
        self.sp = (sp + 2) & 0xFFFF
        return value

    def deliver(self, segment: int, offset: int, return_cs: int, return_ip: int) -> None:
        """Enter an interrupt handler as the CPU does: push FLAGS, CS, IP; clear IF and TF; jump."""
        read, write = self.read_register, self.write_register
        flags = read(x86.UC_X86_REG_EFLAGS)
        sp = (read(x86.UC_X86_REG_SP) - 6) & 0xFFFF
        frame = struct.pack("<HHH", return_ip & 0xFFFF, return_cs & 0xFFFF, flags & 0xFFFF)
        base = read(x86.UC_X86_REG_SS) << 4
        if sp <= 0xFFFA:
            self.uc.mem_write((base + sp) & 0xFFFFF, frame)
        else:  # the frame wraps around the stack segment: word by word
            for index in range(3):
                self.uc.mem_write((base + ((sp + 2 * index) & 0xFFFF)) & 0xFFFFF, frame[2 * index : 2 * index + 2])
        write(x86.UC_X86_REG_SP, sp)
        write(x86.UC_X86_REG_EFLAGS, flags & ~(INTERRUPT | TRAP_FLAG))
        write(x86.UC_X86_REG_CS, segment)
        write(x86.UC_X86_REG_IP, offset)


def _register_access(uc: Uc) -> tuple[Callable[[int], int], Callable[[int, int], None]]:
    """Read and write functions for integer registers, straight to unicorn's C API where we can."""
    handle = getattr(uc, "_uch", None)
    if _uclib is None or handle is None:
        def read_public(reg_id: int) -> int:
            value: int = uc.reg_read(reg_id)
            return value

        def write_public(reg_id: int, value: int) -> None:
            uc.reg_write(reg_id, value)

        return read_public, write_public
    cell = ctypes.c_uint64(0)
    reference = ctypes.byref(cell)
    c_read, c_write = _uclib.uc_reg_read, _uclib.uc_reg_write

    def read(reg_id: int) -> int:
        cell.value = 0  # a 16-bit register fills only the low bytes
        c_read(handle, reg_id, reference)
        return cell.value

    def write(reg_id: int, value: int) -> None:
        cell.value = value
        c_write(handle, reg_id, reference)

    return read, write


def _pair_reader(uc: Uc, first: int, second: int) -> Callable[[], tuple[int, int]]:
    """A function reading two 16-bit registers with one uc_reg_read_batch (a ctypes call costs about as
    much as the work of a simple service; one call instead of two saves 0.8 us an INT)."""
    handle = getattr(uc, "_uch", None)
    batch = getattr(_uclib, "uc_reg_read_batch", None) if _uclib is not None else None
    if batch is None or handle is None:
        return lambda: (uc.reg_read(first), uc.reg_read(second))  # type: ignore[return-value]
    ids = (ctypes.c_int * 2)(first, second)
    cells = (ctypes.c_uint64 * 2)()  # 16-bit registers fill the low bytes only: the rest stays zero
    pointers = (ctypes.c_void_p * 2)(ctypes.addressof(cells), ctypes.addressof(cells) + 8)

    def read_pair() -> tuple[int, int]:
        batch(handle, ids, pointers, 2)
        return cells[0], cells[1]

    return read_pair
