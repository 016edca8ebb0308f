"""IRCjr's client logic without I/O: fed bytes and the time, it keeps the sessions and gives lines to send.

    client = IrcClient(settings, "10.0.2.1", clock=time.time)  # the wall clock for CTCP TIME, given
    client.connected(now)                  # queues PASS, NICK, USER (RFC 2812 3.1)
    sock.send(client.take_output())        # whatever is queued, as bytes
    client.feed(sock.recv(), now)          # the server's bytes; sessions, nicks and replies follow
    client.type_line("/join #vc", now)     # what the user typed
    client.tick(now)                       # timeouts and the lag probe, once a second or so

The screen reads `sessions`, `current`, `nick`, `lag`; the program watches `quit_sent`, `failure` and
`bells`. Everything the server sends is kept as it came; making it safe to show is the screen's job
(`formatting.styled_runs`, `formatting.sanitize`).
"""

from __future__ import annotations

import enum
import platform
import time
from collections.abc import Callable

from .numerics import NICK_REJECTED, RPL_WELCOME, describe
from .protocol import LineSplitter, Message, build, casefold, ctcp, is_channel, parse, parse_ctcp
from .session import MAX_SESSIONS, Line, LineKind, LogOpener, Session, SessionKind, session_kind
from .settings import NICK_MAX, IrcSettings, UpdatesTo

VERSION_REPLY = f"mtcp-py IRCjr 0.1 (mTCP's IRCjr on a Python TCP/IP stack) running on Python " \
                f"{platform.python_version()}"
SOURCE_REPLY = "http://www.brutman.com/mTCP/ (IRCjr), mtcp-py"
CLIENTINFO_REPLY = "ACTION PING VERSION TIME SOURCE USERINFO CLIENTINFO"
LAG_TOKEN = "mtcp-lag-"
LAG_INTERVAL = 30.0
CTCP_BURST = 5
CTCP_REFILL_SECONDS = 2.0
"""CTCP answers are rate-limited (a burst of 5, then one per 2 s), so a user who floods us with requests
cannot make us flood the server with NOTICEs and get us disconnected for it."""
NICK_TRIES = 4
"""How many other nicks we try by ourselves when the server refuses ours while registering."""
OUT_OF_SESSIONS = 'Warning: new window needed for "{}" but out of sessions! Use /msg to answer from here.'


class State(enum.Enum):
    DISCONNECTED = "disconnected"
    REGISTERING = "registering"
    NEED_NICK = "need nick"
    """The server refused every nick we tried: the next line typed is the nick (IRCjr asks the same way)."""
    REGISTERED = "registered"


class IrcCore:
    """The connection's state and everything the server sends; `IrcClient` adds what the user types."""

    def __init__(self, settings: IrcSettings, server: str, *, initial_channel: str = "",
                 logs: LogOpener | None = None, clock: Callable[[], float]) -> None:
        self.settings = settings
        self.server = server
        self.initial_channel = initial_channel
        self.logs = logs
        self.wall_clock = clock
        """Only for CTCP TIME and PING: the local time of day the peer asks for, read by the program that
        hands it in (the core itself reads no clock)."""
        self.nick = settings.nick
        self.state = State.DISCONNECTED
        self.sessions: list[Session] = [Session("Server", SessionKind.SERVER, settings.backscroll_server)]
        self.current: Session = self.sessions[0]
        self.splitter = LineSplitter()
        self._output: list[bytes] = []
        self.raw_view = False
        self.timestamps = settings.timestamps
        self.bells = 0
        """Incremented for each message that would beep (a PRIVMSG or ACTION to us or a channel)."""
        self.quit_sent = False
        self.failure: str | None = None
        """Why registration failed (the program then ends the connection); None while it has not."""
        self.lag: float | None = None
        self.server_pings = 0
        self.user_ping_time = 0
        self._nick_tries = 0
        self._register_deadline = 0.0
        self._lag_sent_at: float | None = None
        self._next_lag_probe = 0.0
        self._ctcp_tokens = float(CTCP_BURST)
        self._ctcp_time = 0.0
        if settings.logging_default:
            self.toggle_logging(self.server_session, 0.0)

    # ---- the connection -------------------------------------------------------------------------------

    @property
    def server_session(self) -> Session:
        return self.sessions[0]

    @property
    def registered(self) -> bool:
        return self.state is State.REGISTERED

    def connected(self, now: float) -> None:
        """The TCP connection is up: register (RFC 2812 3.1: PASS, then NICK and USER)."""
        self.state = State.REGISTERING
        self.splitter.clear()
        self.failure = None
        self._nick_tries = 0
        self.nick = self.nick or self.settings.nick  # after a reconnect: the nick we last had
        self._register_deadline = now + self.settings.register_timeout
        if self.settings.password:
            self.send("PASS", self.settings.password)
        self.send("NICK", self.nick)
        self.send("USER", self.settings.user or self.nick, "0", "*", self.settings.real_name or self.nick)

    def disconnected(self, reason: str, now: float) -> None:
        """The connection ended; the sessions stay (and their channels are joined again on reconnect)."""
        self.state = State.DISCONNECTED
        self._output.clear()
        self.lag = None
        self._lag_sent_at = None
        for session in self.sessions:
            session.joined = False
            session.nicks.clear()
        self.note(self.server_session, LineKind.ERROR, f"Connection closed: {reason}", now)

    def send(self, command: str, *params: str) -> None:
        self._output.append(build(command, *params))

    def send_raw(self, text: str) -> None:
        """A line the user wrote as a command we do not know, sent as it is (IRCjr passes those through)."""
        self._output.append(build(text))

    def take_output(self) -> bytes:
        data = b"".join(self._output)
        self._output.clear()
        return data

    def tick(self, now: float) -> None:
        if self.state in (State.REGISTERING, State.NEED_NICK) and now >= self._register_deadline \
                and self.failure is None:
            self.failure = "Timeout registering with server"
            self.note(self.server_session, LineKind.ERROR, self.failure, now)
        if self._lag_sent_at is not None and now - self._lag_sent_at > (self.lag or 0.0):
            self.lag = now - self._lag_sent_at  # no PONG yet: the lag is at least this, and shown growing
        if self.registered and now >= self._next_lag_probe and self._lag_sent_at is None:
            self._lag_sent_at = now
            self._next_lag_probe = now + LAG_INTERVAL
            self.send("PING", f"{LAG_TOKEN}{int(now * 1000)}")

    # ---- sessions -------------------------------------------------------------------------------------

    def find(self, name: str) -> Session | None:
        key = casefold(name)
        for session in self.sessions:
            if session.key == key and session.kind is not SessionKind.SERVER:
                return session
        return None

    def open_session(self, name: str, now: float, switch: bool = True) -> Session:
        """The session for `name`, opened when there is none (and room for one); else the server session."""
        session = self.find(name)
        if session is not None:
            if switch:
                self.switch(session)
            return session
        if len(self.sessions) >= MAX_SESSIONS:
            self.note(self.server_session, LineKind.ERROR, OUT_OF_SESSIONS.format(name), now)
            return self.server_session
        kind = session_kind(name)
        lines = self.settings.backscroll_channel if kind is SessionKind.CHANNEL else self.settings.backscroll_chat
        session = Session(name, kind, lines)
        self.sessions.append(session)
        if self.settings.logging_default:
            self.toggle_logging(session, now)
        if switch:
            self.switch(session)
        return session

    def switch(self, session: Session) -> None:
        self.current = session
        session.activity = False
        session.mentioned = False

    def switch_to(self, index: int) -> bool:
        if 0 <= index < len(self.sessions):
            self.switch(self.sessions[index])
            return True
        return False

    def close_session(self, session: Session, now: float, *, part: bool = True) -> None:
        """Alt-C: a channel is parted; session 0 cannot be closed."""
        if session.kind is SessionKind.SERVER:
            self.note(session, LineKind.ERROR, "The server session cannot be closed", now)
            return
        if part and session.is_channel and session.joined and self.registered:
            self.send("PART", session.name)
        if session.log is not None:
            self._stop_log(session, now)
        index = self.sessions.index(session)
        self.sessions.remove(session)
        if self.current is session:
            self.switch(self.sessions[min(index, len(self.sessions)) - 1] if index > 1 else self.server_session)

    def add(self, session: Session, line: Line) -> None:
        session.add(line)
        if session is not self.current:
            session.activity = True
            session.mentioned = session.mentioned or line.highlight

    def note(self, session: Session, kind: LineKind, text: str, now: float) -> None:
        self.add(session, Line(now, kind, text))

    def toggle_logging(self, session: Session, now: float) -> None:
        """Alt-L: start or stop the session's log (`<first 8 of name>.irc`, appended)."""
        if session.log is not None:
            self.note(session, LineKind.LOCAL, "Logging turned off", now)
            self._stop_log(session, now)
            return
        if self.logs is None:
            self.note(session, LineKind.ERROR, "Logging is not available", now)
            return
        try:
            log = self.logs(session.name)
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))
            log.write(f"{stamp} IRCjr start logging ({self.server} {session.name})\n")
        except OSError as exc:
            self.note(session, LineKind.ERROR, f"Error opening the log - not logging ({exc.strerror or exc})", now)
            return
        self.note(session, LineKind.LOCAL, f"Logging new output to {log.path}", now)  # not itself logged
        session.log = log

    def _stop_log(self, session: Session, now: float) -> None:
        log, session.log = session.log, None
        if log is None:
            return
        try:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))
            log.write(f"{stamp} IRCjr stop logging\n")
            log.close()
        except OSError:
            pass

    def close_logs(self, now: float) -> None:
        for session in self.sessions:
            self._stop_log(session, now)

    def updates_to(self, where: UpdatesTo, nick: str) -> list[Session]:
        """The sessions a nick or quit update goes to (IRCJR_NICK_UPDATES, IRCJR_QUIT_UPDATES); for `all`,
        the server session and the sessions where that nick is (its channels, its private chat)."""
        if where is UpdatesTo.NONE:
            return []
        if where is UpdatesTo.SERVER:
            return [self.server_session]
        if where is UpdatesTo.CURRENT:
            return [self.current]
        key = casefold(nick)
        return [s for s in self.sessions if s.kind is SessionKind.SERVER or s.key == key or key in s.nicks]

    def mentions_me(self, text: str) -> bool:
        from_text = casefold(text)
        me = casefold(self.nick)
        start = from_text.find(me)
        while start >= 0:
            before = from_text[start - 1] if start else " "
            end = start + len(me)
            after = from_text[end] if end < len(from_text) else " "
            if not (before.isalnum() or before in "_-[]{}\\|^`") and not (after.isalnum() or after in "_-`"):
                return True
            start = from_text.find(me, start + 1)
        return False

    # ---- from the server ------------------------------------------------------------------------------

    def feed(self, data: bytes, now: float) -> None:
        for line in self.splitter.feed(data):
            self.handle(parse(line), now)

    def handle(self, message: Message, now: float) -> None:
        if self.raw_view:
            self.note(self.server_session, LineKind.RAW, message.raw, now)
        command = message.command
        if message.is_numeric:
            self._numeric(message, now)
        elif command in ("PRIVMSG", "NOTICE"):
            self._privmsg(message, now)
        elif command == "PING":
            self.server_pings += 1
            self.send("PONG", message.param(0) or self.server)
        elif command == "PONG":
            self._pong(message, now)
        elif command == "JOIN":
            self._join(message, now)
        elif command == "PART":
            self._part(message, now)
        elif command == "KICK":
            self._kick(message, now)
        elif command == "NICK":
            self._nick(message, now)
        elif command == "QUIT":
            self._quit(message, now)
        elif command == "TOPIC":
            session = self.find(message.param(0)) or self.current
            session.topic = message.trailing
            self.note(session, LineKind.SERVER, f"{message.sender} changed the topic of {message.param(0)} to: "
                                                f"{message.trailing}", now)
        elif command == "MODE":
            target = message.param(0)
            session = (self.find(target) if is_channel(target) else None) or self.server_session
            self.note(session, LineKind.SERVER, f"{message.sender} sets mode {' '.join(message.params[1:])}", now)
        elif command == "ERROR":
            self.note(self.server_session, LineKind.ERROR, f"Server error: {message.trailing}", now)
        elif command == "INVITE":
            self.note(self.current, LineKind.LOCAL, f"{message.sender} invites you to {message.trailing}", now)
        else:
            # IRCjr shows what it does not know as it came.
            self.note(self.current, LineKind.ERROR if not command else LineKind.NORMAL, message.raw, now)

    def _numeric(self, message: Message, now: float) -> None:
        code = message.command
        if code == RPL_WELCOME:
            self._welcome(message, now)
        if code in NICK_REJECTED and self.state is State.REGISTERING:
            self._try_another_nick(message, now)
            return
        if code == "353":
            session = self.find(message.param(2))
            if session is not None:
                for nick in message.trailing.split():
                    session.add_nick(nick)
        elif code == "332" and (session := self.find(message.param(1))) is not None:
            session.topic = message.trailing
        reply = describe(message)
        target = (self.find(reply.channel) if reply.channel else None) or self.current
        self.note(target, LineKind.ERROR if reply.error else LineKind.SERVER, reply.text, now)

    def _welcome(self, message: Message, now: float) -> None:
        self.state = State.REGISTERED
        self.nick = message.param(0) or self.nick
        self._next_lag_probe = now + LAG_INTERVAL
        channels = [s.name for s in self.sessions if s.is_channel]
        if self.initial_channel and casefold(self.initial_channel) not in {casefold(c) for c in channels}:
            channels.insert(0, self.initial_channel)
        for channel in channels:
            self.send("JOIN", channel)

    def _try_another_nick(self, message: Message, now: float) -> None:
        reply = describe(message)
        self.note(self.server_session, LineKind.ERROR, reply.text, now)
        self._nick_tries += 1
        if self._nick_tries > NICK_TRIES:
            self.state = State.NEED_NICK
            self.note(self.server_session, LineKind.LOCAL,
                      "The server didn't like your nickname. Enter another nickname:", now)
            return
        base = self.settings.nick[: NICK_MAX - 2]
        self.nick = f"{base}{'_' * self._nick_tries}" if self._nick_tries <= 2 else f"{base}{self._nick_tries - 2}"
        self.note(self.server_session, LineKind.LOCAL, f"Trying the nick {self.nick}", now)
        self.send("NICK", self.nick)

    def _pong(self, message: Message, now: float) -> None:
        token = message.trailing
        if token.startswith(LAG_TOKEN) and self._lag_sent_at is not None:
            self.lag = max(0.0, now - self._lag_sent_at)
            self._lag_sent_at = None

    def _is_me(self, nick: str) -> bool:
        return casefold(nick) == casefold(self.nick)

    def _privmsg(self, message: Message, now: float) -> None:
        source, target, text = message.sender, message.param(0), message.trailing
        if not text:
            return
        request = message.command == "PRIVMSG"
        if (found := parse_ctcp(text)) is not None:
            self._ctcp(source, target, found.command, found.argument, request, now)
            return
        name = source if self._is_me(target) else target
        from_server = message.prefix is None or ("." in source and not message.prefix.user)
        if from_server and not request:  # server notices ("*** Looking up your hostname")
            session = self.current if self.registered else self.server_session
        elif request:
            session = self._incoming_session(name, now)
        else:
            session = self.find(name) or self.current
        highlight = self.mentions_me(text) or (request and self._is_me(target))
        if request:
            self.bells += 1
        who = source if session is not self.server_session or not request else f"{source} to {target}"
        self.add(session, Line(now, LineKind.OTHER, text, who, highlight))

    def _incoming_session(self, name: str, now: float) -> Session:
        """Where a PRIVMSG for `name` goes: its session; a new one is opened and shown, as IRCjr flips to a
        session a message created (before registration everything goes to the server session)."""
        if not self.registered:
            return self.server_session
        return self.open_session(name, now, switch=self.find(name) is None)

    def _ctcp(self, source: str, target: str, command: str, argument: str, request: bool, now: float) -> None:
        if command == "ACTION":
            if not request:
                return
            name = source if self._is_me(target) else target
            session = self._incoming_session(name, now)
            self.bells += 1
            self.add(session, Line(now, LineKind.ACTION, argument, source, self.mentions_me(argument)))
            return
        if not request:
            if command == "PING" and argument.strip().isdigit() and int(argument.strip()) == self.user_ping_time:
                seconds = int(self.wall_clock()) - self.user_ping_time
                self.note(self.current, LineKind.LOCAL, f"CTCP: PING response from {source} in {seconds} seconds",
                          now)
            else:
                self.note(self.current, LineKind.LOCAL, f"CTCP: {command} response from {source}: {argument}", now)
            return
        self.note(self.server_session, LineKind.LOCAL, f"CTCP: {command} request from {source}", now)
        answer = {
            "PING": argument if argument else None,
            "VERSION": VERSION_REPLY,
            "CLIENTINFO": CLIENTINFO_REPLY,
            "TIME": time.ctime(self.wall_clock()),
            "SOURCE": SOURCE_REPLY,
            "USERINFO": self.settings.real_name,
        }.get(command)
        self._ctcp_tokens = min(CTCP_BURST, self._ctcp_tokens + (now - self._ctcp_time) / CTCP_REFILL_SECONDS)
        self._ctcp_time = now
        if answer is None or any(c in source for c in " \r\n") or self._ctcp_tokens < 1:
            return
        self._ctcp_tokens -= 1
        self.send("NOTICE", source, ctcp(command, answer))

    def _join(self, message: Message, now: float) -> None:
        channel, nick = message.param(0), message.sender
        if self._is_me(nick):
            session = self.open_session(channel, now, switch=True)
            session.joined = True
            session.nicks.clear()
            self.note(session, LineKind.LOCAL, f"You joined channel {channel}", now)
            return
        joined = self.find(channel)
        if joined is not None:
            joined.add_nick(nick)
        self.note(joined or self.server_session, LineKind.LOCAL, f"{nick} joined channel {channel}", now)

    def _part(self, message: Message, now: float) -> None:
        channel, nick = message.param(0), message.sender
        session = self.find(channel)
        reason = f" ({message.param(1)})" if len(message.params) > 1 and message.param(1) else ""
        if self._is_me(nick):
            if session is not None:
                self.close_session(session, now, part=False)
            else:
                self.note(self.server_session, LineKind.LOCAL, f"Parted {channel}", now)
            return
        if session is not None:
            session.remove_nick(nick)
        self.note(session or self.server_session, LineKind.LOCAL, f"{nick} has parted {channel}{reason}", now)

    def _kick(self, message: Message, now: float) -> None:
        channel, victim = message.param(0), message.param(1)
        session = self.find(channel) or self.server_session
        reason = message.param(2)
        if self._is_me(victim):
            session.joined = False
            session.nicks.clear()
            self.note(session, LineKind.ERROR, f"You were kicked from {channel} by {message.sender} ({reason})", now)
            return
        session.remove_nick(victim)
        self.note(session, LineKind.LOCAL, f"{victim} was kicked from {channel} by {message.sender} ({reason})", now)

    def _nick(self, message: Message, now: float) -> None:
        old, new = message.sender, message.param(0)
        if not new:
            return
        where = self.updates_to(self.settings.nick_updates, old)
        for session in self.sessions:
            if session.remove_nick(old):
                session.add_nick(new)
            if session.kind is SessionKind.CHAT and session.key == casefold(old):
                session.name = new
        if self._is_me(old):
            self.nick = new
            self.note(self.current, LineKind.SERVER, f"You changed your nickname to {new}", now)
            return
        for session in where:
            self.note(session, LineKind.SERVER, f"{old} changed their nickname to {new}", now)

    def _quit(self, message: Message, now: float) -> None:
        nick = message.sender
        where = self.updates_to(self.settings.quit_updates, nick)
        for session in self.sessions:
            session.remove_nick(nick)
        for session in where:
            self.note(session, LineKind.SERVER, f"{nick} has quit: {message.trailing}", now)
