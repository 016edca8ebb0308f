"""Real-mode memory: the 1 MiB address space, its fixed layout, and DOS memory control blocks.

Layout (segments):
    0000  interrupt vector table (256 far pointers)
    0040  BIOS data area (tick count at 0040:006C)
    0070  DOS data (country and DBCS tables, the InDOS flag)
    0100  first memory control block; the arena runs up to 9FFF (640 KiB)
    A000  video memory (mapped, unused)
    C000  unmapped: option ROM space, so a jump there is a fault
    F000  our ROM: handler stubs, the BIOS tick handler, the NIC interrupt routine, driver tables
"""

from __future__ import annotations

import ctypes
import struct
from dataclasses import dataclass

from unicorn import Uc

try:  # unicorn's C entry points (see cpu.py)
    from unicorn.unicorn_py3.unicorn import uclib as _uclib
except ImportError:  # pragma: no cover
    _uclib = None  # type: ignore[assignment]

IVT_SEGMENT = 0x0000
BDA_SEGMENT = 0x0040
DOS_SEGMENT = 0x0070
FIRST_MCB = 0x0100
ARENA_END = 0xA000
"""First paragraph past conventional memory (640 KiB)."""
ROM_SEGMENT = 0xF000

BDA_TICKS = 0x6C
BDA_MIDNIGHT = 0x70
BDA_BREAK = 0x71

MCB_MIDDLE = 0x4D  # 'M'
MCB_LAST = 0x5A  # 'Z'
OWNER_FREE = 0
OWNER_DOS = 8


def linear(segment: int, offset: int) -> int:
    """The address segment:offset names (with the 8086's wrap at 1 MiB)."""
    return ((segment << 4) + offset) & 0xFFFFF


class GuestMemory:
    """The machine's memory through unicorn, addressed the real-mode way (implements registers.Memory)."""

    def __init__(self, uc: Uc) -> None:
        self.uc = uc
        # Every INT the program executes looks its vector up, and every keyboard poll the BIOS ring's
        # pointers: read such words through unicorn's C entry point into a buffer kept for the purpose (a
        # memory write hook would slow every store the program makes).
        self._cell = ctypes.c_uint32(0)
        handle = getattr(uc, "_uch", None)
        if _uclib is not None and handle is not None:
            cell = self._cell
            c_read, pointer = _uclib.uc_mem_read, ctypes.cast(ctypes.pointer(cell), ctypes.POINTER(ctypes.c_char))

            def read_dword(address: int) -> int:
                c_read(handle, address, pointer, 4)
                return cell.value

            self._read_dword = read_dword
        else:
            self._read_dword = lambda address: int.from_bytes(uc.mem_read(address, 4), "little")

    def read(self, segment: int, offset: int, length: int) -> bytes:
        if length <= 0:
            return b""
        return bytes(self.uc.mem_read(linear(segment, offset), length))

    def write(self, segment: int, offset: int, data: bytes) -> None:
        if data:
            self.uc.mem_write(linear(segment, offset), bytes(data))

    def read_linear(self, address: int, length: int) -> bytes:
        return bytes(self.uc.mem_read(address, length))

    def word(self, segment: int, offset: int) -> int:
        value: int = struct.unpack("<H", self.read(segment, offset, 2))[0]
        return value

    def set_word(self, segment: int, offset: int, value: int) -> None:
        self.write(segment, offset, struct.pack("<H", value & 0xFFFF))

    def dword(self, segment: int, offset: int) -> int:
        return self._read_dword(linear(segment, offset))

    def set_dword(self, segment: int, offset: int, value: int) -> None:
        self.write(segment, offset, struct.pack("<I", value & 0xFFFFFFFF))

    def asciiz(self, segment: int, offset: int, limit: int = 256) -> bytes:
        """A NUL-terminated string (at most `limit` bytes, never past the 64 KiB segment)."""
        limit = min(limit, 0x10000 - offset)
        raw = self.read(segment, offset, limit)
        end = raw.find(b"\x00")
        return raw if end < 0 else raw[:end]

    def until(self, segment: int, offset: int, terminator: bytes, limit: int = 0x10000) -> bytes:
        """Bytes up to (not including) `terminator`, e.g. the '$' of INT 21h/09."""
        limit = min(limit, 0x10000 - offset)
        raw = self.read(segment, offset, limit)
        end = raw.find(terminator)
        return raw if end < 0 else raw[:end]

    def vector(self, number: int) -> tuple[int, int]:
        """IVT entry `number` as (segment, offset)."""
        value = self._read_dword(number * 4)
        return value >> 16, value & 0xFFFF

    def set_vector(self, number: int, segment: int, offset: int) -> None:
        self.write(0, number * 4, struct.pack("<HH", offset & 0xFFFF, segment & 0xFFFF))


class DosMemoryError(Exception):
    """A 48h/49h/4Ah request that DOS refuses; `code` is the DOS error, `largest` the best offer."""

    def __init__(self, code: int, largest: int = 0) -> None:
        super().__init__(f"DOS memory error {code}")
        self.code = code
        self.largest = largest


ERROR_ARENA_TRASHED = 7
ERROR_NOT_ENOUGH_MEMORY = 8
ERROR_BAD_BLOCK = 9


@dataclass
class Block:
    mcb: int
    """Segment of the control block; the block itself starts one paragraph later."""
    kind: int
    owner: int
    size: int

    @property
    def segment(self) -> int:
        return self.mcb + 1


class Arena:
    """DOS memory control blocks kept in guest memory, so a program that walks them sees what DOS has."""

    def __init__(self, memory: GuestMemory, first: int = FIRST_MCB, end: int = ARENA_END) -> None:
        self.memory = memory
        self.first = first
        self.end = end
        self._write(Block(first, MCB_LAST, OWNER_FREE, end - first - 1))

    def _read(self, mcb: int) -> Block:
        raw = self.memory.read(mcb, 0, 5)
        kind, owner, size = struct.unpack("<BHH", raw)
        return Block(mcb, kind, owner, size)

    def _write(self, block: Block) -> None:
        self.memory.write(block.mcb, 0, struct.pack("<BHH", block.kind, block.owner, block.size) + bytes(3))

    def blocks(self) -> list[Block]:
        found: list[Block] = []
        mcb = self.first
        while True:
            block = self._read(mcb)
            if block.kind not in (MCB_MIDDLE, MCB_LAST) or len(found) > 0x10000:
                raise DosMemoryError(ERROR_ARENA_TRASHED)
            found.append(block)
            if block.kind == MCB_LAST:
                return found
            mcb = block.mcb + block.size + 1

    def _merge_free(self) -> None:
        blocks = self.blocks()
        i = 0
        while i < len(blocks) - 1:
            here, after = blocks[i], blocks[i + 1]
            if here.owner == OWNER_FREE and after.owner == OWNER_FREE:
                here.size += after.size + 1
                here.kind = after.kind
                self._write(here)
                del blocks[i + 1]
            else:
                i += 1

    def largest_free(self) -> int:
        self._merge_free()
        return max((b.size for b in self.blocks() if b.owner == OWNER_FREE), default=0)

    def _split(self, block: Block, size: int) -> None:
        """Cut `block` to `size` paragraphs, the rest becoming a free block after it."""
        if block.size > size:
            rest = Block(block.mcb + size + 1, block.kind, OWNER_FREE, block.size - size - 1)
            block.kind = MCB_MIDDLE
            block.size = size
            self._write(rest)
        self._write(block)

    def allocate(self, size: int, owner: int) -> int:
        """48h: first fit. Returns the block's segment."""
        self._merge_free()
        for block in self.blocks():
            if block.owner == OWNER_FREE and block.size >= size:
                block.owner = owner
                self._split(block, size)
                return block.segment
        raise DosMemoryError(ERROR_NOT_ENOUGH_MEMORY, self.largest_free())

    def _owned(self, segment: int) -> Block:
        for block in self.blocks():
            if block.segment == segment and block.owner != OWNER_FREE:
                return block
        raise DosMemoryError(ERROR_BAD_BLOCK)

    def free(self, segment: int) -> None:
        """49h."""
        block = self._owned(segment)
        block.owner = OWNER_FREE
        self._write(block)
        self._merge_free()

    def resize(self, segment: int, size: int) -> None:
        """4Ah: shrink, or grow into a free block that follows."""
        block = self._owned(segment)
        self._merge_free()
        block = self._owned(segment)
        if size <= block.size:
            self._split(block, size)
            self._merge_free()
            return
        following = self._read(block.mcb + block.size + 1) if block.kind == MCB_MIDDLE else None
        room = block.size
        if following is not None and following.owner == OWNER_FREE:
            room += following.size + 1
        if size > room:
            raise DosMemoryError(ERROR_NOT_ENOUGH_MEMORY, room)
        assert following is not None
        block.size = room
        block.kind = following.kind
        self._split(block, size)

    def set_owner(self, segment: int, owner: int) -> None:
        block = self._owned(segment)
        block.owner = owner
        self._write(block)
