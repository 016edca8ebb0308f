"""The text screen: video memory, INT 10h, the CRT ports, the renderer; shown by --screen-dump and in tmux.

Expectations come from the BIOS and VGA documentation (IBM, Ralf Brown's interrupt list) and code page 437,
never from reading the machine back.
"""

from __future__ import annotations

import os
import pty
import shlex
import signal
import subprocess
import sys
import termios
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pktdrv.dos.cli import run_machine
from pktdrv.dos.machine import Machine, MachineConfig
from pktdrv.dos.screen import ScreenRenderer, sgr, text_dump
from pktdrv.dos.terminal import ENTER, LEAVE, TerminalDisplay
from pktdrv.dos.video import VideoSnapshot

from .dosutil import assemble, run_cli
from .screenfacts import ansi_background, ansi_foreground, cells_with_sgr, cp437
from .tmuxutil import Tmux

# What VIDEO.COM leaves on the screen, row by row (see tests/dos/asm/video.asm).
CHARACTER_ROWS = ["".join(cp437(row * 64 + column) for column in range(64)) for row in range(4)]
# INT 10h answers: 0Fh AH=80 columns AL=mode 3, BH=page 0; 12h/BL=10h BH=0 colour BL=3 (256 KiB) CX=0009h
# switch settings as a VGA reports them; 1Ah/00h AL=1Ah supported, BL=08h VGA with analog colour display;
# 08h at row 10 column 0: 'c' (63h) in white on blue (1Fh) after the scroll by two lines.
BIOS_ANSWERS = "5003 0000 0003 0009 1A08 1F63"


def expected_video_rows() -> list[str]:
    rows = [""] * 25
    rows[0:4] = CHARACTER_ROWS
    rows[5:9] = ["X" * 64] * 4
    rows[10:15] = ["c" * 20, "d" * 20, "e" * 20, "", ""]  # 'a'..'e' scrolled up by two
    rows[16:19] = ["", "f" * 10, "g" * 10]  # 'f'..'h' scrolled down by one
    rows[22] = BIOS_ANSWERS
    rows[23] = "teletype"
    rows[24] = "next"
    return [row.rstrip(" ") for row in rows]


def test_video_memory_int10_and_crt_ports_in_the_screen_dump(tmp_path: Path) -> None:
    program = assemble("video", tmp_path)
    dump = tmp_path / "screen.txt"
    result = run_cli(["--link", "hub:video", "--screen-dump", str(dump), str(program)])
    assert result.returncode == 0, result.stderr
    assert b"unsupported" not in result.stderr
    assert dump.read_text(encoding="utf-8").split("\n")[:25] == expected_video_rows()
    assert dump.read_text(encoding="utf-8").endswith("next\n")


def test_retrace_bits_toggle_and_the_crtc_reads_back(tmp_path: Path) -> None:
    program = assemble("retrace", tmp_path)
    result = run_cli(["--link", "hub:retrace", str(program)], timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"retrace ok\r\n002D\r\n"


def test_sgr_for_cga_attributes() -> None:
    # bright yellow (14) on blue (1); with blink on, bit 7 blinks; with it off, bit 7 brightens the background
    assert sgr(0x1E, blink=True, monochrome=False) == f"\x1b[0;{ansi_foreground(14)};{ansi_background(1)}m"
    assert sgr(0x9E, blink=True, monochrome=False) == f"\x1b[0;{ansi_foreground(14)};{ansi_background(1)};5m"
    assert sgr(0x9E, blink=False, monochrome=False) == f"\x1b[0;{ansi_foreground(14)};{ansi_background(9)}m"
    assert sgr(0x47, blink=True, monochrome=False) == "\x1b[0;37;41m"  # light grey on red
    # MDA: 07h normal, 0Fh bright, 01h underlined, 70h reverse, 00h invisible
    assert sgr(0x07, blink=True, monochrome=True) == "\x1b[0;37;40m"
    assert sgr(0x0F, blink=True, monochrome=True) == "\x1b[0;97;40m"
    assert sgr(0x01, blink=True, monochrome=True) == "\x1b[0;37;40;4m"
    assert sgr(0x70, blink=True, monochrome=True) == "\x1b[0;30;47m"
    assert sgr(0x00, blink=True, monochrome=True) == "\x1b[0;30;40m"


def snapshot(cells: bytes, cursor: tuple[int, int] | None = (0, 0)) -> VideoSnapshot:
    return VideoSnapshot(cells, 80, 25, cursor, True, False, True)


def test_renderer_redraws_only_what_changed() -> None:
    blank = bytes([0x20, 0x07]) * 2000
    renderer = ScreenRenderer()
    first = renderer.render(snapshot(blank))
    assert "\x1b[2J" in first and first.count(" ") >= 2000
    changed = bytearray(blank)
    changed[(12 * 80 + 40) * 2 : (12 * 80 + 40) * 2 + 2] = bytes([0xC9, 0x1F])  # ╔ white on blue
    update = renderer.render(snapshot(bytes(changed), (12, 41)))
    assert update == "\x1b[13;41H\x1b[0;97;44m╔\x1b[0m\x1b[13;42H\x1b[?25h"
    assert renderer.render(snapshot(bytes(changed), (12, 41))) == ""
    assert renderer.render(snapshot(bytes(changed), None)) == "\x1b[?25l"


def test_text_dump_trims_trailing_blanks() -> None:
    cells = bytearray(bytes([0x20, 0x07]) * 2000)
    cells[0:6] = b"A\x07\xdb\x07 \x07"
    assert text_dump(snapshot(bytes(cells))) == "A█\n" + "\n" * 24


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    terminal = Tmux()
    yield terminal
    terminal.close()


def dosrun_line(*args: str) -> str:
    return " ".join(shlex.quote(a) for a in (sys.executable, "-m", "pktdrv.dos.cli", *args))


def terminal_modes(tmux: Tmux) -> str:
    # The marker is written split in the command, so only the output has it whole.
    tmux.run("stty -a | tr ' ;' '\\n\\n' | grep -E '^-?(icanon|echo|isig|opost)$' | tr '\\n' ' '; echo :mo''des")
    screen = tmux.wait_for(lambda s: any(row.endswith(":modes") for row in s.splitlines()), "stty output")
    line = [row for row in screen.splitlines() if row.endswith(":modes")][-1]
    return " ".join(sorted(line.removesuffix(":modes").split()))


def test_screen_on_a_terminal_colours_cursor_and_restored(tmp_path: Path, tmux: Tmux) -> None:
    program = assemble("video", tmp_path)
    before = terminal_modes(tmux)
    assert before == "echo icanon isig opost"
    tmux.run(dosrun_line("--link", "hub:tvideo", str(program), "w") + "; echo status=$?")
    expected = expected_video_rows()
    screen = tmux.wait_for(lambda s: s.split("\n")[24:25] == ["next"], "the video program's screen")
    assert [row.rstrip(" ") for row in screen.split("\n")[:25]] == expected
    assert tmux.alternate_screen()
    assert tmux.cursor() == (20, 10) and tmux.cursor_visible()  # set through ports 3D4h/3D5h
    lines = tmux.screen_with_attributes().split("\n")
    for row in range(4):
        cells = cells_with_sgr(lines[5 + row])
        for column in range(64):
            attribute = row * 64 + column
            char, foreground, background, blink = cells[column]
            assert char == "X"
            assert foreground == ansi_foreground(attribute & 0x0F), hex(attribute)
            # mode 3 starts with blink on (0040:0065 bit 5): bit 7 blinks, the background has 8 colours
            assert background in ((ansi_background((attribute >> 4) & 7),) + ((None,) if attribute & 0x70 == 0
                                                                               else ())), hex(attribute)
            assert blink == bool(attribute & 0x80), hex(attribute)
    tmux.keys("x")
    tmux.wait_for(lambda s: "status=0" in s, "the program's end")
    assert not tmux.alternate_screen()
    assert terminal_modes(tmux) == before


def test_teletype_program_stays_on_the_main_screen(tmp_path: Path, tmux: Tmux) -> None:
    """A program that only writes lines (DOS output, no video memory) is not taken full screen."""
    program = assemble("retrace", tmp_path)
    tmux.run(dosrun_line("--link", "hub:tline", str(program)) + "; echo status=$?")
    screen = tmux.wait_for(lambda s: "status=0" in s, "the program's end")
    assert "retrace ok\n002D\nstatus=0" in screen


def test_terminal_given_back_after_a_cpu_fault(tmp_path: Path, tmux: Tmux) -> None:
    program = assemble("screenfault", tmp_path)
    before = terminal_modes(tmux)
    tmux.run(dosrun_line("--link", "hub:tfault", str(program)) + "; echo status=$?")
    screen = tmux.wait_for(lambda s: "status=125" in s, "the fault's end")
    assert "mtcp-dosrun: CPU fault: invalid instruction" in screen  # written once the screen was given back
    assert "about to fault" not in screen and not tmux.alternate_screen()
    assert terminal_modes(tmux) == before


def test_terminal_given_back_when_the_machine_is_terminated(tmp_path: Path, tmux: Tmux) -> None:
    program = assemble("screenfault", tmp_path)
    before = terminal_modes(tmux)
    tmux.run(dosrun_line("--link", "hub:tterm", str(program), "w") + "; echo status=$?")
    tmux.wait_for(lambda s: "about to fault" in s, "the program's screen")
    shell = int(tmux.pane_pid())
    children = subprocess.run(["pgrep", "-P", str(shell)], capture_output=True, text=True).stdout.split()
    assert len(children) == 1
    os.kill(int(children[0]), signal.SIGTERM)
    screen = tmux.wait_for(lambda s: "status=143" in s, "the end by SIGTERM")
    assert "stopped by signal SIGTERM" in screen and not tmux.alternate_screen()
    assert terminal_modes(tmux) == before


def test_terminal_modes_restored_exactly_after_an_internal_error(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A Python error inside the run loop, after the screen took the terminal: the machine ends with one
    line (status 125) and the terminal's modes are exactly those saved."""
    program = assemble("screenfault", tmp_path)
    controller, terminal = pty.openpty()
    saved = termios.tcgetattr(terminal)
    display = TerminalDisplay(out_fd=terminal, in_fd=terminal)
    messages: list[str] = []
    display.log = messages.append  # type: ignore[method-assign,assignment]
    machine = Machine(MachineConfig(program=program, args=["w"]), stderr=display.log)
    machine.attach_display(display)
    calls = 0
    real_snapshot = machine.bios.video.snapshot

    def failing_snapshot() -> VideoSnapshot:
        nonlocal calls
        calls += 1
        if calls > 3:
            raise RuntimeError("injected")
        return real_snapshot()

    monkeypatch.setattr(machine.bios.video, "snapshot", failing_snapshot)
    output = bytearray()

    def drain() -> None:
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:
                return
            if not chunk:
                return
            output.extend(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        status = run_machine(machine, display, None)
        assert status == 125
        assert any("internal error" in m and "injected" in m for m in messages)
        assert termios.tcgetattr(terminal) == saved
        assert not display.active
    finally:
        os.close(terminal)
        reader.join(5)
        os.close(controller)
    assert output.startswith(ENTER.encode()) and output.endswith(LEAVE.encode())


def test_monochrome_mode_7_at_b000(tmp_path: Path) -> None:
    program = assemble("mono", tmp_path)
    dump = tmp_path / "mono.txt"
    result = run_cli(["--link", "hub:mono", "--screen-dump", str(dump), str(program)])
    assert result.returncode == 0, result.stderr
    # INT 10h 0Fh: 80 columns, mode 7; 12h/BL=10h: BH=1, a monochrome CRTC at 3B4h
    assert dump.read_text(encoding="utf-8").split("\n")[:3] == ["mono", "5007", "0001"]


def test_monochrome_attributes_and_a_hidden_cursor_on_a_terminal(tmp_path: Path, tmux: Tmux) -> None:
    program = assemble("mono", tmp_path)
    tmux.run(dosrun_line("--link", "hub:tmono", str(program), "w") + "; echo status=$?")
    screen = tmux.wait_for(lambda s: s.startswith("mono\n5007\n0001"), "the mono screen")
    assert "colour" not in screen
    assert not tmux.cursor_visible()  # INT 10h 01h with CH bit 5 set
    cells = cells_with_sgr(tmux.screen_with_attributes().split("\n")[0])
    # 70h is reverse video on an MDA: black on the normal (light grey) foreground colour
    assert [(c, fg, bg) for c, fg, bg, _ in cells[:4]] == [(ch, 30, 47) for ch in "mono"]
    tmux.keys("x")
    tmux.wait_for(lambda s: "status=0" in s, "the program's end")
