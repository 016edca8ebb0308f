"""Helpers for the tests that run the programs (mtcp-nc, mtcp-servers) against the Linux kernel.

The programs run as subprocesses under `ip netns exec`; the kernel's side is `nc` (netcat-openbsd) or
Python sockets opened inside the namespace. The fixtures (`ns`, `config`, `payload`) are in conftest.py.
"""

from __future__ import annotations

import hashlib
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
from typing import TypeVar

import pytest

from tests.netns import KERNEL_IP, STACK_IP, NetNs

FAULTS = "drop=0.05&reorder=0.05&dup=0.01&corrupt=0.001&seed=7"
MIB = 1 << 20
T = TypeVar("T")


def need_nc() -> None:
    if shutil.which("nc") is None:
        pytest.skip("needs nc (netcat-openbsd)")


def app(ns: NetNs, config: Path, module: str, *args: str, **kwargs: object) -> subprocess.Popen[bytes]:
    env = dict(os.environ, MTCPCFG=str(config))
    return ns.popen(sys.executable, "-m", f"mtcp_py.apps.{module}", *args, env=env, **kwargs)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def kernel_listener(ns: NetNs, port: int, backlog: int = 8) -> socket.socket:
    def make() -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((KERNEL_IP, port))
        sock.listen(backlog)
        return sock

    return ns.call(make)


def read_to_eof(conn: socket.socket) -> bytes:
    data = b""
    while chunk := conn.recv(4096):
        data += chunk
    return data


@contextmanager
def kernel_peer(ns: NetNs, port: int,
                serve: Callable[[socket.socket, tuple[str, int]], object]) -> Iterator[list[object]]:
    """A kernel-side server for one connection: `serve(conn, address)` runs on a thread and its result
    is in the yielded list once the block ends."""
    server = kernel_listener(ns, port)
    results: list[object] = []

    def run() -> None:
        conn, address = server.accept()
        with conn:
            results.append(serve(conn, address))

    thread = threading.Thread(target=run)
    thread.start()
    try:
        yield results
    finally:
        thread.join(timeout=30)
        server.close()


def kernel_connect(ns: NetNs, port: int, timeout: float = 30) -> socket.socket:
    return ns.call(lambda: socket.create_connection((STACK_IP, port), timeout=timeout))


def reset(sock: socket.socket) -> None:
    """Close with SO_LINGER {1, 0}: the kernel sends a reset instead of a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def wait_for_line(proc: subprocess.Popen[bytes], text: str) -> str:
    """Read the program's stderr until a line with `text` (the program is ready)."""
    assert proc.stderr is not None
    seen: list[str] = []
    while True:
        line = proc.stderr.readline().decode()
        if not line:
            raise AssertionError(f"program ended before {text!r}: {''.join(seen)}")
        seen.append(line)
        if text in line:
            return "".join(seen)


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30, interval: float = 0.02) -> None:
    """Check `condition` every `interval` seconds until it holds; fail naming `what` once `timeout` seconds
    have passed (a condition with a deadline, never a sleep to synchronise)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def run_clients(count: int, work: Callable[[int], T]) -> list[T]:
    """`work(index)` for `count` clients at once, each on a thread; the first error is raised."""
    results: list[T | None] = [None] * count
    errors: list[BaseException] = []

    def one(index: int) -> None:
        try:
            results[index] = work(index)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    if errors:
        raise errors[0]
    return results  # type: ignore[return-value]


def echo_round_trip(ns: NetNs, port: int, size: int) -> bool:
    """Send `size` random bytes to an echo server and read them back; True when they came back exactly."""
    data = os.urandom(size)
    sock = kernel_connect(ns, port)

    def send_then_half_close() -> None:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)

    sender = threading.Thread(target=send_then_half_close)
    sender.start()
    back = hashlib.sha256()
    length = 0
    while chunk := sock.recv(65536):
        back.update(chunk)
        length += len(chunk)
    sender.join()
    sock.close()
    return length == size and back.digest() == hashlib.sha256(data).digest()


@contextmanager
def running_servers(ns: NetNs, config: Path, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    """mtcp-servers with `args`, ready (its banner printed); killed at the end if still running."""
    proc = app(ns, config, "servers", *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for_line(proc, "mtcp-servers:")
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def stop_with(proc: subprocess.Popen[bytes], signum: int = signal.SIGTERM, timeout: float = 30) -> bytes:
    """Send `signum`, wait for the program to end (killed if it does not), and return its stderr."""
    try:
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=timeout)
        return err or b""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
