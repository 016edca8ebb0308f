"""mtcp-dosrun: run a DOS program whose INT 60h is our packet driver on a link.

    mtcp-dosrun [--link LINK] [--config FILE] [--int N] [-C DIR] [--env NAME=VALUE]...
                [--clock real|virtual] [--cycles N] [--trace] PROGRAM [ARGS...]

The exit status is the program's DOS exit code; 125 when the CPU faulted or the machine could not run the
program, 130 when Ctrl-C ended it, 2 for a usage or configuration error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..driver import PacketDriver
from ..links import LinkError, open_link
from ..registry import FIRST_VECTOR, LAST_VECTOR
from .machine import FAULT_STATUS, Machine, MachineConfig, MachineError

USAGE_STATUS = 2
CONFIG_DOS_PATH = "C:\\MTCP.CFG"


class ConfigError(Exception):
    """A bad line in the mTCP configuration file; the message names file, line and key."""


@dataclass
class RunnerConfig:
    """What mtcp-dosrun takes from an mTCP configuration file (other keys are mTCP's own)."""

    link: str | None = None
    packet_interrupt: int | None = None
    keys: dict[str, str] = field(default_factory=dict)


def parse_interrupt(text: str) -> int:
    value = int(text, 0) if text.lower().startswith("0x") else int(text, 16)
    if not FIRST_VECTOR <= value <= LAST_VECTOR:
        raise ValueError(f"{text}: a packet driver interrupt is 0x60 to 0x80")
    return value


def read_config(path: Path) -> RunnerConfig:
    """`KEY value` lines, `#` comments; LINK and PACKETINT are checked, other keys are kept as they are."""
    try:
        text = path.read_text(encoding="latin-1")
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror or exc}") from None
    config = RunnerConfig()
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        key, _, value = line.partition(" ")
        key = key.upper()
        value = value.strip()
        if not key.replace("_", "").isalnum():
            raise ConfigError(f"{path}:{number}: {key}: not a KEY value line")
        if key == "LINK":
            if not value:
                raise ConfigError(f"{path}:{number}: LINK: needs a link such as tap:mtap0")
            try:
                from ..links import parse_link_spec

                parse_link_spec(value)
            except LinkError as exc:
                raise ConfigError(f"{path}:{number}: LINK: {exc}") from None
            config.link = value
        elif key == "PACKETINT":
            try:
                config.packet_interrupt = parse_interrupt(value)
            except ValueError as exc:
                raise ConfigError(f"{path}:{number}: PACKETINT: {exc}") from None
        config.keys[key] = value
    return config


class Extension:
    """What a caller above this package adds to the command (mtcp-dosrun's Python peer on the hub).

    The machine knows nothing of the stack; the program that starts it may run more beside it.
    """

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Add options (before PROGRAM on the command line)."""

    def around(self, options: argparse.Namespace, link_spec: str, run: Callable[[], int]) -> int:
        """Run the machine (`run()`), with whatever else must run beside it; returns the exit status."""
        return run()


def parse_arguments(argv: list[str], extension: Extension | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="mtcp-dosrun",
                                     description="Run a DOS packet-driver program on an emulated PC.")
    parser.add_argument("--link", help="link string (tap:mtap0, hub:lan, raw:eth0; ?pcap=FILE ...)")
    parser.add_argument("--config", type=Path, help="mTCP configuration file (LINK, PACKETINT; shown as "
                        "C:\\MTCP.CFG)")
    parser.add_argument("--int", dest="interrupt", help="packet driver interrupt, 0x60-0x80 (default 0x60)")
    parser.add_argument("-C", dest="drive", type=Path, help="host folder for drive C: (default: the program's)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="a DOS variable")
    parser.add_argument("--clock", choices=("real", "virtual"), default="real")
    parser.add_argument("--cycles", type=int, help="instructions per millisecond (default: as fast as the host)")
    parser.add_argument("--trace", action="store_true", help="log every DOS, BIOS and packet driver call")
    if extension is not None:
        extension.add_arguments(parser)
    parser.add_argument("program", type=Path)
    parser.add_argument("args", nargs=argparse.REMAINDER)
    return parser.parse_args(argv)


def error(message: str) -> None:
    print(f"mtcp-dosrun: {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None, extension: Extension | None = None) -> int:
    options = parse_arguments(list(sys.argv[1:] if argv is None else argv), extension)
    runner = RunnerConfig()
    if options.config is not None:
        try:
            runner = read_config(options.config)
        except ConfigError as exc:
            error(str(exc))
            return USAGE_STATUS
    link_spec = options.link or runner.link
    if not link_spec:
        error("no link: give --link (e.g. --link tap:mtap0) or LINK in the --config file")
        return USAGE_STATUS
    try:
        interrupt = parse_interrupt(options.interrupt) if options.interrupt else (runner.packet_interrupt or 0x60)
    except ValueError as exc:
        error(f"--int {exc}")
        return USAGE_STATUS
    if options.cycles is not None and options.cycles <= 0:
        error("--cycles must be a positive number of instructions per millisecond")
        return USAGE_STATUS
    environment: list[tuple[str, str]] = [("PATH", "C:\\"), ("COMSPEC", "C:\\COMMAND.COM"), ("MTCPSLEEP", "1")]
    overlays: dict[str, Path] = {}
    if options.config is not None:
        environment.append(("MTCPCFG", CONFIG_DOS_PATH))
        overlays[CONFIG_DOS_PATH] = options.config.resolve()
    for item in options.env:
        name, sep, value = item.partition("=")
        if not sep or not name:
            error(f"--env {item}: write NAME=VALUE")
            return USAGE_STATUS
        environment = [(k, v) for k, v in environment if k.upper() != name.upper()]
        environment.append((name.upper(), value))
    extension = extension or Extension()
    return extension.around(options, link_spec, lambda: run(options, link_spec, interrupt, environment, overlays))


def run(options: argparse.Namespace, link_spec: str, interrupt: int, environment: list[tuple[str, str]],
        overlays: dict[str, Path]) -> int:
    config = MachineConfig(program=options.program, args=list(options.args), drive=options.drive,
                           environment=environment, overlays=overlays, virtual_clock=options.clock == "virtual",
                           cycles_per_ms=options.cycles, trace=options.trace, packet_interrupt=interrupt)
    # The machine exists before the link so that the link's pcap and delays run on the machine's clock.
    try:
        machine = Machine(config)
    except MachineError as exc:
        error(str(exc).removeprefix("mtcp-dosrun: "))
        return FAULT_STATUS
    try:
        link = open_link(link_spec, clock=machine.clock)
    except (LinkError, OSError) as exc:
        error(str(exc))
        machine.shutdown()
        return USAGE_STATUS
    machine.attach_driver(PacketDriver(link, interrupt=interrupt))
    return machine.run()


if __name__ == "__main__":
    sys.exit(main())
