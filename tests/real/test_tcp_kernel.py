"""TCP against the Linux kernel over TAP, in a private namespace (kernel 10.0.2.1, stack 10.0.2.15).

The kernel side is a small Python program run inside the namespace (a separate process, so it does not
share the GIL with the stack); the stack runs its poll loop on this thread with `run_until`, doing the
application's work in the condition. Every wait has a deadline; nothing sleeps to synchronise.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mtcp_py.blocking import connect
from mtcp_py.runtime import run_until
from mtcp_py.stack import Stack, StackConfig
from mtcp_py.tcp import REFUSED, RESET, TcpConfig, TcpError, TcpSocket
from mtcp_py.wire import ip_from_str
from pktdrv import MonotonicTicks, open_link
from tests.netns import KERNEL_IP, STACK_IP, NetNs, need_root, private_netns
from tests.real.kernel_peer import chunk_stream

pytestmark = pytest.mark.real

MiB = 1 << 20
REPO = Path(__file__).resolve().parents[2]
JUMBO = 9000
FAULTS = "drop=0.05&reorder=0.05&dup=0.01&corrupt=0.001&seed=7"



def expected_sha(size: int) -> str:
    h = hashlib.sha256()
    for chunk in chunk_stream(size):
        h.update(chunk)
    return h.hexdigest()


def start_stack(ns: NetNs, mtu: int, link_params: str = "", **tcp: object) -> Stack:
    clock = MonotonicTicks()
    spec = "tap:mtap0" + (f"?{link_params}" if link_params else "")
    link = ns.call(lambda: open_link(spec, clock))
    cfg = StackConfig(ip_from_str(STACK_IP), gateway=ip_from_str(KERNEL_IP), mtu=mtu, buffer_size=mtu + 14,
                      tcp=TcpConfig(mss=mtu - 40, **tcp))  # type: ignore[arg-type]
    return Stack(link, cfg, clock).init_stack()


def peer(ns: NetNs, mode: str, size: int, port: int = 5001, *extra: str) -> subprocess.Popen[str]:
    proc: subprocess.Popen[str] = ns.popen(  # type: ignore[assignment]
        sys.executable, "-m", "tests.real.kernel_peer", mode, str(port), str(size), *extra, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, cwd=REPO)
    if mode != "echo-clients":
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("ready"), (line, proc.stderr.read() if proc.stderr else "")
    return proc


def peer_result(proc: subprocess.Popen[str]) -> list[str]:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return out.split()


def receive_all(stack: Stack, sock: TcpSocket, timeout: float) -> tuple[int, str]:
    h = hashlib.sha256()
    count = [0]

    def step() -> bool:
        while data := sock.recv(MiB):
            h.update(data)
            count[0] += len(data)
        if sock.at_eof and not sock.app_closed:
            sock.close()
        return sock.error is not None or (sock.at_eof and sock.is_closed)

    assert run_until(stack, step, timeout), sock
    return count[0], h.hexdigest()


def send_all_and_close(stack: Stack, sock: TcpSocket, size: int, timeout: float) -> None:
    chunks = chunk_stream(size)
    chunk = [memoryview(b"")]

    def step() -> bool:
        while sock.is_connected and not sock.app_closed:
            if not chunk[0]:
                nxt = next(chunks, None)
                if nxt is None:
                    sock.close()
                    break
                chunk[0] = memoryview(nxt)
            taken = sock.send(chunk[0])
            if not taken:
                break
            chunk[0] = chunk[0][taken:]
        while sock.recv(MiB):
            pass
        return sock.error is not None or sock.is_closed

    assert run_until(stack, step, timeout), sock


def open_to_kernel(stack: Stack, port: int = 5001) -> TcpSocket:
    sock = stack.tcp.connect(ip_from_str(KERNEL_IP), port)
    assert run_until(stack, lambda: sock.is_connected or sock.error is not None, 10), sock
    assert sock.error is None, sock.error
    return sock


@pytest.fixture
def ns() -> Iterator[NetNs]:
    need_root()
    with private_netns(mtu=JUMBO) as namespace:
        yield namespace


def finish(stack: Stack) -> None:
    counters = stack.counters()
    stack.end_stack()
    assert counters["stack"]["internal_errors"] == 0, stack.last_internal_error


@pytest.mark.parametrize("mtu", [JUMBO, 1500])
def test_kernel_to_stack_64_mib_sha256(ns: NetNs, mtu: int) -> None:
    size = 64 * MiB
    stack = start_stack(ns, mtu)
    proc = peer(ns, "send", size)
    sock = open_to_kernel(stack)
    count, digest = receive_all(stack, sock, 120)
    total, kernel_digest = peer_result(proc)
    assert sock.error is None and count == size == int(total)
    assert digest == kernel_digest == expected_sha(size)
    finish(stack)


@pytest.mark.parametrize("mtu", [JUMBO, 1500])
def test_stack_to_kernel_64_mib_sha256(ns: NetNs, mtu: int) -> None:
    size = 64 * MiB
    stack = start_stack(ns, mtu)
    proc = peer(ns, "recv", size)
    sock = open_to_kernel(stack)
    send_all_and_close(stack, sock, size, 180)
    total, digest = peer_result(proc)
    assert sock.error is None and int(total) == size and digest == expected_sha(size)
    finish(stack)


def test_eight_kernel_connections_at_once_to_stack_echo(ns: NetNs) -> None:
    stack = start_stack(ns, JUMBO, max_sockets=16)
    listener = stack.tcp.listen(7, backlog=8)
    proc = peer(ns, "echo-clients", 512 * 1024, 7, "8")
    conns: list[TcpSocket] = []
    pending: dict[int, bytearray] = {}
    served = [0]

    def step() -> bool:
        while (sock := listener.accept()) is not None:
            conns.append(sock)
            pending[id(sock)] = bytearray()
        for sock in conns:
            backlog = pending[id(sock)]
            if len(backlog) < 256 * 1024:
                backlog += sock.recv(MiB)
            if backlog and not sock.app_closed:
                del backlog[: sock.send(backlog)]
            if sock.at_eof and not backlog and not sock.app_closed:
                sock.close()  # the kernel half-closed first; we finish our side after echoing everything
                served[0] += 1
        return proc.poll() is not None

    assert run_until(stack, step, 120)
    out, err = proc.communicate(timeout=10)
    assert out.strip() == "ok", (out, err)
    assert served[0] == 8 and len(conns) == 8
    assert stack.tcp.counters.passive_opens == 8
    finish(stack)


def test_connect_to_closed_port_is_refused(ns: NetNs) -> None:
    stack = start_stack(ns, JUMBO)
    with pytest.raises(TcpError, match=REFUSED):
        connect(stack, KERNEL_IP, 5999, timeout=10)
    finish(stack)


def test_kernel_abort_mid_transfer_is_connection_reset(ns: NetNs) -> None:
    stack = start_stack(ns, JUMBO)
    proc = peer(ns, "reset", 4 * MiB)
    sock = open_to_kernel(stack)
    # We read all the time; the kernel aborts (SO_LINGER 0) right after its last write, before the rest of
    # the 4 MiB has gone out, so the stream ends with a reset instead of a FIN.
    count, _ = receive_all(stack, sock, 60)
    assert sock.error == RESET and not sock.peer_closed and count <= 4 * MiB
    assert stack.tcp.counters.connections_reset == 1
    proc.communicate(timeout=10)
    sock.close()
    finish(stack)


def test_half_close_stack_first_then_kernel_replies(ns: NetNs) -> None:
    stack = start_stack(ns, JUMBO)
    proc = peer(ns, "half-close-reply", 0)
    with connect(stack, KERNEL_IP, 5001, timeout=10) as conn:
        conn.send_all(b"x" * 100_000, timeout=30)
        conn.shutdown()  # our FIN; the kernel reads to EOF, then answers
        reply = b""
        while chunk := conn.recv(timeout=30):
            reply += chunk
    assert reply == b"reply after your FIN"
    total, _ = peer_result(proc)
    assert int(total) == 100_000
    finish(stack)


def test_half_close_kernel_first_then_stack_sends(ns: NetNs) -> None:
    stack = start_stack(ns, JUMBO)
    proc = peer(ns, "half-close-first", 0)
    conn = connect(stack, KERNEL_IP, 5001, timeout=10)
    assert conn.recv(timeout=30) == b""  # the kernel's FIN came first
    conn.send_all(bytes(300_000), timeout=30)
    conn.close(timeout=30)
    total, digest = peer_result(proc)
    assert int(total) == 300_000 and digest == hashlib.sha256(bytes(300_000)).hexdigest()
    finish(stack)


def test_lossy_tap_16_mib_each_way(ns: NetNs) -> None:
    size = 16 * MiB
    stack = start_stack(ns, JUMBO, FAULTS)
    proc = peer(ns, "send", size)
    sock = open_to_kernel(stack)
    count, digest = receive_all(stack, sock, 150)
    total, kernel_digest = peer_result(proc)
    assert count == size and digest == kernel_digest == expected_sha(size)
    proc = peer(ns, "recv", size, 5002)
    sock = open_to_kernel(stack, 5002)
    send_all_and_close(stack, sock, size, 150)
    total, digest = peer_result(proc)
    assert int(total) == size and digest == expected_sha(size)
    counters = stack.counters()
    assert counters["tcp"]["retransmits"] > 0
    finish(stack)
