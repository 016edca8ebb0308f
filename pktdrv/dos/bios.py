"""BIOS services and the small interrupts DOS programs use besides INT 21h.

INT 10h (video.py), 11h, 12h, 16h (keyboard.py), 1Ah (time), 20h (terminate), 24h (critical error), 28h
(DOS idle), 29h (fast console output), 2Ah and 2Fh (multiplex, idle release), and the BIOS timer tick.
Console output (teletype, INT 29h, DOS writes to the console) goes into video memory; while no display has
taken over the terminal it is also written as bytes to stdout when that is a terminal, else stderr, so that
it never mixes with a program's redirected standard output.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ..clock import TICK_HZ
from .keyboard import Keyboard
from .memory import BDA_MIDNIGHT, BDA_SEGMENT, BDA_TICKS
from .video import Video

if TYPE_CHECKING:
    from .machine import Machine

TICKS_PER_DAY = 0x1800B0
VIRTUAL_EPOCH = datetime(2000, 1, 1)
"""Where the clock starts on a virtual-time run, so that dates and times repeat too."""

class Bios:
    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        config = machine.config
        self.keyboard = Keyboard(machine.memory, exit_key=config.exit_key, on_exit_key=machine.exit_key_pressed,
                                 clock=machine.clock.seconds)
        self.video = Video(machine.memory)
        screen_fd = 1 if _isatty(1) else 2
        self.screen_fd = screen_fd

    def start(self) -> None:
        """Set the BIOS tick count to the time of day, as the BIOS does at boot."""
        self.machine.memory.set_dword(BDA_SEGMENT, BDA_TICKS, int(self.seconds_since_midnight() * TICK_HZ))
        self.machine.memory.set_word(BDA_SEGMENT, 0x13, 640)
        self.machine.memory.set_word(BDA_SEGMENT, 0x10, 0x0020)  # equipment word: 80x25 colour
        self.video.set_mode(3)
        self.keyboard.start()

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

    def screen(self, data: bytes, fd: int | None = None) -> None:
        """Console output: teletype into video memory, and the bytes to the host terminal (`fd`, by default
        the BIOS's) unless the screen is shown there: a full-screen program's display takes the terminal."""
        self.video.teletype(data)
        if self.machine.display is None or not self.video.full_screen:
            view = memoryview(data)
            while view:
                view = view[os.write(self.screen_fd if fd is None else fd, view):]
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
        if cpu.ah == 0x0E:
            self.screen(bytes([cpu.al]))
        elif not self.video.serve(cpu):
            self.machine.unsupported(f"INT 10h AH={cpu.ah:02X}h", cs, ip)

    def _int11(self, cs: int, ip: int) -> None:
        self.machine.cpu.ax = 0x0020  # 80x25 colour, no diskette drives, no serial or parallel ports

    def _int12(self, cs: int, ip: int) -> None:
        self.machine.cpu.ax = 640

    def _int16(self, cs: int, ip: int) -> None:
        cpu = self.machine.cpu
        keyboard = self.keyboard
        ah = cpu.ah
        if ah in (0x00, 0x10):
            key = keyboard.take(extended=ah == 0x10)
            if key is None:
                cpu.retry()  # wait as the BIOS does: the call runs again after the next interrupt
                self.machine.idle_requested = True
                self.machine.uc.emu_stop()
                return
            cpu.ax = key
            self.machine.note_activity()
        elif ah in (0x01, 0x11):
            key = keyboard.peek(extended=ah == 0x11)
            if key is None:
                cpu.set_zero(True)
                self.machine.poll()
            else:
                cpu.ax = key
                cpu.set_zero(False)
                self.machine.note_activity()
        elif ah in (0x02, 0x12):
            keyboard.read_host()  # keys typed meanwhile set the shift state
            shift, extended = keyboard.buffer.shift_state()
            cpu.al = shift
            if ah == 0x12:
                cpu.ah = extended | (0x01 if shift & 0x04 else 0) | (0x02 if shift & 0x08 else 0)
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

