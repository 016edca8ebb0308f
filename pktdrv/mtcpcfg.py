"""The mTCP configuration file, read line by line as mTCP reads it; shared by the DOS machine and the stack.

Each line is `KEY value`: the key is the first word (up to a space or tab), case-insensitive; the value is
the rest of the line with the white space around it removed, as mTCP's `Utils::getAppValue` returns it.
Blank lines are skipped. Comments are whole lines: a line whose first character other than white space is
`#` or `;` is skipped. mTCP itself has no comment syntax (TCPLIB/UTILS.CPP: `parseEnv` ignores a line whose
first word is a key it does not know, so such lines were always harmless; `getAppValue` returns the whole
rest of a line), so a `#` after a value is part of the value, and for the keys whose value is one word (LINK,
PACKETINT and the stack's keys) a second word is an error that says so. A key given twice takes its last
value, except where a key may be given more than once (NAMESERVER: `MtcpCfg.every` has each line in file
order). A DOS end-of-file mark (Ctrl-Z) ends the file.

This module checks the keys the packet driver side needs, LINK (a link string, checked in full without
opening it) and PACKETINT (the driver's interrupt, in hex as mTCP reads it, 0x60 to 0x80); the stack's reader
(`mtcp_py.config`) builds on it for the rest. Every error reads `FILE:LINE: KEY: why`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .links import LinkSpecError, parse_link
from .registry import FIRST_VECTOR, LAST_VECTOR

COMMENT_STARTS = ("#", ";")
DOS_EOF = "\x1a"
_LINE = re.compile(r"(\S+)\s*(.*)")


class ConfigError(Exception):
    """A bad configuration file or line: `FILE:LINE: KEY: why` (`FILE: why` when no line is to blame)."""

    def __init__(self, path: str, line: int, key: str, reason: str) -> None:
        self.path, self.line, self.key, self.reason = path, line, key, reason
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {key}: {reason}" if key else f"{where}: {reason}")


@dataclass(frozen=True)
class Entry:
    value: str
    line: int
    """Its line number in the file, from 1."""


@dataclass
class MtcpCfg:
    """The lines of one configuration file, by upper-cased key, with LINK and PACKETINT checked."""

    path: str = ""
    entries: dict[str, Entry] = field(default_factory=dict)
    every: list[tuple[str, Entry]] = field(default_factory=list)
    """Every line (upper-cased key, entry) in file order, for the keys that may repeat."""
    link: str | None = None
    packet_int: int | None = None

    def error(self, key: str, reason: str) -> ConfigError:
        """A ConfigError for `key`, naming the line it is on."""
        entry = self.entries.get(key)
        return ConfigError(self.path, entry.line if entry else 0, key, reason)

    def word(self, key: str) -> str | None:
        """The value of a one-word key (None when absent); an empty value or a second word is an error."""
        entry = self.entries.get(key)
        if entry is None:
            return None
        if not entry.value:
            raise self.error(key, "needs a value")
        first, _, rest = entry.value.partition(" ")
        first, _, tab_rest = first.partition("\t")
        if rest or tab_rest:
            raise self.error(key, f"{entry.value!r}: one value expected (a comment goes on a line of its own, "
                                  "starting with #)")
        return first


def parse_every_line(text: str) -> list[tuple[str, Entry]]:
    """(upper-cased key, entry) for every line that is not blank or a comment, in file order."""
    lines: list[tuple[str, Entry]] = []
    for number, raw in enumerate(text.split(DOS_EOF, 1)[0].splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(COMMENT_STARTS):
            continue
        match = _LINE.fullmatch(line)
        assert match is not None  # a stripped, non-empty line always has a first word
        lines.append((match.group(1).upper(), Entry(match.group(2), number)))
    return lines


def parse_lines(text: str) -> dict[str, Entry]:
    """Key -> (value, line number) for every line that is not blank or a comment; the last of a key wins."""
    return dict(parse_every_line(text))


def parse_packet_int(text: str) -> int:
    """A packet driver interrupt, hexadecimal as mTCP reads it (`60`, `0x60`); ValueError says why not."""
    digits = text[2:] if text.lower().startswith("0x") else text
    if not digits or not all(ch in "0123456789abcdefABCDEF" for ch in digits):
        raise ValueError(f"{text}: not a hexadecimal number (a packet driver interrupt, 0x60 to 0x80)")
    value = int(digits, 16)
    if not FIRST_VECTOR <= value <= LAST_VECTOR:
        raise ValueError(f"{text}: a packet driver interrupt is 0x60 to 0x80")
    return value


def check_link(text: str) -> str:
    """A link string, checked in full; ValueError says what is wrong in words."""
    try:
        parse_link(text)
    except LinkSpecError as exc:
        raise ValueError(f"{text}: {exc.reason}") from None
    return text


def parse_cfg(text: str, path: str = "<config>") -> MtcpCfg:
    every = parse_every_line(text)
    cfg = MtcpCfg(path=path, entries=dict(every), every=every)
    link = cfg.word("LINK")
    if link is not None:
        try:
            cfg.link = check_link(link)
        except ValueError as exc:
            raise cfg.error("LINK", str(exc)) from None
    packet_int = cfg.word("PACKETINT")
    if packet_int is not None:
        try:
            cfg.packet_int = parse_packet_int(packet_int)
        except ValueError as exc:
            raise cfg.error("PACKETINT", str(exc)) from None
    return cfg


def read_cfg(path: str | os.PathLike[str]) -> MtcpCfg:
    """Read and check one file; a file that cannot be read is a ConfigError too."""
    name = str(path)
    try:
        text = Path(name).read_text(encoding="latin-1")
    except OSError as exc:
        raise ConfigError(name, 0, "", f"cannot read: {exc.strerror or exc}") from None
    return parse_cfg(text, name)


def cfg_path(path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None) -> str | None:
    """The file to read: `path` when given, else the one MTCPCFG names; None when neither names one."""
    if path:
        return str(path)
    env = os.environ if environ is None else environ
    return env.get("MTCPCFG") or None
