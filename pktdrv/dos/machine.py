"""The DOS machine: unicorn's real-mode CPU, our memory and ROM, services in Python, and the run loop.

The CPU runs in slices of a few thousand instructions. DOS, BIOS and packet-driver calls are served inside
the CPU's interrupt hook without stopping it; timer and NIC interrupts are delivered between slices (the
only safe moment: stopping unicorn from another thread is racy). Idle calls stop the slice early and the
loop sleeps until the next timer tick, frame or key (real time), or jumps time forward (virtual time).

Companions (mtcp-dosrun's Python peer on the same hub) run on this same line: between slices, just before
the link is drained, each gets a turn, and an idle sleep wakes for their deadlines and descriptors. So the
machine, its link and whatever runs beside it share one thread and one loop.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from unicorn import UC_ARCH_X86, UC_HOOK_INSN, UC_HOOK_INTR, UC_MODE_16, Uc, UcError
from unicorn import x86_const as x86

from ..clock import TICK_HZ
from ..driver import PacketDriver
from ..registers import DriverMemory, RegisterEntry
from . import ctrlc, pktint, rom
from .bios import Bios
from .cpu import Cpu
from .display import Display, ScreenRefresh
from .dos21 import DosServices
from .files import DriveC, console_streams_flush
from .idle import IdleRule
from .loader import Program, ProgramError, build_environment, load_program, parse_program
from .machineconfig import CTRL_C_STATUS, FAULT_STATUS, Companion, MachineConfig, MachineError
from .memory import BDA_SEGMENT, ROM_SEGMENT, Arena, GuestMemory, linear
from .nic import NicBridge
from .ports import PortBus
from .timer import InstructionTime, MachineClock, Pic, Pit, RealTime

DEFAULT_VIRTUAL_RATE = 20_000_000
"""Instructions per virtual second when --cycles is not given (a fast 486's worth)."""
IDLE_CALLS_PER_LOOK = 8
"""Idle-type calls that do not sleep before the slice ends early to look at the link."""
KEY_COLLECT_INTERVAL = 0.01
"""How often typed keys are moved into the BIOS ring while the program runs (seconds)."""
IDLE_QUANTUM = 0.02
"""Shortest idle sleep when the program runs the PIT faster than this (seconds)."""
FRAMES_PER_DRAIN = 32
"""Frames read from the link between two CPU slices (they wait in the NIC's queue for the interrupt)."""
HARDWARE_VECTORS = set(range(0x08, 0x10)) | set(range(0x70, 0x78))
__all__ = ["CTRL_C_STATUS", "FAULT_STATUS", "Companion", "Machine", "MachineConfig", "MachineError"]


class Machine:
    def __init__(self, config: MachineConfig, *, stderr: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.log = stderr or (lambda line: print(line, file=sys.stderr, flush=True))
        self.exit_code: int | None = None
        self.stop_message = ""
        self.clock: MachineClock = (InstructionTime(config.cycles_per_ms * 1000 if config.cycles_per_ms
                                                    else DEFAULT_VIRTUAL_RATE)
                                    if config.virtual_clock else RealTime())
        self.uc = Uc(UC_ARCH_X86, UC_MODE_16)
        self.uc.mem_map(0, 0xC0000)
        self.uc.mem_map(ROM_SEGMENT << 4, 0x10000)
        self.cpu = Cpu(self.uc)
        self.memory = GuestMemory(self.uc)
        rom_bytes, self.traps = rom.build_rom()
        self.memory.write(ROM_SEGMENT, 0, rom_bytes)
        self.default_vectors = [(ROM_SEGMENT, rom.vector_stub(n)) for n in range(256)]
        self.default_vectors[8] = (ROM_SEGMENT, rom.BIOS_TIMER)
        self.code_vectors = {8}
        """Vectors whose ROM handler is real code: always entered through the vector table."""
        self.packet_interrupt = config.packet_interrupt
        for number, (segment, offset) in enumerate(self.default_vectors):
            self.memory.set_vector(number, segment, offset)
        self.pit = Pit(self.clock)
        self.pic = Pic()
        self._wake_read = self._wake_write = -1
        self._sleeping = False
        self.idle_rule = IdleRule()
        self.call_site = 0
        """CS << 16 | IP of the INT being served: idle calls are told apart by where they come from."""
        self._idle_calls_in_slice = 0
        self.display: Display | None = None
        self._next_key_collect = 0.0
        self._refresh: ScreenRefresh | None = None
        self.idle_requested = False
        self.reported: set[str] = set()
        self.break_requests = 0
        self.break_pending = False
        self.break_interrupt_pending = False
        self.ctrl_c_frames: list[tuple[int, int, int]] = []
        self._tick_returns: list[tuple[int, int]] = []
        drive = Path(config.drive) if config.drive else Path(config.program).resolve().parent
        if not drive.is_dir():
            raise MachineError(f"{drive}: drive C: must be an existing folder")
        self.drive = DriveC(drive, overlays=dict(config.overlays))
        self.bios = Bios(self)
        self.dos = DosServices(self)
        self.nic: NicBridge | None = None
        self.companions: list[Companion] = []
        self._companion_wake: float | None = None
        """Machine-clock seconds at which a companion next has timer work (None: only when frames come)."""
        self.pktdrv: RegisterEntry | None = None
        self.driver: PacketDriver | None = None
        if config.driver is not None:
            self.attach_driver(config.driver)
        self.arena = Arena(self.memory)
        self.psp = 0
        self._load(config)
        self.uc.hook_add(UC_HOOK_INTR, self._on_interrupt)
        self.ports = PortBus(self)
        self.uc.hook_add(UC_HOOK_INSN, self.ports.on_out, None, 1, 0, x86.UC_X86_INS_OUT)
        self.uc.hook_add(UC_HOOK_INSN, self.ports.on_in, None, 1, 0, x86.UC_X86_INS_IN)
        self.instructions = 0
        # Frames and signals wake an idle sleep through this pipe (made last: nothing to leak on errors).
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)

    def attach_driver(self, driver: PacketDriver) -> None:
        """Install `driver` on the packet interrupt: its vector points at a handler with "PKT DRVR"."""
        self.driver = driver
        driver.interrupt = self.packet_interrupt
        self.nic = NicBridge(driver)
        tables = DriverMemory(ROM_SEGMENT, rom.DRIVER_NAME, rom.DRIVER_PARAMETERS, rom.DRIVER_STATISTICS,
                              rom.DRIVER_MULTICAST)
        self.pktdrv = RegisterEntry(driver, self.memory, tables, self.nic.make_receiver)
        self.default_vectors[self.packet_interrupt] = (ROM_SEGMENT, rom.PKT_HANDLER)
        self.memory.set_vector(self.packet_interrupt, ROM_SEGMENT, rom.PKT_HANDLER)

    def attach_display(self, display: Display) -> None:
        """Show the screen on `display`: a refresh about 30 times a second, from the run loop."""
        self.display = display
        self._refresh = ScreenRefresh(self.bios.video, display)

    def exit_key_pressed(self) -> None:
        self.exit(CTRL_C_STATUS, "mtcp-dosrun: stopped by the exit key")

    def attach_companion(self, companion: Companion) -> None:
        """Run `companion` on the machine's line: a turn between slices, its wake-ups in idle sleeps."""
        self.companions.append(companion)

    def _turn_companions(self) -> None:
        wake: float | None = None
        for companion in self.companions:
            after = companion.turn()
            if after is not None and (wake is None or after < wake):
                wake = after
        self._companion_wake = None if wake is None else self.clock.seconds() + wake

    # -- loading ------------------------------------------------------------------------------------------

    def dos_path_of(self, host: Path) -> str:
        try:
            relative = Path(os.path.realpath(host)).relative_to(self.drive.root)
        except ValueError:
            return "C:\\" + host.name.upper()
        return "C:\\" + "\\".join(p.upper() for p in relative.parts)

    def _load(self, config: MachineConfig) -> None:
        name = str(config.program)
        try:
            data = Path(config.program).read_bytes()
        except OSError as exc:
            raise MachineError(f"{name}: {exc.strerror or exc}") from None
        try:
            program: Program = parse_program(data, name)
            environment = build_environment(config.environment, self.dos_path_of(Path(config.program)))
            loaded = load_program(program, self.memory, self.arena, environment, config.args,
                                  (ROM_SEGMENT, rom.vector_stub(0x21)),
                                  {n: self.default_vectors[n] for n in (0x22, 0x23, 0x24)}, name)
        except ProgramError as exc:
            raise MachineError(str(exc)) from None
        self.psp = loaded.psp
        cpu = self.cpu
        cpu.cs, cpu.ip, cpu.ss, cpu.sp = loaded.cs, loaded.ip, loaded.ss, loaded.sp
        cpu.ds = cpu.es = loaded.psp
        cpu.ax = cpu.bx = cpu.dx = cpu.si = cpu.di = cpu.bp = 0
        cpu.cx = 0xFF
        cpu.eflags = 0x0202
        self.dos.dta = (loaded.psp, 0x80)
        self.bios.start()

    # -- helpers for services ------------------------------------------------------------------------------

    def trace(self, text: str) -> None:
        if self.config.trace:
            self.log(f"trace {text}")

    def unsupported(self, what: str, cs: int, ip: int) -> None:
        """Report an unserved call once (by what it is), naming where the program made it."""
        if what not in self.reported:
            self.reported.add(what)
            self.log(f"mtcp-dosrun: unsupported {what} at {cs:04X}:{ip:04X}")

    def exit(self, code: int, message: str = "") -> None:
        if self.exit_code is None:
            self.exit_code = code & 0xFF if code < 256 else code
            self.stop_message = message
        self.uc.emu_stop()

    def note_activity(self) -> None:
        """The program did something (I/O, a frame sent, a key read): its next idle call is not idleness."""
        self.idle_rule.note_activity()

    def note_frame(self) -> None:
        """A frame was handed to the program: it may need a few turns of its loop to take it."""
        self.idle_rule.note_frame()

    def idle(self) -> None:
        """The program yields (INT 28h, 2Fh/1680): sleep until an interrupt, unless it is busy (idle.py)."""
        self._idle_call()

    def _idle_call(self) -> None:
        if self.idle_rule.may_sleep(self.call_site):
            self._go_idle()
            return
        self._idle_calls_in_slice += 1
        if self._idle_calls_in_slice >= IDLE_CALLS_PER_LOOK:
            # A program that polls and may not sleep yet is asking for news: end the slice so that the link
            # is drained and what came is delivered now, not a slice's worth of service calls later.
            self._idle_calls_in_slice = 0
            self.uc.emu_stop()

    def _go_idle(self) -> None:
        # Timer ticks owed from a sleep are handed over right here, without leaving the CPU: a program
        # that set the PIT to 1 kHz gets a burst of them per wake-up instead of a wake-up per tick.
        if not self.clock.virtual and self._timer_interrupt_now():
            return
        self.idle_requested = True
        self.uc.emu_stop()

    def _timer_interrupt_now(self) -> bool:
        cpu = self.cpu
        if cpu.flags_at is not None or not cpu.interrupts_enabled():
            return False
        self.pit.update()
        if not self.pit.owed or not self.pic.can_take(0):
            return False
        self._deliver_timer(cpu.cs, cpu.ip)
        return True

    def _timer_due_before_call(self, cs: int, ip: int) -> bool:
        """A tick that came due while the program computed is taken before its next call, as on a PC the
        IRQ would have come between two instructions: the INT runs again once the tick chain returns."""
        pit = self.pit
        if not pit.owed and self.clock.seconds() < pit.next_fire:
            return False  # the common case, kept cheap: this runs before every call the program makes
        pit.update()
        if not pit.owed or not self.pic.can_take(0) or not self.cpu.interrupts_enabled():
            return False
        self._deliver_timer(cs, (ip - 2) & 0xFFFF)
        return True

    def _deliver_timer(self, return_cs: int, return_ip: int) -> None:
        """IRQ0 through vector 8, returning to the tick chain: every tick owed is handed over before the
        interrupted code runs again, so a program never acts on a clock that lags behind."""
        self.pit.owed -= 1
        self.pic.begin(0)
        if len(self._tick_returns) < 64:
            self._tick_returns.append((return_cs, return_ip))
            return_cs, return_ip = ROM_SEGMENT, rom.TICK_CHAIN
        vector = self.memory.vector(8)
        self.cpu.deliver(vector[0], vector[1], return_cs, return_ip)

    def _tick_returned(self) -> None:
        cpu = self.cpu
        if not self._tick_returns:
            self.exit(FAULT_STATUS, self.fault_text("stray return into the timer chain", cpu.cs, cpu.ip - 2))
            return
        return_cs, return_ip = self._tick_returns.pop()
        self.pit.update()
        if not cpu.interrupts_enabled():
            cpu.cs, cpu.ip = return_cs, return_ip
        elif self.pit.owed and self.pic.can_take(0):
            self._deliver_timer(return_cs, return_ip)
        elif not self._deliver_nic(return_cs, return_ip):
            cpu.cs, cpu.ip = return_cs, return_ip

    def _deliver_nic(self, return_cs: int, return_ip: int) -> bool:
        """Raise the NIC interrupt if a frame waits (the caller has checked IF)."""
        nic = self.nic
        if nic is None or nic.in_interrupt or not nic.pending():
            return False
        nic.in_interrupt = True
        nic.delivered_this_interrupt = 0
        self.cpu.deliver(ROM_SEGMENT, rom.NIC_ISR, return_cs, return_ip)
        return True

    def poll(self) -> None:
        """The program polled the clock or the keyboard and found nothing new: idle if it keeps doing so."""
        self._idle_call()

    def wake(self) -> None:
        if self._sleeping:
            try:
                os.write(self._wake_write, b"!")
            except OSError:
                pass

    # -- the interrupt hook ----------------------------------------------------------------------------------

    def _on_interrupt(self, uc: Uc, number: int, _data: object) -> None:
        cpu = self.cpu
        try:
            cs, ip = cpu.cs_ip()
            if number == rom.TRAP and cs == ROM_SEGMENT:
                self._on_trap(ip)
                return
            if number < 8 and self.memory.read(cs, (ip - 2) & 0xFFFF, 2) != bytes([0xCD, number]):
                self._cpu_exception(number, cs, ip)
                return
            vector = self.memory.vector(number)
            if vector == self.default_vectors[number] and number not in self.code_vectors:
                cpu.flags_at = None
                if self._timer_due_before_call(cs, ip):
                    return
                self.serve(number, cs, (ip - 2) & 0xFFFF)
            else:
                cpu.deliver(vector[0], vector[1], cs, ip)
        except Exception as exc:  # a bug in a service must end the run cleanly, not hang unicorn
            self.exit(FAULT_STATUS, f"internal error serving INT {number:02X}h: {type(exc).__name__}: {exc}")

    def _cpu_exception(self, number: int, cs: int, ip: int) -> None:
        vector = self.memory.vector(number)
        if vector != self.default_vectors[number]:
            self.cpu.deliver(vector[0], vector[1], cs, ip)
            return
        names = {0: "divide error", 1: "single step", 3: "breakpoint", 4: "overflow", 5: "bound range",
                 6: "invalid opcode", 7: "no coprocessor"}
        if number in (1, 3, 4):
            return  # the default handlers of the debug and overflow interrupts just return
        self.exit(FAULT_STATUS, self.fault_text(names.get(number, f"exception {number}"), cs, ip))

    def fault_text(self, what: str, cs: int, ip: int) -> str:
        try:
            code = self.memory.read_linear(linear(cs, ip), 8).hex(" ")
        except UcError:
            code = "unmapped"
        return f"mtcp-dosrun: CPU fault: {what} at {cs:04X}:{ip:04X} (bytes there: {code})"

    def _on_trap(self, ip: int) -> None:
        cpu = self.cpu
        traps = self.traps
        vector = rom.vector_of_stub_trap(ip)
        if vector is not None or ip == traps.pkt_handler:
            number = self.packet_interrupt if vector is None else vector
            sp = cpu.sp
            frame = linear(cpu.ss, sp)
            cpu.flags_at = frame + 4
            try:
                caller_ip, caller_cs = (self.memory.word(cpu.ss, sp), self.memory.word(cpu.ss, sp + 2))
                self.serve(number, caller_cs, (caller_ip - 2) & 0xFFFF)
            finally:
                cpu.flags_at = None
        elif ip == traps.bios_tick:
            self.bios.timer_tick()
        elif ip == traps.nic_begin:
            pktint.nic_begin(self)
        elif ip == traps.nic_copy:
            pktint.nic_copy(self)
        elif ip == traps.tick_chain:
            self._tick_returned()
        elif ip == traps.ctrl_c_return:
            ctrlc.ctrl_c_returned(self)
        else:
            self.exit(FAULT_STATUS, self.fault_text("jump into the ROM", cpu.cs, ip - 2))

    def serve(self, number: int, cs: int, ip: int) -> None:
        """Serve vector `number` in Python; cs:ip is the caller's INT instruction (for reports)."""
        self.call_site = (cs << 16) | ip
        if number == 0x21:
            self.dos.serve(cs, ip)
        elif self.pktdrv is not None and number == self.packet_interrupt:
            pktint.serve_packet_driver(self)
        elif not self.bios.serve(number, cs, ip):
            if number in HARDWARE_VECTORS or number in (0x1B, 0x1C):
                return
            self.unsupported(f"INT {number:02X}h AH={self.cpu.ah:02X}h", cs, ip)
            self.cpu.set_carry(True)

    # -- Ctrl-C ----------------------------------------------------------------------------------------------

    def request_break(self) -> None:
        """Ctrl-C at the terminal: INT 1Bh at the next chance, INT 23h at the next DOS call that checks."""
        self.break_requests += 1
        if self.break_requests >= 2:
            self.exit(CTRL_C_STATUS, "mtcp-dosrun: stopped by a second Ctrl-C")
            return
        self.break_pending = True
        self.break_interrupt_pending = True
        self.wake()

    # -- the run loop -----------------------------------------------------------------------------------------

    def _deliver_pending_interrupts(self) -> None:
        self.pit.update()
        if self.companions:
            self._turn_companions()  # first, so that what they answer to the last slice is drained now
        driver = self.driver
        if driver is not None and self.nic is not None:
            driver.poll(self.clock.now())
            driver.drain(FRAMES_PER_DRAIN)  # frames come in here, on the machine's own line, between slices
        cpu = self.cpu
        if not cpu.interrupts_enabled():
            return
        if self.break_interrupt_pending:
            self.break_interrupt_pending = False
            self.memory.write(BDA_SEGMENT, 0x71, b"\x80")
            vector = self.memory.vector(0x1B)
            if vector != self.default_vectors[0x1B]:
                cpu.deliver(vector[0], vector[1], cpu.cs, cpu.ip)
                self.trace("INT 1Bh (Ctrl-Break) delivered")
                return
        if self.pit.owed and self.pic.can_take(0):
            self._deliver_timer(cpu.cs, cpu.ip)
            return
        self._deliver_nic(cpu.cs, cpu.ip)

    def _wait_idle(self) -> None:
        """Nothing to do until an interrupt: sleep (real time) or move time forward (virtual time)."""
        self.pit.update()
        if self.companions:
            # What the program sent in the slice just ended may already have an answer: no sleep then.
            self._turn_companions()
        if self.driver is not None and self.nic is not None:
            self.driver.drain(FRAMES_PER_DRAIN)  # frames waiting on the link are work: no sleep then
        if self.pit.owed or (self.nic is not None and self.nic.pending()) or self.exit_code is not None:
            return
        if self.break_interrupt_pending:
            return
        driver = self.driver
        deadline = self.pit.next_fire
        link_deadline = driver.next_deadline() if driver is not None else None
        if link_deadline is not None:
            deadline = min(deadline, link_deadline / TICK_HZ)
        if self._companion_wake is not None:
            deadline = min(deadline, self._companion_wake)
        if self._refresh is not None:
            owed = self._refresh.before_sleep(self.clock.seconds())
            if owed is not None:
                deadline = min(deadline, self.clock.seconds() + owed)
        key_in = self.bios.keyboard.next_key_in()
        if key_in is not None:
            deadline = min(deadline, self.clock.seconds() + key_in)
        self.idle_rule.slept()
        if isinstance(self.clock, InstructionTime):
            real_time_peer = (driver is not None and driver.fileno() is not None) or \
                self._companion_wake is not None or any(c.fileno() is not None for c in self.companions)
            if real_time_peer:
                self._sleep(0.002)  # a real network answers in real time: give it a moment first
                if self.companions:
                    self._turn_companions()
                if driver is not None:
                    driver.drain(FRAMES_PER_DRAIN)
                if self.nic is not None and self.nic.pending():
                    return
            self.clock.jump_to(deadline)
            return
        # A fast PIT does not wake the host at its rate: ticks due meanwhile are delivered in a burst.
        self._sleep(max(deadline - self.clock.seconds(), IDLE_QUANTUM if self.pit.period < IDLE_QUANTUM else 0.0))

    def _sleep(self, timeout: float) -> None:
        watch = [self._wake_read]
        link_fd = self.driver.fileno() if self.driver is not None and self.nic is not None else None
        if link_fd is not None:
            watch.append(link_fd)
        watch.extend(fd for companion in self.companions if (fd := companion.fileno()) is not None)
        if self.bios.keyboard.waiting_on_tty():
            watch.append(0)
        self._sleeping = True
        try:
            if self.nic is not None and self.nic.pending():
                return
            select.select(watch, [], [], timeout)
        except (OSError, ValueError):
            pass
        finally:
            self._sleeping = False
        try:
            while os.read(self._wake_read, 512):
                pass
        except (BlockingIOError, OSError):
            pass
        if self._refresh is not None:
            self._collect_keys(self.clock.seconds())

    def _slice_length(self) -> int:
        if isinstance(self.clock, InstructionTime):
            return max(1, min(self.config.slice, self.clock.instructions_until(self.pit.next_fire)))
        return self.config.slice

    def run(self) -> int:
        """Run the program to its end; returns the process exit status. The link is always released."""
        previous = self._install_signal_handler()
        started = time.monotonic()
        paced = self.config.cycles_per_ms if not self.config.virtual_clock else None
        try:
            self._run_slices(started, paced)
        except Exception as exc:  # a bug of ours ends the run with one line, never a traceback
            self.exit(FAULT_STATUS, f"mtcp-dosrun: internal error: {type(exc).__name__}: {exc}")
        finally:
            self._restore_signal_handler(previous)
            self.shutdown()
        if self.stop_message:
            self.log(self.stop_message)
        assert self.exit_code is not None
        return self.exit_code

    def _run_slices(self, started: float, paced: int | None) -> None:
        while self.exit_code is None:
            self._deliver_pending_interrupts()
            if self.exit_code is not None:
                break
            count = self._slice_length()
            self.idle_requested = False
            self._idle_calls_in_slice = 0
            cpu = self.cpu
            try:
                self.uc.emu_start((cpu.cs << 4) + cpu.ip, 0xFFFFFFFF, count=count)
            except UcError as exc:
                self.exit(FAULT_STATUS, self.fault_text(str(exc).split(" (")[0].lower(), cpu.cs, cpu.ip))
                break
            self.instructions += count
            if isinstance(self.clock, InstructionTime):
                self.clock.run(count)
            if self.exit_code is not None:
                break
            if self._refresh is not None:
                now = self.clock.seconds()
                self._refresh.after_slice(now)
                if now >= self._next_key_collect:
                    self._collect_keys(now)
            if self.idle_requested or self._halted():
                self._wait_idle()
            if paced:
                ahead = self.instructions / (paced * 1000.0) - (time.monotonic() - started)
                if ahead > 0.001:
                    time.sleep(ahead)

    def _collect_keys(self, now: float) -> None:
        """The keyboard interrupt's part: keys typed go into the BIOS ring even while the program does not
        ask for them (a full-screen program's keyboard is always on)."""
        keyboard = self.bios.keyboard
        if self.bios.video.full_screen:
            keyboard.polled = True
        keyboard.collect()
        self._next_key_collect = now + KEY_COLLECT_INTERVAL

    def _halted(self) -> bool:
        """HLT ends a unicorn run early; with IF set, it waits for the next interrupt."""
        cpu = self.cpu
        try:
            return self.memory.read(cpu.cs, (cpu.ip - 1) & 0xFFFF, 1) == b"\xf4" and cpu.interrupts_enabled()
        except UcError:
            return False

    def shutdown(self) -> None:
        """Release the link and the files, whatever happened."""
        driver = self.driver
        if driver is not None:
            try:
                driver.shutdown()
            except Exception as exc:
                self.log(f"mtcp-dosrun: closing the link: {exc}")
        self.dos.close_all()
        self.bios.stop()
        console_streams_flush()
        for fd in (self._wake_read, self._wake_write):
            if fd >= 0:
                os.close(fd)
        self._wake_read = self._wake_write = -1

    def _install_signal_handler(self) -> object:
        if threading.current_thread() is not threading.main_thread():
            return None

        def on_sigint(_signum: int, _frame: FrameType | None) -> None:
            self.request_break()

        return signal.signal(signal.SIGINT, on_sigint)

    def _restore_signal_handler(self, previous: object) -> None:
        if previous is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, previous)  # type: ignore[arg-type]

