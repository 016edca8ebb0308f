"""A two-way exact exchange between two stacks: each side sends `size` seeded random bytes and closes; both
sides' received bytes are hashed against what the other sent (sha256), for transfer tests of any link."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence

from mtcp_py.runtime import run_until
from mtcp_py.stack import Stack
from mtcp_py.tcp import TcpListener, TcpSocket


def connect_pair(stacks: Sequence[Stack], client: TcpSocket, listener: TcpListener,
                 timeout: float = 30) -> TcpSocket:
    """The accepted side of `client`'s connection, once both ends are up."""
    accepted: list[TcpSocket] = []

    def opened() -> bool:
        if (sock := listener.accept()) is not None:
            accepted.append(sock)
        return bool(accepted) and client.is_connected

    assert run_until(list(stacks), opened, timeout), "the connection did not open"
    return accepted[0]


def exchange_exact(stacks: Sequence[Stack], one: TcpSocket, other: TcpSocket, size: int,
                   timeout: float = 120) -> None:
    """Send `size` bytes each way at once, close both, and assert each side got the other's bytes exactly."""
    data = {one: random.Random(1).randbytes(size), other: random.Random(2).randbytes(size)}
    sent = dict.fromkeys(data, 0)
    got = {sock: hashlib.sha256() for sock in data}

    def step() -> bool:
        for sock, payload in data.items():
            if sent[sock] < size:
                sent[sock] += sock.send(memoryview(payload)[sent[sock] :])
            elif not sock.app_closed:
                sock.close()
            while chunk := sock.recv():
                got[sock].update(chunk)
        return all(sock.at_eof and sock.all_sent for sock in data)

    assert run_until(list(stacks), step, timeout), (one, other, [s.drops for s in stacks])
    assert got[one].digest() == hashlib.sha256(data[other]).digest()
    assert got[other].digest() == hashlib.sha256(data[one]).digest()
