"""Loading a DOS program: the MZ header, .COM files, the PSP and the environment block.

`parse_program` reads untrusted bytes and either returns a `Program` or raises `ProgramError` with a
one-line reason; nothing else escapes it. `load_program` places it in memory as DOS 3+ does.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .memory import OWNER_DOS, Arena, DosMemoryError, GuestMemory

MZ_HEADER = struct.Struct("<2s13H")
PARAGRAPH = 16
PSP_PARAGRAPHS = 0x10
COM_LIMIT = 0xFF00
"""Largest .COM image: a 64 KiB segment less the PSP and a stack word."""
TAIL_LIMIT = 126


class ProgramError(Exception):
    """The file is not a DOS program we can run, or memory cannot hold it; the message is one line."""


@dataclass(frozen=True)
class MzHeader:
    last_page_bytes: int
    pages: int
    relocation_count: int
    header_paragraphs: int
    min_alloc: int
    max_alloc: int
    ss: int
    sp: int
    checksum: int
    ip: int
    cs: int
    relocation_offset: int
    overlay: int


@dataclass(frozen=True)
class Program:
    """A parsed program: its load image and, for an .EXE, the header and relocations."""

    image: bytes
    header: MzHeader | None
    relocations: tuple[tuple[int, int], ...] = ()

    @property
    def image_paragraphs(self) -> int:
        return (len(self.image) + PARAGRAPH - 1) // PARAGRAPH


def parse_program(data: bytes, name: str = "program") -> Program:
    """Recognise an MZ executable or a .COM image, checking every size the header claims."""
    if data[:2] in (b"MZ", b"ZM"):
        return _parse_mz(data, name)
    if not name.lower().endswith(".com"):
        raise ProgramError(f"{name}: not a DOS program (no MZ header and not a .COM file)")
    if not data:
        raise ProgramError(f"{name}: empty file")
    if data[:4] == b"\x7fELF" or data[:2] == b"#!":
        raise ProgramError(f"{name}: not a DOS program (a host executable or script)")
    if len(data) > COM_LIMIT:
        raise ProgramError(f"{name}: a .COM program is at most {COM_LIMIT} bytes, this one is {len(data)}")
    return Program(bytes(data), None)


def _parse_mz(data: bytes, name: str) -> Program:
    if len(data) < MZ_HEADER.size:
        raise ProgramError(f"{name}: truncated MZ header ({len(data)} bytes)")
    fields = MZ_HEADER.unpack_from(data)
    header = MzHeader(*fields[1:])
    if header.pages == 0:
        raise ProgramError(f"{name}: MZ header gives no pages")
    if header.last_page_bytes > 512:
        raise ProgramError(f"{name}: MZ header: bytes in last page {header.last_page_bytes} > 512")
    file_size = header.pages * 512 - ((512 - header.last_page_bytes) if header.last_page_bytes else 0)
    header_bytes = header.header_paragraphs * PARAGRAPH
    if header_bytes < MZ_HEADER.size:
        raise ProgramError(f"{name}: MZ header of {header.header_paragraphs} paragraphs is too small")
    if file_size > len(data):
        raise ProgramError(f"{name}: truncated: the MZ header gives {file_size} bytes, the file has {len(data)}")
    if header_bytes > file_size:
        raise ProgramError(f"{name}: MZ header ({header_bytes} bytes) is longer than the program ({file_size})")
    table_end = header.relocation_offset + 4 * header.relocation_count
    if header.relocation_count and table_end > len(data):
        raise ProgramError(f"{name}: relocation table runs past the end of the file")
    image = bytes(data[header_bytes:file_size])
    relocations = tuple(struct.unpack_from("<HH", data, header.relocation_offset + 4 * i)
                        for i in range(header.relocation_count))
    for offset, segment in relocations:
        if segment * PARAGRAPH + offset + 2 > len(image):
            raise ProgramError(f"{name}: relocation {segment:04x}:{offset:04x} lies outside the load image")
    return Program(image, header, tuple((off, seg) for off, seg in relocations))


@dataclass(frozen=True)
class LoadedProgram:
    psp: int
    environment: int
    cs: int
    ip: int
    ss: int
    sp: int
    end: int
    """Segment just past the program's memory block (PSP:0002)."""


def build_environment(variables: list[tuple[str, str]], program_path: str) -> bytes:
    """`NAME=value\\0`..., an empty string, the word 1 and the program's full DOS path (DOS 3+)."""
    body = b"".join(f"{k}={v}".encode("latin-1", "replace") + b"\x00" for k, v in variables)
    if not body:
        body = b"\x00"
    return body + b"\x00" + struct.pack("<H", 1) + program_path.encode("latin-1", "replace") + b"\x00"


def command_tail(args: list[str]) -> bytes:
    """The PSP command tail: leading space, arguments, CR; at most 126 characters are kept."""
    text = "".join(" " + a for a in args).encode("latin-1", "replace")[:TAIL_LIMIT]
    return bytes([len(text)]) + text + b"\r"


def _fcb_from(arg: str | None) -> bytes:
    """An unopened FCB for the first arguments, as COMMAND.COM fills PSP:5C and PSP:6C."""
    name, ext = b" " * 8, b" " * 3
    drive = 0
    if arg and not arg.startswith(("-", "/")):
        text = arg.upper()
        if len(text) >= 2 and text[1] == ":":
            drive = ord(text[0]) - 64 if "A" <= text[0] <= "Z" else 0
            text = text[2:]
        base, _, extension = text.partition(".")
        if "\\" not in base and base:
            name = base[:8].encode("latin-1", "replace").ljust(8)
            ext = extension[:3].encode("latin-1", "replace").ljust(3)
    return bytes([drive]) + name + ext + bytes(4)


def build_psp(end_segment: int, environment: int, args: list[str], parent: int, rom_int21: tuple[int, int],
              vectors: dict[int, tuple[int, int]]) -> bytes:
    psp = bytearray(256)
    psp[0:2] = b"\xcd\x20"  # INT 20h: a RET to offset 0 ends the program
    struct.pack_into("<H", psp, 2, end_segment)
    psp[5] = 0x9A  # CP/M-style far call into DOS
    struct.pack_into("<HH", psp, 6, rom_int21[1], rom_int21[0])
    for slot, number in ((0x0A, 0x22), (0x0E, 0x23), (0x12, 0x24)):
        segment, offset = vectors.get(number, (0, 0))
        struct.pack_into("<HH", psp, slot, offset, segment)
    struct.pack_into("<H", psp, 0x16, parent)
    psp[0x18:0x2C] = bytes([1, 1, 1, 0, 2]) + b"\xff" * 15  # job file table: 5 standard handles
    struct.pack_into("<H", psp, 0x2C, environment)
    struct.pack_into("<H", psp, 0x32, 20)
    struct.pack_into("<HH", psp, 0x34, 0x18, 0)  # JFT pointer: segment filled by the caller
    struct.pack_into("<H", psp, 0x40, 0x0005)  # DOS version 5.0 as SETVER would report
    psp[0x50:0x53] = b"\xcd\x21\xcb"
    psp[0x5C:0x6C] = _fcb_from(args[0] if args else None)
    psp[0x6C:0x7C] = _fcb_from(args[1] if len(args) > 1 else None)
    tail = command_tail(args)
    psp[0x80 : 0x80 + len(tail)] = tail
    return bytes(psp)


def load_program(program: Program, memory: GuestMemory, arena: Arena, environment: bytes, args: list[str],
                 rom_int21: tuple[int, int], vectors: dict[int, tuple[int, int]], name: str) -> LoadedProgram:
    """Allocate the environment and the program's block, write the PSP and the image, relocate."""
    try:
        env_segment = arena.allocate((len(environment) + PARAGRAPH - 1) // PARAGRAPH, OWNER_DOS)
    except DosMemoryError:
        raise ProgramError(f"{name}: not enough memory for the environment") from None
    memory.write(env_segment, 0, environment)
    available = arena.largest_free()
    header = program.header
    if header is None:
        needed = PSP_PARAGRAPHS + program.image_paragraphs + 1
        size = available
    else:
        needed = PSP_PARAGRAPHS + program.image_paragraphs + header.min_alloc
        wanted = PSP_PARAGRAPHS + program.image_paragraphs + header.max_alloc
        size = min(available, max(needed, wanted))
    if size < needed:
        raise ProgramError(f"{name}: not enough memory ({needed * PARAGRAPH} bytes needed, "
                           f"{available * PARAGRAPH} free)")
    psp_segment = arena.allocate(size, OWNER_DOS)
    arena.set_owner(psp_segment, psp_segment)
    arena.set_owner(env_segment, psp_segment)
    end = psp_segment + size
    # Memory beyond the image is zero, as a freshly booted PC's is; packed programs rely on nothing more.
    memory.write(psp_segment, 0, bytes(size * PARAGRAPH))
    psp = bytearray(build_psp(end, env_segment, args, psp_segment, rom_int21, vectors))
    struct.pack_into("<H", psp, 0x36, psp_segment)
    memory.write(psp_segment, 0, bytes(psp))
    load = psp_segment + PSP_PARAGRAPHS
    if header is None:
        memory.write(psp_segment, 0x100, program.image)
        top = min(size * PARAGRAPH, 0x10000) - 2
        memory.set_word(psp_segment, top, 0)  # a RET at the top returns to PSP:0000 (INT 20h)
        return LoadedProgram(psp_segment, env_segment, psp_segment, 0x100, psp_segment, top, end)
    image = bytearray(program.image)
    for offset, segment in program.relocations:
        where = segment * PARAGRAPH + offset
        value = struct.unpack_from("<H", image, where)[0]
        struct.pack_into("<H", image, where, (value + load) & 0xFFFF)
    memory.write(load, 0, bytes(image))
    return LoadedProgram(psp_segment, env_segment, (load + header.cs) & 0xFFFF, header.ip,
                         (load + header.ss) & 0xFFFF, header.sp, end)
