"""What the user types, as IRCjr reads it: text goes to the session's channel or nick, `/join /part /msg
/query /me /nick /ctcp` are handled here, `/topic /names /whois /away /list /motd /quit /help /close` too,
and any other `/cmd args` goes to the server as `cmd args` (IRCjr passes what it does not know through).
`//text` sends `/text` as a message. Tab completion of nicks and commands is here too."""

from __future__ import annotations

from .core import IrcCore, State
from .protocol import casefold, ctcp, is_channel, split_text, text_room
from .session import Line, LineKind, Session, SessionKind
from .settings import check_nick

QUIT_MESSAGE = "IRCjr (mtcp-py)"
COMMANDS = ("/away", "/close", "/ctcp", "/help", "/join", "/list", "/me", "/motd", "/msg", "/names", "/nick",
            "/part", "/query", "/quit", "/topic", "/whois")
HELP = (
    "Keys: Alt-H help, Alt-C close session, Alt-X exit, Alt-B beep, Alt-L log to file, Alt-T timestamps,",
    "      Alt-S TCP/IP statistics, Alt-R raw protocol view, Alt-0..9 session, Ctrl-N/Ctrl-P next/previous,",
    "      Alt-A next with activity, PgUp/PgDn backscroll, Tab completes, Up/Down input history",
    "IRC cmds:  /join, /part, /msg, /query, /nick, /topic, /names, /whois, /away, /list, /motd, /quit, /close",
    "CTCP cmds: /me, /ctcp ping, /ctcp time, /ctcp version, /ctcp userinfo, /ctcp clientinfo",
    "Colors: Ctrl-B bold, Ctrl-K mIRC colour, Ctrl-O reset, Ctrl-R reverse, Ctrl-U underline",
    "Other /commands are sent to the server as they are typed (without the slash).",
)


class IrcClient(IrcCore):
    """The IRCjr client: the protocol core and the commands typed."""

    def type_line(self, text: str, now: float) -> None:
        """One line the user typed (Enter)."""
        text = text.replace("\r", "").replace("\n", "")
        if self.state is State.NEED_NICK:
            self._typed_nick(text.strip(), now)
            return
        if text.startswith("/") and not text.startswith("//"):
            self._command(text, now)
            return
        if text.startswith("//"):
            text = text[1:]
        if not text:
            return
        session = self.current
        if session.kind is SessionKind.SERVER:
            self.note(session, LineKind.ERROR, "Sorry, sending messages to the server doesn't make sense.", now)
            return
        self.say(session.name, text, now)

    def say(self, target: str, text: str, now: float, *, action: bool = False) -> None:
        """PRIVMSG `text` to `target` (split into several when it is too long for one line) and show it."""
        if not self._need_connection(now):
            return
        room = text_room("PRIVMSG", target, f"{self.nick}!{self.settings.user}@255.255.255.255")
        if action:
            room -= len("\x01ACTION \x01")
        for piece in split_text(text, room):
            self.send("PRIVMSG", target, ctcp("ACTION", piece) if action else piece)
        session = self.find(target) or self.current
        kind = LineKind.ACTION if action else LineKind.OWN
        shown = text if session.key == casefold(target) else f"-> {target}: {text}"
        self.add(session, Line(now, kind, shown, self.nick))

    def _need_connection(self, now: float) -> bool:
        if self.registered:
            return True
        self.note(self.current, LineKind.ERROR, "Not connected to the server", now)
        return False

    def _typed_nick(self, text: str, now: float) -> None:
        try:
            nick = check_nick(text.split(" ")[0] if text else "")
        except ValueError as exc:
            self.note(self.server_session, LineKind.ERROR, f"{exc}. Enter another nickname:", now)
            return
        self.nick = nick
        self.state = State.REGISTERING
        self.note(self.server_session, LineKind.LOCAL, f"Sending new nickname: {nick}", now)
        self.send("NICK", nick)

    def _error(self, text: str, now: float) -> None:
        self.note(self.current, LineKind.ERROR, text, now)

    def _command(self, text: str, now: float) -> None:
        word, _, rest = text.partition(" ")
        name = word.lower()
        rest = rest.strip()
        handler = {
            "/join": self._join_command, "/part": self._part_command, "/nick": self._nick_command,
            "/msg": self._msg_command, "/query": self._query_command, "/me": self._me_command,
            "/ctcp": self._ctcp_command, "/topic": self._topic_command, "/names": self._names_command,
            "/quit": self._quit_command, "/help": self._help_command, "/close": self._close_command,
        }.get(name)
        if handler is not None:
            handler(rest, now)
            return
        if name == "/whois" and not rest:
            self._error("Error: /whois needs a nick", now)
            return
        if not self._need_connection(now) or len(word) < 2:
            return
        self.send_raw(text[1:])  # /whois, /away, /list, /motd and anything else: to the server as typed

    def _join_command(self, rest: str, now: float) -> None:
        if not rest:
            self._error("Error: Must supply a channel name", now)
        elif self._need_connection(now):
            self.send_raw(f"JOIN {rest}")  # as IRCjr: keys and lists of channels go through

    def _part_command(self, rest: str, now: float) -> None:
        channel, _, reason = rest.partition(" ")
        if not is_channel(channel):
            channel, reason = (self.current.name, rest) if self.current.is_channel else ("", "")
        if not channel:
            self._error("Error: Must supply a channel name", now)
        elif self._need_connection(now):
            self.send("PART", channel, reason) if reason else self.send("PART", channel)

    def _nick_command(self, rest: str, now: float) -> None:
        try:
            nick = check_nick(rest.split(" ")[0] if rest else "")
        except ValueError:
            self._error("Error: Must supply a new nick!" if not rest else f"Error: {rest!r} is not a nick", now)
            return
        if self.state is State.DISCONNECTED:
            self.nick = self.settings.nick = nick
            self.note(self.current, LineKind.LOCAL, f"Your nick will be {nick}", now)
        else:
            self.send("NICK", nick)

    def _msg_command(self, rest: str, now: float) -> None:
        target, _, text = rest.partition(" ")
        if not target:
            self._error("Error: Must supply a user to send the msg to", now)
        elif not text.strip():
            self._error("Error: must supply a msg!", now)
        else:
            # Unlike IRCjr (which sends and stays), /msg opens the conversation and goes to it, as issue 16
            # asks and as irssi's /query does: the answer is where the question was asked. A channel we are
            # not in gets no session (there is nothing to show from it but our own lines).
            if not is_channel(target) or self.find(target) is not None:
                self.open_session(target, now, switch=True)
            self.say(target, text, now)

    def _query_command(self, rest: str, now: float) -> None:
        target, _, text = rest.partition(" ")
        if not target:
            self._error("Error: Must supply a user to send the msg to", now)
            return
        self.open_session(target, now, switch=True)
        if text.strip():
            self.say(target, text, now)

    def _me_command(self, rest: str, now: float) -> None:
        if not rest:
            self._error("Error: /me requires some text", now)
        elif self.current.kind is SessionKind.SERVER:
            self._error("Error: /me needs a channel or chat session", now)
        else:
            self.say(self.current.name, rest, now, action=True)

    def _ctcp_command(self, rest: str, now: float) -> None:
        words = rest.split()
        if not words:
            self._error("Error: Need to specify a CTCP command to use", now)
            return
        if len(words) < 2:
            self._error("Error: syntax for ctcp commands is /ctcp <command> <nick>", now)
            return
        command, target = words[0].upper(), words[1]
        if not self._need_connection(now):
            return
        if command == "PING":
            self.user_ping_time = int(self.wall_clock())
            self.send("PRIVMSG", target, ctcp("PING", str(self.user_ping_time)))
        else:
            self.send("PRIVMSG", target, ctcp(command, " ".join(words[2:])))

    def _topic_command(self, rest: str, now: float) -> None:
        channel, _, text = rest.partition(" ")
        if not is_channel(channel):
            channel, text = (self.current.name, rest) if self.current.is_channel else ("", "")
        if not channel:
            self._error("Error: /topic needs a channel", now)
        elif self._need_connection(now):
            self.send("TOPIC", channel, text) if text else self.send("TOPIC", channel)

    def _names_command(self, rest: str, now: float) -> None:
        channel = rest.split(" ")[0] if rest else (self.current.name if self.current.is_channel else "")
        if self._need_connection(now):
            self.send("NAMES", channel) if channel else self.send("NAMES")

    def _quit_command(self, rest: str, now: float) -> None:
        self.quit(rest or QUIT_MESSAGE)

    def quit(self, message: str = QUIT_MESSAGE) -> None:
        """Alt-X or /quit: QUIT goes out (when connected) and the program ends once it is sent."""
        if self.state is not State.DISCONNECTED:
            self.send("QUIT", message)
        self.quit_sent = True

    def _help_command(self, rest: str, now: float) -> None:
        for text in HELP:
            self.note(self.current, LineKind.LOCAL, text, now)

    def _close_command(self, rest: str, now: float) -> None:
        self.close_session(self.current, now)

    # ---- Tab completion -------------------------------------------------------------------------------

    def completions(self, word: str, first_word: bool, session: Session | None = None) -> list[str]:
        """What `word` may complete to: commands at the start of a line, else nicks in the session (its
        members, the chat partner, our own) and channel names; sorted, the most likely first."""
        if first_word and word.startswith("/"):
            return [c for c in COMMANDS if c.startswith(word.lower())]
        session = session or self.current
        key = casefold(word)
        names: dict[str, str] = dict(session.nicks)
        if session.kind is SessionKind.CHAT:
            names[session.key] = session.name
        if is_channel(word):
            names = {s.key: s.name for s in self.sessions if s.is_channel}
        found = [nick for folded, nick in names.items() if folded.startswith(key)]
        return sorted(found, key=casefold)

    def active_sessions(self) -> list[int]:
        """Sessions with something new, mentions first (for Alt-A)."""
        marked = [i for i, s in enumerate(self.sessions) if s.activity and s is not self.current]
        return sorted(marked, key=lambda i: not self.sessions[i].mentioned)

    def plain_lines(self, session: Session | None = None) -> list[str]:
        """A session's backscroll as plain text (for tests and copying)."""
        return [line.plain() for line in (session or self.current).lines]
