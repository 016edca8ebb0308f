"""Sessions as IRCjr has them: session 0 for the server, then one per channel or private chat (at most ten
in all), each with its own backscroll, activity flags, member nicks (for Tab completion) and log file."""

from __future__ import annotations

import enum
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from .formatting import sanitize, strip_codes
from .protocol import casefold, is_channel

MAX_SESSIONS = 10
MAX_NICKS = 20_000
"""Members kept per channel (for completion): a server that sends endless JOINs cannot grow us without end."""
SCREEN_ROWS = 25
"""Rows kept beyond the backscroll, so a full screen is always there to draw (IRCjr keeps rows + lines)."""


class LineKind(enum.Enum):
    NORMAL = "normal"
    SERVER = "server"
    """From the server: numerics, mode and nick changes."""
    LOCAL = "local"
    """Ours, not from the network: joins and parts as IRCjr words them, help, statistics, CTCP notes."""
    ERROR = "error"
    OWN = "own"
    """What we said: `<nick> text`."""
    OTHER = "other"
    """What someone else said: `<nick> text`."""
    ACTION = "action"
    """CTCP ACTION (/me): `* nick text`."""
    RAW = "raw"
    """A protocol line as it came, in the raw view."""


@dataclass(frozen=True)
class Line:
    when: float
    kind: LineKind
    text: str
    """The text; for OWN, OTHER and ACTION it may hold mIRC formatting codes, shown as styles."""
    who: str = ""
    """The nick for OWN, OTHER and ACTION lines."""
    highlight: bool = False
    """It mentions our nick."""

    def plain(self) -> str:
        """The line as one string without formatting, controls made visible (for logs and tests)."""
        body = sanitize(strip_codes(self.text))
        who = sanitize(self.who)
        if self.kind in (LineKind.OWN, LineKind.OTHER):
            return f"<{who}> {body}"
        if self.kind is LineKind.ACTION:
            return f"* {who} {body}"
        return body


class SessionKind(enum.Enum):
    SERVER = "server"
    CHANNEL = "channel"
    CHAT = "chat"


class LogWriter(Protocol):
    path: str

    def write(self, text: str) -> None: ...

    def close(self) -> None: ...


LogOpener = Callable[[str], LogWriter]
"""Opens (appending) the log for a session name; raises OSError when it cannot."""


class FileLog:
    """One session's log file, appended to, flushed per line (a crash loses nothing already shown)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._file = open(path, "a", encoding="utf-8", errors="replace")  # noqa: SIM115 (kept open for the session)

    def write(self, text: str) -> None:
        self._file.write(text)
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def log_file_name(session_name: str) -> str:
    """IRCjr's name: the first 8 characters of the session name and `.irc`; characters a file name cannot
    hold become `_`."""
    safe = "".join("_" if c in "/\\\0" or ord(c) < 0x20 else c for c in session_name[:8])
    if safe in ("", ".", ".."):
        safe = safe.replace(".", "_") or "_"
    return f"{safe}.irc"


def file_logs(directory: str) -> LogOpener:
    """Log files in `directory` (IRCJR_LOG_DIR; "" is the current directory)."""

    def opener(session_name: str) -> LogWriter:
        return FileLog(os.path.join(directory, log_file_name(session_name)))

    return opener


def log_stamp(when: float) -> str:
    """The date and time IRCjr puts before each logged line."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(when))


@dataclass
class Session:
    name: str
    kind: SessionKind
    backscroll: int
    lines: deque[Line] = field(init=False)
    added: int = 0
    """Lines ever added, so a screen can tell which are new since it last drew."""
    activity: bool = False
    """New lines came while another session was shown (the reversed digit)."""
    mentioned: bool = False
    """One of them mentioned our nick."""
    nicks: dict[str, str] = field(default_factory=dict)
    """Members of a channel, by casefolded nick (for Tab completion and quit/nick updates)."""
    joined: bool = False
    topic: str = ""
    log: LogWriter | None = None

    def __post_init__(self) -> None:
        self.lines = deque(maxlen=self.backscroll + SCREEN_ROWS)

    @property
    def key(self) -> str:
        return casefold(self.name)

    @property
    def is_channel(self) -> bool:
        return self.kind is SessionKind.CHANNEL

    def add(self, line: Line) -> None:
        self.lines.append(line)
        self.added += 1
        if self.log is not None:
            try:
                self.log.write(f"{log_stamp(line.when)} {line.plain()}\n")
            except OSError:
                self.log = None

    def add_nick(self, nick: str) -> None:
        bare = nick.lstrip("~&@%+")
        if bare and len(self.nicks) < MAX_NICKS:
            self.nicks[casefold(bare)] = bare

    def remove_nick(self, nick: str) -> bool:
        return self.nicks.pop(casefold(nick), None) is not None

    def has_nick(self, nick: str) -> bool:
        return casefold(nick) in self.nicks


def session_kind(name: str) -> SessionKind:
    return SessionKind.CHANNEL if is_channel(name) else SessionKind.CHAT
