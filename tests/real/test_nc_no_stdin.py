"""mtcp-nc -listen with nothing on stdin: -d receives a whole file; without -d, stdin's end closes our side
at once (mTCP's rule) and whatever the peer sends after that is never dropped quietly (issue 13).

Real kernel over TAP in a private namespace (root); the kernel's side is `nc -N` or a Python socket.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
from pathlib import Path

import pytest

from tests.netns import STACK_IP, NetNs
from tests.real.apputil import FAULTS, MIB, app, kernel_connect, need_nc, sha256, wait_for_line

pytestmark = pytest.mark.real
REASON = re.compile(r"mtcp-nc: (?:(\d+) bytes from the peer were discarded after our side closed"
                    r"|the peer had not finished sending: \d+ of the (\d+) bytes)")


@pytest.mark.parametrize("link", ["tap:mtap0", f"tap:mtap0?{FAULTS}"], ids=["clean", "faults"])
def test_listen_no_stdin_receives_a_whole_file(ns: NetNs, config: Path, payload: Path, tmp_path: Path,
                                                link: str) -> None:
    need_nc()
    out = tmp_path / "received.bin"
    with out.open("wb") as sink:
        proc = app(ns, config, "nc", "-listen", "5010", "-bin", "-d", "--link", link, stdin=subprocess.DEVNULL,
                   stdout=sink, stderr=subprocess.PIPE)
        wait_for_line(proc, "waiting for a connection")
        sender = ns.run("sh", "-c", f"nc -N {STACK_IP} 5010 < {payload}", timeout=120)
        assert sender.returncode == 0, sender.stderr
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert b"Traceback" not in err
    assert sha256(out) == sha256(payload)


def send_and_close(sock: socket.socket, data: bytes) -> None:
    """The kernel's side: everything, then FIN, then wait for the other side's end (FIN or reset)."""
    try:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        while sock.recv(65536):
            pass
    except OSError:  # reset: mtcp-nc went away first (it says so itself when it dropped data)
        pass
    finally:
        sock.close()


def run_listen_at_eof(ns: NetNs, config: Path, tmp_path: Path, data: bytes, port: int,
                      *args: str) -> tuple[int, bytes, str]:
    """mtcp-nc -listen PORT -bin ARGS < /dev/null > file, fed `data` by a kernel socket."""
    out = tmp_path / "received.bin"
    with out.open("wb") as sink:
        proc = app(ns, config, "nc", "-listen", str(port), "-bin", *args, stdin=subprocess.DEVNULL, stdout=sink,
                   stderr=subprocess.PIPE)
        wait_for_line(proc, "waiting for a connection")
        send_and_close(kernel_connect(ns, port), data)
        _, err = proc.communicate(timeout=120)
    return proc.returncode, out.read_bytes(), err.decode()


def test_listen_with_stdin_at_eof_never_drops_data_quietly(ns: NetNs, config: Path, tmp_path: Path) -> None:
    data = os.urandom(4 * MIB)
    code, got, err = run_listen_at_eof(ns, config, tmp_path, data, 5011)
    assert "Traceback" not in err
    if code == 0:
        assert got == data, "exit 0 but the file is not what the peer sent"
        return
    assert code == 1, err
    assert len(got) < len(data) and data.startswith(got)
    found = REASON.match(err.strip().splitlines()[-1])
    assert found, err
    discarded, received = found.groups()
    if discarded is not None:
        assert 0 < int(discarded) <= len(data) - len(got)
    else:
        assert int(received) == len(got)


def test_listen_with_stdin_at_eof_and_wait_takes_everything(ns: NetNs, config: Path, tmp_path: Path) -> None:
    # -w: our side is closed at once, but we keep reading; the peer's FIN comes well within the time.
    data = os.urandom(MIB)
    code, got, err = run_listen_at_eof(ns, config, tmp_path, data, 5012, "-w", "60")
    assert code == 0, err
    assert got == data
