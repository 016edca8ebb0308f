"""mtcp-dosrun: run a DOS program whose INT 60h is our packet driver on a link.

    mtcp-dosrun [--link LINK] [--config FILE] [--int N] [-C DIR] [--env NAME=VALUE]...
                [--clock real|virtual] [--cycles N] [--trace] [--screen-dump FILE] [--exit-key KEY]
                PROGRAM [ARGS...]

A program that draws a full screen is shown on the terminal (when standard output is one), its keys read
in raw mode; --exit-key names the host key that always ends the machine (default ctrl-]).

The configuration file is --config FILE, else the one MTCPCFG names, as for every mTCP program; its LINK
and PACKETINT are used, and the DOS program sees it as C:\\MTCP.CFG (its MTCPCFG).

The exit status is the program's DOS exit code; 125 when the CPU faulted or the machine could not run the
program (a link that cannot open: not permitted, no such device), 130 when Ctrl-C ended it, 2 for a usage
or configuration error (a link string wrong as written among them).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType

from ..driver import PacketDriver
from ..links import LinkError, LinkSpecError, open_link, parse_link
from ..mtcpcfg import ConfigError, MtcpCfg, cfg_path, parse_packet_int, read_cfg
from .keyboard import parse_key_name
from .machine import FAULT_STATUS, Companion, Machine, MachineConfig, MachineError
from .screen import text_dump
from .terminal import TerminalDisplay

__all__ = ["CONFIG_DOS_PATH", "USAGE_STATUS", "ConfigError", "Extension", "error", "main", "parse_interrupt"]

USAGE_STATUS = 2
DEFAULT_EXIT_KEY = "ctrl-]"
ENDING_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
CONFIG_DOS_PATH = "C:\\MTCP.CFG"
parse_interrupt = parse_packet_int
"""--int takes the interrupt as PACKETINT does: hexadecimal, 0x60 to 0x80."""


class Extension:
    """What a caller above this package adds to the command (mtcp-dosrun's Python peer on the hub).

    The machine knows nothing of the stack; the program that starts it may run more beside it.
    """

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Add options (before PROGRAM on the command line)."""

    def around(self, options: argparse.Namespace, link_spec: str,
               run: Callable[[Sequence[Companion]], int]) -> int:
        """Run the machine (`run(companions)`), with whatever must run beside it on the machine's own line
        (each companion gets a turn between CPU slices); returns the exit status."""
        return run(())


def parse_arguments(argv: list[str], extension: Extension | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="mtcp-dosrun",
                                     description="Run a DOS packet-driver program on an emulated PC.")
    parser.add_argument("--link", help="link string (tap:mtap0, hub:lan, raw:eth0; ?pcap=FILE ...)")
    parser.add_argument("--config", type=Path, help="mTCP configuration file (LINK, PACKETINT; shown as "
                        "C:\\MTCP.CFG; default: $MTCPCFG)")
    parser.add_argument("--int", dest="interrupt", help="packet driver interrupt, 0x60-0x80 (default 0x60)")
    parser.add_argument("-C", dest="drive", type=Path, help="host folder for drive C: (default: the program's)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="a DOS variable")
    parser.add_argument("--clock", choices=("real", "virtual"), default="real")
    parser.add_argument("--cycles", type=int, help="instructions per millisecond (default: as fast as the host)")
    parser.add_argument("--trace", action="store_true", help="log every DOS, BIOS and packet driver call")
    parser.add_argument("--screen-dump", type=Path, metavar="FILE",
                        help="write the last text screen to FILE at the end (one line per row)")
    parser.add_argument("--exit-key", default=DEFAULT_EXIT_KEY, metavar="KEY",
                        help="host key that ends the machine: ctrl-], alt-x, f12 ..., or none (default ctrl-])")
    if extension is not None:
        extension.add_arguments(parser)
    parser.add_argument("program", type=Path)
    parser.add_argument("args", nargs=argparse.REMAINDER)
    return parser.parse_args(argv)


def error(message: str) -> None:
    print(f"mtcp-dosrun: {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None, extension: Extension | None = None) -> int:
    options = parse_arguments(list(sys.argv[1:] if argv is None else argv), extension)
    config_path = cfg_path(options.config)
    runner = MtcpCfg()
    if config_path is not None:
        try:
            runner = read_cfg(config_path)
        except ConfigError as exc:
            error(str(exc))
            return USAGE_STATUS
    link_spec = options.link or runner.link
    if not link_spec:
        error("no link: give --link (e.g. --link tap:mtap0) or LINK in the configuration file (--config or "
              "MTCPCFG)")
        return USAGE_STATUS
    try:
        parse_link(link_spec)
    except LinkSpecError as exc:
        error(str(exc))
        return USAGE_STATUS
    try:
        interrupt = parse_interrupt(options.interrupt) if options.interrupt else (runner.packet_int or 0x60)
    except ValueError as exc:
        error(f"--int {exc}")
        return USAGE_STATUS
    if options.cycles is not None and options.cycles <= 0:
        error("--cycles must be a positive number of instructions per millisecond")
        return USAGE_STATUS
    if options.exit_key.lower() != "none":
        try:
            parse_key_name(options.exit_key)
        except ValueError as exc:
            error(f"--exit-key {exc}")
            return USAGE_STATUS
    environment: list[tuple[str, str]] = [("PATH", "C:\\"), ("COMSPEC", "C:\\COMMAND.COM"), ("MTCPSLEEP", "1")]
    overlays: dict[str, Path] = {}
    if config_path is not None:
        environment.append(("MTCPCFG", CONFIG_DOS_PATH))
        overlays[CONFIG_DOS_PATH] = Path(config_path).resolve()
    for item in options.env:
        name, sep, value = item.partition("=")
        if not sep or not name:
            error(f"--env {item}: write NAME=VALUE")
            return USAGE_STATUS
        environment = [(k, v) for k, v in environment if k.upper() != name.upper()]
        environment.append((name.upper(), value))
    extension = extension or Extension()
    return extension.around(options, link_spec,
                            lambda companions: run(options, link_spec, interrupt, environment, overlays, companions))


def run(options: argparse.Namespace, link_spec: str, interrupt: int, environment: list[tuple[str, str]],
        overlays: dict[str, Path], companions: Sequence[Companion] = ()) -> int:
    exit_key = None if options.exit_key.lower() == "none" else parse_key_name(options.exit_key)
    config = MachineConfig(program=options.program, args=list(options.args), drive=options.drive,
                           environment=environment, overlays=overlays, virtual_clock=options.clock == "virtual",
                           cycles_per_ms=options.cycles, trace=options.trace, packet_interrupt=interrupt,
                           exit_key=exit_key)
    display = TerminalDisplay() if _isatty(1) else None
    # The machine exists before the link so that the link's pcap and delays run on the machine's clock.
    try:
        machine = Machine(config, stderr=display.log if display is not None else None)
    except MachineError as exc:
        error(str(exc).removeprefix("mtcp-dosrun: "))
        return FAULT_STATUS
    try:
        link = open_link(link_spec, clock=machine.clock)
    except LinkSpecError as exc:  # checked in main already; kept for callers of run()
        error(str(exc))
        machine.shutdown()
        return USAGE_STATUS
    except (LinkError, OSError) as exc:  # the link cannot open: the machine cannot run the program
        error(str(exc))
        machine.shutdown()
        return FAULT_STATUS
    machine.attach_driver(PacketDriver(link, interrupt=interrupt))
    for companion in companions:
        machine.attach_companion(companion)
    if display is not None:
        machine.attach_display(display)
    return run_machine(machine, display, options.screen_dump)


def run_machine(machine: Machine, display: TerminalDisplay | None, screen_dump: Path | None) -> int:
    """Run, giving the terminal back on every way out (the end, Ctrl-C, a fault, an error, SIGTERM)."""

    def on_ending_signal(signum: int, _frame: FrameType | None) -> None:
        machine.exit(128 + signum, f"mtcp-dosrun: stopped by signal {signal.Signals(signum).name}")

    previous = {number: signal.signal(number, on_ending_signal) for number in ENDING_SIGNALS}
    try:
        status = machine.run()
    finally:
        if display is not None:
            display.close()
        for number, handler in previous.items():
            signal.signal(number, handler)
    if screen_dump is not None:
        try:
            screen_dump.write_text(text_dump(machine.bios.video.snapshot()), encoding="utf-8")
        except OSError as exc:
            error(f"--screen-dump {screen_dump}: {exc.strerror or exc}")
    return status


def _isatty(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(main())
