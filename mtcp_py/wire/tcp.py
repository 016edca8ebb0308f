"""TCP segments (RFC 9293): parse with every check the state machine relies on, emit with the checksum.

`TcpRepr.parse` needs the IPv4 source and destination for the pseudo-header checksum. It accepts the
options this stack understands (MSS, window scale), skips others by their length, and rejects what no
honest peer sends: bad checksum, data offset outside the segment, SYN with FIN or RST, port 0.
Anything wrong raises `WireError(reason)` and only that.

The payload of a parsed segment is a view into the caller's buffer: copy it before the buffer goes back.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..checksum import ones_sum, pseudo_header_sum
from . import WireError

HEADER = struct.Struct("!HHIIBBHHH")
HEADER_LEN = 20
PROTO_TCP = 6

FIN = 0x01
SYN = 0x02
RST = 0x04
PSH = 0x08
ACK = 0x10
URG = 0x20
ECE = 0x40
CWR = 0x80

OPT_END = 0
OPT_NOP = 1
OPT_MSS = 2
OPT_WINDOW_SCALE = 3
MAX_WINDOW_SCALE = 14
"""RFC 7323: a larger shift is treated as 14."""

_CHECKSUM = struct.Struct("!H")
_MSS_OPTION = struct.Struct("!BBH")
_FLAG_NAMES = ((SYN, "S"), (FIN, "F"), (RST, "R"), (PSH, "P"), (ACK, "."), (URG, "U"))


def flags_to_str(flags: int) -> str:
    """tcpdump's letters: S, F, R, P, '.' for ACK, U."""
    return "".join(letter for bit, letter in _FLAG_NAMES if flags & bit) or "none"


@dataclass(slots=True)
class TcpRepr:
    src_port: int
    dst_port: int
    seq: int
    ack: int
    flags: int
    window: int
    """The raw 16-bit field; the receiver applies any window scale."""
    payload: bytes | bytearray | memoryview = b""
    mss: int | None = None
    window_scale: int | None = None
    urgent: int = 0

    @property
    def syn(self) -> bool:
        return bool(self.flags & SYN)

    @property
    def fin(self) -> bool:
        return bool(self.flags & FIN)

    @property
    def rst(self) -> bool:
        return bool(self.flags & RST)

    @property
    def has_ack(self) -> bool:
        return bool(self.flags & ACK)

    @property
    def seg_len(self) -> int:
        """Sequence space the segment occupies: data plus one each for SYN and FIN."""
        return len(self.payload) + (self.flags & SYN and 1) + (self.flags & FIN)

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview, src_ip: int, dst_ip: int,
              verify_checksum: bool = True) -> TcpRepr:
        length = len(data)
        if length < HEADER_LEN:
            raise WireError("tcp_truncated", f"{length} bytes")
        src_port, dst_port, seq, ack, offset_byte, flags, window, _csum, urgent = HEADER.unpack_from(data, 0)
        header_len = (offset_byte >> 4) * 4
        if header_len < HEADER_LEN or header_len > length:
            raise WireError("tcp_bad_data_offset", f"offset {header_len}, segment {length}")
        if verify_checksum and ones_sum(data, pseudo_header_sum(src_ip, dst_ip, PROTO_TCP, length)) != 0xFFFF:
            raise WireError("tcp_bad_checksum")
        if src_port == 0 or dst_port == 0:
            raise WireError("tcp_port_zero")
        if flags & SYN and flags & (FIN | RST):
            raise WireError("tcp_bad_flags", flags_to_str(flags))
        mss = scale = None
        if header_len > HEADER_LEN:
            mss, scale = _parse_options(data[HEADER_LEN:header_len])
        payload = data[header_len:] if header_len < length else b""
        return cls(src_port, dst_port, seq, ack, flags, window, payload, mss, scale, urgent)

    def options_len(self) -> int:
        return (4 if self.mss is not None else 0) + (4 if self.window_scale is not None else 0)

    def header_len(self) -> int:
        return HEADER_LEN + self.options_len()

    def buffer_len(self) -> int:
        return self.header_len() + len(self.payload)

    def emit(self, buf: bytearray | memoryview, offset: int, src_ip: int, dst_ip: int) -> int:
        """Write header, options and payload at `offset`, checksum included; returns the segment length."""
        header_len = self.header_len()
        end = offset + header_len + len(self.payload)
        buf[offset + header_len : end] = self.payload
        self.emit_header(buf, offset, src_ip, dst_ip, len(self.payload))
        return end - offset

    def emit_header(self, buf: bytearray | memoryview, offset: int, src_ip: int, dst_ip: int, payload_len: int,
                    payload_sum: int | None = None) -> None:
        """Write the header in front of `payload_len` bytes already in place, and the checksum.

        `payload_sum` is the payload's folded one's-complement sum if the caller keeps it (retransmissions
        of a pre-built buffer then checksum only the header).
        """
        header_len = self.header_len()
        HEADER.pack_into(buf, offset, self.src_port, self.dst_port, self.seq, self.ack, (header_len // 4) << 4,
                         self.flags, self.window, 0, self.urgent)
        at = offset + HEADER_LEN
        if self.mss is not None:
            _MSS_OPTION.pack_into(buf, at, OPT_MSS, 4, self.mss)
            at += 4
        if self.window_scale is not None:
            buf[at : at + 4] = bytes((OPT_NOP, OPT_WINDOW_SCALE, 3, self.window_scale))
        total = header_len + payload_len
        initial = pseudo_header_sum(src_ip, dst_ip, PROTO_TCP, total)
        view = memoryview(buf)
        if payload_sum is None:
            value = ones_sum(view[offset : offset + total], initial)
        else:
            value = ones_sum(view[offset : offset + header_len], _fold(initial + payload_sum))
        _CHECKSUM.pack_into(buf, offset + 16, ~value & 0xFFFF)

    def to_bytes(self, src_ip: int, dst_ip: int) -> bytes:
        out = bytearray(self.buffer_len())
        self.emit(out, 0, src_ip, dst_ip)
        return bytes(out)

    def __str__(self) -> str:
        text = f"{self.src_port}>{self.dst_port} [{flags_to_str(self.flags)}] seq={self.seq} ack={self.ack} " \
               f"win={self.window} len={len(self.payload)}"
        if self.mss is not None:
            text += f" mss={self.mss}"
        if self.window_scale is not None:
            text += f" ws={self.window_scale}"
        return text


def _fold(value: int) -> int:
    while value > 0xFFFF:
        value = (value & 0xFFFF) + (value >> 16)
    return value


def _parse_options(options: bytes | bytearray | memoryview) -> tuple[int | None, int | None]:
    mss = scale = None
    i = 0
    end = len(options)
    while i < end:
        kind = options[i]
        if kind == OPT_END:
            break
        if kind == OPT_NOP:
            i += 1
            continue
        if i + 1 >= end:
            raise WireError("tcp_bad_option", f"option {kind} truncated")
        size = options[i + 1]
        if size < 2 or i + size > end:
            raise WireError("tcp_bad_option", f"option {kind} length {size}")
        if kind == OPT_MSS:
            if size != 4:
                raise WireError("tcp_bad_option", "MSS length")
            mss = (options[i + 2] << 8) | options[i + 3]
        elif kind == OPT_WINDOW_SCALE:
            if size != 3:
                raise WireError("tcp_bad_option", "window scale length")
            scale = min(options[i + 2], MAX_WINDOW_SCALE)
        i += size
    return mss, scale
