"""mIRC formatting codes in message text, read into styled runs; and text made safe to show.

Codes (the de facto standard clients share): \\x02 bold, \\x03 colour (`\\x03F[,B]`, one or two digits each,
00-15 the mIRC palette, 16-98 the extended one; a bare \\x03 ends colour), \\x04 hex colour (read and
dropped), \\x0f reset, \\x11 monospace (dropped), \\x16 reverse, \\x1d italic, \\x1e strike-through, \\x1f
underline. Every other control character that comes from the network (C0, DEL, C1) is shown as a visible
symbol instead, so nothing a server or another user sends can move the cursor, set the title or otherwise
talk to the terminal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

BOLD, COLOR, HEX_COLOR, RESET, MONOSPACE = "\x02", "\x03", "\x04", "\x0f", "\x11"
REVERSE, ITALIC, STRIKE, UNDERLINE = "\x16", "\x1d", "\x1e", "\x1f"
CODES = frozenset(BOLD + COLOR + HEX_COLOR + RESET + MONOSPACE + REVERSE + ITALIC + STRIKE + UNDERLINE)

MIRC_PALETTE = (
    "#ffffff", "#000000", "#00007f", "#009300", "#ff0000", "#7f0000", "#9c009c", "#fc7f00",
    "#ffff00", "#00fc00", "#009393", "#00ffff", "#0000fc", "#ff00ff", "#7f7f7f", "#d2d2d2",
)
"""mIRC colours 0-15 (white, black, navy, green, red, brown, purple, orange, yellow, light green, teal,
light cyan, light blue, pink, grey, light grey)."""

_COLOR_ARGS = re.compile(r"(\d{1,2})(?:,(\d{1,2}))?")
_HEX_ARGS = re.compile(r"[0-9a-fA-F]{6}(?:,[0-9a-fA-F]{6})?")


@dataclass(frozen=True)
class TextStyle:
    fg: int | None = None
    """An mIRC colour number (0-98), or None for the default."""
    bg: int | None = None
    bold: bool = False
    italic: bool = False
    underline: bool = False
    reverse: bool = False
    strike: bool = False


PLAIN = TextStyle()


def visible(char: str) -> str:
    """A control character as something harmless to print: C0 as its Unicode control picture (␛ for
    ESC), DEL as ␡, C1 (0x80-0x9f, which some terminals obey as escapes) as U+FFFD."""
    code = ord(char)
    if code < 0x20:
        return chr(0x2400 + code)
    if code == 0x7F:
        return "\u2421"
    if 0x80 <= code <= 0x9F:
        return "\ufffd"
    return char


def _needs_cleaning(char: str) -> bool:
    code = ord(char)
    return code < 0x20 or 0x7F <= code <= 0x9F


def sanitize(text: str) -> str:
    """`text` with every control character (formatting codes too) made visible: for nicks, channel names,
    topics and anything else shown without styles."""
    if not any(_needs_cleaning(c) for c in text):
        return text
    return "".join(visible(c) if _needs_cleaning(c) else c for c in text)


def strip_codes(text: str) -> str:
    """The text of a message without its formatting codes (for logs and matching)."""
    return "".join(run for run, _ in styled_runs(text))


def styled_runs(text: str) -> list[tuple[str, TextStyle]]:
    """`text` as runs of (text, style), formatting codes applied and other controls made visible."""
    runs: list[tuple[str, TextStyle]] = []
    style = PLAIN
    chunk: list[str] = []
    index = 0
    length = len(text)

    def flush() -> None:
        if chunk:
            runs.append(("".join(chunk), style))
            chunk.clear()

    while index < length:
        char = text[index]
        index += 1
        if char not in CODES:
            chunk.append(visible(char) if _needs_cleaning(char) else char)
            continue
        flush()
        if char == BOLD:
            style = replace(style, bold=not style.bold)
        elif char == ITALIC:
            style = replace(style, italic=not style.italic)
        elif char == UNDERLINE:
            style = replace(style, underline=not style.underline)
        elif char == REVERSE:
            style = replace(style, reverse=not style.reverse)
        elif char == STRIKE:
            style = replace(style, strike=not style.strike)
        elif char == RESET:
            style = PLAIN
        elif char == COLOR:
            match = _COLOR_ARGS.match(text, index)
            if match is None:
                style = replace(style, fg=None, bg=None)
            else:
                index = match.end()
                fg = int(match.group(1))
                bg = int(match.group(2)) if match.group(2) is not None else style.bg
                style = replace(style, fg=fg if fg <= 98 else None, bg=bg if bg is None or bg <= 98 else None)
        elif char == HEX_COLOR:
            match = _HEX_ARGS.match(text, index)
            if match is not None:
                index = match.end()
        # MONOSPACE: a terminal is monospaced already.
    flush()
    return runs
