"""The learning switch (pktdrv.bridge) and mtcp-bridge: forwarding by IEEE 802.1D's rules, on hubs.

Expectations are the standard's: learn the source, forward a known unicast to its port only, flood
broadcasts and unknown destinations to every other port, filter what belongs to the ingress port, age
entries out. Then whole stacks on different hubs ping and move data through it, and a loop of two bridges
stays bounded.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mtcp_py.runtime import turn
from mtcp_py.stack import Stack, StackConfig
from mtcp_py.wire import ip_from_str
from pktdrv import VirtualClock, open_link
from pktdrv.bridge import DRAIN_BUDGET, Bridge
from pktdrv.links import HUBS, HubLink, read_pcap
from pktdrv.links.hub import QUEUE_FRAMES
from tests.netns import KERNEL_IP, private_netns
from tests.real.apputil import stop_with, wait_for_line

_names = itertools.count()
A, B, C = (bytes.fromhex(f"02000000000{i}") for i in (1, 2, 3))
BROADCAST = b"\xff" * 6


def frame(dst: bytes, src: bytes, body: bytes = b"") -> bytes:
    return (dst + src + b"\x08\x00" + body).ljust(60, b"\x00")


class Lab:
    """A bridge with three ports, one hub each, and a station port on every hub that records frames."""

    def __init__(self, ports: int = 3, **bridge_args: float) -> None:
        self.bridge = Bridge(**bridge_args)  # type: ignore[arg-type]
        self.stations: list[HubLink] = []
        self.seen: list[list[bytes]] = []
        for _ in range(ports):
            hub = f"br{next(_names)}"
            self.bridge.add_port(open_link(f"hub:{hub}"))
            station = HUBS.get(hub).port()
            got: list[bytes] = []
            station.open(got.append)
            self.stations.append(station)
            self.seen.append(got)

    def send(self, port: int, data: bytes, now: float = 0.0) -> None:
        self.stations[port].send(data)
        self.bridge.turn(now, 0)
        for station in self.stations:
            station.drain(1 << 20)

    def take(self) -> list[list[bytes]]:
        out = [list(got) for got in self.seen]
        for got in self.seen:
            got.clear()
        return out


def test_unknown_destination_floods_then_learned_unicast_goes_to_one_port() -> None:
    lab = Lab()
    lab.send(0, frame(B, A, b"first"))
    assert lab.take() == [[], [frame(B, A, b"first")], [frame(B, A, b"first")]]
    lab.send(1, frame(A, B, b"reply"))  # A was learned on port 0: only there
    assert lab.take() == [[frame(A, B, b"reply")], [], []]
    lab.send(0, frame(B, A, b"again"))  # and B on port 1
    assert lab.take() == [[], [frame(B, A, b"again")], []]
    assert lab.bridge.ports[0].counters.flooded == 1


def test_broadcast_floods_every_other_port() -> None:
    lab = Lab()
    lab.send(2, frame(BROADCAST, C))
    assert lab.take() == [[frame(BROADCAST, C)], [frame(BROADCAST, C)], []]


def test_a_frame_for_the_ingress_port_is_filtered() -> None:
    lab = Lab()
    lab.send(0, frame(BROADCAST, A))
    lab.send(0, frame(BROADCAST, B))  # A and B both live behind port 0
    lab.take()
    lab.send(0, frame(B, A))
    assert lab.take() == [[], [], []]
    assert lab.bridge.ports[0].counters.filtered == 1


def test_entries_age_out_and_a_moved_station_is_followed() -> None:
    lab = Lab(ageing=300.0)
    lab.send(0, frame(BROADCAST, A), now=0.0)
    lab.take()
    lab.send(1, frame(A, B), now=100.0)
    assert lab.take() == [[frame(A, B)], [], []]
    lab.send(1, frame(A, B), now=401.0)  # A silent for more than 300 s: unknown again, flooded
    assert lab.take() == [[frame(A, B)], [], [frame(A, B)]]
    assert lab.bridge.aged == 1
    lab.send(2, frame(BROADCAST, A), now=402.0)  # A now behind port 2
    lab.take()
    lab.send(1, frame(A, B), now=403.0)
    assert lab.take() == [[], [], [frame(A, B)]]


def test_table_is_bounded_oldest_first() -> None:
    lab = Lab(table_size=2)
    for station in (A, B, C):
        lab.send(0, frame(BROADCAST, station))
    assert list(lab.bridge.table) == [B, C] and lab.bridge.evicted == 1


def test_runts_and_multicast_sources_are_dropped_and_too_big_is_not_sent() -> None:
    lab = Lab(ports=2)
    lab.send(0, b"\x01\x02\x03")
    lab.send(0, frame(B, b"\x01\x00\x5e\x00\x00\x01"))
    assert lab.take() == [[], []]
    assert lab.bridge.ports[0].counters.runts == 2
    lab.bridge.ports[1].link.mtu = 576
    lab.send(0, frame(B, A, bytes(1000)))
    assert lab.take() == [[], []] and lab.bridge.ports[1].counters.too_big == 1


def test_two_stacks_on_different_hubs_ping_and_transfer_through_the_bridge() -> None:
    clock = VirtualClock()
    hubs = [f"brs{next(_names)}" for _ in range(2)]
    bridge = Bridge()
    for hub in hubs:
        bridge.add_port(open_link(f"hub:{hub}", clock))
    a = Stack(open_link(f"hub:{hubs[0]}", clock), StackConfig(ip_from_str("10.8.0.1")), clock).init_stack()
    b = Stack(open_link(f"hub:{hubs[1]}", clock), StackConfig(ip_from_str("10.8.0.2")), clock).init_stack()
    replies: list[int] = []
    a.icmp.echo_listeners[7] = lambda src, seq, data, now: replies.append(seq)
    data = os.urandom(256 * 1024)
    listener = b.tcp.listen(9)
    client = a.tcp.connect(ip_from_str("10.8.0.2"), 9)
    received = hashlib.sha256()
    count, sent, server = 0, 0, None
    a.icmp.send_echo(ip_from_str("10.8.0.2"), 7, 1, b"hello", 0)
    for _ in range(200_000):
        bridge.turn(clock.seconds(), clock.now())
        turn(a)
        turn(b)
        server = server or listener.accept()
        if client.is_connected and sent < len(data):
            sent += client.send(memoryview(data)[sent:])
        elif sent == len(data) and not client.app_closed:
            client.close()
        while server is not None and (chunk := server.recv()):
            received.update(chunk)
            count += len(chunk)
        if server is not None and server.at_eof:
            break
        clock.advance(1)
    assert replies == [1]
    assert count == len(data) and received.digest() == hashlib.sha256(data).digest()
    assert a.internal_errors == b.internal_errors == 0
    a.end_stack()
    b.end_stack()


def test_a_loop_of_two_bridges_stays_bounded() -> None:
    """No spanning tree: a broadcast circles for ever, but each turn moves at most the budget per port and
    the hub queues never grow past their bound."""
    hubs = [f"brl{next(_names)}" for _ in range(2)]
    bridges = [Bridge(), Bridge()]
    for bridge in bridges:
        for hub in hubs:
            bridge.add_port(open_link(f"hub:{hub}"))
    station = HUBS.get(hubs[0]).port()
    station.open(lambda f: None)
    for _ in range(50):
        station.send(frame(BROADCAST, A))
    for step in range(2000):
        for bridge in bridges:
            moved = bridge.turn(float(step), step)
            assert moved <= DRAIN_BUDGET * len(bridge.ports)
        for hub in hubs:
            assert all(len(port.queue) <= QUEUE_FRAMES for port in HUBS.get(hub).ports)
    assert bridges[0].moved > 0  # A seen on both ports: the counters show the loop


# -- the program -------------------------------------------------------------------------------------------


def run_bridge(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MTCPCFG"}
    return subprocess.run([sys.executable, "-m", "mtcp_py.apps.bridge", *args], capture_output=True, text=True,
                          timeout=60, env=env, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize(("args", "message"), [
    (["hub:x"], "a bridge needs at least two ports"),
    (["hub:x", "tap:"], "link tap:"),
    (["hub:x", "hub:y", "--ageing", "-1"], "--ageing -1: seconds"),
])
def test_bad_command_lines_exit_2_with_one_line(args: list[str], message: str) -> None:
    result = run_bridge(*args)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("mtcp-bridge: ") and message in result.stderr


def test_a_link_that_cannot_open_exits_1() -> None:
    result = run_bridge("hub:x", "raw:nosuchdev0")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("mtcp-bridge: ") and "nosuchdev0" in result.stderr


def test_kernel_pings_our_stack_through_mtcp_bridge(tmp_path: Path) -> None:
    """The Linux kernel on a TAP device, our stack behind mtcp-bridge: ping crosses the bridge, the pcap
    holds the frames, SIGUSR1 and --stats print the port table."""
    config = tmp_path / "stack.cfg"
    config.write_text("IPADDR 10.0.2.15\nNETMASK 255.255.255.0\nGATEWAY 10.0.2.1\n")
    pcap = tmp_path / "bridge.pcap"
    with private_netns() as ns:
        proc = ns.popen(sys.executable, "-m", "mtcp_py.apps.bridge", "tap:mtap0", "--stack", str(config),
                        "--pcap", str(pcap), "--stats", stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
        try:
            wait_for_line(proc, "mtcp-bridge: ports")
            result = ns.run("ping", "-c", "3", "-i", "0.2", "-W", "5", "10.0.2.15", check=False)
            assert result.returncode == 0, result.stdout + result.stderr
        finally:
            err = stop_with(proc)
    text = err.decode()
    assert proc.returncode == 0, text
    assert "2 stations known, learned 2" in text
    icmp = [f for _, f in read_pcap(pcap) if f[12:14] == b"\x08\x00" and f[23] == 1]
    requests = [f for f in icmp if f[34] == 8 and f[26:30] == ip_bytes(KERNEL_IP)]
    replies = [f for f in icmp if f[34] == 0 and f[30:34] == ip_bytes(KERNEL_IP)]
    assert len(requests) >= 3 and len(replies) >= 3


def ip_bytes(text: str) -> bytes:
    return ip_from_str(text).to_bytes(4, "big")
