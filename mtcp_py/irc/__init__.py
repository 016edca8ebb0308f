"""IRC for IRCjr, without I/O: the line protocol (`protocol`), mIRC formatting (`formatting`), numeric
replies (`numerics`), sessions (`session`), the client (`core` for what the server sends, `client` for what
the user types) and IRCjr's configuration keys (`settings`). The program (mtcp_py.apps.ircjr) moves bytes
between a TCP socket and `IrcClient` and draws its sessions."""

from __future__ import annotations

from .client import IrcClient
from .core import State
from .protocol import Message, Prefix, build, parse
from .session import Line, LineKind, Session, SessionKind
from .settings import IrcSettings, UpdatesTo, load_settings

__all__ = ["IrcClient", "IrcSettings", "Line", "LineKind", "Message", "Prefix", "Session", "SessionKind", "State",
           "UpdatesTo", "build", "load_settings", "parse"]
