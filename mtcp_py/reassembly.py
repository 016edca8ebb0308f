"""IPv4 fragment reassembly with bounded slots, a bounded size and a timeout (in ticks).

A datagram is keyed by (source, destination, protocol, identification). When every slot is taken, a new
datagram takes the oldest one's. Fragments that repeat exactly (a duplicating link) are ignored;
fragments that overlap differently condemn the whole datagram, so a crafted overlap can never rewrite
data already received.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field

from .wire.ipv4 import Ipv4Repr

Key = tuple[int, int, int, int]


@dataclass
class ReassemblyCounters:
    fragments: int = 0
    reassembled: int = 0
    duplicates: int = 0
    overlaps: int = 0
    timeouts: int = 0
    no_slot: int = 0
    """A new datagram found every slot taken: the oldest one in progress was given up for it."""
    too_long: int = 0


@dataclass
class _Slot:
    expires: int
    first: Ipv4Repr | None = None
    data: bytearray = field(default_factory=bytearray)
    pieces: list[tuple[int, int]] = field(default_factory=list)
    """Received [start, end) ranges, sorted and disjoint, so a new fragment is checked against its two
    neighbours only (a datagram sent in thousands of 8-byte pieces must not cost quadratic time)."""
    received: int = 0
    """Bytes in `pieces`."""
    total: int = -1
    """Payload length, known once the last fragment (MF clear) has come."""


class Reassembler:
    def __init__(self, slots: int = 4, max_size: int = 65_535, timeout_ticks: int = 91) -> None:
        self.slots = slots
        self.max_size = max_size
        self.timeout_ticks = timeout_ticks
        self.counters = ReassemblyCounters()
        self._slots: dict[Key, _Slot] = {}

    def add(self, header: Ipv4Repr, payload: memoryview, now: int) -> tuple[Ipv4Repr, bytes] | None:
        """Take one fragment; return (header of the first fragment, whole payload) once complete."""
        c = self.counters
        c.fragments += 1
        key = (header.src, header.dst, header.protocol, header.ident)
        start = header.frag_offset
        end = start + len(payload)
        if end > self.max_size:
            c.too_long += 1
            self._slots.pop(key, None)
            return None
        slot = self._slots.get(key)
        if slot is None:
            if len(self._slots) >= self.slots:
                # Give up the oldest rather than refuse the newest: otherwise four fragments that never
                # complete, sent once per timeout, would keep every fragmented datagram out.
                c.no_slot += 1
                del self._slots[min(self._slots, key=lambda k: self._slots[k].expires)]
            slot = self._slots[key] = _Slot(expires=now + self.timeout_ticks)
        pieces = slot.pieces
        at = bisect_left(pieces, (start, end))
        for have_start, have_end in pieces[max(at - 1, 0) : at + 1]:
            if have_start < end and start < have_end:
                if (have_start, have_end) == (start, end) and slot.data[start:end] == payload:
                    c.duplicates += 1
                    return None
                c.overlaps += 1
                del self._slots[key]
                return None
        if not header.more_fragments:
            if slot.total >= 0 and slot.total != end:
                c.overlaps += 1
                del self._slots[key]
                return None
            slot.total = end
        if slot.total >= 0 and end > slot.total:
            c.overlaps += 1
            del self._slots[key]
            return None
        if start == 0:
            slot.first = header
        if len(slot.data) < end:
            slot.data.extend(bytes(end - len(slot.data)))
        slot.data[start:end] = payload
        if end > start:
            pieces.insert(at, (start, end))
        slot.received += end - start
        if slot.total < 0 or slot.first is None or slot.received != slot.total:
            return None
        del self._slots[key]
        c.reassembled += 1
        return slot.first, bytes(slot.data[: slot.total])

    def expire(self, now: int) -> None:
        for key in [k for k, s in self._slots.items() if s.expires <= now]:
            del self._slots[key]
            self.counters.timeouts += 1

    def next_deadline(self) -> int | None:
        return min((s.expires for s in self._slots.values()), default=None)

    @property
    def in_progress(self) -> int:
        return len(self._slots)
