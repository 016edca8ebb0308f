"""What a PC's text screen shows, from the documentation (not from the machine): code page 437's glyphs
(IBM's table; 80h-FFh as Python's cp437 codec has them), and the CGA colour numbers (bit 0 blue, 1 green,
2 red, 3 intensity) as ANSI SGR colours (1 red, 2 green, 4 blue; 90-97 and 100-107 bright)."""

from __future__ import annotations

import re

CP437_LOW = " ☺☻♥♦♣♠•◘○◙♂♀♪♫☼►◄↕‼¶§▬↨↑↓→←∟↔▲▼"


def cp437(code: int) -> str:
    if code < 0x20:
        return CP437_LOW[code]
    if code == 0x7F:
        return "⌂"
    if code == 0xFF:
        return " "
    return bytes([code]).decode("cp437")


CGA_NAMES = ["black", "blue", "green", "cyan", "red", "magenta", "brown", "light grey"]
ANSI_OF_CGA = {"black": 0, "red": 1, "green": 2, "brown": 3, "blue": 4, "magenta": 5, "cyan": 6, "light grey": 7}


def ansi_foreground(colour: int) -> int:
    """The SGR foreground code for CGA colour 0-15."""
    base = ANSI_OF_CGA[CGA_NAMES[colour & 7]]
    return (90 if colour & 8 else 30) + base


def ansi_background(colour: int) -> int:
    base = ANSI_OF_CGA[CGA_NAMES[colour & 7]]
    return (100 if colour & 8 else 40) + base


_SGR = re.compile(r"\x1b\[([0-9;]*)m")


def cells_with_sgr(line: str) -> list[tuple[str, int | None, int | None, bool]]:
    """A line of `tmux capture-pane -e` as (character, foreground, background, blink) cells."""
    cells: list[tuple[str, int | None, int | None, bool]] = []
    foreground: int | None = None
    background: int | None = None
    blink = False
    at = 0
    while at < len(line):
        match = _SGR.match(line, at)
        if match:
            codes = [int(c) if c else 0 for c in match.group(1).split(";")]
            index = 0
            while index < len(codes):
                code = codes[index]
                if code == 0:
                    foreground = background = None
                    blink = False
                elif code == 5:
                    blink = True
                elif code == 25:
                    blink = False
                elif 30 <= code <= 37 or 90 <= code <= 97:
                    foreground = code
                elif code == 39:
                    foreground = None
                elif 40 <= code <= 47 or 100 <= code <= 107:
                    background = code
                elif code == 49:
                    background = None
                elif code in (38, 48) and index + 2 < len(codes) and codes[index + 1] == 5:
                    value = codes[index + 2]
                    mapped = (30 if value < 8 else 82) + value if value < 16 else None
                    if code == 38:
                        foreground = mapped
                    else:
                        background = None if mapped is None else mapped + 10
                    index += 2
                index += 1
            at = match.end()
            continue
        cells.append((line[at], foreground, background, blink))
        at += 1
    return cells
