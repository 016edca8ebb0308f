"""TCP segments (RFC 9293): parse with every check the state machine relies on, emit with the checksum.

`TcpRepr.parse` needs the IPv4 source and destination for the pseudo-header checksum. It rejects what no
honest peer sends (bad checksum, data offset outside the segment, SYN with FIN or RST, port 0) by raising
`WireError(reason)`, and only that.

Options are read the way Linux's tcp_parse_options reads them, never a reason to drop a segment: the walk
stops at End, at a length byte below 2 or one that runs past the header, keeping what it read before; an
option is taken only at its exact length (MSS 4, window scale 3, SACK-permitted 2, timestamps 10, SACK
2 + 8n) and skipped otherwise. Which options matter when (MSS only on a SYN, say) is the TCP layer's call.

The payload of a parsed segment is a view into the caller's buffer: copy it before the buffer goes back.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..checksum import residue, transport_checksum, transport_ok
from . import WireError

HEADER = struct.Struct("!HHIIBBHHH")
HEADER_LEN = 20
PROTO_TCP = 6
CHECKSUM_AT = 16
"""The checksum field's offset in the header (where a device that sums the segment writes it)."""

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
OPT_SACK_PERMITTED = 4
OPT_SACK = 5
OPT_TIMESTAMPS = 8
MAX_SACK_BLOCKS = 4
MAX_OPTIONS_LEN = 40
"""Without timestamps, four blocks fit in the 40 bytes of options (RFC 2018 3)."""
MAX_WINDOW_SCALE = 14
"""RFC 7323: a larger shift is treated as 14."""

_CHECKSUM = struct.Struct("!H")
_PLAIN_OFFSET = (HEADER_LEN // 4) << 4
"""The data offset byte of a header without options."""
_MSS_OPTION = struct.Struct("!BBH")
_SACK_EDGES = struct.Struct("!II")
_TIMESTAMPS = struct.Struct("!II")
SackBlocks = tuple[tuple[int, int], ...]
"""(left edge, right edge) pairs: the bytes from left up to, not including, right have arrived."""
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
    sack_permitted: bool = False
    sack: SackBlocks = ()
    timestamps: tuple[int, int] | None = None
    """(TSval, TSecr) when the option was present; read, never sent (this stack does not use them)."""

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
        if verify_checksum and not transport_ok(data, src_ip, dst_ip, PROTO_TCP):
            raise WireError("tcp_bad_checksum")
        if src_port == 0 or dst_port == 0:
            raise WireError("tcp_port_zero")
        if flags & SYN and flags & (FIN | RST):
            raise WireError("tcp_bad_flags", flags_to_str(flags))
        payload = data[header_len:] if header_len < length else b""
        seg = cls(src_port, dst_port, seq, ack, flags, window, payload, None, None, urgent)
        if header_len > HEADER_LEN:
            _parse_options(seg, data[HEADER_LEN:header_len])
        return seg

    def _fixed_options_len(self) -> int:
        return (4 if self.mss is not None else 0) + (4 if self.window_scale is not None else 0) \
            + (4 if self.sack_permitted else 0)

    def _sack_blocks_sent(self) -> int:
        """SACK blocks that fit in the 40 bytes of options beside the others (the first ones are kept)."""
        return min(len(self.sack), MAX_SACK_BLOCKS, (MAX_OPTIONS_LEN - self._fixed_options_len() - 4) // 8)

    def options_len(self) -> int:
        blocks = self._sack_blocks_sent() if self.sack else 0
        return self._fixed_options_len() + (4 + 8 * blocks if blocks > 0 else 0)

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

    def emit_header(self, buf: bytearray | memoryview, offset: int, src_ip: int, dst_ip: int,
                    payload_len: int) -> None:
        """Write the header in front of `payload_len` bytes already in place, and the checksum."""
        header_len = self.header_len()
        HEADER.pack_into(buf, offset, self.src_port, self.dst_port, self.seq, self.ack, (header_len // 4) << 4,
                         self.flags, self.window, 0, self.urgent)
        at = offset + HEADER_LEN
        if self.mss is not None:
            _MSS_OPTION.pack_into(buf, at, OPT_MSS, 4, self.mss)
            at += 4
        if self.sack_permitted:
            buf[at : at + 4] = b"\x01\x01\x04\x02"
            at += 4
        if self.window_scale is not None:
            buf[at : at + 4] = bytes((OPT_NOP, OPT_WINDOW_SCALE, 3, self.window_scale))
            at += 4
        blocks = self.sack[: self._sack_blocks_sent()] if self.sack else ()
        if blocks:
            buf[at : at + 4] = bytes((OPT_NOP, OPT_NOP, OPT_SACK, 2 + 8 * len(blocks)))
            at += 4
            for left, right in blocks:
                _SACK_EDGES.pack_into(buf, at, left, right)
                at += 8
        fill_checksum(buf, offset, header_len + payload_len, src_ip, dst_ip)

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
        if self.sack_permitted:
            text += " sackOK"
        if self.sack:
            text += " sack=" + ",".join(f"{left}-{right}" for left, right in self.sack)
        if self.urgent or self.flags & URG:
            text += f" urg={self.urgent}"
        return text


def reset_fields(seq: int, ack: int, flags: int, seg_len: int) -> tuple[int, int, int]:
    """(SEQ, ACK, flags) of the reset RFC 9293 3.10.7.1 answers a segment for no connection with: one that
    carried an ACK is answered from that ACK; any other is acknowledged past what it occupied."""
    if flags & ACK:
        return ack, 0, RST
    return 0, (seq + seg_len) & 0xFFFF_FFFF, RST | ACK


_QUOTED = struct.Struct("!HHI")


def parse_quoted(data: bytes | bytearray | memoryview) -> tuple[int, int, int]:
    """(source port, destination port, sequence number) from the first 8 bytes of a segment that an ICMP
    error quotes (RFC 792 promises 8 bytes; RFC 5927 checks the sequence number)."""
    if len(data) < 8:
        raise WireError("tcp_quote_truncated", f"{len(data)} bytes")
    src_port, dst_port, seq = _QUOTED.unpack_from(data, 0)
    return src_port, dst_port, seq


def emit_plain_header(buf: bytearray | memoryview, offset: int, src_port: int, dst_port: int, seq: int, ack: int,
                      flags: int, window: int, length: int, src_ip: int, dst_ip: int) -> None:
    """A 20-byte header without options at `offset`, in front of the payload already in place, and the
    checksum over the `length`-byte segment: the data path's one call per segment (TcpRepr.emit_header
    does the same with options)."""
    # The payload is summed as bytes, the header from its fields (2**16 is 1 modulo 0xFFFF, so 32-bit fields
    # count whole, as in checksum.transport_checksum), and the header is packed once, checksum included.
    value = int.from_bytes(memoryview(buf)[offset + HEADER_LEN : offset + length], "big")
    if length & 1:
        value <<= 8
    value += src_port + dst_port + seq + ack + (_PLAIN_OFFSET << 8) + flags + window + src_ip + dst_ip + PROTO_TCP \
        + length
    HEADER.pack_into(buf, offset, src_port, dst_port, seq, ack, _PLAIN_OFFSET, flags, window,
                     (0xFFFF - residue(value)) % 0xFFFF, 0)


def emit_plain_header_partial(buf: bytearray | memoryview, offset: int, src_port: int, dst_port: int, seq: int,
                              ack: int, flags: int, window: int, length: int, src_ip: int, dst_ip: int) -> None:
    """emit_plain_header for a device that sums the segment itself (checksum offload): the checksum field
    holds the pseudo-header's sum, folded and not complemented, as the device expects (Linux's
    CHECKSUM_PARTIAL); the payload is never read."""
    HEADER.pack_into(buf, offset, src_port, dst_port, seq, ack, _PLAIN_OFFSET, flags, window,
                     (src_ip + dst_ip + PROTO_TCP + length) % 0xFFFF or 0xFFFF, 0)


def fill_checksum(buf: bytearray | memoryview, offset: int, length: int, src_ip: int, dst_ip: int) -> None:
    """Write the checksum of the `length`-byte segment at `offset` (its checksum field zero): pseudo-header,
    header and payload in one sum. TcpRepr.emit_header's (segments with options, and control segments);
    emit_plain_header makes the data path's the same way, from the header's fields."""
    _CHECKSUM.pack_into(buf, offset + 16, transport_checksum(memoryview(buf)[offset : offset + length], src_ip,
                                                             dst_ip, PROTO_TCP))


def _parse_options(seg: TcpRepr, options: bytes | bytearray | memoryview) -> None:
    """Fill `seg`'s option fields as Linux's tcp_parse_options reads them (see the module's docstring)."""
    i = 0
    end = len(options)
    sack: list[tuple[int, int]] = []
    while i < end:
        kind = options[i]
        if kind == OPT_END:
            break
        if kind == OPT_NOP:
            i += 1
            continue
        if i + 1 >= end:
            break
        size = options[i + 1]
        if size < 2 or i + size > end:
            break  # "silly" or partial: stop here, keep what was read and the segment
        # Each option only at its exact length; at any other it is skipped like an unknown one.
        if kind == OPT_MSS and size == 4:
            seg.mss = (options[i + 2] << 8) | options[i + 3]
        elif kind == OPT_WINDOW_SCALE and size == 3:
            seg.window_scale = min(options[i + 2], MAX_WINDOW_SCALE)
        elif kind == OPT_SACK_PERMITTED and size == 2:
            seg.sack_permitted = True
        elif kind == OPT_TIMESTAMPS and size == 10:
            seg.timestamps = _TIMESTAMPS.unpack_from(options, i + 2)
        elif kind == OPT_SACK and size >= 10 and (size - 2) % 8 == 0:
            sack.extend(_SACK_EDGES.unpack_from(options, at) for at in range(i + 2, i + size, 8))
        i += size
    if sack:
        seg.sack = tuple(sack)
