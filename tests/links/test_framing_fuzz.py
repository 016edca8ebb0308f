"""Hypothesis against the two byte-stream decoders: QEMU's length-prefixed stream and SLIP (RFC 1055).

Whatever the bytes and however they are cut across reads, the decoders never raise, never hand out more
than the link carries, and give back exactly the frames a well-formed stream carried. The encodings here
are written from the formats (a 32-bit big-endian length; RFC 1055's END/ESC rules), not taken from the
code under test.
"""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from pktdrv.links.qemu import StreamDeframer
from pktdrv.links.slip import DosboxUnescaper, SlipCounters, SlipDecoder
from tests.links.linkutil import rfc1055

MAX_FRAME = 1514


def cut(data: bytes, points: list[int]) -> list[bytes]:
    marks = sorted({p % (len(data) + 1) for p in points})
    pieces, start = [], 0
    for mark in marks:
        pieces.append(data[start:mark])
        start = mark
    pieces.append(data[start:])
    return pieces


frames = st.lists(st.binary(min_size=14, max_size=MAX_FRAME), max_size=12)
cuts = st.lists(st.integers(min_value=0, max_value=1 << 20), max_size=20)


@settings(max_examples=300, deadline=None)
@given(frames, cuts, st.lists(st.integers(min_value=0, max_value=12), max_size=4))
def test_stream_deframer_gives_back_every_frame_however_cut(frame_list: list[bytes], points: list[int],
                                                            empties: list[int]) -> None:
    records = [struct.pack(">I", len(f)) + f for f in frame_list]
    for position in empties:  # zero-length records anywhere carry nothing
        records.insert(position % (len(records) + 1), struct.pack(">I", 0))
    stream = b"".join(records)
    deframer = StreamDeframer(MAX_FRAME)
    out: list[bytes] = []
    for piece in cut(stream, points):
        out.extend(deframer.feed(piece))
    assert out == frame_list
    assert deframer.counters.empty == len(empties)
    assert not deframer.lost and not deframer.buffer


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=8192), cuts)
def test_stream_deframer_takes_any_bytes(data: bytes, points: list[int]) -> None:
    deframer = StreamDeframer(MAX_FRAME)
    for piece in cut(data, points):
        for frame in deframer.feed(piece):
            assert 14 <= len(frame) <= MAX_FRAME
        assert len(deframer.buffer) <= MAX_FRAME + 4  # a partial frame at most, never more


packets = st.lists(st.binary(min_size=1, max_size=1500), max_size=10)


@settings(max_examples=300, deadline=None)
@given(packets, cuts, st.integers(min_value=0, max_value=3))
def test_slip_decoder_gives_back_every_packet_however_cut(packet_list: list[bytes], points: list[int],
                                                          extra_ends: int) -> None:
    stream = b"".join(b"\xc0" * extra_ends + rfc1055(p) for p in packet_list)
    decoder = SlipDecoder(1500)
    out: list[bytes] = []
    for piece in cut(stream, points):
        out.extend(decoder.feed(piece))
    assert out == packet_list
    assert decoder.counters.bad_escapes == 0 and decoder.counters.oversize == 0


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=8192), cuts)
def test_slip_decoder_takes_any_bytes(data: bytes, points: list[int]) -> None:
    decoder = SlipDecoder(576)
    for piece in cut(data, points):
        for packet in decoder.feed(piece):
            assert 1 <= len(packet) <= 576
        assert len(decoder.packet) <= 576


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2048), cuts, st.lists(st.integers(min_value=0, max_value=2048), max_size=8))
def test_dosbox_unescaper_undoes_doubling_and_drops_line_states(data: bytes, points: list[int],
                                                                 states_at: list[int]) -> None:
    wire = bytearray(data.replace(b"\xff", b"\xff\xff"))
    # Line-state bytes go in only between escapes, where DOSBox's sender puts them (whole pairs).
    positions = sorted({p % (len(data) + 1) for p in states_at}, reverse=True)
    for position in positions:
        offset = len(data[:position]) + data[:position].count(0xFF)
        wire[offset:offset] = b"\xff\x03"
    counters = SlipCounters()
    unescaper = DosboxUnescaper(counters)
    out = b"".join(unescaper.feed(piece) for piece in cut(bytes(wire), points))
    assert out == data
    assert counters.dosbox_line_states == len(positions)
