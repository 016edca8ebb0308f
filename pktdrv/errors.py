"""The Packet Driver Specification's error codes, and the one exception that carries them."""

from __future__ import annotations

from enum import IntEnum


class ErrorCode(IntEnum):
    """Error codes returned in DH with the carry flag set (spec 1.11, table of errors)."""

    BAD_HANDLE = 1
    NO_CLASS = 2
    NO_TYPE = 3
    NO_NUMBER = 4
    BAD_TYPE = 5
    NO_MULTICAST = 6
    CANT_TERMINATE = 7
    BAD_MODE = 8
    NO_SPACE = 9
    TYPE_INUSE = 10
    BAD_COMMAND = 11
    CANT_SEND = 12
    CANT_SET = 13
    BAD_ADDRESS = 14
    CANT_RESET = 15


class PacketDriverError(Exception):
    """A packet driver call failed; `code` is what a DOS caller would find in DH."""

    def __init__(self, code: ErrorCode, detail: str = "") -> None:
        self.code = ErrorCode(code)
        self.detail = detail
        text = f"{self.code.name} ({int(self.code)})"
        super().__init__(f"{text}: {detail}" if detail else text)
