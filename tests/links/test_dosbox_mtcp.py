"""Real mTCP programs in DOSBox 0.74 over Crynwr's EtherSLIP (ETHERSL.COM) to `slip:...?listen=1`.

DOSBox's COM1 is a null modem that connects to the link (`serial1=nullmodem server:127.0.0.1 port:P
transparent:1`); ETHERSL shows DOS an Ethernet card on it; mTCP's PING, HTGET and NC run unmodified:
PING our stack, fetch a file from a small HTTP responder on our stack, send a file to our stack's TCP
port, both sha256-exact. Then the same programs reach the Linux kernel through pktdrv's bridge (what
mtcp-bridge runs), the SLIP port beside a TAP device, in a private namespace. The binaries are
third-party and not shipped (see ../shared/reference/dos-programs.md): the tests run when MTCP_DOS_BIN names
a folder with PING.EXE, HTGET.EXE and NC.EXE and DOS_DRIVERS one with ETHERSL.COM, and skip otherwise.
"""

from __future__ import annotations

import hashlib
import os
import re
import select
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from mtcp_py.runtime import run_until
from mtcp_py.stack import Stack, StackConfig
from mtcp_py.tcp import TcpSocket
from mtcp_py.wire import ip_from_str
from pktdrv import MonotonicTicks, open_link
from pktdrv.bridge import Bridge
from pktdrv.clock import TICK_SECONDS
from tests.links.linkutil import free_port
from tests.netns import KERNEL_IP, need_root, private_netns

pytestmark = pytest.mark.real
DOS_IP = "10.0.2.15"
FILE_SIZE = 16 * 1024
HTTP_PORT = 80
NC_PORT = 5000


def dos_folder(tmp_path: Path, target: str) -> Path:
    """Drive C: with the programs, ETHERSL, MTCP.CFG, the file to upload and the batch of commands."""
    if shutil.which("dosbox") is None:
        pytest.skip("needs DOSBox 0.74 (Debian package dosbox)")
    programs = os.environ.get("MTCP_DOS_BIN")
    drivers = os.environ.get("DOS_DRIVERS")
    if not programs or not drivers:
        pytest.skip("set MTCP_DOS_BIN (PING.EXE, HTGET.EXE, NC.EXE) and DOS_DRIVERS (ETHERSL.COM) to run "
                    "real mTCP over EtherSLIP (not shipped)")
    drive = tmp_path / "c"
    drive.mkdir()
    for folder, name in ((programs, "PING.EXE"), (programs, "HTGET.EXE"), (programs, "NC.EXE"),
                         (drivers, "ETHERSL.COM")):
        source = Path(folder) / name
        if not source.exists():
            pytest.skip(f"{source} is missing")
        shutil.copy(source, drive / name)
    (drive / "MTCP.CFG").write_text(f"PACKETINT 0x60\r\nIPADDR {DOS_IP}\r\nNETMASK 255.255.255.0\r\n"
                                    f"GATEWAY {target}\r\nNAMESERVER {target}\r\nMTU 576\r\n")
    (drive / "UP.BIN").write_bytes(os.urandom(FILE_SIZE))
    return drive


def start_dosbox(tmp_path: Path, drive: Path, port: int, target: str,
                 popen: Callable[..., subprocess.Popen[bytes]] = subprocess.Popen,
                 commands: str | None = None) -> subprocess.Popen[bytes]:
    """DOSBox with ETHERSL on COM1 running the mTCP programs against `target` (or `commands` instead)."""
    config = tmp_path / "dosbox.conf"
    if commands is None:
        commands = (f"PING -count 4 {target} > PING.TXT\n"
                    f"HTGET -o GOT.BIN http://{target}/file.bin > HTGET.TXT\n"
                    f"NC -target {target} {NC_PORT} -bin < UP.BIN > NC.TXT\n")
    config.write_text(
        "[sdl]\noutput=surface\n[cpu]\ncycles=fixed 30000\n[serial]\n"
        f"serial1=nullmodem server:127.0.0.1 port:{port} transparent:1 txdelay:1 rxdelay:1000\n"
        f"[autoexec]\nmount c {drive}\nc:\nETHERSL 0x60 4 0x3f8 115200 > ETHERSL.TXT\n"
        "set MTCPCFG=C:\\MTCP.CFG\nset MTCPSLIP=1\n" + commands + "exit\n")
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = dict(os.environ, SDL_VIDEODRIVER="dummy", SDL_AUDIODRIVER="dummy", HOME=str(home))
    return popen(["dosbox", "-conf", str(config)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def read_dos(drive: Path, name: str) -> str:
    path = drive / name
    return path.read_text(errors="replace") if path.exists() else f"({name} not written)"


def check_dos_results(drive: Path, served: bytes, uploaded: bytes) -> None:
    ping = read_dos(drive, "PING.TXT")
    assert re.search(r"Packets sent: 4, Replies received: 4", ping), ping
    got = drive / "GOT.BIN"
    assert got.exists() and hashlib.sha256(got.read_bytes()).hexdigest() == hashlib.sha256(served).hexdigest(), \
        read_dos(drive, "HTGET.TXT")
    assert uploaded == (drive / "UP.BIN").read_bytes(), read_dos(drive, "NC.TXT")


class Services:
    """A one-file HTTP responder and a TCP sink on our stack, turned between polls."""

    def __init__(self, stack: Stack, body: bytes) -> None:
        self.http = stack.tcp.listen(HTTP_PORT)
        self.sink = stack.tcp.listen(NC_PORT)
        self.body = b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body
        self.web: list[tuple[TcpSocket, bytearray, list[int]]] = []
        self.uploads: list[tuple[TcpSocket, bytearray]] = []

    def turn(self) -> None:
        if (sock := self.http.accept()) is not None:
            self.web.append((sock, bytearray(), [-1]))
        if (sock := self.sink.accept()) is not None:
            self.uploads.append((sock, bytearray()))
        for sock, request, sent in self.web:
            request += sock.recv(65_536)
            if sent[0] < 0 and b"\r\n\r\n" in request:
                sent[0] = 0
            if 0 <= sent[0] < len(self.body):
                sent[0] += sock.send(self.body[sent[0]:])
                if sent[0] == len(self.body):
                    sock.close()
        for sock, data in self.uploads:
            data += sock.recv(65_536)
            if sock.at_eof and not sock.app_closed:
                sock.close()

    def uploaded(self) -> bytes:
        return bytes(self.uploads[0][1]) if self.uploads else b""


def test_mtcp_ping_htget_nc_in_dosbox_over_ethersl_to_our_stack(tmp_path: Path) -> None:
    drive = dos_folder(tmp_path, "10.0.2.2")
    port = free_port()
    clock = MonotonicTicks()
    link = open_link(f"slip:socket://127.0.0.1:{port}?listen=1&baud=115200&mtu=576", clock)
    stack = Stack(link, StackConfig(ip_from_str("10.0.2.2"), mtu=576), clock).init_stack()
    served = os.urandom(FILE_SIZE)
    services = Services(stack, served)
    dosbox = start_dosbox(tmp_path, drive, port, "10.0.2.2")
    try:
        def done() -> bool:
            services.turn()
            return dosbox.poll() is not None

        assert run_until(stack, done, 240), "DOSBox did not finish"
        check_dos_results(drive, served, services.uploaded())
        assert stack.counters()["icmp"]["echo_replies_sent"] >= 4
        assert stack.counters()["stack"]["internal_errors"] == 0
    finally:
        if dosbox.poll() is None:
            dosbox.kill()
            dosbox.wait()
        stack.end_stack()


def test_mtcp_in_dosbox_reaches_the_linux_kernel_through_the_bridge(tmp_path: Path) -> None:
    """The SLIP port's Ethernet view on a bridge: the DOS machine is one host beside the kernel's TAP."""
    need_root()
    drive = dos_folder(tmp_path, KERNEL_IP)
    served = os.urandom(FILE_SIZE)
    with private_netns() as ns:
        web = ns.call(lambda: socket.create_server((KERNEL_IP, HTTP_PORT)))
        sink = ns.call(lambda: socket.create_server((KERNEL_IP, NC_PORT)))
        uploaded: list[bytes] = []

        def kernel_web() -> None:
            web.settimeout(240)
            conn, _ = web.accept()
            request = b""
            while b"\r\n\r\n" not in request and (chunk := conn.recv(4096)):
                request += chunk
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n" % len(served) + served)
            conn.close()

        def kernel_sink() -> None:
            sink.settimeout(240)
            conn, _ = sink.accept()
            data = b""
            while chunk := conn.recv(65536):
                data += chunk
            uploaded.append(data)
            conn.close()

        threads = [threading.Thread(target=kernel_web, daemon=True), threading.Thread(target=kernel_sink, daemon=True)]
        for thread in threads:
            thread.start()
        port = ns.call(free_port)
        clock = MonotonicTicks()
        bridge = Bridge()
        slip_port = ns.call(lambda: open_link(f"slip:socket://127.0.0.1:{port}?listen=1&baud=115200&mtu=576",
                                              clock))
        bridge.add_port(slip_port)
        bridge.add_port(ns.call(lambda: open_link("tap:mtap0", clock)))
        dosbox = start_dosbox(tmp_path, drive, port, KERNEL_IP, lambda args, **kw: ns.popen(*args, **kw))
        try:
            deadline = time.monotonic() + 240
            while dosbox.poll() is None and time.monotonic() < deadline:
                wait = 0.05
                if (tick := bridge.link_deadline()) is not None:
                    wait = min(wait, max(0.0, (tick - clock.now()) * TICK_SECONDS))
                select.select(bridge.fds(), [], [], wait)
                bridge.turn(time.monotonic(), clock.now())
            assert dosbox.poll() is not None, "DOSBox did not finish"
            for thread in threads:
                thread.join(30)
            check_dos_results(drive, served, uploaded[0] if uploaded else b"")
        finally:
            if dosbox.poll() is None:
                dosbox.kill()
                dosbox.wait()
            bridge.close()
            web.close()
            sink.close()
