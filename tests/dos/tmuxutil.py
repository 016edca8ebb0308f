"""A terminal for the tests: a tmux session on a private server, driven by send-keys, read by capture-pane.

tmux is the terminal emulator here: what mtcp-dosrun draws is read back as tmux understood it. Every wait
is on a condition with a deadline, never a sleep.
"""

from __future__ import annotations

import itertools
import os
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable

import pytest

from .dosutil import REPO

_names = itertools.count()


class Tmux:
    def __init__(self, width: int = 80, height: int = 25) -> None:
        tmux = shutil.which("tmux")
        if tmux is None:
            pytest.skip("tmux is not installed (apt-get install tmux): the terminal tests drive mtcp-dosrun in it")
        self.tmux = tmux
        self.socket = f"mtcpdos{os.getpid()}x{next(_names)}"
        self.session = "dos"
        env = {"PYTHONPATH": str(REPO), "PS1": "$ ", "TERM": "xterm-256color"}
        command = "env " + " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items()) + " sh"
        self._tmux("new-session", "-d", "-s", self.session, "-x", str(width), "-y", str(height), command)
        self._tmux("set-option", "-t", self.session, "status", "off")

    def _tmux(self, *args: str) -> str:
        result = subprocess.run([self.tmux, "-L", self.socket, *args], capture_output=True, text=True, timeout=20)
        if result.returncode != 0:
            raise RuntimeError(f"tmux {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout

    def type(self, text: str) -> None:
        """Characters typed literally."""
        self._tmux("send-keys", "-t", self.session, "-l", text)

    def keys(self, *names: str) -> None:
        """Keys by tmux name: Up, F1, M-x, C-a, Enter ..."""
        self._tmux("send-keys", "-t", self.session, *names)

    def run(self, command: str) -> None:
        self.type(command)
        self.keys("Enter")

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", self.session)

    def screen_with_attributes(self) -> str:
        return self._tmux("capture-pane", "-p", "-e", "-t", self.session)

    def cursor(self) -> tuple[int, int]:
        """(row, column) of the terminal's cursor."""
        x, y = self._tmux("display-message", "-p", "-t", self.session, "#{cursor_x},#{cursor_y}").strip().split(",")
        return int(y), int(x)

    def pane_pid(self) -> str:
        """The pid of the shell running in the pane."""
        return self._tmux("display-message", "-p", "-t", self.session, "#{pane_pid}").strip()

    def cursor_visible(self) -> bool:
        return self._tmux("display-message", "-p", "-t", self.session, "#{cursor_flag}").strip() == "1"

    def alternate_screen(self) -> bool:
        return self._tmux("display-message", "-p", "-t", self.session, "#{alternate_on}").strip() == "1"

    def wait_for(self, condition: Callable[[str], bool], what: str, timeout: float = 30) -> str:
        """The screen once `condition(screen)` holds; fails with the last screen after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if condition(screen):
                return screen
            time.sleep(0.05)  # polling tmux for a condition (not synchronising on time)
        raise AssertionError(f"{what}: not seen within {timeout} s; the screen:\n{screen}")

    def close(self) -> None:
        subprocess.run([self.tmux, "-L", self.socket, "kill-server"], capture_output=True, timeout=20)
