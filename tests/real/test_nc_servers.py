"""mtcp-nc and mtcp-servers as a user runs them, against the Linux kernel over TAP in a private namespace.

The programs run as subprocesses under `ip netns exec`; the kernel's side is `nc` (netcat-openbsd) or
Python sockets opened inside the namespace. Skipped with a reason when not root. Fixtures are in
conftest.py, helpers in apputil.py.
"""

from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from mtcp_py.apps.services import ChargenPattern
from pktdrv import open_link
from tests.netns import KERNEL_IP, STACK_IP, NetNs
from tests.real.apputil import (
    FAULTS,
    MIB,
    app,
    echo_round_trip,
    kernel_connect,
    kernel_listener,
    kernel_peer,
    need_nc,
    read_to_eof,
    run_clients,
    running_servers,
    sha256,
    wait_for_line,
)

pytestmark = pytest.mark.real


# -- mtcp-nc: bulk both ways ------------------------------------------------------------------------------


@pytest.mark.parametrize("link", ["tap:mtap0", f"tap:mtap0?{FAULTS}"], ids=["clean", "faults"])
def test_kernel_nc_to_mtcp_nc_listen(ns: NetNs, config: Path, payload: Path, tmp_path: Path, link: str) -> None:
    need_nc()
    out = tmp_path / "received.bin"
    with out.open("wb") as sink:
        proc = app(ns, config, "nc", "-listen", "5000", "-bin", "--link", link, stdin=subprocess.PIPE,
                   stdout=sink, stderr=subprocess.PIPE)
        wait_for_line(proc, "waiting for a connection")
        sender = ns.run("sh", "-c", f"nc -N {STACK_IP} 5000 < {payload}", timeout=120)
        assert sender.returncode == 0
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert sha256(out) == sha256(payload)


@pytest.mark.parametrize("link", ["tap:mtap0", f"tap:mtap0?{FAULTS}"], ids=["clean", "faults"])
def test_mtcp_nc_target_to_kernel_nc(ns: NetNs, config: Path, payload: Path, tmp_path: Path, link: str) -> None:
    need_nc()
    out = tmp_path / "received.bin"
    with out.open("wb") as sink:
        listener = ns.popen("nc", "-l", KERNEL_IP, "5001", stdin=subprocess.DEVNULL, stdout=sink)
        ns.run("sh", "-c", "for i in $(seq 100); do ss -ltn | grep -q ':5001' && exit 0; sleep 0.05; done; exit 1")
        with payload.open("rb") as source:
            proc = app(ns, config, "nc", "-target", KERNEL_IP, "5001", "-bin", "--link", link, stdin=source,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            out_data, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert out_data == b""
        listener.wait(timeout=60)
    assert sha256(out) == sha256(payload)


# -- mtcp-nc: text handling, -w, -nocorc ---------------------------------------------------------------


def test_telnet_nl_both_ways(ns: NetNs, config: Path) -> None:
    def serve(conn: socket.socket, address: object) -> bytes:
        conn.sendall(b"one\r\ntwo\r\nthree\r")
        conn.sendall(b"\nfour\n")
        return read_to_eof(conn)

    with kernel_peer(ns, 5002, serve) as got:
        proc = app(ns, config, "nc", "-target", KERNEL_IP, "5002", "-telnet_nl", "-w", "5", stdin=subprocess.PIPE,
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = proc.communicate(b"hello\nworld\n", timeout=60)
    assert got == [b"hello\r\nworld\r\n"]
    assert out == b"one\ntwo\nthree\nfour\n", err
    assert proc.returncode == 0, err


def test_wait_after_stdin_keeps_reading(ns: NetNs, config: Path) -> None:
    def serve(conn: socket.socket, address: object) -> None:
        read_to_eof(conn)  # read to our EOF, then answer late
        conn.sendall(b"late reply\n")

    with kernel_peer(ns, 5003, serve):
        proc = app(ns, config, "nc", "-target", KERNEL_IP, "5003", "-w", "10", stdin=subprocess.PIPE,
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = proc.communicate(b"question\n", timeout=60)
    assert out == b"late reply\n", err
    assert proc.returncode == 0


def test_nocorc_keeps_sending_after_remote_close(ns: NetNs, config: Path) -> None:
    def serve(conn: socket.socket, address: object) -> bytes:
        conn.sendall(b"bye\n")
        conn.shutdown(socket.SHUT_WR)  # the peer closes its side first
        return read_to_eof(conn)

    with kernel_peer(ns, 5004, serve) as got:
        proc = app(ns, config, "nc", "-target", KERNEL_IP, "5004", "-nocorc", "-verbose", stdin=subprocess.PIPE,
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdout is not None and proc.stdin is not None
        assert proc.stdout.readline() == b"bye\n"
        # The remote has closed; without -nocorc netcat would be gone. It still takes our input.
        proc.stdin.write(b"still here\n")
        proc.stdin.flush()
        proc.stdin.write(b"and more\n")
        proc.stdin.close()
        proc.wait(timeout=60)
    assert got == [b"still here\nand more\n"]
    assert proc.returncode == 0


def test_remote_close_ends_netcat_by_default(ns: NetNs, config: Path) -> None:
    with kernel_peer(ns, 5005, lambda conn, address: conn.sendall(b"closing now\n")):
        proc = app(ns, config, "nc", "-target", KERNEL_IP, "5005", stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                   stderr=subprocess.PIPE)
        assert proc.stdout is not None and proc.stdin is not None
        assert proc.stdout.readline() == b"closing now\n"
        assert proc.wait(timeout=30) == 0  # stdin is still open: the remote close ended it
        proc.stdin.close()


# -- mtcp-nc: failures ----------------------------------------------------------------------------------


def run_nc_failure(ns: NetNs, config: Path, *args: str) -> tuple[int, str]:
    proc = app(ns, config, "nc", *args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate(timeout=90)
    assert out == b""
    return proc.returncode, err.decode()


def test_refused(ns: NetNs, config: Path) -> None:
    code, err = run_nc_failure(ns, config, "-target", KERNEL_IP, "5999")
    assert code == 1
    assert err.strip().splitlines()[-1] == "mtcp-nc: connection refused"


def test_reset(ns: NetNs, config: Path) -> None:
    def serve(conn: socket.socket, address: object) -> None:
        conn.recv(10)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close() now aborts

    with kernel_peer(ns, 5006, serve):
        proc = app(ns, config, "nc", "-target", KERNEL_IP, "5006", stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                   stderr=subprocess.PIPE)
        assert proc.stdin is not None and proc.stderr is not None
        proc.stdin.write(b"x" * 100)
        proc.stdin.flush()
        # stdin stays open: only the peer's reset can end netcat.
        assert proc.wait(timeout=60) == 1
        proc.stdin.close()
        err = proc.stderr.read().decode()
    assert err.strip().splitlines()[-1] == "mtcp-nc: connection reset"


def test_timed_out(ns: NetNs, config: Path) -> None:
    # A listener whose accept queue is full: the kernel silently drops further SYNs.
    server = kernel_listener(ns, 5007, backlog=0)
    fillers = [ns.call(lambda: socket.create_connection((KERNEL_IP, 5007), timeout=5))]
    code, err = run_nc_failure(ns, config, "-target", KERNEL_IP, "5007")
    for sock in fillers:
        sock.close()
    server.close()
    assert code == 1
    assert err.strip().splitlines()[-1] == "mtcp-nc: timed out"


def test_no_route(ns: NetNs, config: Path) -> None:
    code, err = run_nc_failure(ns, config, "-target", "10.0.2.99", "80")
    assert code == 1
    assert err.strip().splitlines()[-1] == "mtcp-nc: no route"


# -- mtcp-servers ----------------------------------------------------------------------------------------


@pytest.fixture
def servers(ns: NetNs, config: Path) -> Iterator[subprocess.Popen[bytes]]:
    with running_servers(ns, config, "-stats") as proc:
        yield proc


def test_servers_many_clients_and_sigterm(ns: NetNs, servers: subprocess.Popen[bytes]) -> None:
    pattern = ChargenPattern()

    def echo(index: int) -> bool:
        return echo_round_trip(ns, 7, MIB)

    def discard(index: int) -> bool:
        sock = kernel_connect(ns, 9)
        sock.sendall(os.urandom(MIB))
        sock.shutdown(socket.SHUT_WR)
        leftover = sock.recv(10)  # the server's FIN comes once everything was taken
        sock.close()
        return leftover == b""

    def chargen(index: int) -> bool:
        sock = kernel_connect(ns, 19)
        got = bytearray()
        while len(got) < 100_000:
            chunk = sock.recv(65536)
            assert chunk
            got += chunk
        sock.close()
        return bytes(got[:100_000]) == pattern.read(0, 100_000)

    def daytime(index: int) -> bool:
        sock = kernel_connect(ns, 13)
        data = b""
        while chunk := sock.recv(1024):
            data += chunk
        sock.close()
        return data.endswith(b"\r\n") and data.count(b"\r\n") == 1 and len(data) > 10

    assert run_clients(8, echo) == [True] * 8
    assert run_clients(8, discard) == [True] * 8
    assert run_clients(8, chargen) == [True] * 8
    assert run_clients(8, daytime) == [True] * 8

    # SIGTERM in the middle of traffic: a clean exit, the device released.
    busy = [kernel_connect(ns, 19) for _ in range(4)]
    for sock in busy:
        assert sock.recv(1000)
    servers.send_signal(signal.SIGTERM)
    _, err = servers.communicate(timeout=30)
    for sock in busy:
        sock.close()
    assert servers.returncode == 0, err
    text = err.decode()
    assert "Traceback" not in text
    assert "connections served: echo 8, discard 8, chargen 12, daytime 8" in text
    link = ns.call(lambda: open_link("tap:mtap0"))
    link.close()


def test_servers_port_off_and_usr1_stats(ns: NetNs, config: Path) -> None:
    proc = app(ns, config, "servers", "-chargen", "off", "-daytime", "1313", stdout=subprocess.PIPE,
               stderr=subprocess.PIPE)
    banner = wait_for_line(proc, "mtcp-servers:")
    assert "chargen" not in banner and "daytime 1313" in banner
    sock = kernel_connect(ns, 1313)
    assert sock.recv(100).endswith(b"\r\n")
    sock.close()
    proc.send_signal(signal.SIGUSR1)
    wait_for_line(proc, "Stack counters")
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)
    assert proc.returncode == 0


def test_srcport_and_local_echo_on_a_terminal(ns: NetNs, config: Path) -> None:
    controller, terminal = os.openpty()  # stdin is a terminal: -echo applies, as in mTCP's interactive mode
    try:
        with kernel_peer(ns, 5008, lambda conn, address: (address[1], read_to_eof(conn))) as seen:
            proc = app(ns, config, "nc", "-target", KERNEL_IP, "5008", "-srcport", "4321", "-echo", stdin=terminal,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            assert proc.stdout is not None
            wait_for_line(proc, "connected")
            os.write(controller, b"typed line\n")
            assert proc.stdout.readline() == b"typed line\n"  # the local echo
            os.write(controller, b"\x04")  # end of input at the terminal
            proc.wait(timeout=30)
    finally:
        os.close(controller)
        os.close(terminal)
    assert proc.returncode == 0
    assert seen == [(4321, b"typed line\n")]
