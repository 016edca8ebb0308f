"""Sequence numbers are compared modulo 2**32 (RFC 9293 3.4): a is before b when b - a, taken as a signed
32-bit number, is positive."""

from __future__ import annotations

MASK = 0xFFFF_FFFF
HALF = 0x8000_0000


def seq_add(a: int, n: int) -> int:
    return (a + n) & MASK


def seq_diff(a: int, b: int) -> int:
    """a - b as a signed distance (-2**31 .. 2**31 - 1)."""
    d = (a - b) & MASK
    return d - 0x1_0000_0000 if d & HALF else d


def seq_lt(a: int, b: int) -> bool:
    return (a - b) & MASK >= HALF


def seq_le(a: int, b: int) -> bool:
    return a == b or (a - b) & MASK >= HALF


def seq_gt(a: int, b: int) -> bool:
    return seq_lt(b, a)


def seq_ge(a: int, b: int) -> bool:
    return seq_le(b, a)
