"""A small IRC server over our own stack, for tests on the in-memory hub: registration (RFC 2812 3.1,
with 433 for a nick in use), JOIN/PART/NICK/TOPIC/NAMES/PRIVMSG/NOTICE relayed among its clients and
"virtual" users the test speaks for (`as_user`), PING, QUIT; and `inject` for any line at all (hostile
ones). Every line a client sends is recorded in `received`."""

from __future__ import annotations

from dataclasses import dataclass, field

from mtcp_py.irc.protocol import LineSplitter, casefold, parse
from mtcp_py.stack import Stack
from mtcp_py.tcp import TcpSocket

NAME = "irc.test"


@dataclass
class Client:
    sock: TcpSocket
    splitter: LineSplitter = field(default_factory=LineSplitter)
    nick: str = ""
    user: str = ""
    registered: bool = False
    out: bytearray = field(default_factory=bytearray)

    @property
    def mask(self) -> str:
        return f"{self.nick}!{self.user}@10.0.0.1"


@dataclass
class Channel:
    name: str
    members: list[Client] = field(default_factory=list)
    virtual: list[str] = field(default_factory=list)
    topic: str = ""


class TinyIrcServer:
    def __init__(self, stack: Stack, port: int = 6667) -> None:
        self.listener = stack.tcp.listen(port)
        self.clients: list[Client] = []
        self.channels: dict[str, Channel] = {}
        self.taken: set[str] = set()
        """Nicks to refuse with 433, as if someone else had them."""
        self.received: list[str] = []
        self.pings_sent = 0

    # -- what the test does --------------------------------------------------------------------------------

    def inject(self, data: bytes) -> None:
        """Raw bytes to every client (they need not be one line, or a valid one)."""
        for client in self.clients:
            client.out += data

    def as_user(self, nick: str, command: str, target: str, text: str = "") -> None:
        """A line from a user who exists only here: JOIN and PART change the channel's members."""
        mask = f"{nick}!{nick.lower()}@virtual"
        channel = self.channels.setdefault(casefold(target), Channel(target))
        if command == "JOIN":
            channel.virtual.append(nick)
        elif command in ("PART", "QUIT") and nick in channel.virtual:
            channel.virtual.remove(nick)
        line = f":{mask} {command} {target}" + (f" :{text}" if text else "") if command != "QUIT" else \
            f":{mask} QUIT :{text}"
        if command == "PRIVMSG" and not target.startswith("#"):
            for client in self.clients:
                if casefold(client.nick) == casefold(target):
                    self._send(client, line)
            return
        for client in channel.members:
            self._send(client, line)

    def ping(self, token: str) -> None:
        self.pings_sent += 1
        self.inject(f"PING :{token}\r\n".encode())

    def lines_from_clients(self, command: str) -> list[str]:
        return [line for line in self.received if line.split(" ")[0].upper() == command]

    # -- the server ----------------------------------------------------------------------------------------

    def step(self) -> bool:
        moved = False
        while (sock := self.listener.accept()) is not None:
            sock.set_nodelay()
            self.clients.append(Client(sock))
        for client in list(self.clients):
            while data := client.sock.recv(65536):
                moved = True
                for raw in client.splitter.feed(data):
                    self.received.append(raw.decode("utf-8", errors="replace"))
                    self._handle(client, raw)
            if client.out and client.sock.is_connected:
                taken = client.sock.send(bytes(client.out))
                del client.out[:taken]
                moved = moved or taken > 0
            if client.sock.at_eof or client.sock.error is not None:
                self._drop(client)
        return moved

    def _send(self, client: Client, line: str) -> None:
        client.out += line.encode() + b"\r\n"

    def _reply(self, client: Client, code: str, *params: str) -> None:
        self._send(client, f":{NAME} {code} {client.nick or '*'} " + " ".join(params))

    def _drop(self, client: Client) -> None:
        for channel in self.channels.values():
            if client in channel.members:
                channel.members.remove(client)
        if client in self.clients:
            self.clients.remove(client)
        if not client.sock.is_closed:
            client.sock.close()

    def _in_use(self, nick: str, asking: Client) -> bool:
        key = casefold(nick)
        return key in {casefold(n) for n in self.taken} or any(
            c is not asking and casefold(c.nick) == key for c in self.clients)

    def _handle(self, client: Client, raw: bytes) -> None:
        message = parse(raw)
        command, params = message.command, message.params
        if command == "NICK":
            nick = message.param(0)
            if self._in_use(nick, client):
                self._reply(client, "433", nick, ":Nickname is already in use")
                return
            if client.registered:
                line = f":{client.mask} NICK :{nick}"
                peers = {id(c): c for ch in self.channels.values() if client in ch.members for c in ch.members}
                peers[id(client)] = client
                for peer in peers.values():
                    self._send(peer, line)
            client.nick = nick
        elif command == "USER":
            client.user = message.param(0)
        elif command == "PING":
            self._send(client, f":{NAME} PONG {NAME} :{message.param(0)}")
        elif command == "PONG":
            pass
        elif command == "JOIN":
            for name in message.param(0).split(","):
                channel = self.channels.setdefault(casefold(name), Channel(name))
                channel.members.append(client)
                for member in channel.members:
                    self._send(member, f":{client.mask} JOIN {channel.name}")
                if channel.topic:
                    self._reply(client, "332", channel.name, f":{channel.topic}")
                self._names(client, channel)
        elif command == "PART":
            parted = self.channels.get(casefold(message.param(0)))
            if parted is not None and client in parted.members:
                reason = f" :{message.param(1)}" if len(params) > 1 else ""
                for member in parted.members:
                    self._send(member, f":{client.mask} PART {parted.name}{reason}")
                parted.members.remove(client)
        elif command == "NAMES":
            named = self.channels.get(casefold(message.param(0)))
            if named is not None:
                self._names(client, named)
        elif command == "TOPIC":
            topical = self.channels.get(casefold(message.param(0)))
            if topical is not None and len(params) > 1:
                topical.topic = message.param(1)
                for member in topical.members:
                    self._send(member, f":{client.mask} TOPIC {topical.name} :{topical.topic}")
        elif command in ("PRIVMSG", "NOTICE"):
            target, text = message.param(0), message.param(1)
            line = f":{client.mask} {command} {target} :{text}"
            to_channel = self.channels.get(casefold(target))
            if to_channel is not None:
                for member in to_channel.members:
                    if member is not client:
                        self._send(member, line)
            else:
                for other in self.clients:
                    if casefold(other.nick) == casefold(target):
                        self._send(other, line)
        elif command == "QUIT":
            for channel in self.channels.values():
                if client in channel.members:
                    for member in channel.members:
                        if member is not client:
                            self._send(member, f":{client.mask} QUIT :{message.param(0)}")
            self._send(client, f"ERROR :Closing Link: {client.nick} (Quit: {message.param(0)})")
            self._flush_then_close(client)
            return
        else:
            self._reply(client, "421", command or "?", ":Unknown command")
        if not client.registered and client.nick and client.user:
            client.registered = True
            self._reply(client, "001", f":Welcome to the Internet Relay Network {client.mask}")
            self._reply(client, "002", f":Your host is {NAME}, running version tiny-1")
            self._reply(client, "004", NAME, "tiny-1", "io", "ov")
            self._reply(client, "375", f":- {NAME} Message of the day -")
            self._reply(client, "372", ":- Welcome to the test server")
            self._reply(client, "376", ":End of MOTD command")

    def _names(self, client: Client, channel: Channel) -> None:
        names = " ".join([m.nick for m in channel.members] + channel.virtual)
        self._reply(client, "353", "=", channel.name, f":{names}")
        self._reply(client, "366", channel.name, ":End of NAMES list")

    def _flush_then_close(self, client: Client) -> None:
        if client.out:
            client.sock.send(bytes(client.out))
            client.out.clear()
        client.sock.close()
        self._drop(client)
