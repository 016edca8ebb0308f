"""`slip:` over a pty pair, over socket:// to a Python peer, and listening for a null modem.

The expectations come from RFC 1055 (END 0xC0, ESC 0xDB, ESC_END 0xDC, ESC_ESC 0xDD), from what a DOS SLIP
packet driver shows its programs (an Ethernet interface whose ARP is answered by the driver), and from
DOSBox 0.74's src/hardware/serialport/nullmodem.cpp for `dosbox=1` (0xFF doubled; 0xFF then a byte of
RTS 1 / DTR 2 / break 4 for the modem lines). The peers write those bytes literally.
"""

from __future__ import annotations

import os
import select
import socket
import struct
from collections.abc import Iterator

import pytest

from pktdrv import LinkError, VirtualClock, open_link
from pktdrv.links import LinkSpecError
from pktdrv.links.slip import SLIP_PEER_MAC, SlipLink
from tests.links.linkutil import STACK_MAC, free_port, ipv4, pump, read_exactly, rfc1055

END, ESC, ESC_END, ESC_ESC = b"\xc0", b"\xdb", b"\xdc", b"\xdd"


def ethernet(dst: bytes, src: bytes, kind: bytes, payload: bytes) -> bytes:
    data = dst + src + kind + payload
    return data + bytes(max(0, 60 - len(data)))


def arp_request(sender_ip: str, target_ip: str) -> bytes:
    body = struct.pack(">HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, STACK_MAC, socket.inet_aton(sender_ip), bytes(6),
                       socket.inet_aton(target_ip))
    return ethernet(b"\xff" * 6, STACK_MAC, b"\x08\x06", body)


def ip_frames(frames: list[bytes]) -> list[bytes]:
    """The IPv4 frames among what the link handed up (it may also ask for the stack's MAC with ARP)."""
    return [f for f in frames if f[12:14] == b"\x08\x00"]


TRICKY = ipv4(bytes([0xC0, 0xDB, 0x00, 0xFF, 0xDC, 0xDD, 0xC0, 0xC0]) + bytes(range(256)))
"""A datagram with END, ESC and 0xFF in it, escaped on the way."""


@pytest.fixture
def pty_link() -> Iterator[tuple[SlipLink, int]]:
    master, slave = os.openpty()
    name = os.ttyname(slave)
    link = open_link(f"slip:{name}?mac=02:00:00:00:00:01", VirtualClock())
    assert isinstance(link, SlipLink)
    os.close(slave)
    os.set_blocking(master, False)
    yield link, master
    link.close()
    os.close(master)


def read_pty(master: int, count: int, timeout: float = 5.0) -> bytes:
    data = b""
    while len(data) < count:
        ready, _, _ = select.select([master], [], [], timeout)
        assert ready, f"only {len(data)} of {count} bytes came"
        data += os.read(master, count - len(data))
    return data


def test_slip_on_a_pty_noise_empty_frames_and_datagrams_to_ethernet(pty_link: tuple[SlipLink, int]) -> None:
    link, master = pty_link
    got: list[bytes] = []
    link.open(got.append)
    link.send(arp_request("10.0.2.15", "10.0.2.2"))  # the stack speaks first, as it does when it pings
    first, second = ipv4(b"hello" * 20), TRICKY
    # slirp's banner before it speaks SLIP, then two datagrams with empty packets around them.
    os.write(master, b"SLiRP Ready ...\r\n" + END + END + rfc1055(first) + END + END + END + rfc1055(second)[:50])
    os.write(master, rfc1055(second)[50:])
    assert pump(link, lambda: len(ip_frames(got)) == 2)
    assert ip_frames(got) == [ethernet(STACK_MAC, SLIP_PEER_MAC, b"\x08\x00", first),
                              ethernet(STACK_MAC, SLIP_PEER_MAC, b"\x08\x00", second)]
    assert link.slip.noise_packets == 1 and link.slip.noise_bytes == len(b"SLiRP Ready ...\r\n")
    assert link.slip.empty >= 3
    # A datagram from the stack goes out as RFC 1055 has it (the Ethernet padding cut off).
    short = ipv4(b"x")
    link.send(ethernet(SLIP_PEER_MAC, STACK_MAC, b"\x08\x00", short))
    assert read_pty(master, len(rfc1055(short))) == rfc1055(short)
    link.send(ethernet(SLIP_PEER_MAC, STACK_MAC, b"\x08\x00", TRICKY))
    assert read_pty(master, len(rfc1055(TRICKY))) == rfc1055(TRICKY)


def test_slip_answers_arp_itself_and_sends_nothing_but_ip(pty_link: tuple[SlipLink, int]) -> None:
    link, master = pty_link
    got: list[bytes] = []
    link.open(got.append)
    link.send(arp_request("10.0.2.15", "10.0.2.2"))
    assert got == []  # answered from drain, on the caller's line
    assert link.next_deadline() == 0
    link.drain(8)
    reply = struct.pack(">HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 2, SLIP_PEER_MAC, socket.inet_aton("10.0.2.2"),
                        STACK_MAC, socket.inet_aton("10.0.2.15"))
    assert got == [ethernet(STACK_MAC, SLIP_PEER_MAC, b"\x08\x06", reply)]
    link.send(arp_request("10.0.2.15", "10.0.2.15"))  # gratuitous: not answered
    link.send(arp_request("0.0.0.0", "10.0.2.15"))  # a probe: not answered
    link.send(ethernet(SLIP_PEER_MAC, STACK_MAC, b"\x86\xdd", bytes(60)))  # IPv6 cannot go
    link.drain(8)
    assert len(got) == 1 and link.view.counters.tx_not_ip == 1
    assert select.select([master], [], [], 0)[0] == []  # nothing went on the line


def test_slip_datagram_before_the_stack_spoke_waits_for_its_arp_answer(pty_link: tuple[SlipLink, int]) -> None:
    """The view does not know yet that a stack holds the link (it might be a bridge): it asks, with ARP,
    and the stack's answer lets the datagram through."""
    link, master = pty_link
    got: list[bytes] = []
    link.open(got.append)
    inbound = ipv4(b"first", src="10.0.2.2", dst="10.0.2.15")
    os.write(master, rfc1055(inbound))
    ask = struct.pack(">HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, SLIP_PEER_MAC, socket.inet_aton("10.0.2.2"), bytes(6),
                      socket.inet_aton("10.0.2.15"))
    assert pump(link, lambda: got == [ethernet(b"\xff" * 6, SLIP_PEER_MAC, b"\x08\x06", ask)])
    answer = struct.pack(">HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 2, STACK_MAC, socket.inet_aton("10.0.2.15"),
                         SLIP_PEER_MAC, socket.inet_aton("10.0.2.2"))
    link.send(ethernet(SLIP_PEER_MAC, STACK_MAC, b"\x08\x06", answer))
    link.drain(8)
    assert got[1:] == [ethernet(STACK_MAC, SLIP_PEER_MAC, b"\x08\x00", inbound)]
    assert select.select([master], [], [], 0)[0] == []  # none of it went down the line


def test_slip_pty_whose_other_side_closed_is_reported_once() -> None:
    master, slave = os.openpty()
    link = open_link(f"slip:{os.ttyname(slave)}", VirtualClock())
    os.close(slave)
    link.open(lambda f: None)
    os.close(master)
    with pytest.raises(LinkError, match="the line went away"):
        pump(link, lambda: False)
    assert link.fileno() is None  # the loop stops watching it: no spinning
    with pytest.raises(LinkError):
        link.drain(8)
    link.close()


def test_slip_over_socket_url_to_a_python_peer() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    link = open_link(f"slip:socket://127.0.0.1:{port}?mac=02:00:00:00:00:01", VirtualClock())
    peer, _ = server.accept()
    got: list[bytes] = []
    link.open(got.append)
    link.send(arp_request("10.0.2.15", "10.0.2.2"))  # a stack holds the link (it speaks first)
    peer.sendall(rfc1055(TRICKY))
    assert pump(link, lambda: len(ip_frames(got)) == 1)
    assert ip_frames(got)[0] == ethernet(STACK_MAC, SLIP_PEER_MAC, b"\x08\x00", TRICKY)
    link.send(ethernet(SLIP_PEER_MAC, STACK_MAC, b"\x08\x00", TRICKY))
    assert read_exactly(peer, len(rfc1055(TRICKY))) == rfc1055(TRICKY)
    peer.close()
    with pytest.raises(LinkError, match="slip:socket://127.0.0.1:.*went away|closed"):
        pump(link, lambda: False)
    link.close()
    server.close()


def test_slip_listens_for_a_null_modem_and_takes_the_next_after_a_disconnect() -> None:
    port = free_port()
    link = open_link(f"slip:socket://127.0.0.1:{port}?listen=1&mac=02:00:00:00:00:01", VirtualClock())
    assert isinstance(link, SlipLink)
    got: list[bytes] = []
    link.open(got.append)
    link.send(arp_request("10.0.2.15", "10.0.2.2"))  # a stack holds the link (it speaks first)
    for n in range(3):
        modem = socket.create_connection(("127.0.0.1", port))  # what DOSBox's serverip: null modem does
        datagram = ipv4(bytes([n]) * 30)
        # A packet cut short by the previous peer's hang-up must not leak into this one.
        modem.sendall(rfc1055(datagram))
        assert pump(link, lambda d=datagram: ethernet(STACK_MAC, SLIP_PEER_MAC, b"\x08\x00", d) in got)  # type: ignore[misc]
        reply = ipv4(b"r" * 40, src="10.0.2.2", dst="10.0.2.15")
        link.send(ethernet(SLIP_PEER_MAC, STACK_MAC, b"\x08\x00", reply))
        assert read_exactly(modem, len(rfc1055(reply))) == rfc1055(reply)
        modem.sendall(END + b"\x45\x00half a packet")
        modem.close()
        assert pump(link, lambda: not link.channel.connected)
    assert len(ip_frames(got)) == 3 and link.slip.noise_packets == 0
    link.close()


def test_slip_dosbox_null_modem_without_transparent() -> None:
    port = free_port()
    link = open_link(f"slip:socket://127.0.0.1:{port}?listen=1&dosbox=1&mac=02:00:00:00:00:01", VirtualClock())
    assert isinstance(link, SlipLink)
    got: list[bytes] = []
    link.open(got.append)
    link.send(arp_request("10.0.2.15", "10.0.2.2"))  # a stack holds the link (it speaks first)
    modem = socket.create_connection(("127.0.0.1", port))
    datagram = ipv4(bytes([0xFF, 0x01, 0xFF, 0xFF, 0xC0]) * 10)
    wire = rfc1055(datagram).replace(b"\xff", b"\xff\xff")
    # DOSBox's line-state bytes between data bytes, and a doubled 0xFF cut across two writes.
    cut = wire.index(b"\xff\xff") + 1
    modem.sendall(b"\xff\x03" + wire[:cut])
    assert pump(link, lambda: link.channel.connected and link.slip.dosbox_line_states == 1)
    modem.sendall(wire[cut:cut + 10] + b"\xff\x01" + wire[cut + 10:])
    assert pump(link, lambda: len(ip_frames(got)) == 1)
    assert ip_frames(got)[0] == ethernet(STACK_MAC, SLIP_PEER_MAC, b"\x08\x00", datagram)
    assert link.slip.dosbox_line_states == 2
    # We tell DOSBox our RTS and DTR are up when the connection starts, then data with 0xFF doubled.
    link.send(ethernet(SLIP_PEER_MAC, STACK_MAC, b"\x08\x00", datagram))
    assert read_exactly(modem, 2 + len(wire)) == b"\xff\x03" + wire
    modem.close()
    link.close()


def test_slip_baud_paces_sends_by_the_tick_without_sleeping() -> None:
    master2, slave = os.openpty()
    link = open_link(f"slip:{os.ttyname(slave)}?baud=9600", VirtualClock())
    assert isinstance(link, SlipLink)
    os.close(slave)
    link.open(lambda f: None)
    per_tick = 9600 / 10 / (1_193_182 / 65_536)  # bytes a tick at 960 bytes a second: about 52.7
    datagram = ipv4(b"p" * 980)
    wire = rfc1055(datagram)
    link.poll(100)
    link.send(ethernet(SLIP_PEER_MAC, STACK_MAC, b"\x08\x00", datagram))
    received = b""
    arrivals: list[int] = []
    tick = 100
    while len(received) < len(wire) and tick < 200:
        chunk = b""
        while select.select([master2], [], [], 0)[0]:
            chunk += os.read(master2, 4096)
        received += chunk
        arrivals.append(len(chunk))
        assert link.next_deadline() in (None, tick + 1)
        tick += 1
        link.poll(tick)
    assert received == wire
    assert max(arrivals) <= 2 * per_tick + 1  # never more than the line carries (two ticks after idle)
    assert abs((tick - 100) - len(wire) / per_tick) <= 2  # as long as the line takes, give or take a tick
    link.close()
    os.close(master2)


@pytest.mark.parametrize(("spec", "words"), [
    ("slip:/dev/ttyS0?baud=fast", "baud=fast: not a whole number (a serial line's speed in bits per second"),
    ("slip:/dev/ttyS0?baud=10", "baud=10: out of range"),
    ("slip:/dev/ttyS0?dosbox=2", "dosbox=2: not 0 or 1"),
    ("slip:socket://127.0.0.1", "needs HOST:PORT"),
    ("slip:socket://127.0.0.1:99999", "a port is a number from 1 to 65535"),
    ("slip:/dev/ttyS0?listen=1&bogus=2", "unknown link parameter 'bogus'"),
    ("slip:/dev/ttyS0?peer=10.0.2", "peer=10.0.2: not an IPv4 address (the far end of the line"),
    ("slip:/dev/ttyS0?peer=10.0.2.256", "peer=10.0.2.256: not an IPv4 address"),
])
def test_bad_slip_link_strings_say_why(spec: str, words: str) -> None:
    with pytest.raises(LinkSpecError) as info:
        open_link(spec)
    assert words in info.value.reason, info.value.reason


def test_slip_that_cannot_open_says_why() -> None:
    with pytest.raises(LinkError, match="slip:/dev/nonexistent-tty: cannot open"):
        open_link("slip:/dev/nonexistent-tty")
    with pytest.raises(LinkError, match="listen=1 needs a socket://HOST:PORT target"):
        open_link("slip:/dev/ttyS0?listen=1")
    with pytest.raises(LinkError, match="cannot open"):
        open_link(f"slip:socket://127.0.0.1:{free_port()}")


def test_slip_dosbox_client_says_its_modem_lines_when_it_opens() -> None:
    """To a DOSBox null modem that listens (no server: in its serial1 line), without transparent:1."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    link = open_link(f"slip:socket://127.0.0.1:{server.getsockname()[1]}?dosbox=1", VirtualClock())
    peer, _ = server.accept()
    link.open(lambda f: None)
    assert read_exactly(peer, 2) == b"\xff\x03"  # RTS and DTR up: the guest sees CTS and DSR
    link.close()
    peer.close()
    server.close()
