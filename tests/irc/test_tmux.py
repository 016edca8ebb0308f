"""mtcp-ircjr in a real terminal: tmux runs the program in a private namespace, `send-keys` types,
`capture-pane` reads the screen. A scripted IRC server on a kernel socket sends the hostile cases: escape
sequences that would clear the screen or set the title, bad UTF-8, a 2,000-character line, a nick with
control characters. The screen stays intact and the program keeps running; Alt-X ends it with status 0."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.netns import KERNEL_IP, STACK_IP, NetNs, private_netns
from tests.real.apputil import wait_until as shared_wait_until

pytestmark = pytest.mark.real
COLUMNS, ROWS = 120, 50
HOSTILE = [
    b":Evil!e@h PRIVMSG #vc :\x1b[2J\x1b[Hcleared?\r\n",
    b":Evil!e@h PRIVMSG #vc :\x1b]0;pwned\x07title?\r\n",
    b":Evil!e@h PRIVMSG #vc :bad \xff\xfe utf-8 \xc3\r\n",
    b":Ev\x1b[31mil\x08!e@h PRIVMSG #vc :nick with controls\r\n",
    b":Long!l@h PRIVMSG #vc :" + b"x" * 2000 + b" END\r\n",
]


class ScriptedServer:
    """Just enough IRC on a kernel socket: welcome after NICK and USER, echo our JOIN, record the rest."""

    def __init__(self, ns: NetNs) -> None:
        def listen() -> socket.socket:
            sock = socket.create_server((KERNEL_IP, 6667))
            sock.settimeout(30)
            return sock

        self.listener = ns.call(listen)
        self.received: list[str] = []
        self.conn: socket.socket | None = None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        self.conn = conn
        buffer = b""
        while True:
            try:
                data = conn.recv(65536)
            except OSError:
                return
            if not data:
                return
            buffer += data
            *lines, buffer = buffer.split(b"\r\n")
            for raw in lines:
                line = raw.decode(errors="replace")
                self.received.append(line)
                if line.startswith("USER"):
                    conn.sendall(b":irc.test 001 jr :Welcome to the test\r\n")
                elif line.startswith("JOIN"):
                    conn.sendall(b":jr!juser@10.0.2.15 JOIN #vc\r\n:irc.test 353 jr = #vc :jr Evil\r\n"
                                 b":irc.test 366 jr #vc :End of NAMES list\r\n")
                elif line.startswith("QUIT"):
                    conn.sendall(b"ERROR :Closing Link\r\n")
                    conn.close()
                    return

    def send(self, data: bytes) -> None:
        assert self.conn is not None
        self.conn.sendall(data)

    def close(self) -> None:
        self.listener.close()
        if self.conn is not None:
            self.conn.close()


class Tmux:
    def __init__(self, ns: NetNs, name: str) -> None:
        self.ns, self.name = ns, name

    def run(self, *args: str) -> str:
        return self.ns.run("tmux", "-L", self.name, *args).stdout

    def screen(self) -> list[str]:
        return self.run("capture-pane", "-p", "-t", self.name).splitlines()

    def title(self) -> str:
        return self.run("display-message", "-p", "-t", self.name, "#{pane_title}").strip()

    def alive(self) -> bool:
        result = self.ns.run("tmux", "-L", self.name, "has-session", "-t", self.name, check=False)
        return result.returncode == 0


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 20) -> None:
    """apputil's wait with this file's 20-second bound and tmux's polling pace."""
    shared_wait_until(condition, what, timeout=timeout, interval=0.05)


@contextmanager
def ircjr_in_tmux(ns: NetNs, tmp_path: Path, server: str = KERNEL_IP) -> Iterator[Tmux]:
    if shutil.which("tmux") is None:
        pytest.skip("needs tmux")
    config = tmp_path / "mtcp.cfg"
    config.write_text(f"LINK tap:mtap0\nIPADDR {STACK_IP}\nNETMASK 255.255.255.0\nGATEWAY {KERNEL_IP}\n"
                      f"NAMESERVER {KERNEL_IP}\nIRCJR_NICK jr\nIRCJR_USER juser\nIRCJR_NAME Joe Retro\n")
    status = tmp_path / "status"
    # Textual draws on stderr, so it is not redirected; the exit status goes to a file (and the last line
    # the program wrote stays on the pane once it has ended).
    command = (f"{sys.executable} -m mtcp_py.apps.ircjr --config {config} {server} '#vc'; echo $? > {status}; "
               "sleep 30")
    tmux = Tmux(ns, f"ircjr{time.monotonic_ns()}")
    tmux.run("-f", "/dev/null", "new-session", "-d", "-s", tmux.name, "-x", str(COLUMNS), "-y", str(ROWS),
             # COLUMNS and LINES (pytest's, say) would override the pane's size for the program.
             "env", "-u", "COLUMNS", "-u", "LINES", "TERM=xterm-256color", "sh", "-c", command)
    try:
        yield tmux
    finally:
        ns.run("tmux", "-L", tmux.name, "kill-server", check=False)


def test_hostile_text_leaves_the_terminal_intact(tmp_path: Path) -> None:
    with private_netns() as ns:
        server = ScriptedServer(ns)
        try:
            with ircjr_in_tmux(ns, tmp_path) as tmux:
                try:
                    wait_until(lambda: any("You joined channel #vc" in line for line in tmux.screen()), "the join")
                except AssertionError:
                    raise AssertionError("\n".join(tmux.screen())) from None
                title_before = tmux.title()
                for data in HOSTILE:
                    server.send(data)
                wait_until(lambda: any("END" in line for line in tmux.screen()), "the long line")
                screen = tmux.screen()
                text = "\n".join(screen)
                assert len(screen) == ROWS and screen[-2].startswith(" #vc ")  # the status line, in its place
                assert "You joined channel #vc" in text  # nothing cleared the dialog
                assert "<Evil> \u241b[2J\u241b[Hcleared?" in text
                assert "<Evil> \u241b]0;pwned\u2407title?" in text
                assert "<Evil> bad \ufffd\ufffd utf-8 \ufffd" in text
                assert "<Ev\u241b[31mil\u2408> nick with controls" in text
                assert text.count("x") >= 2000 and max(len(line) for line in screen) <= COLUMNS
                assert tmux.title() == title_before and "pwned" not in tmux.title()
                assert tmux.alive()
                tmux.run("send-keys", "-t", tmux.name, "Hello from tmux", "Enter")
                wait_until(lambda: "PRIVMSG #vc :Hello from tmux" in server.received, "our typed line")
                tmux.run("send-keys", "-t", tmux.name, "M-0")  # ESC 0, as a terminal sends Alt-0
                wait_until(lambda: tmux.screen()[-2].startswith(" Server "), "Alt-0 to show the server session")
                tmux.run("send-keys", "-t", tmux.name, "M-1")
                wait_until(lambda: tmux.screen()[-2].startswith(" #vc "), "Alt-1 to show #vc again")
                assert "\u00ba" not in tmux.screen()[-1] and "\u00a1" not in tmux.screen()[-1]  # nothing typed
                tmux.run("send-keys", "-t", tmux.name, "M-x")
                wait_until(lambda: (tmp_path / "status").exists(), "the program to end")
                assert (tmp_path / "status").read_text().strip() == "0"
                assert server.received[-1] == "QUIT :IRCjr (mtcp-py)"
        finally:
            server.close()


def test_sigterm_quits_cleanly_with_status_130(tmp_path: Path) -> None:
    with private_netns() as ns:
        server = ScriptedServer(ns)
        try:
            with ircjr_in_tmux(ns, tmp_path) as tmux:
                wait_until(lambda: any("You joined channel #vc" in line for line in tmux.screen()), "the join")
                shell = tmux.run("display-message", "-p", "-t", tmux.name, "#{pane_pid}").strip()
                child = subprocess.run(["pgrep", "-P", shell], capture_output=True, text=True).stdout.split()[0]
                os.kill(int(child), signal.SIGTERM)
                wait_until(lambda: (tmp_path / "status").exists(), "the program to end")
                assert (tmp_path / "status").read_text().strip() == "130"
                assert server.received[-1] == "QUIT :IRCjr (mtcp-py)"
        finally:
            server.close()


class NameServer:
    """A kernel-side DNS server (RFC 1035 4.1, written out here) that knows one name, irc.test -> 10.0.2.1,
    and answers NXDOMAIN for any other."""

    def __init__(self, ns: NetNs) -> None:
        def bind() -> socket.socket:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind((KERNEL_IP, 53))
            sock.settimeout(0.2)
            return sock

        self.sock = ns.call(bind)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                query, peer = self.sock.recvfrom(512)
            except OSError:
                continue
            end = query.index(b"\0", 12) + 5
            question = query[12:end]
            known = question[:-4] == b"\x03irc\x04test\x00"
            flags = 0x8180 if known else 0x8183
            header = query[:2] + struct.pack("!HHHHH", flags, 1, 1 if known else 0, 0, 0)
            answer = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + socket.inet_aton(KERNEL_IP) if known else b""
            self.sock.sendto(header + question + answer, peer)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.sock.close()


def test_a_server_name_is_resolved_by_dns(tmp_path: Path) -> None:
    with private_netns() as ns:
        names, server = NameServer(ns), ScriptedServer(ns)
        try:
            with ircjr_in_tmux(ns, tmp_path, "irc.test") as tmux:
                wait_until(lambda: any("You joined channel #vc" in line for line in tmux.screen()), "the join")
                assert tmux.screen()[-2].startswith(" #vc  01  jr @ irc.test ")
                tmux.run("send-keys", "-t", tmux.name, "M-x")
                wait_until(lambda: (tmp_path / "status").exists(), "the program to end")
            assert (tmp_path / "status").read_text().strip() == "0"
            (tmp_path / "status").unlink()
            with ircjr_in_tmux(ns, tmp_path, "nosuch.test") as tmux:
                wait_until(lambda: (tmp_path / "status").exists(), "the program to end")
                assert (tmp_path / "status").read_text().strip() == "1"
                assert "mtcp-ircjr: nosuch.test: no such host (NXDOMAIN)" in "\n".join(tmux.screen())
        finally:
            server.close()
            names.close()
