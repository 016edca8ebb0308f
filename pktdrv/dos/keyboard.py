"""The keyboard: host terminal bytes turned into BIOS keystrokes, and the BIOS keyboard buffer in guest memory.

A terminal sends characters and escape sequences (ESC [ A for Up, ESC O P for F1, ESC x for Alt-X); a PC
BIOS hands a program scan code and ASCII pairs (AH, AL) from a 16-slot ring at 0040:001E-003D whose head and
tail pointers are at 0040:001A and 001C. `KeyDecoder` is the pure half (bytes in, keystrokes out, an
incomplete sequence kept for the next read); `KeyBuffer` keeps the ring where programs can see it (some read
the pointers directly); `Keyboard` reads the host's standard input when it is a terminal.

Values are those of an IBM AT BIOS with a 101-key keyboard (Ralf Brown's interrupt list, INT 16h), keys
from a terminal being the keypad's (4800h for Up, not the grey key's 48E0h).
"""

from __future__ import annotations

import os
import select
from collections import deque
from collections.abc import Callable
from typing import NamedTuple, Protocol

from .files import readable_now
from .memory import BDA_SEGMENT

BDA_SHIFT = 0x17
BDA_SHIFT_EXTENDED = 0x18
BDA_HEAD = 0x1A
BDA_TAIL = 0x1C
BUFFER_START = 0x1E
BUFFER_END = 0x3E
BDA_BUFFER_START = 0x80
BDA_BUFFER_END = 0x82

SHIFT = 0x02  # left shift
CTRL = 0x04
ALT = 0x08

CTRL_C = 0x2E03
ESC = 0x1B


class Keystroke(NamedTuple):
    code: int
    """AH = scan code, AL = ASCII (0 for extended keys)."""
    shift: int = 0
    """The shift-state bits (0040:0017) held while the key went down."""


# -- the US layout: ASCII -> scan code (unshifted and shifted characters share a key) -----------------------

_ROWS = {
    0x02: "1!", 0x03: "2@", 0x04: "3#", 0x05: "4$", 0x06: "5%", 0x07: "6^", 0x08: "7&", 0x09: "8*", 0x0A: "9(",
    0x0B: "0)", 0x0C: "-_", 0x0D: "=+", 0x1A: "[{", 0x1B: "]}", 0x27: ";:", 0x28: "'\"", 0x29: "`~", 0x2B: "\\|",
    0x33: ",<", 0x34: ".>", 0x35: "/?", 0x39: "  ",
}
_LETTERS = {"q": 0x10, "w": 0x11, "e": 0x12, "r": 0x13, "t": 0x14, "y": 0x15, "u": 0x16, "i": 0x17, "o": 0x18,
            "p": 0x19, "a": 0x1E, "s": 0x1F, "d": 0x20, "f": 0x21, "g": 0x22, "h": 0x23, "j": 0x24, "k": 0x25,
            "l": 0x26, "z": 0x2C, "x": 0x2D, "c": 0x2E, "v": 0x2F, "b": 0x30, "n": 0x31, "m": 0x32}
SCAN_OF_CHAR: dict[int, tuple[int, bool]] = {}
"""ASCII -> (scan code, shifted)."""
for _scan, _pair in _ROWS.items():
    SCAN_OF_CHAR[ord(_pair[0])] = (_scan, False)
    SCAN_OF_CHAR.setdefault(ord(_pair[1]), (_scan, True))
for _letter, _scan in _LETTERS.items():
    SCAN_OF_CHAR[ord(_letter)] = (_scan, False)
    SCAN_OF_CHAR[ord(_letter.upper())] = (_scan, True)

ALT_DIGIT = {ord("1"): 0x78, ord("2"): 0x79, ord("3"): 0x7A, ord("4"): 0x7B, ord("5"): 0x7C, ord("6"): 0x7D,
             ord("7"): 0x7E, ord("8"): 0x7F, ord("9"): 0x80, ord("0"): 0x81, ord("-"): 0x82, ord("="): 0x83}

# Control characters a terminal sends for keys of their own.
CONTROL_KEYS = {0x0D: 0x1C0D, 0x0A: 0x1C0D, 0x09: 0x0F09, 0x1B: 0x011B, 0x08: 0x0E08, 0x7F: 0x0E08,
                0x00: 0x0300, 0x1C: 0x2B1C, 0x1D: 0x1B1D, 0x1E: 0x071E, 0x1F: 0x0C1F}
ALT_CONTROL_KEYS = {0x0D: 0x1C00, 0x0A: 0x1C00, 0x09: 0xA500, 0x1B: 0x0100, 0x08: 0x0E00, 0x7F: 0x0E00}

# Extended keys: (plain, shift, ctrl, alt) words.
_F_KEYS = [(0x3B00 + 0x100 * n, 0x5400 + 0x100 * n, 0x5E00 + 0x100 * n, 0x6800 + 0x100 * n) for n in range(10)]
EXTENDED: dict[str, tuple[int, int, int, int]] = {
    "up": (0x4800, 0x4800, 0x8D00, 0x9800), "down": (0x5000, 0x5000, 0x9100, 0xA000),
    "left": (0x4B00, 0x4B00, 0x7300, 0x9B00), "right": (0x4D00, 0x4D00, 0x7400, 0x9D00),
    "home": (0x4700, 0x4700, 0x7700, 0x9700), "end": (0x4F00, 0x4F00, 0x7500, 0x9F00),
    "pgup": (0x4900, 0x4900, 0x8400, 0x9900), "pgdn": (0x5100, 0x5100, 0x7600, 0xA100),
    "ins": (0x5200, 0x5200, 0x9200, 0xA200), "del": (0x5300, 0x5300, 0x9300, 0xA300),
    **{f"f{n + 1}": keys for n, keys in enumerate(_F_KEYS)},
    "f11": (0x8500, 0x8700, 0x8900, 0x8B00), "f12": (0x8600, 0x8800, 0x8A00, 0x8C00),
    "backtab": (0x0F00, 0x0F00, 0x0F00, 0x0F00),
}
_CSI_LETTER = {"A": "up", "B": "down", "C": "right", "D": "left", "H": "home", "F": "end", "Z": "backtab",
               "P": "f1", "Q": "f2", "R": "f3", "S": "f4"}
_CSI_TILDE = {1: "home", 2: "ins", 3: "del", 4: "end", 5: "pgup", 6: "pgdn", 7: "home", 8: "end", 11: "f1",
              12: "f2", 13: "f3", 14: "f4", 15: "f5", 17: "f6", 18: "f7", 19: "f8", 20: "f9", 21: "f10", 23: "f11",
              24: "f12"}
_LINUX_F = {"A": "f1", "B": "f2", "C": "f3", "D": "f4", "E": "f5"}  # the Linux console's ESC [ [ A
EXTENDED_ONLY_SCAN = 0x85
"""Scan codes from here on exist only on the 101-key keyboard: INT 16h 00/01 skip them, 10h/11h return them."""


def extended_key(name: str, modifiers: int) -> Keystroke:
    plain, shifted, ctrl, alt = EXTENDED[name]
    if modifiers & ALT:
        return Keystroke(alt, modifiers)
    if modifiers & CTRL:
        return Keystroke(ctrl, modifiers)
    if modifiers & SHIFT or name == "backtab":
        return Keystroke(shifted, modifiers | SHIFT)
    return Keystroke(plain, modifiers)


def char_key(byte: int, alt: bool = False) -> Keystroke | None:
    """The keystroke for one character a terminal sent (ESC-prefixed when `alt`); None if there is none."""
    if alt:
        if byte in ALT_CONTROL_KEYS:
            return Keystroke(ALT_CONTROL_KEYS[byte], ALT)
        if byte in ALT_DIGIT:
            return Keystroke(ALT_DIGIT[byte] << 8, ALT)
        if 0x01 <= byte <= 0x1A:
            byte += 0x60  # Ctrl-Alt-letter: the letter's Alt key
        found = SCAN_OF_CHAR.get(byte)
        return Keystroke(found[0] << 8, ALT) if found else None
    if byte in CONTROL_KEYS:
        return Keystroke(CONTROL_KEYS[byte], CTRL if byte in (0x00, 0x1C, 0x1D, 0x1E, 0x1F) else 0)
    if 0x01 <= byte <= 0x1A:
        return Keystroke((_LETTERS[chr(byte + 0x60)] << 8) | byte, CTRL)
    found = SCAN_OF_CHAR.get(byte)
    if found:
        return Keystroke((found[0] << 8) | byte, SHIFT if found[1] else 0)
    if 0x20 <= byte < 0x7F:
        return Keystroke(byte)
    return None


def parse_key_name(name: str) -> int:
    """A key named as on the command line (ctrl-], alt-x, f12, esc) -> its BIOS word; ValueError if unknown."""
    text = name.strip().lower()
    modifiers = 0
    while True:
        for prefix, bit in (("ctrl-", CTRL), ("c-", CTRL), ("alt-", ALT), ("m-", ALT), ("shift-", SHIFT)):
            if text.startswith(prefix) and len(text) > len(prefix):
                modifiers |= bit
                text = text[len(prefix):]
                break
        else:
            break
    if text in EXTENDED:
        return extended_key(text, modifiers).code
    named = {"esc": 0x1B, "enter": 0x0D, "tab": 0x09, "backspace": 0x7F, "space": 0x20}
    if text in named:
        byte = named[text]
    elif len(text) == 1:
        byte = ord(text)
    else:
        raise ValueError(f"{name}: not a key name (ctrl-], alt-x, f12, esc ...)")
    if modifiers & CTRL and modifiers & ALT:
        raise ValueError(f"{name}: a terminal cannot send Ctrl and Alt together with this key")
    if modifiers & CTRL:
        if not 0x40 <= ord(chr(byte).upper()) <= 0x5F:
            raise ValueError(f"{name}: no control character for this key")
        byte = ord(chr(byte).upper()) & 0x1F
    if modifiers & SHIFT and len(text) == 1:
        byte = ord(text.upper())
    key = char_key(byte, alt=bool(modifiers & ALT))
    if key is None:
        raise ValueError(f"{name}: not a key a terminal can send")
    return key.code


class KeyDecoder:
    """Terminal bytes -> keystrokes. An escape sequence split across reads is kept until the next `feed`;
    `flush` says the terminal has sent no more (a lone ESC is then the Esc key)."""

    def __init__(self) -> None:
        self._pending = b""

    @property
    def pending(self) -> bool:
        return bool(self._pending)

    def feed(self, data: bytes) -> list[Keystroke]:
        return self._decode(self._pending + data, final=False)

    def flush(self) -> list[Keystroke]:
        return self._decode(self._pending, final=True)

    def _decode(self, data: bytes, final: bool) -> list[Keystroke]:
        keys: list[Keystroke] = []
        self._pending = b""
        at = 0
        while at < len(data):
            used, key = self._one(data, at, final)
            if used == 0:
                self._pending = data[at:]
                break
            if key is not None:
                keys.append(key)
            at += used
        return keys

    def _one(self, data: bytes, at: int, final: bool) -> tuple[int, Keystroke | None]:
        """(bytes used, keystroke) for the key starting at `at`; (0, None) when more bytes are needed."""
        byte = data[at]
        if byte >= 0x80:
            return self._utf8(data, at, final)
        if byte != ESC:
            return 1, char_key(byte)
        if at + 1 >= len(data):
            return (1, char_key(ESC)) if final else (0, None)
        second = data[at + 1]
        if second in (ord("["), ord("O")):
            used, key = self._sequence(data, at, final)
            if used:
                return used, key
            if not final:
                return 0, None
            return 2, char_key(second, alt=True)
        if second == ESC:
            return 1, char_key(ESC)  # Esc, then whatever the second ESC starts
        if second >= 0x80:
            return 1, char_key(ESC)
        return 2, char_key(second, alt=True)

    def _sequence(self, data: bytes, at: int, final: bool) -> tuple[int, Keystroke | None]:
        """CSI (ESC [) and SS3 (ESC O) sequences: parameters, then a final byte."""
        introducer = data[at + 1]
        end = at + 2
        if introducer == ord("[") and end < len(data) and data[end] == ord("["):
            if end + 1 >= len(data):
                return 0, None
            name = _LINUX_F.get(chr(data[end + 1]))
            return end + 2 - at, (extended_key(name, 0) if name else None)
        while end < len(data) and (0x30 <= data[end] <= 0x3F):
            end += 1
        if end >= len(data):
            return 0, None
        final_byte = data[end]
        if not 0x40 <= final_byte <= 0x7E:
            return end - at, None  # not a sequence after all: what was read of it is dropped
        params = [int(p) if p.isdigit() else 0 for p in data[at + 2 : end].decode("ascii").split(";")]
        modifier_param = params[1] if len(params) > 1 else (params[0] if introducer == ord("O") and params[0] else 1)
        modifiers = _xterm_modifiers(modifier_param)
        letter = chr(final_byte)
        name = _CSI_TILDE.get(params[0]) if letter == "~" else _CSI_LETTER.get(letter)
        if name is None:
            return end + 1 - at, None  # a sequence we do not know: swallowed, never typed as characters
        return end + 1 - at, extended_key(name, modifiers)

    @staticmethod
    def _utf8(data: bytes, at: int, final: bool) -> tuple[int, Keystroke | None]:
        lead = data[at]
        length = 2 if lead >> 5 == 0b110 else 3 if lead >> 4 == 0b1110 else 4 if lead >> 3 == 0b11110 else 1
        if at + length > len(data):
            return (1, None) if final else (0, None)
        try:
            char = data[at : at + length].decode("utf-8")
            code = char.encode("cp437")[0]
        except (UnicodeDecodeError, UnicodeEncodeError):
            return 1, None
        return length, Keystroke(code)


def _xterm_modifiers(param: int) -> int:
    """xterm's modifier parameter (1 + Shift 1 + Alt 2 + Ctrl 4) as BIOS shift bits."""
    bits = max(param - 1, 0)
    return (SHIFT if bits & 1 else 0) | (ALT if bits & 2 else 0) | (CTRL if bits & 4 else 0)


class BiosMemory(Protocol):
    def read(self, segment: int, offset: int, length: int) -> bytes: ...

    def write(self, segment: int, offset: int, data: bytes) -> None: ...

    def word(self, segment: int, offset: int) -> int: ...

    def dword(self, segment: int, offset: int) -> int: ...

    def set_word(self, segment: int, offset: int, value: int) -> None: ...


class KeyBuffer:
    """The BIOS ring at 0040:001E-003D: 16 word slots, one always free, so it holds 15 keys."""

    def __init__(self, memory: BiosMemory) -> None:
        self.memory = memory

    def reset(self) -> None:
        m = self.memory
        m.set_word(BDA_SEGMENT, BDA_BUFFER_START, BUFFER_START)
        m.set_word(BDA_SEGMENT, BDA_BUFFER_END, BUFFER_END)
        m.set_word(BDA_SEGMENT, BDA_HEAD, BUFFER_START)
        m.set_word(BDA_SEGMENT, BDA_TAIL, BUFFER_START)
        m.write(BDA_SEGMENT, BDA_SHIFT, b"\x00\x00")

    def _bounds(self) -> tuple[int, int]:
        start = self.memory.word(BDA_SEGMENT, BDA_BUFFER_START)
        end = self.memory.word(BDA_SEGMENT, BDA_BUFFER_END)
        if not (0x1E <= start < end <= 0x100) or (end - start) % 2:
            return BUFFER_START, BUFFER_END  # a program broke the pointers: fall back to the standard ring
        return start, end

    def _next(self, pointer: int) -> int:
        start, end = self._bounds()
        pointer += 2
        return start if pointer >= end else pointer

    def push(self, key: Keystroke) -> bool:
        """Put a key at the tail; False (the key is lost, as the BIOS beeps) when the ring is full."""
        m = self.memory
        tail = m.word(BDA_SEGMENT, BDA_TAIL)
        after = self._next(tail)
        if after == m.word(BDA_SEGMENT, BDA_HEAD):
            return False
        m.set_word(BDA_SEGMENT, tail, key.code)
        m.set_word(BDA_SEGMENT, BDA_TAIL, after)
        m.write(BDA_SEGMENT, BDA_SHIFT, bytes([key.shift]))
        return True

    def peek(self, extended: bool) -> int | None:
        """The key at the head (None if empty). Without `extended`, 101-key-only keys are dropped first, as
        INT 16h AH=00h/01h do."""
        m = self.memory
        while True:
            pointers = m.dword(BDA_SEGMENT, BDA_HEAD)  # head and tail in one read: this runs at every poll
            head = pointers & 0xFFFF
            if head == pointers >> 16:
                return None
            code = m.word(BDA_SEGMENT, head)
            if extended or (code >> 8) < EXTENDED_ONLY_SCAN or code & 0xFF:
                return code
            self.pop()

    def pop(self) -> None:
        m = self.memory
        head = m.word(BDA_SEGMENT, BDA_HEAD)
        if head != m.word(BDA_SEGMENT, BDA_TAIL):
            after = self._next(head)
            m.set_word(BDA_SEGMENT, BDA_HEAD, after)
            if after == m.word(BDA_SEGMENT, BDA_TAIL):
                m.write(BDA_SEGMENT, BDA_SHIFT, b"\x00")  # the keys are "released" once all were read

    def empty(self) -> bool:
        return self.memory.word(BDA_SEGMENT, BDA_HEAD) == self.memory.word(BDA_SEGMENT, BDA_TAIL)

    def shift_state(self) -> tuple[int, int]:
        raw = self.memory.read(BDA_SEGMENT, BDA_SHIFT, 2)
        return raw[0], raw[1]


KEY_INTERVAL = 0.01
"""Keys reach the ring at most 100 a second: a fast typist's rate, so no program sees an inhuman burst."""
TYPEAHEAD_LIMIT = 4096
"""Keys decoded and not yet in the ring, beyond which the terminal is left unread (its buffer holds them)."""
ESC_WAIT = 0.02
"""How long a lone ESC waits for the rest of a sequence before it counts as the Esc key (seconds)."""


class Keyboard:
    """Keys from the host's stdin when it is a terminal, into the BIOS ring; a redirected stdin is a file to
    the program, not keys. `exit_key` (a BIOS word) ends the machine through `on_exit_key`."""

    def __init__(self, memory: BiosMemory, *, exit_key: int | None = None,
                 on_exit_key: Callable[[], None] | None = None, clock: Callable[[], float] | None = None) -> None:
        try:
            self.tty = os.isatty(0)
        except OSError:
            self.tty = False
        self.buffer = KeyBuffer(memory)
        self.decoder = KeyDecoder()
        self.exit_key = exit_key
        self.on_exit_key = on_exit_key
        self.polled = False
        """The program reads keys through the BIOS, or draws a full screen: the terminal's input is then
        collected into the ring as it comes (as the keyboard interrupt would), not only when asked."""
        self.typeahead: deque[Keystroke] = deque()
        self.clock = clock or (lambda: 0.0)
        self.next_key_due = 0.0
        """When the next waiting key may go into the ring (machine-clock seconds)."""

    def start(self) -> None:
        self.buffer.reset()

    def waiting_on_tty(self) -> bool:
        return self.tty and self.polled

    def collect(self) -> None:
        """Between CPU slices: what the terminal sent goes into the ring, as INT 09h would put it there."""
        if self.tty and self.polled:
            self.read_host()

    def read_host(self) -> None:
        """Take what the terminal has sent: the exit key acts at once, other keys go into the ring as it has
        room, at most one each `KEY_INTERVAL` as from a keyboard. Keys typed (or pasted) faster wait here,
        as they would in the terminal's own input buffer had we not read it yet, rather than being lost to
        a full ring or reaching a program faster than any keyboard could type (TELNET sends one segment a
        key and drops keys it has no buffer for)."""
        if self.tty and len(self.typeahead) < TYPEAHEAD_LIMIT and readable_now(0):
            try:
                data = os.read(0, 256)
            except OSError:
                data = b""
            keys = self.decoder.feed(data)
            if self.decoder.pending and not _readable_within(ESC_WAIT):
                keys += self.decoder.flush()  # nothing more came: a lone ESC is the Esc key
            for key in keys:
                self.add(key)
        if self.typeahead:
            now = self.clock()
            if now >= self.next_key_due and self.buffer.push(self.typeahead[0]):
                self.typeahead.popleft()
                self.next_key_due = now + KEY_INTERVAL

    def next_key_in(self) -> float | None:
        """Seconds until a waiting key is due in the ring (an idle sleep must end then), or None."""
        if not self.typeahead:
            return None
        return max(0.0, self.next_key_due - self.clock())

    def add(self, key: Keystroke) -> None:
        """A key typed: the exit key's action, or the key behind those already waiting."""
        if self.exit_key is not None and key.code == self.exit_key and self.on_exit_key is not None:
            self.on_exit_key()
            return
        self.typeahead.append(key)

    def peek(self, extended: bool = False) -> int | None:
        """The next key as BIOS AX (scan code in AH, character in AL), or None."""
        self.polled = True
        self.read_host()
        code = self.buffer.peek(extended)
        if code is not None and not extended and (code & 0xFF) == 0xE0 and code >> 8:
            code &= 0xFF00  # a grey key's E0h reads as 00h through the old functions
        return code

    def take(self, extended: bool = False) -> int | None:
        code = self.peek(extended)
        if code is not None:
            self.buffer.pop()
        return code

    def take_ctrl_c(self) -> bool:
        """DOS's check for Ctrl-C: a ^C at the head of the ring is taken and reported."""
        code = self.buffer.peek(True)
        if code is not None and code & 0xFF == 0x03:
            self.buffer.pop()
            return True
        return False


def _readable_within(seconds: float) -> bool:
    try:
        ready, _, _ = select.select([0], [], [], seconds)
    except (OSError, ValueError):
        return False
    return bool(ready)
