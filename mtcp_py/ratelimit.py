"""A fixed-window rate limit in ticks: at most `burst` events per `ticks`. For the answers an attacker could
otherwise multiply (TCP's challenge ACKs, RFC 5961 7; ICMP port unreachables, RFC 1812 4.3.2.8). Given
`now`; never reads a clock."""

from __future__ import annotations


class WindowLimit:
    __slots__ = ("burst", "ticks", "since", "used")

    def __init__(self, burst: int, ticks: int, since: int = 0) -> None:
        self.burst = burst
        self.ticks = ticks
        self.since = since
        """The tick the current window began."""
        self.used = 0

    def allow(self, now: int) -> bool:
        """True (and counted) when one more event fits in the window that holds `now`."""
        if now - self.since >= self.ticks:
            self.since, self.used = now, 0
        if self.used >= self.burst:
            return False
        self.used += 1
        return True
