"""Numeric replies (RFC 2812 5) as IRCjr words them: which session a reply belongs to and its text."""

from __future__ import annotations

from dataclasses import dataclass

from .protocol import Message

RPL_WELCOME = "001"
RPL_MYINFO = "004"
RPL_AWAY = "301"
RPL_UNAWAY = "305"
RPL_NOWAWAY = "306"
RPL_NOTOPIC = "331"
RPL_TOPIC = "332"
RPL_TOPICWHOTIME = "333"
RPL_NAMREPLY = "353"
RPL_ENDOFNAMES = "366"
ERR_NOSUCHNICK = "401"
ERR_NONICKNAMEGIVEN = "431"
ERR_ERRONEUSNICKNAME = "432"
ERR_NICKNAMEINUSE = "433"
ERR_NICKCOLLISION = "436"
ERR_UNAVAILRESOURCE = "437"
NICK_REJECTED = frozenset({ERR_NONICKNAMEGIVEN, ERR_ERRONEUSNICKNAME, ERR_NICKNAMEINUSE, ERR_NICKCOLLISION,
                           ERR_UNAVAILRESOURCE})
"""The server did not take the nick we asked for."""

CHANNEL_REPLIES = {
    RPL_NOTOPIC: 1, RPL_TOPIC: 1, RPL_TOPICWHOTIME: 1, RPL_NAMREPLY: 2, RPL_ENDOFNAMES: 1,
    "324": 1, "329": 1, "367": 1, "368": 1,
}
"""Replies about one channel, and which parameter names it: they go to that channel's session."""

TRAILER_ONLY = frozenset({
    "001", "002", "003", "250", "251", "255", "265", "266", "371", "372", "374", "375", "376",
})
"""Replies shown as just their text (welcome, the MOTD, INFO, user counts), as IRCjr does."""


@dataclass(frozen=True)
class Reply:
    text: str
    channel: str | None = None
    """The channel whose session the reply goes to; None for the session being shown."""
    error: bool = False


def describe(message: Message) -> Reply:
    """How a numeric reply is shown. params[0] is always our own nick (RFC 2812 2.4)."""
    code = message.command
    params = message.params[1:]
    trailing = message.trailing if len(message.params) > 1 else ""
    where = CHANNEL_REPLIES.get(code)
    channel = message.param(where) if where is not None else None
    if code.startswith(("4", "5")):
        context = " ".join(params[:-1])
        return Reply(f"{context}: {trailing}" if context else trailing, None, error=True)
    if code in TRAILER_ONLY:
        return Reply(trailing)
    if code == "004":
        return Reply(" ".join(params))
    if code == "005":
        return Reply(" ".join(params[:-1]) + (f" {trailing}" if trailing else ""))
    if code == "252":
        return Reply(f"Operators online: {message.param(1)}")
    if code == "253":
        return Reply(f"Unknown connections: {message.param(1)}")
    if code == "254":
        return Reply(f"Channels formed: {message.param(1)}")
    if code == RPL_NAMREPLY:
        return Reply(f"Names in {channel}: {trailing}", channel)
    if code == RPL_ENDOFNAMES:
        return Reply("End of names", channel)
    if code == RPL_NOTOPIC:
        return Reply("Topic is not set", channel)
    if code == RPL_TOPIC:
        return Reply(f"Topic for {channel} is: {trailing}", channel)
    if code == RPL_TOPICWHOTIME:
        return Reply(f"Topic set by: {message.param(2)}", channel)
    if code == RPL_AWAY:
        return Reply(f"{message.param(1)} is away: {trailing}")
    if code in (RPL_UNAWAY, RPL_NOWAWAY):
        return Reply(trailing)
    if code == "221":
        return Reply(f"{message.param(0)} sets mode {message.param(1)}")
    if code == "311":
        return Reply(f"{message.param(1)} is {message.param(2)}@{message.param(3)} ({trailing})")
    if code == "312":
        return Reply(f"{message.param(1)} is on {message.param(2)} ({trailing})")
    if code == "317":
        return Reply(f"{message.param(1)} has been idle {message.param(2)} seconds")
    if code == "319":
        return Reply(f"{message.param(1)} is on channels: {trailing}")
    if code in ("318", "369"):
        return Reply(trailing)
    if code == "322":
        return Reply(f"{message.param(1)} ({message.param(2)} users): {trailing}")
    if code == "321":
        return Reply("Channel list:")
    if code == "323":
        return Reply("End of channel list")
    text = " ".join(params[:-1])
    return Reply(f"{text} {trailing}".strip() if trailing else text, channel)
