"""INT 21h: the DOS services a program calls, served in Python against drive C: and the host's stdio."""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING

from . import ctrlc
from .dosfiles import FileServices
from .files import DEVICE_INFO_CON, ERROR_INVALID_FUNCTION, DosError, OpenFile, read_input, readable_now, write_output
from .memory import DOS_SEGMENT, DosMemoryError

if TYPE_CHECKING:
    from .machine import Machine

DOS_VERSION = (5, 0)
REFUSED_STATUS = 125
"""Exit status when the machine refuses what the program asked (as for a CPU fault)."""
CONSOLE_FUNCTIONS = set(range(0x01, 0x0D))
DBCS_TABLE = 0x0010
COUNTRY_INFO = struct.pack("<H5s2s2s2s2sBBB4sB2s", 0, b"$\x00\x00\x00\x00", b",\x00", b".\x00", b"-\x00",
                           b":\x00", 0, 2, 0, b"\x00" * 4, 0, b",\x00")
"""Country information for the USA (date format 0, '$', 2 decimals, 12-hour clock), 24 bytes."""

DETAILED_TRACE = {0x25, 0x30, 0x35, 0x3B, 0x3C, 0x3D, 0x3E, 0x3F, 0x40, 0x41, 0x44, 0x48, 0x49, 0x4A, 0x4C, 0x4E, 0x5B}
"""Functions that trace their own arguments and results."""
FUNCTION_NAMES = {
    0x01: "read with echo", 0x02: "write character", 0x06: "direct console I/O", 0x07: "raw input",
    0x08: "input", 0x09: "write string", 0x0A: "buffered input", 0x0B: "input status", 0x0C: "flush and read",
    0x0D: "disk reset", 0x0E: "select drive", 0x19: "current drive", 0x1A: "set DTA", 0x2A: "get date",
    0x2B: "set date", 0x2C: "get time", 0x2D: "set time", 0x2F: "get DTA", 0x31: "keep (TSR)",
    0x33: "Ctrl-Break flag", 0x36: "disk free", 0x37: "switch character", 0x38: "country", 0x42: "seek",
    0x43: "attributes", 0x45: "duplicate handle", 0x46: "force duplicate", 0x47: "current directory",
    0x4D: "return code", 0x4F: "find next", 0x50: "set PSP", 0x51: "get PSP", 0x54: "verify flag",
    0x56: "rename", 0x57: "file time", 0x58: "allocation strategy", 0x59: "extended error", 0x62: "get PSP",
    0x63: "DBCS table", 0x65: "extended country", 0x66: "code page", 0x67: "handle count",
}


class DosServices(FileServices):
    def __init__(self, machine: Machine) -> None:
        super().__init__(machine)
        self.dta = (0, 0x80)
        self.break_on = False
        self.last_error = 0
        self.console_line = b""
        """A console line being typed in a full screen (INT 21h/0Ah or 3Fh waiting for its Enter)."""
        self.console_read = b""
        """What a console read (3Fh) in a full screen has of its line and not yet handed over."""
        machine.memory.write(DOS_SEGMENT, DBCS_TABLE, b"\x00\x00\x00\x00")
        self._handlers: dict[int, Callable[[], None]] = {
            0x01: self._read_echo, 0x02: self._write_char, 0x06: self._direct_io, 0x07: self._read_raw,
            0x08: self._read_raw, 0x09: self._write_string, 0x0A: self._read_line, 0x0B: self._input_status,
            0x0C: self._flush_and_read, 0x0D: self._nothing, 0x0E: self._select_drive, 0x19: self._current_drive,
            0x1A: self._set_dta, 0x25: self._set_vector, 0x2A: self._get_date, 0x2B: self._set_date_time,
            0x2C: self._get_time, 0x2D: self._set_date_time, 0x2F: self._get_dta, 0x30: self._version,
            0x31: self._keep, 0x33: self._break_flag, 0x35: self._get_vector, 0x36: self._disk_free,
            0x37: self._switch_char, 0x38: self._country, 0x3B: self.change_directory, 0x3C: self.create,
            0x3D: self.open, 0x3E: self.close, 0x3F: self._read, 0x40: self._write, 0x41: self.delete,
            0x42: self.seek, 0x43: self.attributes, 0x44: self.ioctl, 0x45: self.duplicate,
            0x46: self.force_duplicate, 0x47: self.current_directory, 0x48: self._allocate, 0x49: self._free,
            0x4A: self._resize, 0x4C: self._terminate, 0x4D: self._return_code, 0x4E: self.find_first,
            0x4F: self.find_next, 0x50: self._set_psp, 0x51: self._get_psp, 0x54: self._verify,
            0x56: self.rename, 0x57: self.file_time, 0x58: self._strategy, 0x59: self._extended_error,
            0x5B: self.create_new, 0x62: self._get_psp, 0x63: self._dbcs, 0x65: self._extended_country,
            0x66: self._code_page, 0x67: self._handle_count,
        }

    # -- dispatch -----------------------------------------------------------------------------------------

    def serve(self, cs: int, ip: int) -> None:
        machine = self.machine
        cpu = machine.cpu
        ah = cpu.ah
        # DOS sees Ctrl-C only after the keyboard interrupt that brought it (INT 1Bh) has been taken.
        checks_break = ah in CONSOLE_FUNCTIONS or self.break_on or self._console_io(ah)
        if checks_break and not machine.break_interrupt_pending and (
                machine.break_pending or (self.files[0] is not None and self.files[0].console_input
                                          and machine.bios.keyboard.take_ctrl_c())):
            ctrlc.deliver_ctrl_c(machine, *self._restart_point(cs, ip))
            return
        handler = self._handlers.get(ah)
        if handler is None:
            machine.unsupported(f"INT 21h AH={ah:02X}h", cs, ip)
            cpu.fail(ERROR_INVALID_FUNCTION)
            return
        self.caller = (cs, ip)
        if machine.config.trace and ah not in DETAILED_TRACE:
            machine.trace(f"dos {ah:02X}h {FUNCTION_NAMES.get(ah, '')} AL={cpu.al:02X}h BX={cpu.bx:04X}h "
                          f"CX={cpu.cx:04X}h DX={cpu.dx:04X}h")
        try:
            handler()
        except DosError as exc:
            self.last_error = exc.code
            cpu.fail(exc.code)
            machine.trace(f"dos {ah:02X}h -> error {exc.code} ({exc})")
        except DosMemoryError as exc:
            self.last_error = exc.code
            cpu.fail(exc.code)
            cpu.bx = exc.largest
            machine.trace(f"dos {ah:02X}h -> memory error {exc.code}, largest {exc.largest} paragraphs")

    def _restart_point(self, cs: int, ip: int) -> tuple[int, int]:
        """Where the interrupted call starts again after INT 23h returns: the INT 21h (or our stub's trap)."""
        cpu = self.machine.cpu
        if cpu.flags_at is not None:
            return cpu.cs, (cpu.ip - 2) & 0xFFFF
        return cs, ip

    def _console_io(self, ah: int) -> bool:
        if ah not in (0x3F, 0x40):
            return False
        file = self.files[self.machine.cpu.bx] if self.machine.cpu.bx < len(self.files) else None
        return file is not None and file.is_device and file.fd is not None

    def trace(self, text: str) -> None:
        self.machine.trace(f"dos {text}")

    # -- console --------------------------------------------------------------------------------------------

    def _console_in(self) -> int | None:
        """One byte of standard input (handle 0); None when a console has nothing yet."""
        file = self.files[0]
        if file is None:
            return 0x1A
        if file.console_input:
            key = self.machine.bios.keyboard.take()
            return None if key is None else key & 0xFF
        data = read_input(file, 1)
        return data[0] if data else 0x1A

    def _wait_console_in(self) -> int | None:
        char = self._console_in()
        if char is None:
            self.machine.cpu.retry()
            self.machine.idle_requested = True
            self.machine.uc.emu_stop()
        return char

    def _out(self, data: bytes) -> None:
        file = self.files[1]
        if file is not None:
            self._write_to(file, data)
        self.machine.note_activity()

    def _write_to(self, file: OpenFile, data: bytes) -> int:
        """A write; to the console (a terminal), it is screen output: video memory, and the terminal."""
        if file.device_info == DEVICE_INFO_CON and file.fd in (1, 2) and data:
            self.machine.bios.screen(data, file.fd)
            file.written = True
            return len(data)
        return write_output(file, data)

    def _read_echo(self) -> None:
        char = self._wait_console_in()
        if char is not None:
            self.machine.cpu.al = char
            self._out(bytes([char]))

    def _read_raw(self) -> None:
        char = self._wait_console_in()
        if char is not None:
            self.machine.cpu.al = char

    def _write_char(self) -> None:
        cpu = self.machine.cpu
        self._out(bytes([cpu.dl]))
        cpu.al = cpu.dl

    def _direct_io(self) -> None:
        cpu = self.machine.cpu
        if cpu.dl != 0xFF:
            self._out(bytes([cpu.dl]))
            cpu.al = cpu.dl
            return
        file = self.files[0]
        ready = file is not None and (not file.console_input or self.machine.bios.keyboard.peek() is not None
                                      or (file.fd is not None and readable_now(file.fd)))
        char = self._console_in() if ready else None
        if char is None:
            cpu.al = 0
            cpu.set_zero(True)
            self.machine.poll()
        else:
            cpu.al = char
            cpu.set_zero(False)

    def _write_string(self) -> None:
        cpu = self.machine.cpu
        text = self.machine.memory.until(cpu.ds, cpu.dx, b"$")
        self._out(text)
        cpu.al = 0x24

    def _read_line(self) -> None:
        cpu = self.machine.cpu
        memory = self.machine.memory
        limit = memory.read(cpu.ds, cpu.dx, 1)[0]
        if limit == 0:
            return
        file = self.files[0]
        if file is not None and file.console_input and self.machine.bios.video.full_screen:
            line_from_keys = self._line_from_keys(limit - 1)
            if line_from_keys is not None:
                memory.write(cpu.ds, cpu.dx + 1, bytes([len(line_from_keys)]) + line_from_keys + b"\r")
            return
        line = b""
        while file is not None and len(line) < limit - 1:
            data = read_input(file, 1) if not file.console_input else os.read(0, 1)
            if not data or data in (b"\r", b"\n"):
                break
            line += data
        memory.write(cpu.ds, cpu.dx + 1, bytes([len(line)]) + line + b"\r")
        self.machine.note_activity()

    def _line_from_keys(self, limit: int) -> bytes | None:
        """A console line in a full screen, where the terminal is raw: edited from BIOS keys (echoed on the
        screen, Backspace erasing) until Enter. None while it is not complete: the call then waits, to run
        again after the next interrupt, the line so far kept."""
        machine = self.machine
        while True:
            key = machine.bios.keyboard.take()
            if key is None:
                machine.cpu.retry()
                machine.idle_requested = True
                machine.uc.emu_stop()
                return None
            char = key & 0xFF
            if char == 0x0D:
                break
            if char == 0x08:
                if self.console_line:
                    self.console_line = self.console_line[:-1]
                    machine.bios.screen(b"\x08 \x08")
            elif char and len(self.console_line) < limit:
                self.console_line += bytes([char])
                machine.bios.screen(bytes([char]))
        line, self.console_line = self.console_line, b""
        machine.bios.screen(b"\r\n")
        machine.note_activity()
        return line

    def _input_status(self) -> None:
        cpu = self.machine.cpu
        file = self.files[0]
        if file is not None and file.console_input:
            cpu.al = 0xFF if self.machine.bios.keyboard.peek() is not None else 0
        else:
            cpu.al = 0xFF
        if cpu.al == 0:
            self.machine.poll()

    def _flush_and_read(self) -> None:
        cpu = self.machine.cpu
        function = cpu.al
        if function in (0x01, 0x06, 0x07, 0x08, 0x0A):
            cpu.ah = function
            self._handlers[function]()

    def _nothing(self) -> None:
        pass

    # -- drive, DTA, vectors, date and time -----------------------------------------------------------------

    def _select_drive(self) -> None:
        self.machine.cpu.al = 3  # drives A: to C:

    def _current_drive(self) -> None:
        self.machine.cpu.al = 2

    def _set_dta(self) -> None:
        cpu = self.machine.cpu
        self.dta = (cpu.ds, cpu.dx)

    def _get_dta(self) -> None:
        cpu = self.machine.cpu
        cpu.es, cpu.bx = self.dta

    def _set_vector(self) -> None:
        cpu = self.machine.cpu
        number = cpu.al
        self.machine.memory.set_vector(number, cpu.ds, cpu.dx)
        self.trace(f"25h set vector {number:02X}h -> {cpu.ds:04X}:{cpu.dx:04X}")

    def _get_vector(self) -> None:
        cpu = self.machine.cpu
        number = cpu.al
        cpu.es, cpu.bx = self.machine.memory.vector(number)
        self.trace(f"35h get vector {number:02X}h -> {cpu.es:04X}:{cpu.bx:04X}")

    def _get_date(self) -> None:
        cpu = self.machine.cpu
        moment = self.machine.bios.now()
        cpu.cx = moment.year
        cpu.dh, cpu.dl = moment.month, moment.day
        cpu.al = (moment.weekday() + 1) % 7

    def _get_time(self) -> None:
        cpu = self.machine.cpu
        moment = self.machine.bios.now()
        cpu.ch, cpu.cl = moment.hour, moment.minute
        cpu.dh, cpu.dl = moment.second, moment.microsecond // 10000
        self.machine.poll()

    def _set_date_time(self) -> None:
        self.machine.cpu.al = 0  # accepted and ignored: the host's clock is not the program's to set

    # -- system ----------------------------------------------------------------------------------------------

    def _version(self) -> None:
        cpu = self.machine.cpu
        cpu.al, cpu.ah = DOS_VERSION
        cpu.bx = 0
        cpu.cx = 0
        self.trace("30h version -> 5.0")

    def _keep(self) -> None:
        self.machine.exit(REFUSED_STATUS, "mtcp-dosrun: the program asked to stay resident (INT 21h/31h, "
                          f"code {self.machine.cpu.al}): terminate-and-stay-resident is not supported")

    def _break_flag(self) -> None:
        cpu = self.machine.cpu
        al = cpu.al
        if al == 0:
            cpu.dl = int(self.break_on)
        elif al == 1:
            self.break_on = bool(cpu.dl)
        elif al == 5:
            cpu.dl = 3  # booted from C:
        elif al == 6:
            cpu.bx, cpu.dx = 0x0005, 0x1000
        else:
            cpu.al = 0xFF

    def _disk_free(self) -> None:
        cpu = self.machine.cpu
        try:
            st = os.statvfs(self.machine.drive.root)
            free_clusters = min(0xFFFF, st.f_bavail * st.f_frsize // 32768)
        except OSError:
            free_clusters = 0xFFFF
        cpu.ax, cpu.bx, cpu.cx, cpu.dx = 64, free_clusters, 512, 0xFFFF

    def _switch_char(self) -> None:
        cpu = self.machine.cpu
        if cpu.al == 0:
            cpu.dl = ord("/")
        cpu.al = 0

    def _country(self) -> None:
        cpu = self.machine.cpu
        if cpu.al != 0:
            raise DosError(ERROR_INVALID_FUNCTION)
        self.machine.memory.write(cpu.ds, cpu.dx, COUNTRY_INFO + bytes(34 - len(COUNTRY_INFO)))
        cpu.bx = 1
        cpu.ax = 1
        cpu.ok()

    def _dbcs(self) -> None:
        cpu = self.machine.cpu
        if cpu.al == 0:
            cpu.ds, cpu.si = DOS_SEGMENT, DBCS_TABLE + 2  # an empty lead-byte table
            cpu.al = 0
            cpu.ok()
            return
        raise DosError(ERROR_INVALID_FUNCTION)

    def _extended_country(self) -> None:
        cpu = self.machine.cpu
        memory = self.machine.memory
        al = cpu.al
        if al == 0x01 and cpu.cx >= 5:
            info = struct.pack("<HH", 1, 437) + COUNTRY_INFO
            size = min(cpu.cx, 3 + len(info) + 10)
            block = (bytes([1]) + struct.pack("<H", len(info)) + info).ljust(size, b"\x00")[:size]
            memory.write(cpu.es, cpu.di, block)
            cpu.cx = size
            cpu.ok()
        elif al == 0x07 and cpu.cx >= 5:
            memory.write(cpu.es, cpu.di, bytes([7]) + struct.pack("<HH", DBCS_TABLE, DOS_SEGMENT))
            cpu.cx = 5
            cpu.ok()
        elif al == 0x20:
            cpu.dl = ord(chr(cpu.dl).upper()) if cpu.dl < 0x80 else cpu.dl
            cpu.ok()
        else:
            raise DosError(ERROR_INVALID_FUNCTION)

    def _code_page(self) -> None:
        cpu = self.machine.cpu
        if cpu.al == 1:
            cpu.bx = cpu.dx = 437
            cpu.ok()
            return
        raise DosError(ERROR_INVALID_FUNCTION)

    def _handle_count(self) -> None:
        self.machine.cpu.ok()  # the handle table already takes what a program opens

    def _verify(self) -> None:
        self.machine.cpu.al = 0

    def _strategy(self) -> None:
        cpu = self.machine.cpu
        if cpu.al == 0:
            cpu.ax = 0
        cpu.ok()

    def _extended_error(self) -> None:
        cpu = self.machine.cpu
        cpu.ax = self.last_error
        cpu.bh, cpu.bl, cpu.ch = (1 if self.last_error == 8 else 8 if self.last_error in (2, 3) else 13), 4, 1

    def _get_psp(self) -> None:
        self.machine.cpu.bx = self.machine.psp

    def _set_psp(self) -> None:
        self.machine.psp = self.machine.cpu.bx

    def _terminate(self) -> None:
        code = self.machine.cpu.al
        self.trace(f"4Ch exit {code}")
        self.machine.exit(code)

    def _return_code(self) -> None:
        self.machine.cpu.ax = 0

    # -- memory ----------------------------------------------------------------------------------------------

    def _allocate(self) -> None:
        cpu = self.machine.cpu
        size = cpu.bx
        segment = self.machine.arena.allocate(size, self.machine.psp)
        cpu.ax = segment
        cpu.ok()
        self.trace(f"48h allocate {size} paragraphs -> {segment:04X}")

    def _free(self) -> None:
        cpu = self.machine.cpu
        self.machine.arena.free(cpu.es)
        cpu.ok()
        self.trace(f"49h free {cpu.es:04X}")

    def _resize(self) -> None:
        cpu = self.machine.cpu
        self.trace(f"4Ah resize {cpu.es:04X} to {cpu.bx} paragraphs")
        self.machine.arena.resize(cpu.es, cpu.bx)
        if cpu.es == self.machine.psp:
            self.machine.memory.set_word(cpu.es, 2, cpu.es + cpu.bx)
        cpu.ok()

    # -- handles: console-aware reads and writes --------------------------------------------------------------

    def _read(self) -> None:
        cpu = self.machine.cpu
        file = self.handle(cpu.bx)
        count = cpu.cx
        if file.console_input and count and self.machine.bios.video.full_screen:
            if not self.console_read:
                line = self._line_from_keys(126)  # DOS reads the console a line of up to 127 bytes at a time
                if line is None:
                    return
                self.console_read = line + b"\r\n"
            data, self.console_read = self.console_read[:count], self.console_read[count:]
        else:
            data = read_input(file, count) if count else b""
        self.machine.memory.write(cpu.ds, cpu.dx, data)
        cpu.ax = len(data)
        cpu.ok()
        self.machine.note_activity()
        self.trace(f"3Fh read handle {cpu.bx} count {count} -> {len(data)}")

    def _write(self) -> None:
        cpu = self.machine.cpu
        file = self.handle(cpu.bx)
        data = self.machine.memory.read(cpu.ds, cpu.dx, cpu.cx)
        if not data and file.fd is not None and not file.is_device:
            os.ftruncate(file.fd, os.lseek(file.fd, 0, os.SEEK_CUR))  # a write of 0 bytes truncates
            written = 0
        else:
            try:
                written = self._write_to(file, data)
            except OSError as exc:
                raise DosError(5, str(exc)) from None
        cpu.ax = written
        cpu.ok()
        self.machine.note_activity()
        self.trace(f"40h write handle {cpu.bx} count {len(data)}")
