"""The host terminal as the PC's screen and keyboard: the one place that changes the terminal's modes.

`TerminalDisplay` takes the terminal over the first time the program draws a full screen: the alternate
screen, no line wrap, the keyboard in raw mode (keys, Ctrl-C included, come as bytes for keyboard.py to
decode). `close` puts back exactly what was there (the saved termios modes, the main screen and its
cursor); the command line calls it on every way out. Lines the machine logs while the screen is up are held
and written after it.
"""

from __future__ import annotations

import os
import sys
import termios
import tty
from typing import Any

from .screen import ScreenRenderer
from .video import VideoSnapshot

ENTER = "\x1b[?1049h\x1b[?7l\x1b[0m\x1b[2J"
"""Alternate screen (saving the cursor), no automatic wrap at the right margin, cleared."""
LEAVE = "\x1b[0m\x1b[?7h\x1b[?25h\x1b[?1049l"
"""Attributes reset, wrap and cursor back, main screen (restoring the cursor)."""


class TerminalDisplay:
    def __init__(self, out_fd: int = 1, in_fd: int = 0) -> None:
        self.out_fd = out_fd
        self.in_fd = in_fd
        self.renderer = ScreenRenderer()
        self.active = False
        self._saved_modes: list[Any] | None = None
        self.held: list[str] = []
        self.bytes_written = 0

    def show(self, screen: VideoSnapshot) -> None:
        if not screen.full_screen:
            return  # line output goes to the terminal as bytes meanwhile
        if not self.active:
            self._enter()
        self._write(self.renderer.render(screen))

    def log(self, line: str) -> None:
        """The machine's messages: to stderr, or held while the screen is up."""
        if self.active:
            self.held.append(line)
        else:
            print(line, file=sys.stderr, flush=True)

    def _enter(self) -> None:
        if _isatty(self.in_fd):
            try:
                self._saved_modes = termios.tcgetattr(self.in_fd)
                tty.setraw(self.in_fd, termios.TCSANOW)
            except termios.error:
                self._saved_modes = None
        self.active = True
        self.renderer.forget()
        self._write(ENTER)

    def _write(self, text: str) -> None:
        data = text.encode("utf-8")
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self.out_fd, view):]
        except OSError:
            pass  # the terminal went away: nothing more to show
        self.bytes_written += len(data)

    def close(self) -> None:
        """Give the terminal back as it was; idempotent."""
        if self.active:
            self._write(LEAVE)
            self.active = False
        if self._saved_modes is not None:
            try:
                termios.tcsetattr(self.in_fd, termios.TCSADRAIN, self._saved_modes)
            except termios.error:
                pass
            self._saved_modes = None
        held, self.held = self.held, []
        for line in held:
            print(line, file=sys.stderr, flush=True)


def _isatty(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False
