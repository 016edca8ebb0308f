"""The text screen as a VGA BIOS gives it: video memory, the BIOS data area fields, INT 10h, the CRT ports.

Video memory (B800:0000 for the colour modes 0-3, B000:0000 for monochrome mode 7) is ordinary guest
memory: programs write characters and attributes there directly, and the machine reads it between CPU
slices to show it (`snapshot`). INT 10h is served here on the same memory; the CRT controller's cursor and
start-address registers (ports 3D4h/3D5h, 3B4h/3B5h for mode 7) decide where the hardware cursor is, and the
status port (3DAh, 3BAh) toggles its retrace bits on every read so that a program waiting for retrace
never spins forever.

Facts from IBM's BIOS interface and Ralf Brown's interrupt list (INT 10h, memory 0040:0049-008A).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from .memory import BDA_SEGMENT, ROM_SEGMENT

if TYPE_CHECKING:
    from .cpu import Cpu


class VideoMemory(Protocol):
    def read(self, segment: int, offset: int, length: int) -> bytes: ...

    def write(self, segment: int, offset: int, data: bytes) -> None: ...

    def word(self, segment: int, offset: int) -> int: ...

    def set_word(self, segment: int, offset: int, value: int) -> None: ...


@dataclass(frozen=True)
class TextMode:
    columns: int
    segment: int
    monochrome: bool
    mode_control: int
    """The CGA/MDA mode control register value the BIOS keeps at 0040:0065."""


TEXT_MODES = {0: TextMode(40, 0xB800, False, 0x2C), 1: TextMode(40, 0xB800, False, 0x28),
              2: TextMode(80, 0xB800, False, 0x2D), 3: TextMode(80, 0xB800, False, 0x29),
              7: TextMode(80, 0xB000, True, 0x29)}
ROWS = 25
PAGES = 8
BLANK = 0x0720
"""A space in light grey on black: what set mode fills the screen with."""
BLINK_BIT = 0x20
"""Mode control bit 5: attribute bit 7 blinks (set) or is a bright background (clear)."""

BDA_MODE = 0x49
BDA_COLUMNS = 0x4A
BDA_PAGE_SIZE = 0x4C
BDA_PAGE_OFFSET = 0x4E
BDA_CURSOR = 0x50
BDA_CURSOR_SHAPE = 0x60
BDA_PAGE = 0x62
BDA_CRTC_PORT = 0x63
BDA_MODE_CONTROL = 0x65
BDA_PALETTE = 0x66
BDA_ROWS = 0x84
BDA_CHAR_HEIGHT = 0x85
BDA_EGA_MISC = 0x87
BDA_EGA_SWITCHES = 0x88
BDA_VGA_FLAGS = 0x89
BDA_DCC_INDEX = 0x8A

CRTC_CURSOR_START = 0x0A
CRTC_CURSOR_END = 0x0B
CRTC_START_HIGH = 0x0C
CRTC_START_LOW = 0x0D
CRTC_CURSOR_HIGH = 0x0E
CRTC_CURSOR_LOW = 0x0F
CURSOR_OFF = 0x20
FONT_OFFSET = 0xC000
"""Where font pointers (INT 10h/1130h) point in our ROM: a program may read glyphs, it never draws with them."""

# INT 10h functions that only a program drawing a full screen uses: once one is called, the screen is shown.
FULL_SCREEN_FUNCTIONS = {0x00, 0x05, 0x06, 0x07, 0x09, 0x0A, 0x13}


@dataclass(frozen=True)
class VideoSnapshot:
    """What the screen shows at one moment: the cells of the displayed page, the cursor, the attribute mode."""

    cells: bytes
    """columns * rows (character, attribute) pairs."""
    columns: int
    rows: int
    cursor: tuple[int, int] | None
    """(row, column) of the hardware cursor, None when it is off or off the screen."""
    blink: bool
    """Attribute bit 7 blinks (True) or makes the background bright (False)."""
    monochrome: bool
    full_screen: bool
    """The program draws a screen (INT 10h window functions or video memory written directly), as opposed to
    writing lines through DOS or the BIOS teletype."""


class Video:
    def __init__(self, memory: VideoMemory) -> None:
        self.memory = memory
        self.crtc = bytearray(0x19)
        self.crtc_index = 0
        self.status_reads = 0
        self.full_screen = False
        self._written: bytes = b""
        """The displayed page as our own services last left it: anything else there was written directly."""

    # -- state kept in the BIOS data area -------------------------------------------------------------------

    @property
    def mode(self) -> int:
        return self.memory.read(BDA_SEGMENT, BDA_MODE, 1)[0]

    @property
    def text_mode(self) -> TextMode:
        return TEXT_MODES.get(self.mode, TEXT_MODES[3])

    @property
    def columns(self) -> int:
        return max(1, min(self.memory.word(BDA_SEGMENT, BDA_COLUMNS), 132))

    @property
    def rows(self) -> int:
        return max(1, min(self.memory.read(BDA_SEGMENT, BDA_ROWS, 1)[0] + 1, 60))

    @property
    def page(self) -> int:
        return self.memory.read(BDA_SEGMENT, BDA_PAGE, 1)[0] % PAGES

    def page_offset(self, page: int) -> int:
        return (page % PAGES) * self.memory.word(BDA_SEGMENT, BDA_PAGE_SIZE)

    def cursor(self, page: int) -> tuple[int, int]:
        value = self.memory.word(BDA_SEGMENT, BDA_CURSOR + 2 * (page % PAGES))
        return value >> 8, value & 0xFF

    def set_mode(self, number: int, clear: bool = True) -> bool:
        mode = TEXT_MODES.get(number)
        if mode is None:
            return False
        m = self.memory
        m.write(BDA_SEGMENT, BDA_MODE, bytes([number]))
        m.set_word(BDA_SEGMENT, BDA_COLUMNS, mode.columns)
        m.set_word(BDA_SEGMENT, BDA_PAGE_SIZE, 0x800 if mode.columns == 40 else 0x1000)
        m.set_word(BDA_SEGMENT, BDA_PAGE_OFFSET, 0)
        m.write(BDA_SEGMENT, BDA_CURSOR, bytes(2 * PAGES))
        m.write(BDA_SEGMENT, BDA_PAGE, b"\x00")
        m.set_word(BDA_SEGMENT, BDA_CRTC_PORT, 0x3B4 if mode.monochrome else 0x3D4)
        m.write(BDA_SEGMENT, BDA_MODE_CONTROL, bytes([mode.mode_control, 0x30]))
        m.write(BDA_SEGMENT, BDA_ROWS, bytes([ROWS - 1]))
        m.set_word(BDA_SEGMENT, BDA_CHAR_HEIGHT, 16)
        # 0087h: bit 7 = the last set mode did not clear the screen; 60h = 256 KiB, cursor emulation off
        m.write(BDA_SEGMENT, BDA_EGA_MISC, bytes([0x60 | (0 if clear else 0x80), 0x09, 0x11, 0x0B]))
        self.crtc[CRTC_START_HIGH] = self.crtc[CRTC_START_LOW] = 0
        self.set_cursor_shape(0x0B if mode.monochrome else 0x06, 0x0C if mode.monochrome else 0x07)
        if clear:
            m.write(mode.segment, 0, BLANK.to_bytes(2, "little") * (PAGES * 0x800))
        self.set_cursor(0, 0, 0)
        self._written = self._read_displayed()
        return True

    def set_cursor_shape(self, start: int, end: int) -> None:
        self.memory.set_word(BDA_SEGMENT, BDA_CURSOR_SHAPE, ((start & 0xFF) << 8) | (end & 0xFF))
        self.crtc[CRTC_CURSOR_START] = start & 0x3F
        self.crtc[CRTC_CURSOR_END] = end & 0x1F

    def set_cursor(self, page: int, row: int, column: int) -> None:
        page %= PAGES
        self.memory.set_word(BDA_SEGMENT, BDA_CURSOR + 2 * page, ((row & 0xFF) << 8) | (column & 0xFF))
        if page == self.page:
            location = self.page_offset(page) // 2 + row * self.columns + column
            self.crtc[CRTC_CURSOR_HIGH] = (location >> 8) & 0xFF
            self.crtc[CRTC_CURSOR_LOW] = location & 0xFF

    def select_page(self, page: int) -> None:
        page %= PAGES
        self.memory.write(BDA_SEGMENT, BDA_PAGE, bytes([page]))
        offset = self.page_offset(page)
        self.memory.set_word(BDA_SEGMENT, BDA_PAGE_OFFSET, offset)
        self.crtc[CRTC_START_HIGH] = (offset // 2) >> 8
        self.crtc[CRTC_START_LOW] = (offset // 2) & 0xFF
        self.set_cursor(page, *self.cursor(page))
        self._written = self._read_displayed()

    # -- cells ----------------------------------------------------------------------------------------------

    def _read_page(self, page: int) -> bytearray:
        return bytearray(self.memory.read(self.text_mode.segment, self.page_offset(page),
                                          self.columns * self.rows * 2))

    def _write_page(self, page: int, cells: bytearray) -> None:
        self.memory.write(self.text_mode.segment, self.page_offset(page), bytes(cells))
        if page == self.page:
            self._written = self._read_displayed()

    def _read_displayed(self) -> bytes:
        start = ((self.crtc[CRTC_START_HIGH] << 8) | self.crtc[CRTC_START_LOW]) * 2
        return self.memory.read(self.text_mode.segment, start & 0x7FFF, self.columns * self.rows * 2)

    def scroll(self, up: bool, lines: int, attribute: int, top: int, left: int, bottom: int, right: int,
               page: int | None = None) -> None:
        """INT 10h 06h/07h on a window of the active page: `lines` 0 (or more than it has) blanks it."""
        page = self.page if page is None else page
        columns, rows = self.columns, self.rows
        bottom, right = min(bottom, rows - 1), min(right, columns - 1)
        if top > bottom or left > right:
            return
        cells = self._read_page(page)
        height = bottom - top + 1
        lines = height if lines == 0 or lines > height else lines
        blank = bytes([0x20, attribute]) * (right - left + 1)
        order = range(top, bottom + 1) if up else range(bottom, top - 1, -1)
        for row in order:
            source = row + lines if up else row - lines
            at = (row * columns + left) * 2
            if top <= source <= bottom:
                source_at = (source * columns + left) * 2
                cells[at : at + len(blank)] = cells[source_at : source_at + len(blank)]
            else:
                cells[at : at + len(blank)] = blank
        self._write_page(page, cells)

    def write_cells(self, page: int, char: int, attribute: int | None, count: int) -> None:
        """INT 10h 09h (character and attribute) and 0Ah (character only) at the cursor, which stays."""
        cells = self._read_page(page)
        row, column = self.cursor(page)
        at = (row * self.columns + column) * 2
        for index in range(at, min(at + 2 * count, len(cells)), 2):
            cells[index] = char
            if attribute is not None:
                cells[index + 1] = attribute
        self._write_page(page, cells)

    def teletype(self, data: bytes, page: int | None = None, attribute: int | None = None) -> None:
        """INT 10h 0Eh for each byte: BEL, BS, LF and CR act, others are written and the cursor moves on;
        past the bottom line the page scrolls up with the attribute found at the cursor."""
        page = self.page if page is None else page
        columns, rows = self.columns, self.rows
        cells = self._read_page(page)
        row, column = self.cursor(page)
        row, column = min(row, rows - 1), min(column, columns - 1)
        for byte in data:
            if byte == 0x07:
                continue
            if byte == 0x08:
                column = max(column - 1, 0)
                continue
            if byte == 0x0D:
                column = 0
                continue
            if byte == 0x0A:
                row += 1
            else:
                at = (row * columns + column) * 2
                cells[at] = byte
                if attribute is not None:
                    cells[at + 1] = attribute
                column += 1
                if column >= columns:
                    column = 0
                    row += 1
            if row >= rows:
                fill = cells[((rows - 1) * columns + min(column, columns - 1)) * 2 + 1]
                del cells[: columns * 2]
                cells += bytes([0x20, fill]) * columns
                row = rows - 1
        self._write_page(page, cells)
        self.set_cursor(page, row, column)

    def read_cell(self, page: int) -> tuple[int, int]:
        row, column = self.cursor(page)
        at = (row * self.columns + column) * 2
        raw = self.memory.read(self.text_mode.segment, self.page_offset(page) + at, 2)
        return raw[0], raw[1]

    # -- what is shown ---------------------------------------------------------------------------------------

    def snapshot(self) -> VideoSnapshot:
        columns, rows = self.columns, self.rows
        cells = self._read_displayed()
        if not self.full_screen and cells != self._written:
            self.full_screen = True  # the program wrote video memory itself
        start = (self.crtc[CRTC_START_HIGH] << 8) | self.crtc[CRTC_START_LOW]
        location = ((self.crtc[CRTC_CURSOR_HIGH] << 8) | self.crtc[CRTC_CURSOR_LOW]) - start
        shape_start, shape_end = self.crtc[CRTC_CURSOR_START], self.crtc[CRTC_CURSOR_END]
        hidden = bool(shape_start & CURSOR_OFF) or (shape_start & 0x1F) > (shape_end & 0x1F)
        cursor = None if hidden or not 0 <= location < columns * rows else divmod(location, columns)
        blink = bool(self.memory.read(BDA_SEGMENT, BDA_MODE_CONTROL, 1)[0] & BLINK_BIT)
        return VideoSnapshot(cells, columns, rows, cursor, blink, self.text_mode.monochrome, self.full_screen)

    # -- ports ----------------------------------------------------------------------------------------------

    def port_out(self, port: int, value: int, size: int) -> None:
        base = port & 0xFFF0
        if base not in (0x3B0, 0x3D0):
            return
        low = port & 0x0F
        if low in (0x4, 0x0, 0x2, 0x6):  # the CRTC index (3D4h and its mirrors)
            self.crtc_index = value & 0x1F
            if size == 2:  # OUT DX, AX: index in AL, data in AH
                self._crtc_write(self.crtc_index, (value >> 8) & 0xFF)
        elif low in (0x5, 0x1, 0x3, 0x7):
            self._crtc_write(self.crtc_index, value & 0xFF)
        elif low == 0x8:  # CGA/MDA mode control: bit 5 blink
            old = self.memory.read(BDA_SEGMENT, BDA_MODE_CONTROL, 1)[0]
            self.memory.write(BDA_SEGMENT, BDA_MODE_CONTROL, bytes([(old & ~BLINK_BIT) | (value & BLINK_BIT)]))

    def _crtc_write(self, index: int, value: int) -> None:
        if index < len(self.crtc):
            self.crtc[index] = value
            if index in (CRTC_CURSOR_HIGH, CRTC_CURSOR_LOW, CRTC_START_HIGH, CRTC_START_LOW):  # a screen program
                self.full_screen = True

    def port_in(self, port: int) -> int | None:
        """The value read from a video port, None when the port is not ours."""
        base = port & 0xFFF0
        if base not in (0x3B0, 0x3D0):
            return None
        low = port & 0x0F
        if low in (0x4, 0x0, 0x2, 0x6):
            return self.crtc_index
        if low in (0x5, 0x1, 0x3, 0x7):
            return self.crtc[self.crtc_index] if self.crtc_index < len(self.crtc) else 0xFF
        if low == 0xA:
            # Bit 0: display disabled (retrace of either kind), bit 3: vertical retrace. They change on every
            # read, so both "wait while set" and "wait until set" loops end within a few reads.
            self.status_reads += 1
            reads = self.status_reads
            return (reads & 1) | (0x08 if reads & 2 else 0)
        return 0xFF

    # -- INT 10h --------------------------------------------------------------------------------------------

    def serve(self, cpu: Cpu) -> bool:
        """INT 10h; False when the function is not one we serve (the caller reports it)."""
        ah = cpu.ah
        if ah in FULL_SCREEN_FUNCTIONS:
            self.full_screen = True
        if ah == 0x00:
            if not self.set_mode(cpu.al & 0x7F, clear=not cpu.al & 0x80):
                return False
        elif ah == 0x01:
            self.set_cursor_shape(cpu.ch, cpu.cl)
        elif ah == 0x02:
            self.set_cursor(cpu.bh, cpu.dh, cpu.dl)
        elif ah == 0x03:
            cpu.dh, cpu.dl = self.cursor(cpu.bh)
            cpu.cx = self.memory.word(BDA_SEGMENT, BDA_CURSOR_SHAPE)
        elif ah == 0x05:
            self.select_page(cpu.al)
        elif ah in (0x06, 0x07):
            self.scroll(ah == 0x06, cpu.al, cpu.bh, cpu.ch, cpu.cl, cpu.dh, cpu.dl)
        elif ah == 0x08:
            char, attribute = self.read_cell(cpu.bh)
            cpu.ax = (attribute << 8) | char
        elif ah in (0x09, 0x0A):
            self.write_cells(cpu.bh, cpu.al, cpu.bl if ah == 0x09 else None, cpu.cx)
        elif ah == 0x0E:
            self.teletype(bytes([cpu.al]))
        elif ah == 0x0F:
            cpu.ah = self.columns
            cpu.al = self.mode | (self.memory.read(BDA_SEGMENT, BDA_EGA_MISC, 1)[0] & 0x80)
            cpu.bh = self.page
        elif ah == 0x10:
            self._palette(cpu)
        elif ah == 0x11:
            self._font(cpu)
        elif ah == 0x12:
            self._alternate(cpu)
        elif ah == 0x13:
            self._write_string(cpu)
        elif ah == 0x1A:
            if cpu.al in (0x00, 0x01):
                if cpu.al == 0x00:
                    cpu.bx = 0x0007 if self.text_mode.monochrome else 0x0008  # VGA analog colour/mono, no second
                cpu.al = 0x1A
        elif ah in (0x0B, 0xFE, 0xFF):
            pass  # CGA palette (no text-mode effect); TopView's video buffer calls: ES:DI stays as given
        else:
            return False
        return True

    def _palette(self, cpu: Cpu) -> None:
        al = cpu.al
        if al == 0x03:
            old = self.memory.read(BDA_SEGMENT, BDA_MODE_CONTROL, 1)[0]
            value = (old | BLINK_BIT) if cpu.bl else (old & ~BLINK_BIT)
            self.memory.write(BDA_SEGMENT, BDA_MODE_CONTROL, bytes([value]))
        elif al == 0x07:
            cpu.bh = cpu.bl & 0x3F  # the palette registers hold their reset values: register n is colour n
        elif al == 0x08:
            cpu.bh = 0
        elif al == 0x1A:
            cpu.bx = 0

    def _font(self, cpu: Cpu) -> None:
        if cpu.al == 0x30:
            height = self.memory.word(BDA_SEGMENT, BDA_CHAR_HEIGHT) or 16
            cpu.es, cpu.bp = ROM_SEGMENT, FONT_OFFSET
            cpu.cx = height
            cpu.dl = self.rows - 1
        # The font loads (AL 00h-24h) change glyphs we never draw; the row count stays 25.

    def _alternate(self, cpu: Cpu) -> None:
        bl = cpu.bl
        if bl == 0x10:  # EGA information: colour (or mono) CRTC, 256 KiB, no feature bits, switches 9
            cpu.bh = 1 if self.text_mode.monochrome else 0
            cpu.bl = 3
            cpu.cx = 0x0009
        elif bl >= 0x20:
            cpu.al = 0x12  # the VGA's "function supported" for the other subfunctions, which change nothing here

    def _write_string(self, cpu: Cpu) -> None:
        length = cpu.cx
        data = self.memory.read(cpu.es, cpu.bp, length * (2 if cpu.al & 2 else 1))
        page = cpu.bh
        saved = self.cursor(page)
        self.set_cursor(page, cpu.dh, cpu.dl)
        if cpu.al & 2:
            for index in range(0, len(data), 2):
                self.teletype(data[index : index + 1], page, data[index + 1])
        else:
            self.teletype(data, page, cpu.bl)
        if not cpu.al & 1:
            self.set_cursor(page, *saved)
