"""The TCP segment codec: golden bytes both ways, every rejection, and a fuzz in which only WireError escapes."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mtcp_py.checksum import checksum, pseudo_header_sum
from mtcp_py.wire import WireError, ip_from_str
from mtcp_py.wire.tcp import ACK, FIN, PSH, RST, SYN, TcpRepr, emit_plain_header

SRC = ip_from_str("192.168.1.1")
DST = ip_from_str("192.168.1.2")

# A SYN from Linux-like options: MSS 1460, NOP, window scale 7 (header 28 bytes), checksum filled in.
SYN_BYTES = bytes.fromhex("c0 00 00 50 00 00 03 e8 00 00 00 00 70 02 fa f0 00 00 00 00"
                          "02 04 05 b4 01 03 03 07")
SYN_REPR = TcpRepr(0xC000, 80, 1000, 0, SYN, 0xFAF0, b"", mss=1460, window_scale=7)


def with_checksum(segment: bytes, src: int = SRC, dst: int = DST) -> bytes:
    raw = bytearray(segment)
    raw[16:18] = b"\0\0"
    value = checksum(raw, pseudo_header_sum(src, dst, 6, len(raw)))
    raw[16:18] = value.to_bytes(2, "big")
    return bytes(raw)


def test_deconstruct_golden_syn() -> None:
    assert TcpRepr.parse(with_checksum(SYN_BYTES), SRC, DST) == SYN_REPR


def test_construct_golden_syn() -> None:
    assert SYN_REPR.to_bytes(SRC, DST) == with_checksum(SYN_BYTES)


def test_round_trip_with_payload() -> None:
    seg = TcpRepr(1234, 5678, 0xFFFF_FFFF, 42, ACK | PSH, 512, b"odd length!")
    parsed = TcpRepr.parse(seg.to_bytes(SRC, DST), SRC, DST)
    assert parsed == seg and parsed.seg_len == 11


def test_emit_header_in_front_of_a_payload_in_place_matches_emit() -> None:
    seg = TcpRepr(1, 2, 3, 4, ACK, 5, b"abcde")
    full = seg.to_bytes(SRC, DST)
    buf = bytearray(len(full) + 3)
    buf[20:25] = b"abcde"
    buf[25:] = b"xyz"  # what follows the segment in the buffer is not summed
    seg.emit_header(buf, 0, SRC, DST, 5)
    assert bytes(buf[:25]) == full == with_checksum(full)


@pytest.mark.parametrize(("raw", "reason"), [
    (b"\0" * 19, "tcp_truncated"),
    (bytes.fromhex("c000005000000001000000004002fff000000000"), "tcp_bad_data_offset"),
    (bytes.fromhex("c00000500000000100000000f002fff000000000"), "tcp_bad_data_offset"),
    (bytes.fromhex("0000005000000001000000005002fff000000000"), "tcp_port_zero"),
    (bytes.fromhex("c000005000000001000000005003fff000000000"), "tcp_bad_flags"),
    (bytes.fromhex("c000005000000001000000005006fff000000000"), "tcp_bad_flags"),
])
def test_rejections(raw: bytes, reason: str) -> None:
    data = with_checksum(raw) if len(raw) >= 20 else raw
    with pytest.raises(WireError) as info:
        TcpRepr.parse(data, SRC, DST)
    assert info.value.reason == reason


def test_bad_checksum_rejected() -> None:
    raw = bytearray(SYN_REPR.to_bytes(SRC, DST))
    raw[4] ^= 1
    with pytest.raises(WireError, match="tcp_bad_checksum"):
        TcpRepr.parse(raw, SRC, DST)


def test_window_scale_clamped_and_unknown_options_skipped() -> None:
    raw = bytes.fromhex("c000005000000001000000009010fff000000000" "01 03 03 0f 08 0a 00 00 00 01 00 00 00 02 00 00")
    seg = TcpRepr.parse(with_checksum(raw), SRC, DST)
    assert seg.window_scale == 14 and seg.mss is None and seg.flags == ACK


def seg_with_options(options: str, payload: bytes = b"", flags: int = ACK) -> TcpRepr:
    raw = bytes.fromhex(options)
    raw += b"\0" * (-len(raw) % 4)
    offset = (20 + len(raw)) // 4
    header = bytes.fromhex("c000005000000001000000020000fff000000000")
    header = header[:12] + bytes((offset << 4, flags)) + header[14:]
    return TcpRepr.parse(with_checksum(header + raw + payload), SRC, DST)


# Each row: options as sent, then what Linux's tcp_parse_options (checked against Linux 6.18) takes from them.
@pytest.mark.parametrize(("options", "mss", "scale", "sack_ok"), [
    ("02 04 05 b4", 1460, None, False),
    ("02 05 05 b4 00", None, None, False),                 # MSS at length 5: skipped, not honoured
    ("02 03 05 01 03 03 07", None, 7, False),              # MSS at length 3 skipped, the next option read
    ("02 04 00 00", 0, None, False),                       # MSS 0 parsed; the TCP layer ignores it
    ("01 03 03 07 02 00 05 b4", None, 7, False),           # length 0: stop, keep what came before
    ("04 02 02 04 05 b4", 1460, None, True),
    ("04 03 00 02 04 05 b4", 1460, None, False),           # SACK-permitted at length 3: skipped
    ("02 04 05 b4 03 09 07", 1460, None, False),           # length past the header: stop there
    ("02 04 05 b4 01", 1460, None, False),                 # a lone trailing kind byte
    ("00 02 04 05 b4", None, None, False),                 # End: nothing after it counts
    ("08 0a 00 00 00 01 00 00 00 02 02 04 02 18", 536, None, False),
])
def test_options_parsed_as_linux_does(options: str, mss: int | None, scale: int | None, sack_ok: bool) -> None:
    seg = seg_with_options(options, b"payload")
    assert (seg.mss, seg.window_scale, seg.sack_permitted) == (mss, scale, sack_ok)
    assert bytes(seg.payload) == b"payload"  # a bad option never costs the segment


def test_sack_blocks_and_timestamps_parsed() -> None:
    seg = seg_with_options("01 01 08 0a 00 00 00 07 00 00 00 09 01 01 05 12 00 00 00 10 00 00 00 20"
                           "00 00 00 30 00 00 00 40")
    assert seg.timestamps == (7, 9) and seg.sack == ((16, 32), (48, 64))
    assert seg_with_options("05 0b 00 00 00 10 00 00 00 20 00").sack == ()  # not 2 + 8n: skipped


def test_sack_and_sack_permitted_round_trip() -> None:
    seg = TcpRepr(1, 2, 3, 4, ACK, 5, b"", sack=((10, 20), (30, 40), (50, 60), (70, 80)))
    assert TcpRepr.parse(seg.to_bytes(SRC, DST), SRC, DST) == seg
    syn = TcpRepr(1, 2, 3, 0, SYN, 5, b"", mss=1460, window_scale=2, sack_permitted=True)
    raw = syn.to_bytes(SRC, DST)
    assert len(raw) == 32 and TcpRepr.parse(raw, SRC, DST) == syn


def test_flags_text() -> None:
    assert "[SF" not in str(TcpRepr(1, 2, 0, 0, FIN | ACK | RST, 0))


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=80), st.booleans())
def test_parse_fuzz_only_wire_error(data: bytes, fix_checksum: bool) -> None:
    if fix_checksum and len(data) >= 20:
        data = with_checksum(data)
    try:
        seg = TcpRepr.parse(data, SRC, DST)
    except WireError:
        return
    assert seg.src_port and seg.dst_port and len(seg.payload) <= len(data)


seq32 = st.integers(0, 0xFFFF_FFFF)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.none(), st.integers(0, 0xFFFF)), st.one_of(st.none(), st.integers(0, 14)), st.booleans(),
       st.lists(st.tuples(seq32, seq32), max_size=4), st.binary(max_size=64))
def test_options_round_trip(mss: int | None, scale: int | None, sack_ok: bool, blocks: list[tuple[int, int]],
                            payload: bytes) -> None:
    seg = TcpRepr(7, 9, 1, 2, ACK, 100, payload, mss, scale, 0, sack_ok, tuple(blocks))
    raw = seg.to_bytes(SRC, DST)
    assert len(raw) == seg.buffer_len() and (len(raw) - len(payload)) % 4 == 0 and len(raw) - len(payload) <= 60
    fit = min(len(blocks), (40 - 4 * ((mss is not None) + (scale is not None) + sack_ok) - 4) // 8)
    assert TcpRepr.parse(raw, SRC, DST) == replace(seg, sack=tuple(blocks[:fit]))


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=40), st.binary(max_size=16))
def test_any_options_keep_the_segment(options: bytes, payload: bytes) -> None:
    padded = options + b"\0" * (-len(options) % 4)
    header = bytes.fromhex("c000005000000001000000020010fff000000000")
    header = header[:12] + bytes((((20 + len(padded)) // 4) << 4,)) + header[13:]
    seg = TcpRepr.parse(with_checksum(header + padded + payload), SRC, DST)
    assert bytes(seg.payload) == payload and seg.flags == ACK
    assert seg.window_scale is None or seg.window_scale <= 14
    assert len(seg.sack) <= 4


@given(st.integers(1, 0xFFFF), st.integers(1, 0xFFFF), st.integers(0, 0xFFFF_FFFF), st.integers(0, 0xFFFF_FFFF),
       st.sampled_from([ACK, ACK | PSH, ACK | FIN]), st.integers(0, 0xFFFF), st.binary(max_size=1460))
def test_plain_header_in_one_pack_matches_emit(src_port: int, dst_port: int, seq: int, ack: int, flags: int,
                                               window: int, payload: bytes) -> None:
    """The data path's header (its checksum summed from the fields) is the one TcpRepr emits."""
    seg = TcpRepr(src_port, dst_port, seq, ack, flags, window, payload)
    buf = bytearray(7 + 20 + len(payload) + 1)
    buf[27 : 27 + len(payload)] = payload
    buf[-1] = 0xAB  # what follows the segment is not summed
    emit_plain_header(buf, 7, src_port, dst_port, seq, ack, flags, window, 20 + len(payload), SRC, DST)
    assert bytes(buf[7:-1]) == seg.to_bytes(SRC, DST)
