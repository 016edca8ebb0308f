"""The Ethernet view of a SLIP line: what `slip:` shows whoever holds the link, a stack or a bridge.

SLIP carries bare IPv4 datagrams. The view gives the far end of the line a made-up MAC (`peer_mac`) and
turns frames into datagrams and back, in either of the two places a SLIP line is met:

- Our stack holds the link (a DOS SLIP packet driver, Crynwr's ETHERSL, does this for DOS programs):
  everything the stack can reach is across the line, so every ARP request the stack makes is answered
  here, with the peer's MAC (the asker's MAC is the link's own station address).
- A bridge holds it (mtcp-bridge): the far end is one machine among hosts on Ethernet. Only ARP for the
  far end's own address (learned from the datagrams it sends, or given as `peer=`) is answered, else the
  view would claim every address on the segment; datagrams off the line go to the MAC their destination
  was seen with (learned from the frames the bridge hands in: ARP and IPv4 sources), and for an unknown
  destination the latest datagram waits while an ARP request from the far end's address asks for it.

Which of the two it is, the view tells by the frames handed in: a stack's carry the link's own MAC.

Frames for other stations (a bridge floods them) and what SLIP cannot carry (IPv6, say) stay off the line,
counted: a serial line has no bandwidth to spare.
"""

from __future__ import annotations

import struct
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from .base import ETH_HEADER_LEN, ETH_MIN_FRAME

ETHERTYPE_IPV4 = b"\x08\x00"
ETHERTYPE_ARP = b"\x08\x06"
BROADCAST_MAC = b"\xff" * 6
ARP = struct.Struct(">HHBBH6s4s6s4s")
NEIGHBOURS = 256
"""Addresses remembered (IPv4 -> MAC); beyond this, the oldest is forgotten."""
LINE_ADDRESSES = 16
"""Source addresses remembered for the far end of the line (a router there may use a few)."""
ASK_AGAIN_TICKS = 18
"""An unknown destination is asked for at most about once a second."""


@dataclass
class ViewCounters:
    arp_answered: int = 0
    arp_asked: int = 0
    """ARP requests made for the far end, for a destination not yet seen."""
    tx_not_ip: int = 0
    """Frames SLIP cannot carry (not IPv4, not ARP, or an IPv4 datagram that does not add up)."""
    tx_not_for_line: int = 0
    """Unicast frames for another station (a bridge floods them here): not sent down the line."""
    held_dropped: int = 0
    """Datagrams off the line dropped while their destination's MAC was asked for (a newer one came)."""


def ipv4_datagram(packet: bytes) -> bytes | None:
    """The packet as an IPv4 datagram cut to its total length, or None when it is not one (wrong version
    or lengths, or a header checksum that does not add up: what a text banner or line noise gives)."""
    if len(packet) < 20 or packet[0] >> 4 != 4:
        return None
    header_len = (packet[0] & 0x0F) * 4
    total = int.from_bytes(packet[2:4], "big")
    if header_len < 20 or total < header_len or total > len(packet):
        return None
    total_sum = 0
    for (word,) in struct.iter_unpack(">H", packet[:header_len]):
        total_sum += word
    while total_sum >> 16:
        total_sum = (total_sum & 0xFFFF) + (total_sum >> 16)
    if total_sum != 0xFFFF:
        return None
    return packet[:total]


def _pad(frame: bytes) -> bytes:
    return frame + bytes(ETH_MIN_FRAME - len(frame)) if len(frame) < ETH_MIN_FRAME else frame


class SlipEthernetView:
    def __init__(self, station: Callable[[], bytes], peer_mac: bytes, to_receiver: Callable[[bytes], None],
                 peer_ip: bytes | None = None) -> None:
        self.station = station
        """The link's own MAC, the one the stack holding it uses (read each time: set_address changes it)."""
        self.peer_mac = peer_mac
        self.to_receiver = to_receiver
        self.counters = ViewCounters()
        self.neighbours: OrderedDict[bytes, bytes] = OrderedDict()
        self.line_addresses: OrderedDict[bytes, None] = OrderedDict()
        if peer_ip is not None:
            self.line_addresses[peer_ip] = None
        self.asked: dict[bytes, int] = {}
        self.held: dict[bytes, bytes] = {}
        """Destination address -> the latest datagram waiting for its MAC (bridge side only)."""
        self.holder_is_station = False
        """A frame from the link's own MAC came in: a stack holds the link, not a bridge."""
        self.now = 0

    # -- frames from the holder: onto the line, or answered here ---------------------------------------------

    def to_line(self, frame: bytes) -> bytes | None:
        """The datagram to send down the line for `frame`, or None (answered here, or not for the line)."""
        kind = frame[12:14]
        if not self.holder_is_station and frame[6:12] == self.station():
            self.holder_is_station = True
        if kind == ETHERTYPE_ARP:
            self._arp(frame)
            return None
        if kind != ETHERTYPE_IPV4:
            self.counters.tx_not_ip += 1
            return None
        datagram = ipv4_datagram(frame[ETH_HEADER_LEN:])
        if datagram is None:
            self.counters.tx_not_ip += 1
            return None
        if not frame[6] & 1:
            self._learn(datagram[12:16], frame[6:12])
        if frame[:6] != self.peer_mac and not frame[0] & 1:
            self.counters.tx_not_for_line += 1
            return None
        return datagram

    def _arp(self, frame: bytes) -> None:
        if len(frame) < ETH_HEADER_LEN + ARP.size:
            return
        htype, ptype, hlen, plen, op, sha, spa, _tha, tpa = ARP.unpack_from(frame, ETH_HEADER_LEN)
        if (htype, ptype, hlen, plen) != (1, 0x0800, 6, 4):
            return
        if spa != bytes(4) and not sha[0] & 1:
            self._learn(spa, sha)
        if op != 1 or spa == tpa or spa == bytes(4):
            return  # a reply (learnt), a gratuitous ARP or a probe: answering would say the address is taken
        if sha != self.station() and tpa not in self.line_addresses:
            return  # a host on a bridge asks for a host on the bridge: not across the line
        reply = ARP.pack(1, 0x0800, 6, 4, 2, self.peer_mac, tpa, sha, spa)
        self.counters.arp_answered += 1
        self.to_receiver(_pad(sha + self.peer_mac + ETHERTYPE_ARP + reply))

    def _learn(self, ip: bytes, mac: bytes) -> None:
        neighbours = self.neighbours
        if neighbours.get(ip) != mac:
            neighbours[ip] = mac
            if len(neighbours) > NEIGHBOURS:
                neighbours.popitem(last=False)
        neighbours.move_to_end(ip)
        held = self.held.pop(ip, None)
        if held is not None:
            self.to_receiver(self._frame(mac, held))

    # -- datagrams off the line: to Ethernet frames -------------------------------------------------------

    def from_line(self, datagram: bytes) -> bytes | None:
        """The frame for `datagram` off the line, or None while its destination's MAC is being asked for."""
        source, destination = datagram[12:16], datagram[16:20]
        if source not in self.line_addresses:
            self.line_addresses[source] = None
            if len(self.line_addresses) > LINE_ADDRESSES:
                self.line_addresses.popitem(last=False)
        if destination == b"\xff\xff\xff\xff":
            mac = BROADCAST_MAC
        elif 224 <= destination[0] <= 239:
            mac = bytes([0x01, 0x00, 0x5E, destination[1] & 0x7F, destination[2], destination[3]])  # RFC 1112
        else:
            known = self.neighbours.get(destination)
            if known is None:
                if self.holder_is_station:
                    known = self.station()  # a stack holds the link: everything off the line is for it
                else:
                    self._hold(destination, source, datagram)
                    return None
            mac = known
        return self._frame(mac, datagram)

    def _frame(self, mac: bytes, datagram: bytes) -> bytes:
        return _pad(mac + self.peer_mac + ETHERTYPE_IPV4 + datagram)

    def _hold(self, destination: bytes, source: bytes, datagram: bytes) -> None:
        """Keep the latest datagram for `destination` until its MAC is known (an ARP layer's one-packet
        queue), and ask for it, at most about once a second."""
        if len(self.held) >= NEIGHBOURS and destination not in self.held:
            self.counters.held_dropped += len(self.held)
            self.held.clear()
        if destination in self.held:
            self.counters.held_dropped += 1
        self.held[destination] = datagram
        last = self.asked.get(destination)
        if last is not None and self.now - last < ASK_AGAIN_TICKS:
            return
        if len(self.asked) > NEIGHBOURS:
            self.asked.clear()
        self.asked[destination] = self.now
        self.counters.arp_asked += 1
        request = ARP.pack(1, 0x0800, 6, 4, 1, self.peer_mac, source, bytes(6), destination)
        self.to_receiver(_pad(BROADCAST_MAC + self.peer_mac + ETHERTYPE_ARP + request))
