"""The IRCjr client core against scripted server lines: registration (RFC 2812 3.1), PING/PONG, sessions as
IRCJR.TXT describes them, CTCP answers as IRCjr gives them, nick and quit updates, logging, completion."""

from __future__ import annotations

from pathlib import Path

from mtcp_py.irc import IrcClient, IrcSettings, LineKind, SessionKind, State, UpdatesTo
from mtcp_py.irc.session import MAX_SESSIONS, file_logs, log_file_name

SERVER = "irc.example.net"
T0 = 1_000_000.0


def make(**overrides: object) -> IrcClient:
    settings = IrcSettings(nick="jr", user="juser", real_name="Joe Retro")
    for key, value in overrides.items():
        setattr(settings, key, value)
    logs = overrides.pop("logs", None)
    client = IrcClient(settings, SERVER, initial_channel="#vc", logs=logs,  # type: ignore[arg-type]
                       clock=lambda: T0)
    return client


def sent(client: IrcClient) -> list[str]:
    return client.take_output().decode().split("\r\n")[:-1]


def server(client: IrcClient, *lines: str, now: float = T0) -> None:
    client.feed("".join(f"{line}\r\n" for line in lines).encode(), now)


def registered(**overrides: object) -> IrcClient:
    client = make(**overrides)
    client.connected(T0)
    server(client, f":{SERVER} 001 jr :Welcome to the Internet Relay Network jr!juser@10.0.2.15")
    client.take_output()
    return client


def joined(**overrides: object) -> IrcClient:
    client = registered(**overrides)
    server(client, ":jr!juser@h JOIN #vc", f":{SERVER} 353 jr = #vc :jr @Leela +Fry",
           f":{SERVER} 366 jr #vc :End of NAMES list")
    return client


def test_registration_sends_pass_nick_user_and_joins_the_channel_after_welcome() -> None:
    client = make(password="secret")
    client.connected(T0)
    assert sent(client) == ["PASS secret", "NICK jr", "USER juser 0 * :Joe Retro"]
    assert client.state is State.REGISTERING
    server(client, f":{SERVER} 001 jr :Welcome to the Internet Relay Network jr!juser@10.0.2.15")
    assert client.registered
    assert sent(client) == ["JOIN #vc"]
    assert client.plain_lines(client.server_session)[-1] == "Welcome to the Internet Relay Network jr!juser@10.0.2.15"


def test_nick_in_use_tries_others_then_asks() -> None:
    client = make()
    client.connected(T0)
    client.take_output()
    server(client, f":{SERVER} 433 * jr :Nickname is already in use")
    assert sent(client) == ["NICK jr_"]
    for expected in ("jr__", "jr1", "jr2"):
        server(client, f":{SERVER} 433 * {client.nick} :Nickname is already in use")
        assert sent(client) == [f"NICK {expected}"]
    server(client, f":{SERVER} 433 * jr2 :Nickname is already in use")
    assert client.state is State.NEED_NICK and sent(client) == []
    assert "Enter another nickname" in client.plain_lines()[-1]
    client.type_line("Zoidberg", T0)
    assert sent(client) == ["NICK Zoidberg"]
    server(client, f":{SERVER} 001 Zoidberg :Welcome")
    assert client.nick == "Zoidberg" and client.registered


def test_register_timeout() -> None:
    client = make(register_timeout=30.0)
    client.connected(T0)
    client.tick(T0 + 29)
    assert client.failure is None
    client.tick(T0 + 30)
    assert client.failure == "Timeout registering with server"


def test_server_ping_is_answered_and_lag_measured() -> None:
    client = registered()
    server(client, f"PING :{SERVER}")
    assert sent(client) == [f"PONG {SERVER}"]
    client.tick(T0 + 31)
    (probe,) = sent(client)
    assert probe.startswith("PING mtcp-lag-")
    server(client, f":{SERVER} PONG {SERVER} :{probe.split(' ', 1)[1]}", now=T0 + 31.25)
    assert client.lag == 0.25
    client.tick(T0 + 62)
    sent(client)
    client.tick(T0 + 70)  # no PONG for 8 s: the lag shown is at least that
    assert client.lag == 8.0


def test_join_opens_and_switches_to_a_session_with_its_nicks() -> None:
    client = joined()
    assert client.current.name == "#vc" and client.current.kind is SessionKind.CHANNEL
    assert client.plain_lines()[0] == "You joined channel #vc"
    assert "Names in #vc: jr @Leela +Fry" in client.plain_lines()
    assert sorted(client.current.nicks.values()) == ["Fry", "Leela", "jr"]
    server(client, ":Bender!b@h JOIN #vc", ":Fry!f@h PART #vc :bye")
    assert client.plain_lines()[-2:] == ["Bender joined channel #vc", "Fry has parted #vc (bye)"]
    assert client.completions("b", False) == ["Bender"] and client.completions("f", False) == []
    assert client.completions("/jo", True) == ["/join"]


def test_messages_go_to_their_sessions_with_activity_and_highlight() -> None:
    client = joined()
    server(client, ":Leela!l@h PRIVMSG #vc :hello all")
    assert client.plain_lines()[-1] == "<Leela> hello all"
    client.switch_to(0)
    server(client, ":Leela!l@h PRIVMSG #vc :jr: are you there?")
    vc = client.sessions[1]
    assert vc.activity and vc.mentioned and vc.lines[-1].highlight
    server(client, ":Fry!f@h PRIVMSG jr :psst")  # a private message opens a chat session and shows it
    chat = client.find("Fry")
    assert chat is not None and chat.kind is SessionKind.CHAT and client.current is chat
    client.switch_to(0)
    server(client, ":Fry!f@h PRIVMSG jr :still there?")  # an open session is not switched to
    assert client.current is client.server_session and chat.activity and chat.mentioned
    server(client, ":Leela!l@h PRIVMSG #vc :anyone?")
    assert client.active_sessions() == [1, 2]  # sessions with mentions first
    assert client.bells == 5


def test_typed_text_commands_and_echo() -> None:
    client = joined()
    client.type_line("Hello everyone", T0)
    assert sent(client) == ["PRIVMSG #vc :Hello everyone"]
    assert client.current.lines[-1].kind is LineKind.OWN and client.plain_lines()[-1] == "<jr> Hello everyone"
    client.type_line("/me ducks and runs!", T0)
    assert sent(client) == ["PRIVMSG #vc :\x01ACTION ducks and runs!\x01"]
    assert client.plain_lines()[-1] == "* jr ducks and runs!"
    client.type_line("/msg Leela Hello!", T0)
    assert sent(client) == ["PRIVMSG Leela :Hello!"] and client.current.name == "Leela"  # opened, and shown
    client.type_line("/msg #elsewhere hi all", T0)
    assert sent(client) == ["PRIVMSG #elsewhere :hi all"] and client.current.name == "Leela"  # not joined: none
    client.switch_to(1)
    client.type_line("/query Leela hi", T0)
    assert sent(client) == ["PRIVMSG Leela :hi"] and client.current.name == "Leela"
    client.type_line("/join #boring", T0)
    client.type_line("/part #boring", T0)
    client.type_line("/nick Zoidberg", T0)
    client.type_line("/whois Leela", T0)
    client.type_line("/away gone fishing", T0)
    client.type_line("/list", T0)
    client.type_line("/info", T0)
    assert sent(client) == ["JOIN #boring", "PART #boring", "NICK Zoidberg", "whois Leela", "away gone fishing",
                            "list", "info"]
    client.switch_to(1)
    client.type_line("/topic Futurama", T0)
    client.type_line("/names", T0)
    client.type_line("//slash", T0)
    assert sent(client) == ["TOPIC #vc :Futurama", "NAMES #vc", "PRIVMSG #vc :/slash"]
    client.type_line("/quit", T0)
    assert sent(client) == ["QUIT :IRCjr (mtcp-py)"] and client.quit_sent


def test_errors_for_typed_commands_as_ircjr() -> None:
    client = registered()
    client.type_line("hello", T0)
    assert client.plain_lines()[-1] == "Sorry, sending messages to the server doesn't make sense."
    for typed, error in (("/join", "Error: Must supply a channel name"), ("/nick", "Error: Must supply a new nick!"),
                         ("/msg", "Error: Must supply a user to send the msg to"),
                         ("/msg x", "Error: must supply a msg!"),
                         ("/me", "Error: /me requires some text"),
                         ("/ctcp", "Error: Need to specify a CTCP command to use")):
        client.type_line(typed, T0)
        assert client.plain_lines()[-1] == error
    assert sent(client) == []


def test_long_text_goes_out_as_several_lines_of_at_most_512_bytes() -> None:
    client = joined()
    client.type_line("x" * 1200, T0)
    lines = sent(client)
    assert len(lines) == 3 and all(len(line) + 2 <= 512 for line in lines)
    assert "".join(line.split(" :", 1)[1] for line in lines) == "x" * 1200


def test_ctcp_requests_answered_as_ircjr() -> None:
    client = registered()
    server(client, ":Leela!l@h PRIVMSG jr :\x01VERSION\x01")
    (reply,) = sent(client)
    assert reply.startswith("NOTICE Leela :\x01VERSION ") and reply.endswith("\x01")
    server(client, ":Leela!l@h PRIVMSG jr :\x01PING 12345\x01")
    assert sent(client) == ["NOTICE Leela :\x01PING 12345\x01"]
    server(client, ":Leela!l@h PRIVMSG jr :\x01CLIENTINFO\x01", ":Leela!l@h PRIVMSG jr :\x01USERINFO\x01")
    assert sent(client) == ["NOTICE Leela :\x01CLIENTINFO ACTION PING VERSION TIME SOURCE USERINFO CLIENTINFO\x01",
                            "NOTICE Leela :\x01USERINFO Joe Retro\x01"]
    server(client, ":Leela!l@h PRIVMSG jr :\x01TIME\x01", ":Leela!l@h PRIVMSG jr :\x01SOURCE\x01",
           now=T0 + 10)  # past the rate limit's burst of 5
    assert [line.split(" ")[2] for line in sent(client)] == [":\x01TIME", ":\x01SOURCE"]
    assert client.plain_lines(client.server_session)[-1] == "CTCP: SOURCE request from Leela"
    server(client, ":Leela!l@h PRIVMSG jr :\x01FINGER\x01")
    assert sent(client) == []  # not one IRCjr answers


def test_ctcp_answers_are_rate_limited() -> None:
    client = registered()
    for _ in range(20):
        server(client, ":Flood!f@h PRIVMSG jr :\x01VERSION\x01")
    assert len(sent(client)) == 5
    server(client, ":Flood!f@h PRIVMSG jr :\x01VERSION\x01", now=T0 + 2)
    assert len(sent(client)) == 1


def test_ctcp_action_and_ping_reply() -> None:
    client = joined()
    server(client, ":Leela!l@h PRIVMSG #vc :\x01ACTION waves\x01")
    assert client.plain_lines()[-1] == "* Leela waves"
    client.type_line("/ctcp ping Leela", T0)
    assert sent(client) == [f"PRIVMSG Leela :\x01PING {int(T0)}\x01"]
    server(client, f":Leela!l@h NOTICE jr :\x01PING {int(T0)}\x01")
    assert client.plain_lines()[-1] == "CTCP: PING response from Leela in 0 seconds"
    server(client, ":Leela!l@h NOTICE jr :\x01VERSION Leela's client 1.0\x01")
    assert client.plain_lines()[-1] == "CTCP: VERSION response from Leela: Leela's client 1.0"


def test_nick_and_quit_updates_follow_the_settings() -> None:
    for where, expect_server, expect_channel in ((UpdatesTo.NONE, 0, 0), (UpdatesTo.SERVER, 1, 0),
                                                 (UpdatesTo.CURRENT, 0, 1), (UpdatesTo.ALL, 1, 1)):
        client = joined(nick_updates=where, quit_updates=where)
        before = [len(s.lines) for s in client.sessions]
        server(client, ":Leela!l@h NICK Turanga")
        assert [len(s.lines) - b for s, b in zip(client.sessions, before, strict=True)] == [expect_server,
                                                                                           expect_channel]
        assert client.current.has_nick("Turanga") and not client.current.has_nick("Leela")
        server(client, ":Turanga!l@h QUIT :Leaving")
        assert not client.current.has_nick("Turanga")
        if expect_channel:
            assert client.plain_lines()[-2:] == ["Leela changed their nickname to Turanga", "Turanga has quit: Leaving"]


def test_own_nick_change_and_part_closes_the_session() -> None:
    client = joined()
    server(client, ":jr!juser@h NICK Zoidberg")
    assert client.nick == "Zoidberg" and client.plain_lines()[-1] == "You changed your nickname to Zoidberg"
    server(client, ":Zoidberg!juser@h PART #vc")
    assert len(client.sessions) == 1 and client.current is client.server_session


def test_topic_kick_mode_numerics_go_to_the_channel() -> None:
    client = joined()
    client.switch_to(0)
    server(client, f":{SERVER} 332 jr #vc :Vintage computers", f":{SERVER} 333 jr #vc Leela 1600000000",
           ":Leela!l@h TOPIC #vc :New topic", ":Leela!l@h MODE #vc +o Fry", ":Leela!l@h KICK #vc Fry :out")
    vc = client.sessions[1]
    assert [line.plain() for line in list(vc.lines)[-5:]] == [
        "Topic for #vc is: Vintage computers", "Topic set by: Leela", "Leela changed the topic of #vc to: New topic",
        "Leela sets mode +o Fry", "Fry was kicked from #vc by Leela (out)"]
    assert vc.topic == "New topic" and not vc.has_nick("Fry")
    server(client, f":{SERVER} 401 jr nobody :No such nick/channel")
    last = client.server_session.lines[-1]
    assert last.kind is LineKind.ERROR and last.plain() == "nobody: No such nick/channel"


def test_at_most_ten_sessions_then_the_server_session() -> None:
    client = registered()
    for index in range(MAX_SESSIONS - 1):
        server(client, f":u{index}!u@h PRIVMSG jr :hi")
    assert len(client.sessions) == MAX_SESSIONS
    server(client, ":late!u@h PRIVMSG jr :hello")
    assert len(client.sessions) == MAX_SESSIONS
    assert client.plain_lines(client.server_session)[-1] == "<late to jr> hello"
    client.close_session(client.server_session, T0)
    assert len(client.sessions) == MAX_SESSIONS


def test_close_parts_a_channel_and_reconnect_rejoins() -> None:
    client = joined()
    server(client, ":jr!juser@h JOIN #two")
    client.close_session(client.current, T0)
    assert sent(client) == ["PART #two"] and client.current.name == "#vc"
    client.disconnected("connection reset", T0)
    assert client.plain_lines(client.server_session)[-1] == "Connection closed: connection reset"
    client.connected(T0)
    client.take_output()
    server(client, f":{SERVER} 001 jr :Welcome")
    assert sent(client) == ["JOIN #vc"]


def test_backscroll_limits() -> None:
    client = joined(backscroll_channel=5)
    for index in range(100):
        server(client, f":Leela!l@h PRIVMSG #vc :line {index}")
    assert len(client.current.lines) == 5 + 25 and client.current.added == 103
    assert client.plain_lines()[-1] == "<Leela> line 99"


def test_logging_appends_to_first_eight_characters_dot_irc(tmp_path: Path) -> None:
    client = joined(logs=file_logs(str(tmp_path)))
    server(client, ":jr!juser@h JOIN #verylongname")
    client.toggle_logging(client.current, T0)
    server(client, ":Leela!l@h PRIVMSG #verylongname :\x02bold\x02 and \x1b[2J")
    client.toggle_logging(client.current, T0)
    assert log_file_name("#verylongname") == "#verylon.irc"
    text = (tmp_path / "#verylon.irc").read_text()
    lines = text.splitlines()
    assert lines[0].endswith(f"IRCjr start logging ({SERVER} #verylongname)")
    assert lines[1].endswith("<Leela> bold and \u241b[2J") and lines[-1].endswith("IRCjr stop logging")
    client.toggle_logging(client.current, T0)
    assert (tmp_path / "#verylon.irc").read_text().startswith(text)  # appended, never overwritten


def test_raw_view_shows_the_protocol_in_the_server_session() -> None:
    client = joined()
    client.raw_view = True
    server(client, ":Leela!l@h PRIVMSG #vc :hi")
    assert client.server_session.lines[-1].kind is LineKind.RAW
    assert client.plain_lines(client.server_session)[-1] == ":Leela!l@h PRIVMSG #vc :hi"
