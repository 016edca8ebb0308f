"""IRCjr's settings from the mTCP configuration file (its own keys, as IRCJR.TXT describes them).

A bad value is a ConfigError naming the file, the line and the key (`mtcp.cfg:12: IRCJR_BACKSCROLL: ...`).
IRCJR_NICK, IRCJR_USER and IRCJR_NAME are required by IRCjr; here a missing one is left as "" so the
program can ask for it.
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass

from pktdrv.mtcpcfg import ConfigError, read_cfg

from ..config import MtcpConfig

NICK_MAX = 40
"""IRCjr takes nicks of up to 40 characters (RFC 2812 says 9; servers allow more)."""
DEFAULT_PORT = 6667


class UpdatesTo(enum.Enum):
    """Where nick changes and quits of other users are shown (IRCJR_NICK_UPDATES, IRCJR_QUIT_UPDATES)."""

    NONE = "none"
    SERVER = "server"
    CURRENT = "current"
    ALL = "all"


@dataclass
class IrcSettings:
    nick: str = ""
    user: str = ""
    real_name: str = ""
    password: str = ""
    connect_timeout: float = 30.0
    register_timeout: float = 30.0
    backscroll_channel: int = 150
    backscroll_chat: int = 75
    backscroll_server: int = 50
    timestamps: bool = False
    logging_default: bool = False
    log_dir: str = ""
    nick_updates: UpdatesTo = UpdatesTo.NONE
    quit_updates: UpdatesTo = UpdatesTo.NONE
    mono_colors: bool = False
    """IRCJR_COLOR_SCHEME CGA_MONO: a high-contrast scheme without colours."""

    @property
    def missing(self) -> list[str]:
        """The required keys that are not set."""
        pairs = (("IRCJR_NICK", self.nick), ("IRCJR_USER", self.user), ("IRCJR_NAME", self.real_name))
        return [key for key, value in pairs if not value]


def check_nick(text: str) -> str:
    """A nick we may send: one word, printable, at most NICK_MAX; ValueError says why not."""
    if not text:
        raise ValueError("a nick is needed")
    if len(text) > NICK_MAX:
        raise ValueError(f"{text}: a nick is at most {NICK_MAX} characters")
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in text) or text[0] in ":#&+!":
        raise ValueError(f"{text!r}: a nick is one word of printable characters, not starting with : # & + !")
    return text


def _whole(text: str, least: int, most: int) -> int:
    if not (text.isascii() and text.isdecimal()) or not least <= int(text) <= most:
        raise ValueError(f"{text}: a whole number from {least} to {most}")
    return int(text)


def _switch(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("on", "yes", "true", "1"):
        return True
    if lowered in ("off", "no", "false", "0"):
        return False
    raise ValueError(f"{text}: on or off")


def _updates(text: str) -> UpdatesTo:
    try:
        return UpdatesTo(text.lower())
    except ValueError:
        raise ValueError(f"{text}: one of none, server, current, all") from None


def _color_scheme(text: str) -> bool:
    if text.upper() == "CGA_MONO":
        return True
    if text.upper() in ("", "DEFAULT"):
        return False
    raise ValueError(f"{text}: the only scheme is CGA_MONO")


def _log_dir(text: str) -> str:
    # IRCjr insists on a trailing backslash (DOS); here any spelling of a directory will do.
    path = text.replace("\\", os.sep) if os.sep != "\\" else text
    if not os.path.isdir(path):
        raise ValueError(f"{text}: not a directory")
    return path


def config_error(config: MtcpConfig, key: str, reason: str) -> ConfigError:
    """A ConfigError naming the line `key` is on (the file is read again to find it)."""
    line = 0
    if config.path:
        try:
            entry = read_cfg(config.path).entries.get(key)
            line = entry.line if entry is not None else 0
        except ConfigError:
            pass
    return ConfigError(config.path or "<config>", line, key, reason)


def load_settings(config: MtcpConfig) -> IrcSettings:
    """IRCjr's keys from `config`; ConfigError for a bad value."""
    settings = IrcSettings()

    def value(key: str) -> str:
        return (config.app_value(key) or "").strip()

    def convert(key: str, parse: object) -> object:
        text = value(key)
        if not text:
            return None
        try:
            return parse(text)  # type: ignore[operator]
        except ValueError as exc:
            raise config_error(config, key, str(exc)) from None

    if (nick := convert("IRCJR_NICK", check_nick)) is not None:
        settings.nick = str(nick)
    settings.user = value("IRCJR_USER").split(" ")[0] if value("IRCJR_USER") else ""
    settings.real_name = value("IRCJR_NAME")
    settings.password = value("IRCJR_PASS")
    # IRCjr reads 0 as "the default" for both timeouts.
    for key, attribute in (("IRCJR_CONNECT_TIMEOUT", "connect_timeout"), ("IRCJR_REGISTER_TIMEOUT",
                                                                           "register_timeout")):
        seconds = convert(key, lambda t: _whole(t, 0, 3600))
        if isinstance(seconds, int) and seconds > 0:
            setattr(settings, attribute, float(seconds))
    for key, attribute in (("IRCJR_BACKSCROLL", "backscroll_channel"), ("IRCJR_BACKSCROLL_CHAT", "backscroll_chat"),
                           ("IRCJR_BACKSCROLL_SERVER", "backscroll_server")):
        lines = convert(key, lambda t: _whole(t, 0, 100_000))
        if isinstance(lines, int):
            setattr(settings, attribute, lines)
    if (on := convert("IRCJR_TIMESTAMPS", _switch)) is not None:
        settings.timestamps = bool(on)
    if (on := convert("IRCJR_LOGGING_DEFAULT", _switch)) is not None:
        settings.logging_default = bool(on)
    if (directory := convert("IRCJR_LOG_DIR", _log_dir)) is not None:
        settings.log_dir = str(directory)
    if isinstance(where := convert("IRCJR_NICK_UPDATES", _updates), UpdatesTo):
        settings.nick_updates = where
    if isinstance(where := convert("IRCJR_QUIT_UPDATES", _updates), UpdatesTo):
        settings.quit_updates = where
    if (mono := convert("IRCJR_COLOR_SCHEME", _color_scheme)) is not None:
        settings.mono_colors = bool(mono)
    return settings
