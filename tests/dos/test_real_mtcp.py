"""mTCP's own PING, HTGET and NC on the emulated packet driver: against the Linux kernel over TAP, and on
the hub against Python peers.

The binaries are not shipped (see docs/dosrun.md): these tests run when MTCP_DOS_BIN names a folder that
holds PING.EXE, HTGET.EXE and NC.EXE; the TAP ones also need root (a private network namespace).
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mtcp_py.runtime import turn, wait_for_work
from mtcp_py.stack import Stack, StackConfig
from pktdrv.clock import MonotonicTicks
from pktdrv.dos.machine import Machine, MachineConfig
from pktdrv.driver import PacketDriver
from pktdrv.links import HUBS, open_link
from tests.netns import KERNEL_IP, STACK_IP, NetNs, private_netns

from .dosutil import PEER_MAC, REPO, Responder

PROGRAMS = ("PING.EXE", "HTGET.EXE", "NC.EXE")


@pytest.fixture
def dos_bin() -> Path:
    folder = os.environ.get("MTCP_DOS_BIN")
    if not folder:
        pytest.skip("set MTCP_DOS_BIN to a folder holding mTCP's PING.EXE, HTGET.EXE and NC.EXE (not shipped)")
    missing = [p for p in PROGRAMS if not (Path(folder) / p).is_file()]
    if missing:
        pytest.skip(f"MTCP_DOS_BIN={folder} lacks {', '.join(missing)}")
    return Path(folder)


@pytest.fixture
def drive(dos_bin: Path, tmp_path: Path) -> Path:
    for name in PROGRAMS:
        shutil.copy(dos_bin / name, tmp_path / name)
    (tmp_path / "MTCP.CFG").write_text(
        f"LINK tap:mtap0\nPACKETINT 0x60\nIPADDR {STACK_IP}\nNETMASK 255.255.255.0\nGATEWAY {KERNEL_IP}\n"
        f"NAMESERVER {KERNEL_IP}\nMTU 1500\n")
    return tmp_path


@pytest.fixture
def netns() -> Iterator[NetNs]:
    with private_netns() as ns:
        yield ns


def dosrun(ns: NetNs, drive: Path, *args: str, stdin: bytes = b"") -> tuple[int, str]:
    command = ns.cmd("env", f"PYTHONPATH={REPO}", sys.executable, "-m", "pktdrv.dos.cli", "--config",
                     str(drive / "MTCP.CFG"), "-C", str(drive), *args)
    result = subprocess.run(command, input=stdin, capture_output=True, timeout=120)
    return result.returncode, result.stdout.decode("latin-1") + result.stderr.decode("latin-1")


def test_ping_the_kernel(netns: NetNs, drive: Path) -> None:
    code, output = dosrun(netns, drive, str(drive / "PING.EXE"), "-count", "4", KERNEL_IP)
    assert code == 0, output
    assert "Packets sent: 4, Replies received: 4, Replies lost: 0" in output
    assert len(re.findall(r"Packet sequence number \d received in", output)) == 4


def test_htget_then_nc_upload_sha256_exact(netns: NetNs, drive: Path, tmp_path: Path) -> None:
    www = tmp_path / "www"
    www.mkdir()
    payload = os.urandom(1 << 20)
    (www / "big.bin").write_bytes(payload)
    digest = hashlib.sha256(payload).hexdigest()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(www))
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    server = netns.call(lambda: http.server.ThreadingHTTPServer((KERNEL_IP, 8080), handler))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        code, output = dosrun(netns, drive, str(drive / "HTGET.EXE"), "-o", "BIG.BIN",
                              f"http://{KERNEL_IP}:8080/big.bin")
    finally:
        server.shutdown()
        server.server_close()
    assert code == 21, output  # HTGET's exit code for "200 OK"
    assert hashlib.sha256((drive / "BIG.BIN").read_bytes()).hexdigest() == digest

    listener = netns.call(lambda: socket.create_server((KERNEL_IP, 9000)))
    received: list[bytes] = []

    def accept() -> None:
        connection, _ = listener.accept()
        chunks = []
        while chunk := connection.recv(65536):
            chunks.append(chunk)
        connection.close()
        received.append(b"".join(chunks))

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        code, output = dosrun(netns, drive, str(drive / "NC.EXE"), "-target", KERNEL_IP, "9000", "-bin", "-w", "1",
                              stdin=(drive / "BIG.BIN").read_bytes())
        thread.join(timeout=60)
    finally:
        listener.close()
    assert code == 0, output
    assert received and hashlib.sha256(received[0]).hexdigest() == digest


HUB_CONFIG = "PACKETINT 0x60\nIPADDR 10.0.0.2\nNETMASK 255.255.255.0\nGATEWAY 10.0.0.1\n"


def run_on_hub(drive: Path, hub: str, args: list[str], pcap: Path | None = None, virtual: bool = True,
               companion: Responder | None = None) -> int:
    (drive / "HUB.CFG").write_text(HUB_CONFIG)
    machine = Machine(MachineConfig(program=drive / args[0], args=args[1:], drive=drive, virtual_clock=virtual,
                                    environment=[("MTCPCFG", "C:\\HUB.CFG"), ("MTCPSLEEP", "1")]))
    link = f"hub:{hub}?mac=02:00:00:00:00:02" + (f"&pcap={pcap}" if pcap else "")
    machine.attach_driver(PacketDriver(open_link(link, clock=machine.clock)))
    if companion is not None:
        machine.attach_companion(companion)
    return machine.run()


def test_ping_on_the_hub_repeats_bit_for_bit(dos_bin: Path, tmp_path: Path,
                                             capfd: pytest.CaptureFixture[str]) -> None:
    shutil.copy(dos_bin / "PING.EXE", tmp_path / "PING.EXE")
    outputs = []
    for run in (1, 2):
        hub = f"mping{run}"
        HUBS.get(hub).ports.clear()
        responder = Responder(open_link(f"hub:{hub}?mac={PEER_MAC.hex(':')}"))
        assert run_on_hub(tmp_path, hub, ["PING.EXE", "-count", "3", "10.0.0.1"], tmp_path / f"{run}.pcap",
                          companion=responder) == 0
        outputs.append(capfd.readouterr().out)
    assert "Packets sent: 3, Replies received: 3, Replies lost: 0" in outputs[0]
    assert outputs[0] == outputs[1]
    assert (tmp_path / "1.pcap").read_bytes() == (tmp_path / "2.pcap").read_bytes()


def test_nc_upload_to_the_python_stack_on_the_hub(dos_bin: Path, tmp_path: Path) -> None:
    shutil.copy(dos_bin / "NC.EXE", tmp_path / "NC.EXE")
    stack = Stack(open_link("hub:mnc"), StackConfig(ip=0x0A000001), MonotonicTicks()).init_stack()
    listener = stack.tcp.listen(9000)
    received = bytearray()
    finished = threading.Event()
    stop = threading.Event()

    def serve() -> None:
        connection = None
        while not stop.is_set():
            turn(stack)
            connection = connection or listener.accept()
            if connection is not None:
                received.extend(connection.recv())
                if connection.at_eof and not finished.is_set():
                    connection.close()
                    finished.set()
            wait_for_work(stack, 0.002, stack.next_deadline())

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    payload = os.urandom(200_000)
    (tmp_path / "UP.BIN").write_bytes(payload)
    saved = os.dup(0)
    source = os.open(tmp_path / "UP.BIN", os.O_RDONLY)
    try:
        os.dup2(source, 0)  # NC reads DOS handle 0, which is the host's stdin
        code = run_on_hub(tmp_path, "mnc", ["NC.EXE", "-target", "10.0.0.1", "9000", "-bin", "-w", "1"],
                          virtual=False)
    finally:
        os.dup2(saved, 0)
        os.close(saved)
        os.close(source)
    assert finished.wait(20)
    stop.set()
    server.join(5)
    stack.end_stack()
    assert code == 0
    assert hashlib.sha256(received).hexdigest() == hashlib.sha256(payload).hexdigest()


def test_nc_against_mtcp_servers_echo_on_the_hub(dos_bin: Path, tmp_path: Path) -> None:
    """Real mTCP TCP against ours: NC.EXE sends a file to the echo service of a Python stack that
    `mtcp-dosrun --serve` put on the same hub, and gets every byte back."""
    shutil.copy(dos_bin / "NC.EXE", tmp_path / "NC.EXE")
    (tmp_path / "HUB.CFG").write_text(HUB_CONFIG)
    payload = os.urandom(150_000)
    (tmp_path / "UP.BIN").write_bytes(payload)
    with (tmp_path / "UP.BIN").open("rb") as source:
        proc = subprocess.run([sys.executable, "-m", "mtcp_py.apps.dosrun", "--link", "hub:echo",
                               "--serve", "10.0.0.1", "--config", str(tmp_path / "HUB.CFG"), "-C", str(tmp_path),
                               str(tmp_path / "NC.EXE"), "-target", "10.0.0.1", "7", "-bin", "-w", "3"],
                              stdin=source, capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    assert hashlib.sha256(proc.stdout).hexdigest() == hashlib.sha256(payload).hexdigest()


def test_serve_needs_a_hub_link(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "mtcp_py.apps.dosrun", "--link", "tap:nosuch", "--serve",
                           "10.0.0.1", str(tmp_path / "X.COM")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "--serve needs a hub: link" in proc.stderr
