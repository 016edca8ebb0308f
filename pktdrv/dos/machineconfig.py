"""What a machine is made of before it starts: its configuration, and what may run beside the program."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ..driver import PacketDriver

FAULT_STATUS = 125
CTRL_C_STATUS = 130
SLICE = 30_000
"""Instructions per CPU slice: interrupts are delivered, the link drained and the screen shown between two."""


class Companion(Protocol):
    """Something that runs beside the program on the machine's own line (it never gets a thread)."""

    def turn(self) -> float | None:
        """Do what is due now; return the seconds until it next has timer work, or None when only frames
        (or its descriptor) can give it more."""
        ...

    def fileno(self) -> int | None:
        """A descriptor that is readable when it has work (a link of its own), or None."""
        ...


@dataclass
class MachineConfig:
    program: Path
    args: list[str] = field(default_factory=list)
    drive: Path | None = None
    environment: list[tuple[str, str]] = field(default_factory=list)
    overlays: dict[str, Path] = field(default_factory=dict)
    virtual_clock: bool = False
    cycles_per_ms: int | None = None
    trace: bool = False
    driver: PacketDriver | None = None
    packet_interrupt: int = 0x60
    slice: int = SLICE
    exit_key: int | None = None
    """A BIOS key word (keyboard.parse_key_name) that ends the machine when typed at the terminal."""


class MachineError(Exception):
    """The machine could not start (bad program, bad folder); the message is one line."""
