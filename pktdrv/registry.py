"""Loaded packet drivers by software interrupt, found the DOS way: "PKT DRVR" at offset 3 of the handler.

mTCP's PACKETINT names the vector (0x60 to 0x80); a program checks the eight signature bytes at offset 3
of the code the vector points at before it trusts it to be a packet driver.
"""

from __future__ import annotations

import threading

from .driver import PacketDriver
from .errors import ErrorCode, PacketDriverError

SIGNATURE = b"PKT DRVR"
FIRST_VECTOR = 0x60
LAST_VECTOR = 0x80


def handler_stub() -> bytes:
    """The first bytes of a packet driver's handler: a short jump over the signature, then the signature.

    A DOS machine that serves the driver from Python places these bytes at the vector's target.
    """
    return b"\xeb\x0a\x90" + SIGNATURE + b"\x00"


class DriverRegistry:
    """Software interrupts 0x60-0x80 and what handler each points at."""

    def __init__(self) -> None:
        self._vectors: dict[int, tuple[bytes, PacketDriver | None]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _check_vector(vector: int) -> None:
        if not FIRST_VECTOR <= vector <= LAST_VECTOR:
            raise PacketDriverError(ErrorCode.NO_NUMBER, f"vector {vector:#x} is outside 0x60-0x80")

    def install(self, driver: PacketDriver, vector: int = FIRST_VECTOR) -> None:
        self._check_vector(vector)
        with self._lock:
            current = self._vectors.get(vector)
            if current is not None and current[1] is not None and not current[1].terminated:
                raise PacketDriverError(ErrorCode.NO_NUMBER, f"vector {vector:#x} already has a driver")
            self._vectors[vector] = (handler_stub(), driver)
        driver.interrupt = vector

    def hook_other(self, vector: int, handler_bytes: bytes) -> None:
        """Point a vector at something that is not a packet driver (for tests of the signature check)."""
        self._check_vector(vector)
        with self._lock:
            self._vectors[vector] = (bytes(handler_bytes), None)

    def handler_bytes(self, vector: int) -> bytes:
        self._check_vector(vector)
        with self._lock:
            entry = self._vectors.get(vector)
        return entry[0] if entry else b"\xcf"  # an unhooked vector points at an IRET

    def find(self, vector: int) -> PacketDriver:
        """The driver at `vector`, after the signature check mTCP makes; NO_NUMBER when none is there."""
        code = self.handler_bytes(vector)
        if code[3:11] != SIGNATURE:
            raise PacketDriverError(ErrorCode.NO_NUMBER, f"no packet driver at {vector:#x}")
        with self._lock:
            driver = self._vectors[vector][1]
        if driver is None or driver.terminated:
            raise PacketDriverError(ErrorCode.NO_NUMBER, f"no packet driver at {vector:#x}")
        return driver

    def scan(self) -> list[int]:
        """Every vector in 0x60-0x80 that holds a packet driver, as a DOS 'find the driver' loop does."""
        found = []
        for vector in range(FIRST_VECTOR, LAST_VECTOR + 1):
            try:
                self.find(vector)  # a terminated driver has unhooked its vector: not listed
            except PacketDriverError:
                continue
            found.append(vector)
        return found
