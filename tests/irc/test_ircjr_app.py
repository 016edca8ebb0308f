"""mtcp-ircjr's screen with Textual's pilot (App.run_test), over our stack, against a small IRC server on a
second stack on the same in-memory hub: connect, register, join, talk, CTCP, sessions by Alt-digits,
nick/part/topic updates, hostile text, a dropped connection, quit. No root needed."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from textual.pilot import Pilot

from mtcp_py.apps.ircjr_app import IrcjrApp
from mtcp_py.apps.ircjr_net import StackPump
from mtcp_py.irc import IrcSettings
from mtcp_py.stack import Stack, StackConfig
from mtcp_py.wire import ip_from_str
from pktdrv import MonotonicTicks, open_link

from .ircserver import TinyIrcServer

SERVER_IP, CLIENT_IP = "10.8.0.1", "10.8.0.15"
_hubs = itertools.count()


@contextmanager
def hub_pair() -> Iterator[tuple[Stack, Stack]]:
    name = f"irc{next(_hubs)}"
    clock_a, clock_b = MonotonicTicks(), MonotonicTicks()
    client = Stack(open_link(f"hub:{name}?mac=02:00:00:00:08:0f", clock_a), StackConfig(ip_from_str(CLIENT_IP)),
                   clock_a).init_stack()
    server = Stack(open_link(f"hub:{name}?mac=02:00:00:00:08:01", clock_b), StackConfig(ip_from_str(SERVER_IP)),
                   clock_b).init_stack()
    try:
        yield client, server
    finally:
        client.end_stack()
        server.end_stack()


async def until(pilot: Pilot[int], condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    """Wait (the app keeps running) until `condition()` holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.01)


async def type_line(pilot: Pilot[int], text: str) -> None:
    await pilot.press(*text)
    await pilot.press("enter")


def run(tmp_path: Path, body: Callable[[IrcjrApp, Pilot[int], TinyIrcServer], Awaitable[None]],
        **settings: object) -> tuple[IrcjrApp, TinyIrcServer]:
    with hub_pair() as (client_stack, server_stack):
        server = TinyIrcServer(server_stack)
        config = IrcSettings(nick="jr", user="juser", real_name="Joe Retro", log_dir=str(tmp_path))
        for key, value in settings.items():
            if key != "reconnect":
                setattr(config, key, value)
        app = IrcjrApp(client_stack, config, SERVER_IP, 6667, "#vc", reconnect=bool(settings.get("reconnect")),
                       reconnect_wait=0.2)

        async def scenario() -> None:
            async with app.run_test(size=(100, 30)) as pilot:
                server_pump = StackPump([server_stack], server.step)
                server_pump.start()
                try:
                    await until(pilot, lambda: app.client.registered and app.client.current.name == "#vc"
                                and "You joined channel #vc" in app.screen_text(), "registration and the join")
                    await body(app, pilot, server)
                finally:
                    server_pump.stop()

        asyncio.run(scenario())
        return app, server


def test_connect_register_join_talk_and_quit(tmp_path: Path) -> None:
    async def body(app: IrcjrApp, pilot: Pilot[int], server: TinyIrcServer) -> None:
        assert server.received[:2] == ["NICK jr", "USER juser 0 * :Joe Retro"]
        assert "JOIN #vc" in server.received
        assert "You joined channel #vc" in app.screen_text()
        assert app.status_text().startswith(" #vc  01  jr @ 10.8.0.1")
        server.as_user("Leela", "JOIN", "#vc")
        server.as_user("Leela", "PRIVMSG", "#vc", "hello jr, welcome")
        await until(pilot, lambda: "<Leela> hello jr, welcome" in app.screen_text(), "Leela's message")
        await type_line(pilot, "Hi Leela")
        await until(pilot, lambda: "PRIVMSG #vc :Hi Leela" in server.received, "our message at the server")
        assert "<jr> Hi Leela" in app.screen_text()
        # Tab completes the nick at the start of the line.
        await pilot.press("L", "e", "tab")
        assert app.input_line.value == "Leela: "
        await pilot.press("o", "k", "enter")
        await until(pilot, lambda: "PRIVMSG #vc :Leela: ok" in server.received, "the completed line")
        # Up recalls the last line.
        await pilot.press("up")
        assert app.input_line.value == "Leela: ok"
        await pilot.press("ctrl+u")  # Ctrl-U types the underline code, shown as a symbol
        assert app.input_line.value.endswith("\u241f")
        app.input_line.value = ""
        # A private message opens session 2 and shows it, as IRCjr; a second one, elsewhere, marks its digit.
        server.as_user("Fry", "PRIVMSG", "jr", "psst")
        await until(pilot, lambda: len(app.client.sessions) == 3, "the chat session")
        await until(pilot, lambda: "<Fry> psst" in app.screen_text(), "the chat on the screen")
        assert app.client.current.name == "Fry"
        await pilot.press("alt+1")
        server.as_user("Fry", "PRIVMSG", "jr", "over here")
        await until(pilot, lambda: app.client.sessions[2].mentioned, "the chat's digit to light")
        await until(pilot, lambda: " #vc  012 " in app.status_text(), "the status line")
        assert app.client.current.name == "#vc"
        await pilot.press("alt+a")
        assert app.client.current.name == "Fry" and "<Fry> over here" in app.screen_text()
        await pilot.press("alt+0")
        assert app.client.current.name == "Server"
        await pilot.press("alt+1")
        assert app.client.current.name == "#vc"
        # Nick, topic and part changes land in the channel's session.
        server.as_user("Leela", "TOPIC", "#vc", "Vintage computing")
        server.as_user("Leela", "PART", "#vc", "bye")
        await until(pilot, lambda: "Leela has parted #vc (bye)" in app.screen_text(), "Leela's part")
        assert "Leela changed the topic of #vc to: Vintage computing" in app.screen_text()
        await type_line(pilot, "/nick Zoidberg")
        await until(pilot, lambda: "You changed your nickname to Zoidberg" in app.screen_text(), "our nick change")
        # CTCP VERSION and a server PING are answered.
        server.as_user("Leela", "PRIVMSG", "Zoidberg", "\x01VERSION\x01")
        server.ping("token-1")
        await until(pilot, lambda: "PONG token-1" in server.received, "our PONG")
        await until(pilot, lambda: any(line.startswith("NOTICE Leela :\x01VERSION ") for line in server.received),
                    "the CTCP VERSION reply")
        await pilot.press("alt+x")
        await until(pilot, lambda: not app.is_running, "the app to end", timeout=10)

    app, server = run(tmp_path, body)
    assert server.received[-1] == "QUIT :IRCjr (mtcp-py)"
    assert app.return_code == 0


def test_hostile_text_is_shown_not_obeyed(tmp_path: Path) -> None:
    async def body(app: IrcjrApp, pilot: Pilot[int], server: TinyIrcServer) -> None:
        mask = "Evil\x1b[2J!e@h"
        server.inject(f":{mask} PRIVMSG #vc :\x1b]0;pwned\x07\x1b[2Jgone \x9b31m\r\n".encode())
        server.inject(b":Bad!b@h PRIVMSG #vc :caf\xe9 \xff\xfe\r\n")
        server.inject(b":Long!l@h PRIVMSG #vc :" + b"x" * 2000 + b" END\r\n")
        await until(pilot, lambda: any("END" in line for line in app.screen_text()), "the long line")
        text = app.screen_text()
        joined = "\n".join(text)
        assert "\x1b" not in joined and "\x07" not in joined and "\x9b" not in joined
        assert "<Evil\u241b[2J> \u241b]0;pwned\u2407\u241b[2Jgone \ufffd31m" in text
        assert "<Bad> caf\ufffd \ufffd\ufffd" in text
        assert sum(line.count("x") for line in text) == 2000  # wrapped over many rows, none lost
        assert app.is_running
        await pilot.press("alt+x")
        await until(pilot, lambda: not app.is_running, "the app to end")

    run(tmp_path, body)


def test_dropped_connection_is_reported_and_offered_again(tmp_path: Path) -> None:
    async def body(app: IrcjrApp, pilot: Pilot[int], server: TinyIrcServer) -> None:
        for client in list(server.clients):
            client.sock.abort()
            server.clients.remove(client)
        await until(pilot, lambda: app.connection.lost is not None, "the connection to be lost")
        await pilot.press("alt+0")
        await until(pilot, lambda: "Press Alt-O to connect again, Alt-X to exit" in app.screen_text(),
                    "the offer to connect again")
        assert "Connection closed: connection reset" in app.screen_text()
        await pilot.press("alt+o")
        await until(pilot, lambda: app.client.registered and server.received.count("JOIN #vc") == 2,
                    "registering again and joining #vc again")
        await pilot.press("alt+x")
        await until(pilot, lambda: not app.is_running, "the app to end")

    run(tmp_path, body)


def test_keys_logging_timestamps_stats_raw_and_close(tmp_path: Path) -> None:
    async def body(app: IrcjrApp, pilot: Pilot[int], server: TinyIrcServer) -> None:
        await pilot.press("alt+l")
        assert "[Log]" in app.status_text()
        server.as_user("Leela", "PRIVMSG", "#vc", "logged line")
        await until(pilot, lambda: "<Leela> logged line" in app.screen_text(), "the line")
        await pilot.press("alt+l")
        log = (tmp_path / "#vc.irc").read_text()
        assert "IRCjr start logging (10.8.0.1 #vc)" in log and "<Leela> logged line" in log
        await pilot.press("alt+t")
        assert app.screen_text()[-1].split(" ")[0].count(":") == 2  # HH:MM:SS before each line
        await pilot.press("alt+s")
        assert any("IRCjr Statistics: Active" in line for line in app.screen_text())
        assert any(" tcp: " in line for line in app.screen_text())
        await pilot.press("alt+r")
        server.as_user("Leela", "PRIVMSG", "#vc", "raw please")
        await pilot.press("alt+0")
        await until(pilot, lambda: any(":Leela!leela@virtual PRIVMSG #vc :raw please" in line
                                            for line in app.screen_text()), "raw view")
        await pilot.press("alt+1", "alt+c")
        await until(pilot, lambda: "PART #vc" in server.received, "the PART")
        assert app.client.current.name == "Server" and len(app.client.sessions) == 1
        await pilot.press("alt+x")
        await until(pilot, lambda: not app.is_running, "the app to end")

    run(tmp_path, body)


def test_reconnect_by_itself_with_backoff(tmp_path: Path) -> None:
    async def body(app: IrcjrApp, pilot: Pilot[int], server: TinyIrcServer) -> None:
        for round_number in (2, 3):
            for client in list(server.clients):
                client.sock.abort()
                server.clients.remove(client)
            await until(pilot, lambda: app.connection.lost is not None, "the connection to be lost")
            await until(pilot, lambda n=round_number: app.client.registered  # type: ignore[misc]
                        and server.received.count("JOIN #vc") == n, "connecting again by itself")
        assert "Connecting again in 0.2 s (Alt-O now, Alt-X to exit)" in app.client.plain_lines(
            app.client.server_session)
        await pilot.press("alt+x")
        await until(pilot, lambda: not app.is_running, "the app to end")

    run(tmp_path, body, reconnect=True)


def test_tab_cycles_nicks_and_completes_commands(tmp_path: Path) -> None:
    async def body(app: IrcjrApp, pilot: Pilot[int], server: TinyIrcServer) -> None:
        for nick in ("Fry", "Farnsworth"):
            server.as_user(nick, "JOIN", "#vc")
        await until(pilot, lambda: app.client.current.has_nick("Farnsworth"), "the joins")
        await pilot.press("F", "tab")
        assert app.input_line.value == "Farnsworth: "
        await pilot.press("tab")
        assert app.input_line.value == "Fry: "
        await pilot.press("h", "i", "space", "f", "a", "tab")
        assert app.input_line.value == "Fry: hi Farnsworth "
        app.input_line.value = ""
        await pilot.press("ctrl+b", "h", "i", "ctrl+b", "space", "ctrl+k", "4", "r", "e", "d", "ctrl+o",
                          "ctrl+right_square_bracket", "i", "enter")
        await until(pilot, lambda: "PRIVMSG #vc :\x02hi\x02 \x034red\x0f\x1di" in server.received, "the codes typed")
        assert app.input_line.history[-1] == "\u2402hi\u2402 \u24034red\u240f\u241di"
        await pilot.press("/", "w", "h", "tab")
        assert app.input_line.value == "/whois "
        app.input_line.value = ""
        await pilot.press("ctrl+n")
        assert app.client.current.name == "Server"
        await pilot.press("ctrl+p")
        assert app.client.current.name == "#vc"
        await pilot.press("pageup")
        await pilot.press("pagedown")
        await pilot.press("alt+x")
        await until(pilot, lambda: not app.is_running, "the app to end")

    run(tmp_path, body)
