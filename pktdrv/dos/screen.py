"""Drawing a text screen on an ANSI terminal, and writing it as plain text.

Pure: a `ScreenRenderer` turns `VideoSnapshot`s into the escape sequences that bring a terminal from what it
drew last to what the snapshot shows (only changed cells), and `text_dump` writes a snapshot as lines. Code
page 437 becomes Unicode (box drawing, blocks, and the glyphs of 01h-1Fh); the 16 colours, bright and blink
become SGR attributes.
"""

from __future__ import annotations

from .video import VideoSnapshot

_LOW_GLYPHS = " ☺☻♥♦♣♠•◘○◙♂♀♪♫☼►◄↕‼¶§▬↨↑↓→←∟↔▲▼"
CP437 = [(_LOW_GLYPHS[code] if code < 0x20 else bytes([code]).decode("cp437")) for code in range(256)]
CP437[0x7F] = "⌂"
CP437[0xFF] = " "  # the no-break space: a plain space on the terminal and in text
CGA_TO_ANSI = (0, 4, 2, 6, 1, 5, 3, 7)
"""CGA colour order (blue 1, green 2, red 4) to ANSI's (red 1, green 2, blue 4)."""
GAP_TO_REWRITE = 4
"""Unchanged cells between two changed ones are rewritten rather than jumped over when fewer than this."""


def sgr(attribute: int, blink: bool, monochrome: bool) -> str:
    """The SGR sequence for a character attribute."""
    if monochrome:
        return _mono_sgr(attribute, blink)
    foreground = attribute & 0x0F
    background = (attribute >> 4) & (0x07 if blink else 0x0F)
    parts = ["0", str((90 if foreground & 8 else 30) + CGA_TO_ANSI[foreground & 7]),
             str((100 if background & 8 else 40) + CGA_TO_ANSI[background & 7])]
    if blink and attribute & 0x80:
        parts.append("5")
    return f"\x1b[{';'.join(parts)}m"


def _mono_sgr(attribute: int, blink: bool) -> str:
    """MDA attributes: 00h/08h/80h/88h invisible, 70h reverse, foreground 1 underlined, bit 3 bright."""
    core = attribute & 0x77
    if core == 0x00:
        parts = ["0", "30", "40"]
    elif core == 0x70:
        parts = ["0", "30", "47"]
    else:
        parts = ["0", "97" if attribute & 0x08 else "37", "40"]
        if attribute & 0x07 == 0x01:
            parts.append("4")
    if blink and attribute & 0x80:
        parts.append("5")
    if not blink and attribute & 0x80 and core != 0x70:
        parts[2] = "100"
    return f"\x1b[{';'.join(parts)}m"


def text_of_row(cells: bytes, row: int, columns: int) -> str:
    at = row * columns * 2
    return "".join(CP437[code] for code in cells[at : at + columns * 2 : 2])


def text_dump(screen: VideoSnapshot) -> str:
    """The screen as text: one line per row, trailing blanks trimmed."""
    return "".join(text_of_row(screen.cells, row, screen.columns).rstrip(" ") + "\n" for row in range(screen.rows))


class ScreenRenderer:
    """What the terminal shows, and the output that updates it to a new snapshot."""

    def __init__(self) -> None:
        self._drawn: VideoSnapshot | None = None

    def forget(self) -> None:
        """The terminal was cleared: the next render draws everything."""
        self._drawn = None

    def render(self, screen: VideoSnapshot) -> str:
        drawn = self._drawn
        redraw_all = (drawn is None or drawn.columns != screen.columns or drawn.rows != screen.rows
                      or drawn.blink != screen.blink or drawn.monochrome != screen.monochrome)
        out: list[str] = []
        if redraw_all:
            out.append("\x1b[0m\x1b[2J")
        columns, cells = screen.columns, screen.cells
        old = None if redraw_all or drawn is None else drawn.cells
        current_sgr = ""
        for row in range(screen.rows):
            start = row * columns * 2
            end = start + columns * 2
            if old is not None and old[start:end] == cells[start:end]:
                continue
            for first, last in _changed_runs(cells, old, start, columns):
                out.append(f"\x1b[{row + 1};{first + 1}H")
                for column in range(first, last + 1):
                    at = start + column * 2
                    code = sgr(cells[at + 1], screen.blink, screen.monochrome)
                    if code != current_sgr:
                        out.append(code)
                        current_sgr = code
                    out.append(CP437[cells[at]])
        if current_sgr:
            out.append("\x1b[0m")
        if redraw_all or out or drawn is None or drawn.cursor != screen.cursor:
            if screen.cursor is None:
                out.append("\x1b[?25l")
            else:
                out.append(f"\x1b[{screen.cursor[0] + 1};{screen.cursor[1] + 1}H\x1b[?25h")
        self._drawn = screen
        return "".join(out)


def _changed_runs(cells: bytes, old: bytes | None, start: int, columns: int) -> list[tuple[int, int]]:
    """Column ranges (first, last) of a row to rewrite: changed cells, small gaps between them included."""
    if old is None:
        return [(0, columns - 1)]
    changed = [column for column in range(columns)
               if _cell(cells, start, column) != _cell(old, start, column)]
    runs: list[tuple[int, int]] = []
    for column in changed:
        if runs and column - runs[-1][1] <= GAP_TO_REWRITE:
            runs[-1] = (runs[-1][0], column)
        else:
            runs.append((column, column))
    return runs


def _cell(cells: bytes, start: int, column: int) -> bytes:
    return cells[start + 2 * column : start + 2 * column + 2]
