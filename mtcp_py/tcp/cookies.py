"""SYN cookies (RFC 4987 3.6), laid out as Linux lays them: when a listener cannot take another half-open
connection, the SYN-ACK's sequence number carries everything needed to finish the handshake, and nothing
is allocated until the peer's ACK brings it back.

    cookie = H1(4-tuple) + peer's ISN + (count << 24) + ((H2(4-tuple, count) + mss_index) mod 2**24)

`count` is the time in 64-second periods; a cookie is good for two of them. H1 and H2 are keyed hashes
with the layer's secret, so a blind attacker cannot make one. What a cookie cannot carry (window scale,
SACK) the connection goes without, as on Linux without timestamps.
"""

from __future__ import annotations

import hashlib
import struct

MSS_TABLE = (536, 1300, 1440, 1460)
"""The MSS values a cookie can encode (Linux's msstab): the largest not above the peer's is used."""
COOKIE_BITS = 24
COOKIE_MASK = (1 << COOKIE_BITS) - 1
PERIOD_TICKS = 1165
"""About 64 seconds of 55 ms ticks."""
MAX_AGE = 2
"""Periods a cookie stays valid."""
_TUPLE = struct.Struct("!IHIHI")


class SynCookies:
    def __init__(self, key: bytes) -> None:
        self._key = hashlib.blake2s(key, person=b"syncook").digest()

    def _hash(self, local_ip: int, local_port: int, remote_ip: int, remote_port: int, count: int) -> int:
        data = _TUPLE.pack(local_ip, local_port, remote_ip, remote_port, count & 0xFFFF_FFFF)
        return int.from_bytes(hashlib.blake2s(data, key=self._key, digest_size=4).digest(), "big")

    def make(self, local_ip: int, local_port: int, remote_ip: int, remote_port: int, peer_isn: int, mss: int,
             now: int) -> tuple[int, int]:
        """(our ISN, the MSS it encodes) for a SYN from `remote` with sequence number `peer_isn`."""
        index = max((i for i, value in enumerate(MSS_TABLE) if value <= mss), default=0)
        count = now // PERIOD_TICKS
        h1 = self._hash(local_ip, local_port, remote_ip, remote_port, 0xFFFF_FFFF)
        h2 = self._hash(local_ip, local_port, remote_ip, remote_port, count)
        cookie = h1 + peer_isn + ((count << COOKIE_BITS) & 0xFFFF_FFFF) + ((h2 + index) & COOKIE_MASK)
        return cookie & 0xFFFF_FFFF, MSS_TABLE[index]

    def check(self, local_ip: int, local_port: int, remote_ip: int, remote_port: int, peer_isn: int, cookie: int,
              now: int) -> int | None:
        """The MSS a returning cookie encodes, or None when it is forged or too old."""
        h1 = self._hash(local_ip, local_port, remote_ip, remote_port, 0xFFFF_FFFF)
        value = (cookie - h1 - peer_isn) & 0xFFFF_FFFF
        count = now // PERIOD_TICKS
        age = (count - (value >> COOKIE_BITS)) & 0xFF
        if age >= MAX_AGE:
            return None
        h2 = self._hash(local_ip, local_port, remote_ip, remote_port, count - age)
        index = (value - h2) & COOKIE_MASK
        return MSS_TABLE[index] if index < len(MSS_TABLE) else None
