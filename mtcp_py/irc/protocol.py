"""The IRC line protocol (RFC 1459, RFC 2812), without I/O: parse a line, build one, CTCP inside PRIVMSG.

A line is `[@tags ][:prefix ]COMMAND params... [:trailing]` and ends in CR LF; RFC 2812 2.3 caps it at 512
bytes with the CR LF. Parsing never raises: a line is what the server sent, and a hostile server may send
anything, so whatever cannot be read as a message becomes a `Message` whose command is empty. Bytes are
decoded as UTF-8 with replacement characters (most servers and clients send UTF-8; anything else shows as
U+FFFD rather than being lost or guessed). IRCv3 message tags are skipped.

CTCP (the Client-To-Client Protocol) rides in PRIVMSG (requests) and NOTICE (replies) between \\x01 bytes.
Like IRCjr we read the first CTCP in a message; the old low-level quoting (\\x10) is not used by any client
in use today, so it is neither applied nor undone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_LINE = 512
"""RFC 2812 2.3: a message, CR LF included, is at most 512 bytes."""
CTCP_MARK = "\x01"


@dataclass(frozen=True)
class Prefix:
    """Who sent a message: a server name, or nick!user@host (user and host may be missing)."""

    name: str
    user: str = ""
    host: str = ""

    @classmethod
    def parse(cls, text: str) -> Prefix:
        name, _, rest = text.partition("!")
        if rest:
            user, _, host = rest.partition("@")
        else:
            name, _, host = name.partition("@")
            user = ""
        return cls(name, user, host)

    @property
    def nick(self) -> str:
        return self.name


@dataclass(frozen=True)
class Message:
    command: str
    """Upper-cased; a numeric reply keeps its three digits. Empty when the line could not be read."""
    params: tuple[str, ...] = ()
    prefix: Prefix | None = None
    raw: str = ""
    """The whole line as received (decoded), for the raw view and for lines shown as they came."""

    @property
    def sender(self) -> str:
        """The nick or server that sent this; "Server" when there is no prefix, as IRCjr says."""
        return self.prefix.name if self.prefix is not None and self.prefix.name else "Server"

    @property
    def is_numeric(self) -> bool:
        return len(self.command) == 3 and self.command.isascii() and self.command.isdigit()

    def param(self, index: int, default: str = "") -> str:
        return self.params[index] if index < len(self.params) else default

    @property
    def trailing(self) -> str:
        """The last parameter (the text of PRIVMSG, NOTICE, QUIT, PART...), or ""."""
        return self.params[-1] if self.params else ""


def decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def parse(line: bytes | str) -> Message:
    """One line, without its CR LF. Never raises."""
    text = decode(line) if isinstance(line, bytes) else line
    text = text.rstrip("\r\n")
    raw = text
    rest = text.lstrip(" ")
    if rest.startswith("@"):  # IRCv3 tags: not used here
        _, _, rest = rest.partition(" ")
        rest = rest.lstrip(" ")
    prefix: Prefix | None = None
    if rest.startswith(":"):
        source, _, rest = rest[1:].partition(" ")
        if not source:
            return Message("", (), None, raw)
        prefix = Prefix.parse(source)
        rest = rest.lstrip(" ")
    command, _, rest = rest.partition(" ")
    if not command or not (command.isascii() and command.isalnum()):
        return Message("", (), prefix, raw)
    params: list[str] = []
    while rest:
        rest = rest.lstrip(" ")
        if not rest:
            break
        if rest.startswith(":"):
            params.append(rest[1:])
            break
        word, _, rest = rest.partition(" ")
        params.append(word)
    return Message(command.upper(), tuple(params), prefix, raw)


def _clean(text: str) -> str:
    """No CR, LF or NUL may go into a line we send: they would end it early (and let text inject commands)."""
    return text.replace("\r", " ").replace("\n", " ").replace("\x00", " ")


TEXT_LAST = {"PRIVMSG": 2, "NOTICE": 2, "QUIT": 1, "USER": 4, "AWAY": 1, "PART": 2, "TOPIC": 2, "KICK": 3}
"""Commands whose last parameter is text, and at which position: it is always sent as trailing (with its
':'), as clients do, so a message that happens to be one word reads the same."""


def build(command: str, *params: str) -> bytes:
    """One line to send, CR LF included. The last parameter becomes trailing when it is text (TEXT_LAST) or
    has to be (empty, has a space, or starts with ':'); the others must be single words. Longer than 512
    bytes is cut (at a UTF-8 character boundary): callers that send text use `split_text` first."""
    words = [_clean(p) for p in params]
    for word in words[:-1]:
        if not word or " " in word or word.startswith(":"):
            raise ValueError(f"{command}: parameter {word!r} must be one word")
    text_last = TEXT_LAST.get(command.upper()) == len(words)
    if words and (text_last or not words[-1] or " " in words[-1] or words[-1].startswith(":")):
        words[-1] = ":" + words[-1]
    line = " ".join([_clean(command), *words]).encode("utf-8")
    if len(line) > MAX_LINE - 2:
        line = line[: MAX_LINE - 2]
        line = line.decode("utf-8", errors="ignore").encode("utf-8")
    return line + b"\r\n"


def split_text(text: str, room: int) -> list[str]:
    """`text` in pieces of at most `room` UTF-8 bytes, cut at spaces when one is near the end, never inside a
    character; so a long typed line goes out as several messages instead of being cut by the server."""
    pieces: list[str] = []
    rest = _clean(text)
    room = max(room, 16)
    while len(rest.encode("utf-8")) > room:
        cut = rest.encode("utf-8")[:room].decode("utf-8", errors="ignore")
        space = cut.rfind(" ")
        if space > len(cut) // 2:
            cut = cut[:space]
        pieces.append(cut)
        rest = rest[len(cut):].lstrip(" ")
    if rest or not pieces:
        pieces.append(rest)
    return pieces


def text_room(command: str, target: str, source: str = "") -> int:
    """How many bytes of text fit in one `command target :text` line as the server relays it to others: it
    adds our prefix (`:nick!user@host `), so room is left for it (RFC 2812 2.3)."""
    overhead = len(f":{source} {command} {target} :".encode()) + 2
    return MAX_LINE - overhead


@dataclass(frozen=True)
class Ctcp:
    command: str
    """Upper-cased (ACTION, VERSION, PING...)."""
    argument: str = ""


def parse_ctcp(text: str) -> Ctcp | None:
    """The CTCP in a PRIVMSG or NOTICE text, or None when it is plain text. The closing \\x01 is optional
    (some clients leave it off); only the first CTCP is read, as IRCjr does."""
    if not text.startswith(CTCP_MARK):
        return None
    body = text[1:]
    end = body.find(CTCP_MARK)
    if end >= 0:
        body = body[:end]
    command, _, argument = body.partition(" ")
    if not command:
        return None
    return Ctcp(command.upper(), argument)


def ctcp(command: str, argument: str = "") -> str:
    """The text of a CTCP message (for PRIVMSG or NOTICE)."""
    inner = f"{command} {argument}" if argument else command
    return f"{CTCP_MARK}{inner.replace(CTCP_MARK, '')}{CTCP_MARK}"


def is_channel(name: str) -> bool:
    """RFC 2812 1.3: channel names start with &, #, + or !."""
    return bool(name) and name[0] in "#&+!"


def casefold(name: str) -> str:
    """RFC 2812 2.2: {}|^ are the lower case of []\\~ in nicks and channel names."""
    return name.lower().translate(_SCANDINAVIAN)


_SCANDINAVIAN = str.maketrans("[]\\~", "{}|^")


NICK_PREFIXES = "~&@%+"
"""Channel member status shown before a nick in NAMES replies (owner, admin, op, half-op, voice)."""


@dataclass
class LineSplitter:
    """Bytes from the connection into lines. A line ends at LF (CR LF, or a bare LF as some servers send);
    a line longer than `limit` bytes is given as it stands and the rest follows as the next line, so a
    hostile server cannot make us keep an endless line in memory."""

    limit: int = 8192
    _pending: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> list[bytes]:
        self._pending += data
        lines: list[bytes] = []
        while True:
            end = self._pending.find(b"\n")
            if end < 0:
                if len(self._pending) > self.limit:
                    lines.append(bytes(self._pending[: self.limit]))
                    del self._pending[: self.limit]
                    continue
                break
            line = bytes(self._pending[:end]).rstrip(b"\r")
            del self._pending[: end + 1]
            while len(line) > self.limit:
                lines.append(line[: self.limit])
                line = line[self.limit:]
            if line:
                lines.append(line)
        return lines

    def clear(self) -> None:
        self._pending.clear()
