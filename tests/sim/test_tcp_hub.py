"""Two stacks on the in-memory hub through the fault injector (5% drop, 5% reorder, 1% duplicate, 0.1%
corrupt), on a virtual clock: transfers both ways arrive sha256-exact, and the same seed gives the same
capture byte for byte and the same counters."""

from __future__ import annotations

import hashlib
import itertools
import random
from pathlib import Path

from mtcp_py.runtime import run_until
from mtcp_py.stack import Stack, StackConfig
from mtcp_py.tcp import TcpConfig, TcpSocket
from mtcp_py.wire import ip_from_str
from pktdrv import VirtualClock, open_link

FAULTS = "drop=0.05&reorder=0.05&dup=0.01&corrupt=0.001"
A_IP, B_IP = "10.7.0.1", "10.7.0.2"
_names = itertools.count()


class Pump:
    """Sends `size` deterministic bytes on a socket, hashes what it receives, closes when done."""

    def __init__(self, sock: TcpSocket, size: int, seed: int) -> None:
        self.sock = sock
        self.data = random.Random(seed).randbytes(size)
        self.sent = 0
        self.received = hashlib.sha256()
        self.count = 0

    def step(self) -> bool:
        sock = self.sock
        if self.sent < len(self.data) and sock.is_connected:
            self.sent += sock.send(memoryview(self.data)[self.sent :])
        elif self.sent >= len(self.data) and not sock.app_closed:
            sock.close()
        while chunk := sock.recv():
            self.received.update(chunk)
            self.count += len(chunk)
        return sock.at_eof and sock.app_closed and sock.all_sent


def run(tmp: Path, size: int, seed: int) -> tuple[bytes, dict[str, dict[str, int]], list[str], float]:
    clock = VirtualClock()
    hub = f"simtcp{next(_names)}"
    pcap = tmp / f"run{next(_names)}.pcap"
    a = Stack(open_link(f"hub:{hub}?{FAULTS}&seed={seed}&mac=02:00:00:00:00:0a&pcap={pcap}", clock),
              StackConfig(ip_from_str(A_IP), tcp=TcpConfig(isn_key=b"a")), clock).init_stack()
    b = Stack(open_link(f"hub:{hub}?{FAULTS}&seed={seed + 1}&mac=02:00:00:00:00:0b", clock),
              StackConfig(ip_from_str(B_IP), tcp=TcpConfig(isn_key=b"b")), clock).init_stack()
    listener = b.tcp.listen(9)
    client = a.tcp.connect(ip_from_str(B_IP), 9)
    accepted: list[TcpSocket] = []

    def opened() -> bool:
        if (sock := listener.accept()) is not None:
            accepted.append(sock)
        return bool(accepted) and client.is_connected

    assert run_until([a, b], opened, 60)
    up, down = Pump(client, size, seed), Pump(accepted[0], size, seed + 100)
    assert run_until([a, b], lambda: all([up.step(), down.step()]), 600), (client, accepted[0])
    elapsed = clock.seconds()
    ok = [up.received.hexdigest() == hashlib.sha256(down.data).hexdigest(),
          down.received.hexdigest() == hashlib.sha256(up.data).hexdigest()]
    assert all(ok), (up.count, down.count)
    counters = {"a": a.counters()["tcp"], "b": b.counters()["tcp"]}
    assert a.internal_errors == 0 and b.internal_errors == 0
    a.end_stack()
    b.end_stack()
    return pcap.read_bytes(), counters, [up.received.hexdigest(), down.received.hexdigest()], elapsed


def test_lossy_hub_transfer_both_ways_is_exact_and_repeatable(tmp_path: Path) -> None:
    first = run(tmp_path, 1 << 20, 7)
    second = run(tmp_path, 1 << 20, 7)
    assert first[0] == second[0]  # same pcap bytes
    assert first[1] == second[1] and first[2] == second[2]
    counters = first[1]
    assert counters["a"]["retransmits"] > 0 and counters["b"]["retransmits"] > 0
    assert counters["a"]["bad_segments"] + counters["b"]["bad_segments"] >= 0
    assert first[3] < 600  # finished in bounded (virtual) time


def test_other_seed_differs(tmp_path: Path) -> None:
    assert run(tmp_path, 256 << 10, 7)[0] != run(tmp_path, 256 << 10, 8)[0]


def test_sixteen_connections_share_the_pool_through_faults(tmp_path: Path) -> None:
    """More connections than the transmit pool can serve at full rate: every stream still arrives exact."""
    clock = VirtualClock()
    hub = f"simtcp{next(_names)}"
    a = Stack(open_link(f"hub:{hub}?{FAULTS}&seed=3", clock),
              StackConfig(ip_from_str(A_IP), tcp=TcpConfig(isn_key=b"a", tx_buffers=32)), clock).init_stack()
    b = Stack(open_link(f"hub:{hub}?{FAULTS}&seed=4", clock),
              StackConfig(ip_from_str(B_IP), tcp=TcpConfig(isn_key=b"b", tx_buffers=32)), clock).init_stack()
    listener = b.tcp.listen(9, backlog=16)
    clients = [a.tcp.connect(ip_from_str(B_IP), 9) for _ in range(16)]
    servers: list[TcpSocket] = []

    def opened() -> bool:
        while (sock := listener.accept()) is not None:
            servers.append(sock)
        return len(servers) == 16 and all(c.is_connected for c in clients)

    assert run_until([a, b], opened, 120)
    servers.sort(key=lambda s: [c.local_port for c in clients].index(s.remote_port))  # pair by port
    pumps = [Pump(sock, 64 << 10, seed) for seed, sock in enumerate(clients + servers)]
    assert run_until([a, b], lambda: all([p.step() for p in pumps]), 600)
    for client, server in zip(pumps[:16], pumps[16:], strict=True):
        assert client.received.hexdigest() == hashlib.sha256(server.data).hexdigest()
        assert server.received.hexdigest() == hashlib.sha256(client.data).hexdigest()
    assert a.tcp.pool.free == a.tcp.pool.count and a.internal_errors == 0 and b.internal_errors == 0
    a.end_stack()
    b.end_stack()
