"""Period speeds on any link (`rate=10mbit`, `baud=N`): frames take the wire for as long as their bits do.

The numbers come from the standards, not from the code: a 10BASE-T frame carries 8 bytes of preamble and
start delimiter and 4 of FCS, then leaves 12 byte times of interframe gap (IEEE 802.3), padded to 60 bytes;
a serial line at N baud carries N/10 bytes a second (a start bit, eight data bits, a stop bit).
"""

from __future__ import annotations

import itertools

import pytest

from pktdrv import VirtualClock, open_link
from pktdrv.clock import TICK_HZ
from pktdrv.links import HUBS, HubLink, LinkSpecError
from pktdrv.links.pacing import PacedLink
from tests.links.linkutil import frame

_names = itertools.count()


def paced_pair(params: str) -> tuple[PacedLink, list[bytes], HubLink]:
    name = f"paced{next(_names)}"
    link = open_link(f"hub:{name}?{params}", VirtualClock())
    assert isinstance(link, PacedLink)
    link.open(lambda f: None)
    peer = HUBS.get(name).port()
    got: list[bytes] = []
    peer.open(got.append)
    return link, got, peer


def ticks_per_frame(wire_bits: float, bits_per_second: float) -> float:
    return wire_bits / bits_per_second * TICK_HZ


def test_10base_t_carries_its_rate_and_an_idle_line_adds_nothing() -> None:
    link, got, peer = paced_pair("rate=10mbit")
    link.poll(0)
    link.send(frame(0, 1514))
    peer.drain(1000)
    assert len(got) == 1  # nothing ahead of it: at once
    per_frame = ticks_per_frame((8 + 1514 + 4 + 12) * 8, 10_000_000)  # about 0.0224 ticks
    for n in range(1, 200):
        link.send(frame(n, 1514))
    for tick in range(1, 6):
        link.poll(tick)
        peer.drain(1000)
        started = min(200, int(tick / per_frame) + 1)  # frames whose turn on the wire has come
        assert len(got) == started, (tick, len(got), started)
        assert link.next_deadline() in (None, tick + 1)
    assert [int.from_bytes(f[14:18], "big") for f in got] == list(range(len(got)))
    link.close()


def test_baud_on_any_link_paces_both_directions() -> None:
    received: list[bytes] = []
    name = f"paced{next(_names)}"
    link = open_link(f"hub:{name}?baud=9600", VirtualClock())
    assert isinstance(link, PacedLink)
    link.open(received.append)
    peer = HUBS.get(name).port()
    peer.open(lambda f: None)
    per_frame = ticks_per_frame(100 * 10, 9600)  # a 100-byte frame: 1000 bits, about 1.9 ticks
    link.poll(0)
    for n in range(10):
        peer.send(frame(n, 100))
    link.drain(100)
    assert len(received) == 1
    for tick in range(1, 20):
        link.poll(tick)
        link.drain(100)
        assert len(received) == min(10, int(tick / per_frame) + 1), tick
    link.close()


@pytest.mark.parametrize(("spec", "words"), [
    ("hub:x?rate=10mbps", "rate=10mbps: not a whole number (bytes per second, 0 or more; 0 is unlimited) nor a "
                          "line speed such as 10mbit"),
    ("hub:x?rate=0mbit", "rate=0mbit: not a line speed (e.g. 10mbit, 100mbit, 512kbit)"),
    ("hub:x?baud=1", "baud=1: out of range"),
    ("hub:x?rate=10mbit&baud=2400", "both set a line speed"),
])
def test_bad_speeds_say_why(spec: str, words: str) -> None:
    with pytest.raises(LinkSpecError) as info:
        open_link(spec)
    assert words in info.value.reason
