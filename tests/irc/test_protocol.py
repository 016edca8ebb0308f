"""The IRC line protocol: RFC 2812 2.3.1's grammar, CTCP, splitting; the parser fuzzed."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mtcp_py.irc.protocol import (
    LineSplitter,
    Prefix,
    build,
    casefold,
    ctcp,
    is_channel,
    parse,
    parse_ctcp,
    split_text,
    text_room,
)


def test_prefix_command_params_and_trailing() -> None:
    # RFC 2812 2.3.1 example: ":WiZ!jto@tolsun.oulu.fi NICK Kilroy"
    message = parse(b":WiZ!jto@tolsun.oulu.fi NICK Kilroy")
    assert message.prefix == Prefix("WiZ", "jto", "tolsun.oulu.fi")
    assert message.command == "NICK" and message.params == ("Kilroy",)
    message = parse(b":Angel!wings@irc.org PRIVMSG Wiz :Are you receiving this message ?\r\n")
    assert message.sender == "Angel" and message.params == ("Wiz", "Are you receiving this message ?")
    assert message.trailing == "Are you receiving this message ?"


def test_no_prefix_numeric_and_server_prefix() -> None:
    ping = parse(b"PING :irc.example.net")
    assert ping.prefix is None and ping.sender == "Server" and ping.params == ("irc.example.net",)
    welcome = parse(b":irc.example.net 001 jr :Welcome to the Internet Relay Network jr!u@h")
    assert welcome.is_numeric and welcome.command == "001" and welcome.sender == "irc.example.net"
    assert welcome.params == ("jr", "Welcome to the Internet Relay Network jr!u@h")


def test_lower_case_command_empty_trailing_and_tags() -> None:
    assert parse(b"privmsg #a :").params == ("#a", "")
    assert parse(b"privmsg #a :").command == "PRIVMSG"
    tagged = parse(b"@time=2020-01-01T00:00:00Z :n!u@h JOIN #c")
    assert tagged.command == "JOIN" and tagged.params == ("#c",) and tagged.sender == "n"
    assert parse(b":n JOIN  #c   x  :a  b ").params == ("#c", "x", "a  b ")


def test_unreadable_lines_have_no_command() -> None:
    for line in (b"", b":", b": x", b":onlyprefix", b"!!! bad", b"\x1b[2J"):
        assert parse(line).command == ""


def test_invalid_utf8_is_replaced_not_lost() -> None:
    message = parse(b":n!u@h PRIVMSG #c :caf\xe9 ok")
    assert message.trailing == "caf\ufffd ok"


def test_build_puts_trailing_where_needed_and_refuses_injection() -> None:
    assert build("NICK", "jr") == b"NICK jr\r\n"
    assert build("USER", "jr", "0", "*", "Real Name") == b"USER jr 0 * :Real Name\r\n"
    assert build("PRIVMSG", "#c", ":)") == b"PRIVMSG #c ::)\r\n"
    assert build("PRIVMSG", "#c", "") == b"PRIVMSG #c :\r\n"
    assert build("PRIVMSG", "#c", "a\r\nQUIT :x") == b"PRIVMSG #c :a  QUIT :x\r\n"
    assert len(build("PRIVMSG", "#c", "x" * 1000)) == 512


def test_ctcp_parse_and_build() -> None:
    assert parse_ctcp("\x01ACTION waves\x01") is not None
    found = parse_ctcp("\x01action waves hello\x01")
    assert found is not None and found.command == "ACTION" and found.argument == "waves hello"
    unclosed = parse_ctcp("\x01VERSION")
    assert unclosed is not None and unclosed.command == "VERSION" and unclosed.argument == ""
    assert parse_ctcp("plain") is None and parse_ctcp("\x01\x01") is None
    assert ctcp("PING", "123") == "\x01PING 123\x01"


def test_channels_and_casefolding() -> None:
    assert is_channel("#vc") and is_channel("&local") and not is_channel("nick") and not is_channel("")
    assert casefold("Nick[a]\\~") == casefold("nick{a}|^")


def test_split_text_keeps_every_character_in_pieces_that_fit() -> None:
    text = "word " * 300 + "é" * 300
    pieces = split_text(text, 100)
    assert all(len(p.encode()) <= 100 for p in pieces)
    assert "".join(pieces).replace(" ", "") == text.replace(" ", "")
    assert text_room("PRIVMSG", "#c", "n!u@h") == 512 - len(":n!u@h PRIVMSG #c :") - 2


def test_splitter_cr_lf_bare_lf_partial_and_overlong() -> None:
    splitter = LineSplitter(limit=10)
    assert splitter.feed(b"PING :a\r\nPI") == [b"PING :a"]
    assert splitter.feed(b"NG :b\n\r\n") == [b"PING :b"]
    assert splitter.feed(b"x" * 25) == [b"x" * 10, b"x" * 10]
    assert splitter.feed(b"\r\n") == [b"xxxxx"]


@given(st.binary(max_size=600))
def test_parse_never_raises_and_keeps_the_line(data: bytes) -> None:
    message = parse(data)
    assert isinstance(message.command, str)
    assert message.raw == data.decode("utf-8", errors="replace").rstrip("\r\n")


_word = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x2FF, blacklist_characters=":"), min_size=1,
                max_size=12)
_trailing = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x2FF), max_size=60)


@given(st.sampled_from(["PRIVMSG", "NOTICE", "JOIN", "001", "MODE"]), st.lists(_word, max_size=5), _trailing)
def test_build_then_parse_round_trips(command: str, middle: list[str], trailing: str) -> None:
    message = parse(build(command, *middle, trailing))
    assert message.command == command
    assert message.params == (*middle, trailing)


@given(st.text(max_size=300))
def test_splitter_gives_every_line_once(text: str) -> None:
    body = text.replace("\r", "").replace("\n", "")
    splitter = LineSplitter()
    data = f"{body}\r\nPING :x\r\n".encode()
    lines = [line for i in range(0, len(data), 7) for line in splitter.feed(data[i:i + 7])]
    assert lines == ([body.encode()] if body else []) + [b"PING :x"]
