"""`qemu-stream:` and `qemu-dgram:` against peers written here from QEMU's documented formats.

QEMU's `-netdev stream` (docs/system/invocation, net/stream.c) sends each frame after its length as a
32-bit big-endian number; `-netdev dgram` sends one frame per UDP datagram. The peers below write and read
exactly that with struct and sockets, on loopback only.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pktdrv import LinkError, VirtualClock, open_link
from pktdrv.links import LinkSpecError
from pktdrv.links.qemu import QemuDgramLink, QemuStreamLink
from tests.links.linkutil import frame, free_port, pump, read_exactly


def qemu_record(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


def read_record(sock: socket.socket) -> bytes:
    (length,) = struct.unpack(">I", read_exactly(sock, 4))
    return read_exactly(sock, length)


@pytest.fixture
def tcp_server() -> Iterator[socket.socket]:
    """A listening socket standing in for QEMU with `server=on`."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    yield server
    server.close()


def open_stream(spec: str) -> QemuStreamLink:
    link = open_link(spec, VirtualClock())
    assert isinstance(link, QemuStreamLink)
    return link


def test_stream_client_carries_frames_both_ways_cut_anywhere(tcp_server: socket.socket) -> None:
    port = tcp_server.getsockname()[1]
    link = open_stream(f"qemu-stream:tcp:127.0.0.1:{port}")
    peer, _ = tcp_server.accept()
    got: list[bytes] = []
    link.open(got.append)
    frames = [frame(1), frame(2, 1514), frame(3, 100)]
    # Three records and an empty one, written a few bytes at a time across the record boundaries.
    stream = qemu_record(frames[0]) + qemu_record(b"") + qemu_record(frames[1]) + qemu_record(frames[2])
    for start in range(0, len(stream), 7):
        peer.sendall(stream[start:start + 7])
    assert pump(link, lambda: len(got) == 3)
    assert got == frames
    assert link.deframer.counters.empty == 1
    for f in frames:
        link.send(f)
    assert [read_record(peer) for _ in frames] == frames
    link.close()
    peer.close()


def test_stream_client_on_a_unix_socket(tmp_path: Path) -> None:
    path = str(tmp_path / "q.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    link = open_stream(f"qemu-stream:unix:{path}?mac=02:00:00:00:00:09")
    peer, _ = server.accept()
    got: list[bytes] = []
    link.open(got.append)
    peer.sendall(qemu_record(frame(7)))
    assert pump(link, lambda: got == [frame(7)])
    link.send(frame(8))
    assert read_record(peer) == frame(8)
    assert link.mac == bytes.fromhex("020000000009")
    link.close()
    peer.close()
    server.close()


def test_stream_oversize_frame_is_read_past_and_the_next_one_arrives(tcp_server: socket.socket) -> None:
    port = tcp_server.getsockname()[1]
    link = open_stream(f"qemu-stream:tcp:127.0.0.1:{port}?mtu=1500")
    peer, _ = tcp_server.accept()
    got: list[bytes] = []
    link.open(got.append)
    peer.sendall(qemu_record(bytes(9000)) + qemu_record(b"\x01" * 10) + qemu_record(frame(5)))
    assert pump(link, lambda: got == [frame(5)])
    counters = link.deframer.counters
    assert (counters.oversize, counters.runts, counters.bad_lengths) == (1, 1, 0)
    link.close()
    peer.close()


def test_stream_client_reports_lost_framing_and_a_closed_peer_once(tcp_server: socket.socket) -> None:
    port = tcp_server.getsockname()[1]
    link = open_stream(f"qemu-stream:tcp:127.0.0.1:{port}")
    peer, _ = tcp_server.accept()
    link.open(lambda f: None)
    peer.sendall(struct.pack(">I", 65_536) + bytes(64))  # no frame is that long: the framing is lost
    with pytest.raises(LinkError, match="framing is lost"):
        pump(link, lambda: False)
    assert link.deframer.counters.bad_lengths == 1
    assert link.fileno() is None  # the loop stops watching it
    with pytest.raises(LinkError):
        link.drain(8)
    link.close()
    peer.close()

    link = open_stream(f"qemu-stream:tcp:127.0.0.1:{port}")
    peer, _ = tcp_server.accept()
    link.open(lambda f: None)
    peer.close()
    with pytest.raises(LinkError, match="the peer closed the connection"):
        pump(link, lambda: False)
    link.close()


def test_stream_listener_takes_the_next_peer_after_a_disconnect_or_lost_framing(tmp_path: Path) -> None:
    path = str(tmp_path / "listen.sock")
    link = open_stream(f"qemu-stream:unix:{path}?listen=1")
    got: list[bytes] = []
    link.open(got.append)
    link.send(frame(0))  # nobody connected yet: lost, as on an unplugged cable
    assert link.counters.tx_dropped == 1
    for round_number in range(3):
        peer = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        peer.connect(path)
        peer.sendall(qemu_record(frame(round_number)))
        assert pump(link, lambda n=round_number: frame(n) in got)  # type: ignore[misc]
        link.send(frame(100 + round_number))
        assert read_record(peer) == frame(100 + round_number)
        if round_number == 1:
            peer.sendall(struct.pack(">I", 0xFFFFFFFF))  # lost framing: the link hangs up on this peer
            peer.settimeout(5)
            assert pump(link, lambda: not link.channel.connected)
            assert peer.recv(10) == b""
        peer.close()
        assert pump(link, lambda: not link.channel.connected)
    assert got == [frame(0), frame(1), frame(2)]
    assert link.deframer.counters.bad_lengths == 1
    link.close()
    assert not Path(path).exists()


def test_stream_tcp_listener(tcp_server: socket.socket) -> None:
    port = tcp_server.getsockname()[1]
    tcp_server.close()  # a free port for the link to listen on
    link = open_stream(f"qemu-stream:tcp:127.0.0.1:{port}?listen=1")
    got: list[bytes] = []
    link.open(got.append)
    peer = socket.create_connection(("127.0.0.1", port))
    peer.sendall(qemu_record(frame(4)))
    assert pump(link, lambda: got == [frame(4)])
    link.send(frame(6, 1514))
    assert read_record(peer) == frame(6, 1514)
    peer.close()
    link.close()


def test_dgram_one_frame_per_datagram_both_ways() -> None:
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    peer_port = peer.getsockname()[1]
    local_port = free_port(socket.SOCK_DGRAM)
    link = open_link(f"qemu-dgram:127.0.0.1:{local_port}:127.0.0.1:{peer_port}", VirtualClock())
    assert isinstance(link, QemuDgramLink)
    got: list[bytes] = []
    link.open(got.append)
    for n in range(5):
        peer.sendto(frame(n, 60 + n), ("127.0.0.1", local_port))
    stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    stranger.sendto(frame(99), ("127.0.0.1", local_port))
    peer.sendto(b"\x00" * 8, ("127.0.0.1", local_port))
    assert pump(link, lambda: len(got) == 5 and link.counters.runts == 1 and link.counters.foreign == 1)
    assert got == [frame(n, 60 + n) for n in range(5)]
    link.send(frame(42, 1514))
    peer.settimeout(5)
    data, source = peer.recvfrom(65536)
    assert data == frame(42, 1514) and source == ("127.0.0.1", local_port)
    link.close()
    peer.close()
    stranger.close()


@pytest.mark.parametrize(("spec", "words"), [
    ("qemu-stream:tcp:localhost", "needs HOST:PORT"),
    ("qemu-stream:tcp:localhost:0", "a port is a number from 1 to 65535"),
    ("qemu-stream:tcp:localhost:http", "a port is a number from 1 to 65535"),
    ("qemu-stream:udp:1.2.3.4:5", "a stream is unix:PATH or tcp:HOST:PORT"),
    ("qemu-stream:unix:", "a stream is unix:PATH or tcp:HOST:PORT"),
    ("qemu-stream:unix:/x?listen=maybe", "listen=maybe: not 0 or 1"),
    ("qemu-stream:unix:/x?secret=1", "unknown link parameter 'secret'"),
    ("qemu-dgram:127.0.0.1:5:127.0.0.1", "LOCALHOST:LOCALPORT:REMOTEHOST:REMOTEPORT"),
    ("qemu-dgram:127.0.0.1:5:127.0.0.1:70000", "a port is a number from 1 to 65535"),
])
def test_bad_qemu_link_strings_say_why(spec: str, words: str) -> None:
    with pytest.raises(LinkSpecError) as info:
        open_link(spec)
    assert words in info.value.reason, info.value.reason


def test_a_stream_that_cannot_open_says_why(tmp_path: Path, tcp_server: socket.socket) -> None:
    with pytest.raises(LinkError, match="no such socket file"):
        open_link(f"qemu-stream:unix:{tmp_path / 'none.sock'}")
    port = tcp_server.getsockname()[1]
    tcp_server.close()
    with pytest.raises(LinkError, match=r"qemu-stream:tcp:127.0.0.1:\d+: cannot connect to .*connection refused"):
        open_link(f"qemu-stream:tcp:127.0.0.1:{port}")
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    busy = holder.getsockname()[1]
    with pytest.raises(LinkError, match="address in use"):
        open_link(f"qemu-stream:tcp:127.0.0.1:{busy}?listen=1")
    holder.close()


def test_stream_frames_reach_the_receiver_only_from_drain(tcp_server: socket.socket) -> None:
    """Frames come in on the caller's line: nothing is delivered until drain is called."""
    port = tcp_server.getsockname()[1]
    link = open_stream(f"qemu-stream:tcp:127.0.0.1:{port}")
    peer, _ = tcp_server.accept()
    threads: set[int] = set()
    link.open(lambda f: threads.add(threading.get_ident()))
    peer.sendall(qemu_record(frame(1)) * 100)
    assert pump(link, lambda: link.counters.frames_in == 100)
    assert threads == {threading.get_ident()}
    link.close()
    peer.close()
