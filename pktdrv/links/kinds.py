"""How a link kind is described to the link-string parser, and the converters its parameters use.

Each kind (`tap:`, `hub:`, `slip:`, `qemu-stream:`, ...) is a `LinkKind`: the parameters it takes beyond the
common ones (`listen=1`, `baud=N`, `secret=S`...), each with a converter that raises ValueError in words; a
check of the target as written (so a bad device name, host or port is a usage error before anything
opens); and the opener, given the options converted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .base import Link

Converter = Callable[[str], object]
Options = dict[str, object]


@dataclass(frozen=True)
class LinkKind:
    opener: Callable[[str, bytes | None, int | None, Options], Link]
    """(target, mac, mtu, options) -> an opened link; raises LinkError with the reason it cannot open."""
    keys: dict[str, Converter]
    """The kind's own parameters, each with the converter that checks its value."""
    check_target: Callable[[str], object]
    """Raises ValueError saying what is wrong with the target as written."""
    default_target: str | None = None
    """The target when none is written (`86box:` means `86box:switch`); None: a target is needed."""


def flag(what: str) -> Converter:
    """`listen=1`, `dosbox=0`: a yes/no parameter; `what` says what 1 means, for the message."""

    def convert(text: str) -> bool:
        lowered = text.lower()
        if lowered in ("1", "yes", "on", "true"):
            return True
        if lowered in ("0", "no", "off", "false"):
            return False
        raise ValueError(f"not 0 or 1 (1: {what})")

    return convert


def whole_number(what: str, least: int | None = 0, most: int | None = None) -> Callable[[str], int]:
    """A converter for a whole number (a sign allowed) from `least` to `most` (None: no bound); `what` says
    what it is, for the message."""

    def convert(text: str) -> int:
        body = text[1:] if text[:1] in "+-" else text
        if not (body.isascii() and body.isdecimal()):
            raise ValueError(f"not a whole number ({what})")
        value = int(text)
        if (least is not None and value < least) or (most is not None and value > most):
            raise ValueError(f"out of range ({what})")
        return value

    return convert


baud_rate = whole_number("a serial line's speed in bits per second, from 50 to 4000000", 50, 4_000_000)
"""`baud=N`: for slip: (its own pacing) and for any other link (a period line speed)."""


def text_value(what: str) -> Converter:
    def convert(text: str) -> str:
        if not text:
            raise ValueError(f"needs a value ({what})")
        return text

    return convert


def port_number(text: str, what: str = "port") -> int:
    if not (text.isascii() and text.isdecimal()) or not 0 < int(text) <= 65_535:
        raise ValueError(f"{text!r}: a {what} is a number from 1 to 65535")
    return int(text)


def split_host_port(text: str) -> tuple[str, int]:
    """`HOST:PORT` or `[V6]:PORT` -> (host, port); ValueError in words."""
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise ValueError(f"{text!r}: an IPv6 address is written [ADDRESS]:PORT")
        port_text = rest[1:]
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep:
            raise ValueError(f"{text!r}: needs HOST:PORT")
    if not host:
        raise ValueError(f"{text!r}: needs a host before the port")
    return host, port_number(port_text)
