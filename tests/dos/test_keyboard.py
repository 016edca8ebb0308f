"""The keyboard: terminal bytes to BIOS keystrokes (a pure decoder, fuzzed), the BIOS ring at 0040:001E, and
keys typed in tmux reaching a program through INT 16h.

Expected words are the IBM AT BIOS's (Ralf Brown's interrupt list, INT 16h scan code tables): AH the scan
code, AL the ASCII code, 00h for extended keys.
"""

from __future__ import annotations

import re
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pktdrv.dos.keyboard import KeyBuffer, KeyDecoder, Keystroke, parse_key_name

from .dosutil import assemble
from .tmuxutil import Tmux

# terminal bytes (xterm, and the variants other terminals send) -> INT 16h AH=10h word
SEQUENCES = {
    b"a": 0x1E61, b"A": 0x1E41, b"1": 0x0231, b"!": 0x0221, b" ": 0x3920, b"/": 0x352F, b"?": 0x353F,
    b"\r": 0x1C0D, b"\t": 0x0F09, b"\x7f": 0x0E08, b"\x08": 0x0E08,
    b"\x01": 0x1E01, b"\x03": 0x2E03, b"\x1a": 0x2C1A, b"\x1d": 0x1B1D,
    b"\x1b[A": 0x4800, b"\x1b[B": 0x5000, b"\x1b[C": 0x4D00, b"\x1b[D": 0x4B00,
    b"\x1bOA": 0x4800, b"\x1bOD": 0x4B00,
    b"\x1b[H": 0x4700, b"\x1b[F": 0x4F00, b"\x1b[1~": 0x4700, b"\x1b[4~": 0x4F00, b"\x1bOH": 0x4700,
    b"\x1b[5~": 0x4900, b"\x1b[6~": 0x5100, b"\x1b[2~": 0x5200, b"\x1b[3~": 0x5300,
    b"\x1bOP": 0x3B00, b"\x1bOQ": 0x3C00, b"\x1bOR": 0x3D00, b"\x1bOS": 0x3E00, b"\x1b[11~": 0x3B00,
    b"\x1b[[A": 0x3B00, b"\x1b[15~": 0x3F00, b"\x1b[17~": 0x4000, b"\x1b[18~": 0x4100, b"\x1b[19~": 0x4200,
    b"\x1b[20~": 0x4300, b"\x1b[21~": 0x4400, b"\x1b[23~": 0x8500, b"\x1b[24~": 0x8600,
    b"\x1b[1;2P": 0x5400, b"\x1b[1;5P": 0x5E00, b"\x1b[1;3P": 0x6800, b"\x1b[24;5~": 0x8A00,
    b"\x1b[1;5D": 0x7300, b"\x1b[1;5C": 0x7400, b"\x1b[1;5H": 0x7700, b"\x1b[1;5F": 0x7500,
    b"\x1b[Z": 0x0F00,
    b"\x1bx": 0x2D00, b"\x1bX": 0x2D00, b"\x1bq": 0x1000, b"\x1bm": 0x3200,
    b"\x1b1": 0x7800, b"\x1b9": 0x8000, b"\x1b0": 0x8100, b"\x1b-": 0x8200, b"\x1b=": 0x8300,
    "é".encode(): 0x0082,
}


@pytest.mark.parametrize(("data", "word"), list(SEQUENCES.items()), ids=[repr(k) for k in SEQUENCES])
def test_terminal_sequences_decode_to_bios_words(data: bytes, word: int) -> None:
    decoder = KeyDecoder()
    keys = decoder.feed(data) + decoder.flush()
    assert [key.code for key in keys] == [word]


def test_a_lone_escape_waits_for_more_then_is_the_esc_key() -> None:
    decoder = KeyDecoder()
    assert decoder.feed(b"\x1b") == [] and decoder.pending
    assert [k.code for k in decoder.feed(b"[A")] == [0x4800]
    assert decoder.feed(b"\x1b") == []
    assert [k.code for k in decoder.flush()] == [0x011B]


def test_modifiers_set_the_shift_bits() -> None:
    decoder = KeyDecoder()
    shifts = [key.shift for key in decoder.feed(b"A\x01\x1bxa")]
    assert shifts == [0x02, 0x04, 0x08, 0x00]  # left shift, Ctrl, Alt (0040:0017 bits 1, 2, 3)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.lists(st.integers(min_value=1, max_value=20), max_size=20))
def test_decoder_never_fails_and_chunking_does_not_matter(data: bytes, cuts: list[int]) -> None:
    whole = KeyDecoder()
    expected = whole.feed(data) + whole.flush()
    chunked = KeyDecoder()
    got: list[Keystroke] = []
    at = 0
    for cut in cuts:
        got += chunked.feed(data[at : at + cut])
        at += cut
    got += chunked.feed(data[at:]) + chunked.flush()
    assert got == expected
    assert all(0 <= key.code <= 0xFFFF and 0 <= key.shift <= 0xFF for key in got)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(sorted(SEQUENCES)), st.sampled_from(sorted(SEQUENCES)))
def test_known_sequences_back_to_back(first: bytes, second: bytes) -> None:
    decoder = KeyDecoder()
    keys = decoder.feed(first + second) + decoder.flush()
    assert [key.code for key in keys] == [SEQUENCES[first], SEQUENCES[second]]


def test_key_names() -> None:
    assert parse_key_name("ctrl-]") == 0x1B1D
    assert parse_key_name("alt-x") == 0x2D00
    assert parse_key_name("F12") == 0x8600
    assert parse_key_name("esc") == 0x011B
    with pytest.raises(ValueError):
        parse_key_name("hyper-q")


class FakeBiosMemory:
    """The BIOS data area as plain bytes (the ring's logic is tested without a CPU)."""

    def __init__(self) -> None:
        self.data = bytearray(0x10000)

    def read(self, segment: int, offset: int, length: int) -> bytes:
        at = segment * 16 + offset
        return bytes(self.data[at : at + length])

    def write(self, segment: int, offset: int, data: bytes) -> None:
        at = segment * 16 + offset
        self.data[at : at + len(data)] = data

    def word(self, segment: int, offset: int) -> int:
        return int.from_bytes(self.read(segment, offset, 2), "little")

    def dword(self, segment: int, offset: int) -> int:
        return int.from_bytes(self.read(segment, offset, 4), "little")

    def set_word(self, segment: int, offset: int, value: int) -> None:
        self.write(segment, offset, value.to_bytes(2, "little"))


def test_the_bios_ring_holds_15_keys_and_wraps() -> None:
    memory = FakeBiosMemory()
    ring = KeyBuffer(memory)
    ring.reset()
    assert memory.word(0x40, 0x1A) == memory.word(0x40, 0x1C) == 0x1E  # head = tail: empty
    accepted = [ring.push(Keystroke(0x1E61 + n)) for n in range(20)]
    assert accepted == [True] * 15 + [False] * 5  # 16 slots, one always free
    taken = []
    while (code := ring.peek(True)) is not None:
        taken.append(code)
        ring.pop()
    assert taken == [0x1E61 + n for n in range(15)]
    for round_ in range(40):  # around the ring many times
        assert ring.push(Keystroke(round_))
        assert ring.peek(True) == round_
        ring.pop()
    assert 0x1E <= memory.word(0x40, 0x1A) < 0x3E


def test_old_functions_skip_keys_only_the_101_key_keyboard_has() -> None:
    memory = FakeBiosMemory()
    ring = KeyBuffer(memory)
    ring.reset()
    ring.push(Keystroke(0x8600))  # F12
    ring.push(Keystroke(0x3B00))  # F1
    assert ring.peek(True) == 0x8600
    assert ring.peek(False) == 0x3B00  # AH=00h/01h drop F12 and return the next key


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    terminal = Tmux()
    yield terminal
    terminal.close()


def dosrun_line(*args: str) -> str:
    return " ".join(shlex.quote(a) for a in (sys.executable, "-m", "pktdrv.dos.cli", *args))


# tmux key names -> what INT 16h AH=10h returns, and the shift state (AH=02h) while the key waits
TYPED = [("a", 0x1E61, 0), ("Up", 0x4800, 0), ("Down", 0x5000, 0), ("Left", 0x4B00, 0), ("Right", 0x4D00, 0),
         ("Home", 0x4700, 0), ("End", 0x4F00, 0), ("PPage", 0x4900, 0), ("NPage", 0x5100, 0), ("IC", 0x5200, 0),
         ("DC", 0x5300, 0), ("F1", 0x3B00, 0), ("F5", 0x3F00, 0), ("F10", 0x4400, 0), ("F11", 0x8500, 0),
         ("F12", 0x8600, 0), ("M-x", 0x2D00, 8), ("M-1", 0x7800, 8), ("C-a", 0x1E01, 4), ("C-c", 0x2E03, 4),
         ("Enter", 0x1C0D, 0), ("Tab", 0x0F09, 0), ("BSpace", 0x0E08, 0), ("Escape", 0x011B, 0), ("Z", 0x2C5A, 2)]


def test_keys_typed_in_a_terminal_reach_int16(tmp_path: Path, tmux: Tmux) -> None:
    program = assemble("keys", tmp_path)
    tmux.run(dosrun_line("--link", "hub:tkeys", str(program)) + "; echo status=$?")
    tmux.wait_for(lambda s: "keys ready" in s, "the key echoer")
    expected: list[str] = []
    for name, word, shift in TYPED:
        tmux.keys(name)
        expected.append(f"{word:04X} {shift:04X}")
        last = expected[-20:]  # the first lines scroll away on a 25-row screen

        def shown(screen: str, last: list[str] = last) -> bool:
            return _echoed(screen)[-len(last):] == last

        tmux.wait_for(shown, f"key {name}")
    tmux.keys("q")
    screen = tmux.wait_for(lambda s: "status=0" in s, "the program's end")
    assert "keys ready" not in screen  # the main screen is back


def _echoed(screen: str) -> list[str]:
    """The echoer's lines on the screen ("AX SHIFT" in hex)."""
    return [row.strip() for row in screen.split("\n") if re.fullmatch(r"[0-9A-F]{4} [0-9A-F]{4}", row.strip())]


def test_a_burst_of_keys_fills_the_bios_ring_and_none_is_lost(tmp_path: Path, tmux: Tmux) -> None:
    """20 keys typed while the program does not read: the BIOS ring holds 15 of them (16 slots, one always
    free), the others wait on the host side and follow in order as the program reads."""
    program = assemble("keys", tmp_path)
    tmux.run(dosrun_line("--link", "hub:tburst", str(program), "b") + "; echo status=$?")
    tmux.wait_for(lambda s: "keys ready" in s, "the key echoer")
    letters = "abcdefghijklmnoprstu"  # 'q' would end the echoer
    tmux.type(letters)
    screen = tmux.wait_for(lambda s: len(_echoed(s)) >= 20, "the keys read after the burst")
    assert "waiting 000F" in screen
    assert [line.split()[0][2:] for line in _echoed(screen)] == [f"{ord(c):02X}" for c in letters]
    tmux.keys("q")
    tmux.wait_for(lambda s: "status=0" in s, "the program's end")


def test_the_exit_key_ends_the_machine_and_gives_the_terminal_back(tmp_path: Path, tmux: Tmux) -> None:
    program = assemble("keys", tmp_path)
    tmux.run(dosrun_line("--link", "hub:texit", "--exit-key", "f12", str(program)) + "; echo status=$?")
    tmux.wait_for(lambda s: "keys ready" in s, "the key echoer")
    tmux.keys("F12")
    screen = tmux.wait_for(lambda s: "status=130" in s, "the end by the exit key")
    assert "stopped by the exit key" in screen
    assert not tmux.alternate_screen()


def test_ctrl_c_typed_in_a_full_screen_reaches_int23_through_dos(tmp_path: Path, tmux: Tmux) -> None:
    """In raw mode Ctrl-C is the key 2E03h; DOS finds it at the head of the ring in a call that checks
    (INT 21h/0Bh here) and raises INT 23h. No Ctrl-Break (INT 1Bh) comes from a terminal key."""
    program = assemble("ctrlc", tmp_path)
    dump = tmp_path / "screen.txt"
    tmux.run(dosrun_line("--link", "hub:tctrlc", "--screen-dump", str(dump), str(program), "f")
             + "; echo status=$?")
    tmux.wait_for(lambda s: "ready" in s, "the program waiting")
    tmux.keys("C-c")
    screen = tmux.wait_for(lambda s: "status=3" in s, "the program's end")
    assert not tmux.alternate_screen()
    assert "Traceback" not in screen
    assert dump.read_text(encoding="utf-8").split("\n")[:2] == ["ready", "caught Ctrl-C, INT 1Bh count 0"]


def test_dos_console_lines_typed_in_a_full_screen(tmp_path: Path, tmux: Tmux) -> None:
    """INT 21h/0Ah and 3Fh on the console read a line of BIOS keys in raw mode: echoed, Backspace
    erasing, Enter ending it (0Ah gives the bytes without CR, 3Fh with CR LF)."""
    program = assemble("readline", tmp_path)
    tmux.run(dosrun_line("--link", "hub:tline", str(program)) + "; echo status=$?")
    tmux.wait_for(lambda s: "type:" in s, "the prompt")
    tmux.type("hellx")
    tmux.keys("BSpace")
    tmux.type("o")
    tmux.wait_for(lambda s: "type:\nhello" in s, "the line echoed as typed")
    tmux.keys("Enter")
    tmux.wait_for(lambda s: "[hello] 0005" in s, "the 0Ah line")
    tmux.type("dos line")
    tmux.keys("Enter")
    tmux.wait_for(lambda s: "[dos line\n] 000A" in s, "the 3Fh line")
    tmux.keys("x")
    tmux.wait_for(lambda s: "status=0" in s, "the program's end")
