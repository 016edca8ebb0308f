"""BIOS services and the small interrupts DOS programs use besides INT 21h.

INT 10h (teletype and cursor), 11h, 12h, 16h (keyboard), 1Ah (time), 20h (terminate), 24h (critical error),
28h (DOS idle), 29h (fast console output), 2Ah and 2Fh (multiplex, idle release), and the BIOS timer tick.
The screen is the host terminal: stdout when it is one, else stderr, so that BIOS output never mixes with a
program's redirected standard output.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ..clock import TICK_HZ
from .files import readable_now
from .memory import BDA_MIDNIGHT, BDA_SEGMENT, BDA_TICKS

if TYPE_CHECKING:
    from .machine import Machine

TICKS_PER_DAY = 0x1800B0
VIRTUAL_EPOCH = datetime(2000, 1, 1)
"""Where the clock starts on a virtual-time run, so that dates and times repeat too."""

SCAN_CODES = {0x0D: 0x1C, 0x1B: 0x01, 0x08: 0x0E, 0x09: 0x0F, 0x20: 0x39}


class Keyboard:
    """Keys come from the host's stdin when it is a terminal; a redirected stdin is a file, not keys."""

    def __init__(self) -> None:
        try:
            self.tty = os.isatty(0)
        except OSError:
            self.tty = False
        self.buffer: list[int] = []
        self.polled = False

    def waiting_on_tty(self) -> bool:
        return self.tty and self.polled

    def _fill(self) -> None:
        if self.tty and not self.buffer and readable_now(0):
            try:
                data = os.read(0, 64)
            except OSError:
                data = b""
            for byte in data:
                self.buffer.append(0x0D if byte == 0x0A else byte)

    def peek(self) -> int | None:
        """The next key as BIOS AX (scan code in AH, character in AL), or None."""
        self.polled = True
        self._fill()
        if not self.buffer:
            return None
        char = self.buffer[0]
        return (SCAN_CODES.get(char, 0) << 8) | char

    def take(self) -> int | None:
        key = self.peek()
        if key is not None:
            self.buffer.pop(0)
        return key

    def push(self, char: int) -> None:
        self.buffer.append(char)


class Bios:
    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.keyboard = Keyboard()
        self.cursor = (0, 0)
        self.video_mode = 3
        screen_fd = 1 if _isatty(1) else 2
        self.screen_fd = screen_fd

    def start(self) -> None:
        """Set the BIOS tick count to the time of day, as the BIOS does at boot."""
        self.machine.memory.set_dword(BDA_SEGMENT, BDA_TICKS, int(self.seconds_since_midnight() * TICK_HZ))
        self.machine.memory.set_word(BDA_SEGMENT, 0x13, 640)

    def stop(self) -> None:
        pass

    def now(self) -> datetime:
        clock = self.machine.clock
        if clock.virtual:
            return VIRTUAL_EPOCH + timedelta(seconds=clock.seconds())
        return datetime.now()

    def seconds_since_midnight(self) -> float:
        moment = self.now()
        return moment.hour * 3600 + moment.minute * 60 + moment.second + moment.microsecond / 1e6

    def screen(self, data: bytes) -> None:
        os.write(self.screen_fd, data)
        self.machine.note_activity()

    def timer_tick(self) -> None:
        """The Python half of the BIOS INT 08h handler: the tick count at 0040:006C and the midnight flag."""
        memory = self.machine.memory
        ticks = memory.dword(BDA_SEGMENT, BDA_TICKS) + 1
        if ticks >= TICKS_PER_DAY:
            ticks = 0
            memory.write(BDA_SEGMENT, BDA_MIDNIGHT, b"\x01")
        memory.set_dword(BDA_SEGMENT, BDA_TICKS, ticks)

    # -- dispatch -----------------------------------------------------------------------------------------

    def serve(self, number: int, cs: int, ip: int) -> bool:
        handler = _HANDLERS.get(number)
        if handler is None:
            return False
        if self.machine.config.trace:
            cpu = self.machine.cpu
            self.machine.trace(f"bios INT {number:02X}h AX={cpu.ax:04X}h BX={cpu.bx:04X}h CX={cpu.cx:04X}h "
                               f"DX={cpu.dx:04X}h")
        handler(self, cs, ip)
        return True

    def _int10(self, cs: int, ip: int) -> None:
        cpu = self.machine.cpu
        ah = cpu.ah
        if ah == 0x0E:
            self.screen(bytes([cpu.al]))
        elif ah == 0x09 or ah == 0x0A:
            self.screen(bytes([cpu.al]) * max(1, min(cpu.cx, 2000)))
        elif ah == 0x02:
            self.cursor = (cpu.dh, cpu.dl)
        elif ah == 0x03:
            cpu.dh, cpu.dl = self.cursor
            cpu.cx = 0x0607
        elif ah == 0x00:
            self.video_mode = cpu.al & 0x7F
        elif ah == 0x0F:
            cpu.ah, cpu.al, cpu.bh = 80, self.video_mode, 0
        else:
            self.machine.unsupported(f"INT 10h AH={ah:02X}h", cs, ip)

    def _int11(self, cs: int, ip: int) -> None:
        self.machine.cpu.ax = 0x0020  # 80x25 colour, no diskette drives, no serial or parallel ports

    def _int12(self, cs: int, ip: int) -> None:
        self.machine.cpu.ax = 640

    def _int16(self, cs: int, ip: int) -> None:
        cpu = self.machine.cpu
        ah = cpu.ah
        if ah in (0x00, 0x10):
            key = self.keyboard.take()
            if key is None:
                cpu.retry()  # wait as the BIOS does: the call runs again after the next interrupt
                self.machine.idle_requested = True
                self.machine.uc.emu_stop()
                return
            cpu.ax = key
            self.machine.note_activity()
        elif ah in (0x01, 0x11):
            key = self.keyboard.peek()
            if key is None:
                cpu.set_zero(True)
                self.machine.poll()
            else:
                cpu.ax = key
                cpu.set_zero(False)
        elif ah in (0x02, 0x12):
            cpu.al = 0
        else:
            self.machine.unsupported(f"INT 16h AH={ah:02X}h", cs, ip)

    def _int1a(self, cs: int, ip: int) -> None:
        cpu = self.machine.cpu
        memory = self.machine.memory
        ah = cpu.ah
        if ah == 0x00:
            ticks = memory.dword(BDA_SEGMENT, BDA_TICKS)
            cpu.cx, cpu.dx = ticks >> 16, ticks & 0xFFFF
            cpu.al = memory.read(BDA_SEGMENT, BDA_MIDNIGHT, 1)[0]
            memory.write(BDA_SEGMENT, BDA_MIDNIGHT, b"\x00")
            self.machine.poll()
        elif ah == 0x01:
            memory.set_dword(BDA_SEGMENT, BDA_TICKS, (cpu.cx << 16) | cpu.dx)
        elif ah == 0x02:
            moment = self.now()
            cpu.ch, cpu.cl, cpu.dh, cpu.dl = _bcd(moment.hour), _bcd(moment.minute), _bcd(moment.second), 0
            cpu.set_carry(False)
        elif ah == 0x04:
            moment = self.now()
            cpu.ch, cpu.cl = _bcd(moment.year // 100), _bcd(moment.year % 100)
            cpu.dh, cpu.dl = _bcd(moment.month), _bcd(moment.day)
            cpu.set_carry(False)
        else:
            self.machine.unsupported(f"INT 1Ah AH={ah:02X}h", cs, ip)
            cpu.set_carry(True)

    def _int20(self, cs: int, ip: int) -> None:
        self.machine.exit(0)

    def _int22(self, cs: int, ip: int) -> None:
        self.machine.exit(0)  # the default terminate address: the program is over

    def _int23(self, cs: int, ip: int) -> None:
        self.machine.exit(130, "^C")  # the default Ctrl-C handler ends the program

    def _int24(self, cs: int, ip: int) -> None:
        self.machine.cpu.al = 3  # critical error: fail the call

    def _int28(self, cs: int, ip: int) -> None:
        self.machine.idle()

    def _int29(self, cs: int, ip: int) -> None:
        self.screen(bytes([self.machine.cpu.al]))

    def _int2a(self, cs: int, ip: int) -> None:
        self.machine.cpu.ah = 0  # no network redirector

    def _int2f(self, cs: int, ip: int) -> None:
        cpu = self.machine.cpu
        ax = cpu.ax
        if ax == 0x1680:
            cpu.al = 0  # the time slice was released
            self.machine.idle()
        elif ax == 0x1600 or cpu.al == 0x00:
            self.machine.trace(f"multiplex INT 2Fh AX={ax:04X}h: not installed")
            cpu.al = 0
        else:
            self.machine.unsupported(f"INT 2Fh AX={ax:04X}h", cs, ip)

    def _noop(self, cs: int, ip: int) -> None:
        """Vectors whose BIOS or DOS default handler only returns (user tick, Ctrl-Break, print screen)."""


def _bcd(value: int) -> int:
    return ((value // 10) << 4) | (value % 10)


def _isatty(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False


_HANDLERS = {
    0x05: Bios._noop,
    0x10: Bios._int10,
    0x11: Bios._int11,
    0x12: Bios._int12,
    0x16: Bios._int16,
    0x1A: Bios._int1a,
    0x1B: Bios._noop,
    0x1C: Bios._noop,
    0x20: Bios._int20,
    0x22: Bios._int22,
    0x23: Bios._int23,
    0x24: Bios._int24,
    0x28: Bios._int28,
    0x29: Bios._int29,
    0x2A: Bios._int2a,
    0x2F: Bios._int2f,
}

