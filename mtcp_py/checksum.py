"""The Internet checksum (RFC 1071) in pure Python, fast.

The one's-complement sum of 16-bit words equals the whole buffer read as one big-endian integer taken
modulo 0xFFFF (because 2**16 is 1 modulo 0xFFFF), except that a non-zero sum that is a multiple of 0xFFFF
is 0xFFFF rather than 0. `int.from_bytes` and one modulus run in C; measured here about 3x faster than a
loop over 16-bit words even through `struct`, and faster than array tricks for frames of any size. The
modulus of a whole segment's integer is taken by `residue`, which halves the number first (about 2.3 us
down to 1.3 us for 1480 bytes, measured here).
"""

from __future__ import annotations

from collections.abc import Iterable

Bytes = bytes | bytearray | memoryview


_SHORT_BITS = 2048
"""A number this short is divided at once: halving it further costs more than it saves."""
_MAX_MASKS = 64
_masks: dict[int, int] = {}
"""Low-half masks by width, made once: a transfer's segments are of a few sizes, so of a few widths. Bounded
(2 MiB at the very worst, 64 KiB datagrams of many sizes), so odd sizes cannot grow it: a width beyond
the bound gets its mask made on the spot."""


def residue(value: int) -> int:
    """`value % 0xFFFF` for a non-negative integer, in about half the time for a whole segment's.

    CPython divides a big integer by a small one with one hardware division per 30-bit digit, the bulk of
    a checksum's cost. Adding the top half of the number to its bottom half, cut at a multiple of 16 bits,
    keeps the residue (2**16 is 1 modulo 0xFFFF) with shifts and additions only; the number is halved until
    the division left is short.
    """
    n = value.bit_length()
    while n > _SHORT_BITS:
        bits = (n >> 5) << 4
        mask = _masks.get(bits)
        if mask is None:
            mask = (1 << bits) - 1
            if len(_masks) < _MAX_MASKS:
                _masks[bits] = mask
        value = (value >> bits) + (value & mask)
        n = value.bit_length()
    return value % 0xFFFF


def ones_sum(data: Bytes, initial: int = 0) -> int:
    """The folded one's-complement sum of `data` (0..0xFFFF), continuing from `initial`.

    Only the last block may have an odd length: an odd block is summed as if a zero byte followed it.
    """
    length = len(data)
    value = int.from_bytes(data, "big")
    if length & 1:
        value <<= 8
    value += initial
    if not value:
        return 0
    folded = value % 0xFFFF if length <= _SHORT_BITS // 8 else residue(value)  # a header: no call
    return folded or 0xFFFF


def checksum(data: Bytes, initial: int = 0) -> int:
    """The checksum field value for `data` (with the field itself zeroed), starting from `initial`."""
    return ~ones_sum(data, initial) & 0xFFFF


def checksum_parts(parts: Iterable[Bytes], initial: int = 0) -> int:
    """Checksum over several blocks laid end to end; every block but the last must have an even length."""
    total = initial
    for part in parts:
        total = ones_sum(part, total)
    return ~total & 0xFFFF


def pseudo_header_sum(src: int, dst: int, protocol: int, length: int) -> int:
    """The folded sum of the IPv4 pseudo-header that TCP and UDP checksums cover (RFC 793, 768)."""
    value = (src >> 16) + (src & 0xFFFF) + (dst >> 16) + (dst & 0xFFFF) + protocol + length
    while value > 0xFFFF:
        value = (value & 0xFFFF) + (value >> 16)
    return value


def transport_checksum(data: Bytes, src: int, dst: int, protocol: int) -> int:
    """The checksum field value of a TCP or UDP segment `data` (its field zeroed) under its pseudo-header,
    equal to `checksum(data, pseudo_header_sum(...))` in one big-integer sum for the whole segment.

    The pseudo-header is added as one small integer: 2**16 is 1 modulo 0xFFFF, so a 32-bit address
    counts as its two 16-bit words without splitting. The value is never zero (the protocol is in it),
    so the modulus alone gives the folded sum, and 0xFFFF - sum, modulo 0xFFFF, its complement (0 when the
    sum is 0xFFFF, as `checksum` gives).
    """
    length = len(data)
    value = int.from_bytes(data, "big")
    if length & 1:
        value <<= 8
    return (0xFFFF - residue(value + (src + dst + protocol + length))) % 0xFFFF


def transport_ok(data: Bytes, src: int, dst: int, protocol: int) -> bool:
    """True when segment `data`, checksum field included, is right under its pseudo-header (the same test
    as `verify(data, pseudo_header_sum(...))`, in one sum)."""
    length = len(data)
    value = int.from_bytes(data, "big")
    if length & 1:
        value <<= 8
    return residue(value + (src + dst + protocol + length)) == 0


def verify(data: Bytes, initial: int = 0) -> bool:
    """True when `data`, checksum field included, sums to all ones (the checksum is right)."""
    return ones_sum(data, initial) == 0xFFFF


def complete_partial(frame: bytearray | memoryview, start: int, offset: int) -> None:
    """Finish in software a checksum left for a device: the field at `start + offset` holds the
    pseudo-header's sum, so the sum from `start` to the end is the whole sum (a frame that will not reach
    the device it was made for: queued for ARP, or rewritten on its way out)."""
    at = start + offset
    value = ~ones_sum(frame[start:]) & 0xFFFF
    frame[at] = value >> 8
    frame[at + 1] = value & 0xFF
