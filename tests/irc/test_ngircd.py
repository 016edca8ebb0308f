"""mtcp-ircjr against a real IRC server: ngircd on the kernel side of a private namespace (10.0.2.1), our
stack on TAP mtap0 (10.0.2.15), a second user on a plain kernel socket. Textual's pilot drives the screen:
connect, register, join, talk both ways, see the other user's nick, topic and part in the channel's
session, answer the server's PING and a CTCP VERSION, switch sessions with Alt-digits, quit cleanly."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from textual.pilot import Pilot

from mtcp_py.apps.ircjr_app import IrcjrApp
from mtcp_py.irc import IrcSettings, UpdatesTo
from mtcp_py.stack import Stack, StackConfig
from mtcp_py.wire import ip_from_str
from pktdrv import MonotonicTicks, open_link
from tests.netns import KERNEL_IP, STACK_IP, NetNs, private_netns

from .test_ircjr_app import type_line, until

pytestmark = pytest.mark.real
NGIRCD_CONF = """[Global]
Name = irc.test.local
Info = mtcp-py test server
Listen = {ip}
Ports = 6667
PidFile = {pid}
MotdPhrase = "Welcome to the test"
[Limits]
PingTimeout = 5
PongTimeout = 20
[Options]
DNS = no
Ident = no
PAM = no
"""


class KernelUser:
    """A second IRC user on a plain socket in the namespace; reads without blocking (the screen's loop runs
    on this thread)."""

    def __init__(self, ns: NetNs, nick: str) -> None:
        self.nick = nick
        self.sock = ns.call(lambda: socket.create_connection((KERNEL_IP, 6667), timeout=10))
        self.sock.setblocking(False)
        self.buffer = b""
        self.lines: list[str] = []
        self.send(f"NICK {nick}", f"USER {nick.lower()} 0 * :{nick} Test")

    def send(self, *lines: str) -> None:
        self.sock.setblocking(True)
        self.sock.sendall("".join(f"{line}\r\n" for line in lines).encode())
        self.sock.setblocking(False)

    def read(self) -> list[str]:
        try:
            while data := self.sock.recv(65536):
                self.buffer += data
        except BlockingIOError:
            pass
        *complete, self.buffer = self.buffer.split(b"\r\n")
        for raw in complete:
            line = raw.decode("utf-8", errors="replace")
            if line.startswith("PING"):
                self.send("PONG" + line[4:])
            self.lines.append(line)
        return self.lines

    def saw(self, text: str) -> bool:
        return any(text in line for line in self.read())

    def wait_for(self, text: str, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while not self.saw(text):
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.nick} never saw {text!r}: {self.lines[-5:]}")
            time.sleep(0.01)  # before the screen starts: nothing else to run meanwhile

    def close(self) -> None:
        self.sock.close()


@contextmanager
def ngircd(ns: NetNs, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    binary = shutil.which("ngircd")
    if binary is None:
        pytest.skip("needs ngircd (apt-get install ngircd)")
    conf = tmp_path / "ngircd.conf"
    conf.write_text(NGIRCD_CONF.format(ip=KERNEL_IP, pid=tmp_path / "ngircd.pid"))
    log = (tmp_path / "ngircd.log").open("wb")
    proc = ns.popen(binary, "-n", "-f", str(conf), stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                ns.call(lambda: socket.create_connection((KERNEL_IP, 6667), timeout=1)).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"ngircd did not start: {(tmp_path / 'ngircd.log').read_text()}") from None
                time.sleep(0.05)
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def start_stack(ns: NetNs) -> Stack:
    clock = MonotonicTicks()
    link = ns.call(lambda: open_link("tap:mtap0", clock))
    config = StackConfig(ip_from_str(STACK_IP), gateway=ip_from_str(KERNEL_IP))
    return Stack(link, config, clock).init_stack()


def test_ircjr_with_ngircd_and_a_second_user(tmp_path: Path) -> None:
    with private_netns() as ns, ngircd(ns, tmp_path):
        leela = KernelUser(ns, "Leela")
        leela.wait_for(" 001 Leela ")
        leela.send("JOIN #vc")
        leela.wait_for(" 366 Leela #vc ")
        stack = start_stack(ns)
        settings = IrcSettings(nick="jr", user="juser", real_name="Joe Retro", log_dir=str(tmp_path),
                               nick_updates=UpdatesTo.ALL, quit_updates=UpdatesTo.ALL)
        app = IrcjrApp(stack, settings, KERNEL_IP, 6667, "#vc")

        async def scenario() -> None:
            async with app.run_test(size=(100, 30)) as pilot:
                await run(app, pilot, leela)

        try:
            asyncio.run(scenario())
        finally:
            stack.end_stack()
            leela.close()
        assert app.return_code == 0


async def run(app: IrcjrApp, pilot: Pilot[int], leela: KernelUser) -> None:
    client = app.client
    await until(pilot, lambda: client.registered and client.current.name == "#vc", "registering and joining")
    await until(pilot, lambda: any(line.startswith(":jr!") and " JOIN " in line for line in leela.read()),
                "Leela to see our join")
    await until(pilot, lambda: client.current.has_nick("Leela"), "Leela among #vc's names")
    leela.send("PRIVMSG #vc :hello jr")
    await until(pilot, lambda: "<Leela> hello jr" in app.screen_text(), "Leela's message on the screen")
    await type_line(pilot, "Hi Leela, from DOS")
    await until(pilot, lambda: leela.saw("PRIVMSG #vc :Hi Leela, from DOS"), "our message reaching Leela")
    leela.send("TOPIC #vc :Vintage computers")
    await until(pilot, lambda: "Leela changed the topic of #vc to: Vintage computers" in app.screen_text(),
                "the topic change")
    leela.send("NICK Turanga")
    await until(pilot, lambda: "Leela changed their nickname to Turanga" in app.screen_text(), "the nick change")
    assert client.current.has_nick("Turanga")
    leela.send("PRIVMSG jr :\x01VERSION\x01")
    await until(pilot, lambda: leela.saw("NOTICE Turanga :\x01VERSION mtcp-py IRCjr"), "our CTCP VERSION reply")
    leela.send("PRIVMSG jr :a private word")
    await until(pilot, lambda: len(client.sessions) == 3, "the private chat session")
    await until(pilot, lambda: "<Turanga> a private word" in app.screen_text(), "the chat on the screen")
    assert client.current.name == "Turanga"
    await pilot.press("alt+1")
    assert client.current.name == "#vc"
    await pilot.press("alt+2")
    assert client.current.name == "Turanga"
    await pilot.press("alt+1")
    leela.send("PART #vc :later")
    await until(pilot, lambda: "Turanga has parted #vc (later)" in app.screen_text(), "the part")
    await pilot.press("alt+0")
    assert client.current.name == "Server"
    await until(pilot, lambda: client.server_pings >= 1, "ngircd's PING (PingTimeout 5 s) answered", timeout=30)
    assert app.status_text().startswith(" Server  012  jr @ 10.0.2.1")
    leela.send("JOIN #vc")
    await until(pilot, lambda: "Turanga joined channel #vc" in client.plain_lines(client.sessions[1]), "the rejoin")
    await pilot.press("alt+x")
    await until(pilot, lambda: not app.is_running, "the app to end")
    # ngircd quotes a quit message: QUIT :"IRCjr (mtcp-py)"
    await until(pilot, lambda: any(line.startswith(":jr!") and " QUIT " in line and "IRCjr (mtcp-py)" in line
                                   for line in leela.read()), "Leela to see our QUIT")
