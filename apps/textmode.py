"""mTCP NC's text handling, as pure functions over byte chunks.

Text mode (the default) ends input at Ctrl-Z, as DOS's text-mode read does. With -telnet_nl a newline
read from stdin goes out as CR/LF, and CR/LF coming in is written as a newline; a CR split from its LF
across two chunks is held back until the next chunk says which it was. -bin passes everything as is.
"""

from __future__ import annotations

CTRL_Z = 0x1A


def cut_at_ctrl_z(chunk: bytes) -> tuple[bytes, bool]:
    """(data before any Ctrl-Z, whether a Ctrl-Z ended the input)."""
    index = chunk.find(CTRL_Z)
    if index < 0:
        return chunk, False
    return chunk[:index], True


def newline_to_crlf(chunk: bytes) -> bytes:
    """NL as the telnet newline (CR/LF) on the way out."""
    return chunk.replace(b"\n", b"\r\n")


class CrlfToNewline:
    """CR/LF as NL on the way in, across chunk boundaries."""

    def __init__(self) -> None:
        self.held_cr = False

    def feed(self, chunk: bytes) -> bytes:
        if self.held_cr:
            chunk = b"\r" + chunk
            self.held_cr = False
        if chunk.endswith(b"\r"):
            chunk = chunk[:-1]
            self.held_cr = True
        return chunk.replace(b"\r\n", b"\n")

    def flush(self) -> bytes:
        """What is still held at the end of the stream (a lone trailing CR)."""
        if self.held_cr:
            self.held_cr = False
            return b"\r"
        return b""
