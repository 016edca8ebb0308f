"""mTCP's full-screen programs in a terminal (tmux): TELNET.EXE and IRCJR.EXE on the emulated screen and
keyboard, against Python and Linux peers.

The binaries are not shipped (see docs/dosrun.md): these tests run when MTCP_DOS_BIN names a folder that
holds TELNET.EXE and IRCJR.EXE; the TAP ones also need root (a private network namespace), busybox
(telnetd) and ngircd.
"""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.netns import KERNEL_IP, STACK_IP, NetNs, private_netns

from .dosutil import REPO
from .tmuxutil import Tmux

HUB_CONFIG = "PACKETINT 0x60\nIPADDR 10.0.0.2\nNETMASK 255.255.255.0\nGATEWAY 10.0.0.1\n"


def program(name: str) -> Path:
    folder = os.environ.get("MTCP_DOS_BIN")
    if not folder:
        pytest.skip(f"set MTCP_DOS_BIN to a folder holding mTCP's {name} (not shipped)")
    path = Path(folder) / name
    if not path.is_file():
        pytest.skip(f"MTCP_DOS_BIN={folder} lacks {name}")
    return path


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    terminal = Tmux()
    yield terminal
    terminal.close()


@pytest.fixture
def netns() -> Iterator[NetNs]:
    with private_netns() as ns:
        yield ns


def tap_drive(tmp_path: Path, *programs: Path, extra: str = "") -> Path:
    for path in programs:
        shutil.copy(path, tmp_path / path.name)
    (tmp_path / "MTCP.CFG").write_text(
        f"LINK tap:mtap0\nPACKETINT 0x60\nIPADDR {STACK_IP}\nNETMASK 255.255.255.0\nGATEWAY {KERNEL_IP}\n"
        f"NAMESERVER {KERNEL_IP}\nMTU 1500\n{extra}")
    return tmp_path


def in_netns(ns: NetNs, drive: Path, *args: str) -> str:
    command = ns.cmd("env", f"PYTHONPATH={REPO}", sys.executable, "-m", "pktdrv.dos.cli", "--config",
                     str(drive / "MTCP.CFG"), "-C", str(drive), *args)
    return " ".join(shlex.quote(part) for part in command)


def sane_terminal(tmux: Tmux) -> None:
    """The shell's terminal modes are back (canonical input, echo, signals) and the main screen shows."""
    tmux.run("stty -a | tr ' ;' '\\n\\n' | grep -cE '^(icanon|echo|isig)$'; echo :mo''des")
    tmux.wait_for(lambda s: "3\n:modes" in s, "the terminal's modes back")
    assert not tmux.alternate_screen()


def test_telnet_shows_chargen_from_the_python_stack(tmp_path: Path, tmux: Tmux) -> None:
    telnet = program("TELNET.EXE")
    shutil.copy(telnet, tmp_path / "TELNET.EXE")
    (tmp_path / "HUB.CFG").write_text(HUB_CONFIG)
    command = [sys.executable, "-m", "mtcp_py.apps.dosrun", "--link", "hub:telnet", "--serve", "10.0.0.1",
               "--config", str(tmp_path / "HUB.CFG"), "-C", str(tmp_path), str(tmp_path / "TELNET.EXE"),
               "10.0.0.1", "19"]
    tmux.run(" ".join(shlex.quote(c) for c in command) + " 2>/dev/null; echo status=$?")
    # RFC 864: lines of 72 printable characters, each starting one character further on
    line = "".join(chr(32 + (n % 95)) for n in range(1, 73))
    tmux.wait_for(lambda s: line in s.split("\n") and "Connected to 10.0.0.1" in s, "chargen's lines")
    assert tmux.alternate_screen()
    tmux.keys("M-x")  # TELNET's exit key
    tmux.wait_for(lambda s: "status=0" in s, "TELNET's end")
    sane_terminal(tmux)


def test_telnet_to_busybox_telnetd_over_tap(tmp_path: Path, tmux: Tmux, netns: NetNs) -> None:
    telnet = program("TELNET.EXE")
    if shutil.which("busybox") is None:
        pytest.skip("busybox (telnetd) is not installed")
    drive = tap_drive(tmp_path, telnet)
    server = netns.popen("busybox", "telnetd", "-F", "-p", "2323", "-b", KERNEL_IP, "-l", "/bin/sh",
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        tmux.run(in_netns(netns, drive, str(drive / "TELNET.EXE"), "-sessiontype", "telnet", KERNEL_IP, "2323")
                 + " 2>/dev/null; echo status=$?")
        tmux.wait_for(lambda s: "Connected to" in s and "#" in s.split("Connected to")[-1], "the shell's prompt")
        tmux.type("echo from-dos-$((6*7))")
        tmux.keys("Enter")
        tmux.wait_for(lambda s: "from-dos-42" in s, "the command's output")
        tmux.keys("M-x")
        tmux.wait_for(lambda s: "status=0" in s, "TELNET's end")
        sane_terminal(tmux)
    finally:
        server.kill()
        server.wait()


NGIRCD_CONFIG = """[Global]
Name = irc.test.local
Info = test server
Listen = {ip}
Ports = 6667
PidFile = {folder}/ngircd.pid
MotdPhrase = hello
[Limits]
MaxConnectionsIP = 0
[Options]
PAM = no
Ident = no
DNS = no
[Channel]
Name = #dos
Topic = a channel for the DOS machine
"""


def test_ircjr_against_ngircd_over_tap(tmp_path: Path, tmux: Tmux, netns: NetNs) -> None:
    ircjr = program("IRCJR.EXE")
    if shutil.which("ngircd") is None:
        pytest.skip("ngircd is not installed")
    drive = tap_drive(tmp_path, ircjr, extra="IRCJR_NICK dosuser\nIRCJR_USER dosuser\nIRCJR_NAME DOS User\n")
    (tmp_path / "ngircd.conf").write_text(NGIRCD_CONFIG.format(ip=KERNEL_IP, folder=tmp_path))
    server = netns.popen("ngircd", "-n", "-f", str(tmp_path / "ngircd.conf"), stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    client: socket.socket | None = None
    try:
        tmux.run(in_netns(netns, drive, str(drive / "IRCJR.EXE"), KERNEL_IP, "#dos") + " 2>/dev/null;"
                 " echo status=$?")
        tmux.wait_for(lambda s: "Topic for #dos is: a channel for the DOS machine" in s, "IRCjr in #dos")
        client = netns.call(lambda: socket.create_connection((KERNEL_IP, 6667), timeout=30))
        client.sendall(b"NICK kernel\r\nUSER kernel 0 * :kernel side\r\nJOIN #dos\r\n")
        received = b""
        while b"366 kernel #dos" not in received:  # end of NAMES: the client is in the channel
            chunk = client.recv(4096)
            assert chunk, received
            received += chunk
        tmux.wait_for(lambda s: "kernel joined channel #dos" in s, "the kernel client's join")
        client.sendall(b"PRIVMSG #dos :hello from the kernel side\r\n")
        tmux.wait_for(lambda s: "<kernel> hello from the kernel side" in s, "the kernel client's message")
        tmux.type("hello from DOS")
        tmux.keys("Enter")
        while b"PRIVMSG #dos :hello from DOS" not in received:
            chunk = client.recv(4096)
            assert chunk, received
            received += chunk
        assert b":dosuser!" in received
        tmux.keys("M-x")
        tmux.wait_for(lambda s: "status=0" in s, "IRCjr's end")
        sane_terminal(tmux)
    finally:
        if client is not None:
            client.close()
        server.kill()
        server.wait()
