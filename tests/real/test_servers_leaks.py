"""mtcp-servers gives back every connection that ends: resets, aborts and vanished clients by the hundred
leave the socket table (32 slots) as it was, and the server still serves (issue 13).

Real kernel over TAP in a private namespace (root); the -backlog checks run on a hub link without root.
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from tests.netns import STACK_IP, NetNs
from tests.real.apputil import (
    MIB,
    echo_round_trip,
    kernel_connect,
    read_to_eof,
    reset,
    run_clients,
    running_servers,
    wait_for_line,
    wait_until,
)

pytestmark = pytest.mark.real
WAVE = 8
"""Clients at once in a storm: the default backlog, so a refusal can only mean a leaked slot."""


def occupancy(proc: subprocess.Popen[bytes]) -> tuple[int, int]:
    """Ask a running mtcp-servers (SIGUSR1) how many connections are open and TCP sockets in use."""
    proc.send_signal(signal.SIGUSR1)
    text = wait_for_line(proc, "connections open:")
    found = re.search(r"connections open: (\d+), TCP sockets in use: (\d+)", text)
    assert found, text
    return int(found[1]), int(found[2])


def wait_for_empty_table(proc: subprocess.Popen[bytes], keep: int = 0) -> None:
    wait_until(lambda: occupancy(proc) == (keep, keep), f"{keep} connections and sockets left in mtcp-servers")


def stop(proc: subprocess.Popen[bytes]) -> str:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    text = err.decode()
    assert proc.returncode == 0, text
    assert "Traceback" not in text
    return text


def reset_wave(ns: NetNs, first: int) -> None:
    """WAVE clients connect to echo; then, by index, some reset at once, some after sending a few bytes,
    some after their bytes came back (so the server has accepted and served them)."""

    def wave() -> None:
        clients = [socket.create_connection((STACK_IP, 7), timeout=30) for _ in range(WAVE)]
        for index, sock in enumerate(clients, first):
            if index % 3:
                sock.sendall(b"reset me %d\n" % index)
            if index % 3 == 2:
                want = b"reset me %d\n" % index
                got = b""
                while len(got) < len(want):
                    chunk = sock.recv(100)
                    assert chunk, "echo closed early"
                    got += chunk
                assert got == want
        for sock in clients:
            reset(sock)

    ns.call(wave)


def test_reset_storm_then_echo_still_works(ns: NetNs, config: Path) -> None:
    with running_servers(ns, config, "-stats") as proc:
        storm = 300
        for first in range(0, storm, WAVE):  # a connection refused by a full table raises here
            reset_wave(ns, first)
        wait_for_empty_table(proc)
        assert run_clients(8, lambda index: echo_round_trip(ns, 7, MIB)) == [True] * 8
        wait_for_empty_table(proc)
        text = stop(proc)
    served = -(-storm // WAVE) * WAVE + 8
    assert f"connections served: echo {served}," in text
    assert "syn_refused_table_full" not in text
    assert "syn_refused_backlog" not in text


def test_vanishing_and_idle_clients_do_not_block_others(ns: NetNs, config: Path) -> None:
    with running_servers(ns, config, "-stats") as proc:
        idle = [kernel_connect(ns, 7) for _ in range(6)] + [kernel_connect(ns, 9) for _ in range(4)]
        for _ in range(15):  # 15 rounds of 6: three times the table, so a leak would refuse someone
            wave = [kernel_connect(ns, 19) for _ in range(3)] + [kernel_connect(ns, 7) for _ in range(3)]
            for sock in wave[:3]:
                sock.close()  # chargen: gone without reading; the kernel answers its data with a reset
            for sock in wave[3:]:
                sock.sendall(b"x" * 1000)
                sock.close()  # echo: gone before the echo comes back; that too is answered with a reset
            wait_for_empty_table(proc, keep=len(idle))
        # The idle ones are still there and still served; the others get through beside them.
        assert run_clients(8, lambda index: echo_round_trip(ns, 7, MIB)) == [True] * 8
        daytime = kernel_connect(ns, 13)
        assert read_to_eof(daytime).endswith(b"\r\n")
        daytime.close()
        for sock in idle[:6]:
            sock.sendall(b"still here")
            assert sock.recv(100) == b"still here"
        for sock in idle[:3]:
            sock.shutdown(socket.SHUT_WR)
            assert sock.recv(100) == b""  # an orderly end: the server closed too
            sock.close()
        for sock in idle[3:]:
            reset(sock)
        wait_until(lambda: occupancy(proc)[0] == 0, "every connection ended")
        text = stop(proc)
    assert "connections served: echo 59, discard 4, chargen 45, daytime 1" in text
    assert "syn_refused" not in text
