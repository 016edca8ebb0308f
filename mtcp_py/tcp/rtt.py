"""Retransmission timeout from round-trip samples (RFC 6298), in ticks, with exponential backoff."""

from __future__ import annotations


class RttEstimator:
    """SRTT and RTTVAR from samples; `rto` is the base timeout, `timeout()` the backed-off one."""

    def __init__(self, initial: int, minimum: int, maximum: int) -> None:
        self.minimum = max(1, minimum)
        self.maximum = max(self.minimum, maximum)
        self.srtt: float | None = None
        self.rttvar = 0.0
        self.rto = min(max(initial, self.minimum), self.maximum)
        self.backoff = 0

    def sample(self, ticks: int) -> None:
        """A round trip measured on a segment sent once (Karn's rule: never a retransmitted one)."""
        r = float(max(ticks, 0))
        if self.srtt is None:
            self.srtt = r
            self.rttvar = r / 2
        else:
            self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - r)
            self.srtt = 0.875 * self.srtt + 0.125 * r
        # The clock granularity G is one tick (RFC 6298 2.3); round up so a timer never fires early.
        value = self.srtt + max(1.0, 4 * self.rttvar)
        self.rto = min(max(self.minimum, int(value) + (value > int(value))), self.maximum)

    def timeout(self) -> int:
        value = self.rto << self.backoff
        return value if value < self.maximum else self.maximum

    def back_off(self) -> None:
        """Double the timeout after an expiry (5.5), up to the cap."""
        if self.rto << self.backoff < self.maximum:
            self.backoff += 1

    def reset_backoff(self) -> None:
        self.backoff = 0
