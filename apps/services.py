"""The classic small services as pure functions: the data each one produces (RFC 862, 863, 864, 867)."""

from __future__ import annotations

import time

CHARGEN_CHARS = bytes(range(0x20, 0x7F))
"""The 95 printable ASCII characters RFC 864's pattern rotates through."""
CHARGEN_LINE = 72


class ChargenPattern:
    """RFC 864: lines of 72 characters, each starting one character further along the ring, CR LF ended.

    The 95 distinct lines repeat; they are built once, so a connection only keeps an offset.
    """

    def __init__(self) -> None:
        ring = CHARGEN_CHARS * 2
        self.lines = [ring[i : i + CHARGEN_LINE] + b"\r\n" for i in range(len(CHARGEN_CHARS))]
        self.cycle = b"".join(self.lines)
        """One whole period of the stream (95 lines)."""

    def read(self, offset: int, size: int) -> bytes:
        """`size` bytes of the endless stream starting at byte `offset`."""
        period = len(self.cycle)
        start = offset % period
        out = bytearray()
        while len(out) < size:
            take = min(size - len(out), period - start)
            out += self.cycle[start : start + take]
            start = 0
        return bytes(out)


def daytime_line(now: float | None = None) -> bytes:
    """RFC 867 leaves the format free; this is the common 'Weekday, Month DD, YYYY HH:MM:SS-ZONE' form."""
    stamp = time.localtime(now)
    return time.strftime("%A, %B %d, %Y %H:%M:%S-%Z", stamp).encode("ascii", "replace") + b"\r\n"
