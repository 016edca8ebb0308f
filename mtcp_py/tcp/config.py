"""TCP settings, counters, states and the errors a socket reports."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class State(Enum):
    CLOSED = "CLOSED"
    LISTEN = "LISTEN"
    SYN_SENT = "SYN_SENT"
    SYN_RECEIVED = "SYN_RECEIVED"
    ESTABLISHED = "ESTABLISHED"
    FIN_WAIT_1 = "FIN_WAIT_1"
    FIN_WAIT_2 = "FIN_WAIT_2"
    CLOSE_WAIT = "CLOSE_WAIT"
    CLOSING = "CLOSING"
    LAST_ACK = "LAST_ACK"
    TIME_WAIT = "TIME_WAIT"

    # Members are singletons, equal only to themselves: the identity hash is right for them, and it runs in
    # C, where Enum's own (the name's hash, in Python) made every `state in SENDING` a function call.
    __hash__ = object.__hash__


SYNCHRONIZED = frozenset({State.ESTABLISHED, State.FIN_WAIT_1, State.FIN_WAIT_2, State.CLOSE_WAIT, State.CLOSING,
                          State.LAST_ACK, State.TIME_WAIT})
RECEIVING = frozenset({State.ESTABLISHED, State.FIN_WAIT_1, State.FIN_WAIT_2})
"""States in which the peer may still send us data."""
SENDING = frozenset({State.ESTABLISHED, State.CLOSE_WAIT})
"""States in which new data from the application goes out."""
KEEPALIVE_IDLE_TICKS = 131_087
"""Two hours in 55 ms ticks (18.2065 a second), RFC 1122 4.2.3.6's least default idle time."""
KEEPALIVE_INTERVAL_TICKS = 1_366
"""75 seconds between unanswered keep-alives, as Linux (tcp_keepalive_intvl)."""
KEEPALIVE_PROBES = 9

# Reasons a connection ended badly, as `TcpSocket.error` and `TcpError.reason` give them.
REFUSED = "connection refused"
RESET = "connection reset"
TIMED_OUT = "timed out"
NO_ROUTE = "no route"
ABORTED = "aborted"
"""This side called abort()."""
STACK_CLOSED = "stack closed"


class TcpError(Exception):
    """A TCP operation failed; `reason` is one of the phrases above (or a caller-misuse message)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class TcpConfig:
    max_sockets: int = 32
    """Connections in the table at once (TIME_WAIT ones included; they are reclaimed when it is full)."""
    tx_buffers: int | None = None
    """Pre-allocated transmit buffers shared by all sockets (mTCP's TcpBuffer pool). None: a third more than
    one socket may hold (64 at an MSS of 8960 and above, as before; 240 at 1460)."""
    tx_buffers_per_socket: int | None = None
    """At most this many buffers queued or unacknowledged on one socket, so one cannot starve the rest.
    None: a send window's worth, 256 KiB of segments (as much as a socket offers to receive) and at least
    48, but no more than three quarters of the pool. With less in flight a bulk sender to a fast peer waits
    out every round trip: at 48 segments of 1460 the kernel's reader slept and was woken for every few."""
    mss: int = 1460
    """The largest segment payload a transmit buffer holds (clipped to the MTU less 40)."""
    receive_window: int | None = None
    """The most a socket advertises. None: receive_buffer when that is set (the window is then the queue's
    free space, as in mTCP), else 256 KiB or three quarters of the stack's receive buffers' worth of
    segments, whichever is more. The link is drained on the main line, so a burst larger than the pool
    waits in the device's queue rather than overrunning the pool."""
    receive_buffer: int | None = None
    """Bytes in each socket's receive queue. None: twice the window, so data the application has not read
    yet does not close the window: it stays open, and no window update has to get through (under loss,
    a lost update would otherwise stall the peer until its persist timer)."""
    window_scale: bool = True
    """Offer window scaling (RFC 7323) when the receive queue is larger than 65535."""
    time_wait_ticks: int = 1092
    """2 MSL, sixty seconds as Linux has it; when the table is full the oldest TIME_WAIT entry is reused."""
    fin_wait_2_ticks: int = 5460
    """About five minutes of silence in FIN_WAIT_2 (our FIN acknowledged, the peer's not yet sent) before
    the slot is given back; every segment from the peer starts the wait again."""
    delayed_ack_ticks: int = 1
    """A lone segment is acknowledged by the next tick; every second one at once."""
    rto_initial_ticks: int = 18
    """One second before the first RTT sample (RFC 6298 2.1)."""
    rto_min_ticks: int = 4
    """About 220 ms: RFC 6298 asks for a second, but Linux uses 200 ms and so do we on a LAN."""
    rto_max_ticks: int = 1092
    """Sixty seconds, the cap on exponential backoff."""
    max_retransmits: int = 8
    """Tries of the same segment before the connection is given up with 'timed out'."""
    syn_retries: int = 5
    persist_max_ticks: int = 1092
    nagle: bool = True
    """Hold back a small segment while data is unacknowledged (RFC 896); sockets can turn it off."""
    out_of_order_ranges: int = 32
    """Separate holes the receive queue remembers beyond the next expected byte."""
    backlog_max: int = 16
    syn_cookies: bool = True
    """Answer SYNs with a SYN cookie (RFC 4987) when a listener's half-open slots or the table are full, so
    a SYN flood cannot lock a port: nothing is allocated until the ACK proves the peer is real."""
    header_prediction: bool = True
    """Take in-order data and plain ACKs on the short path (predict.py); off, every segment takes the full
    path (for comparing the two)."""
    sack: bool = True
    """Offer SACK (RFC 2018) in SYNs; used when the peer offers it too."""
    initial_window: int | None = None
    """Segments sent before the first ACK; None: RFC 6928's min(10, max(2, 14600 / MSS))."""
    challenge_ack_limit: int = 10
    """Challenge ACKs (RFC 5961 7), and ACKs for out-of-window segments without data, per connection in
    `challenge_ack_ticks`; beyond it they are counted and not sent, so a forged flood cannot amplify."""
    challenge_ack_ticks: int = 18
    isn_key: bytes | None = None
    """Secret for initial sequence numbers (RFC 6528); random when None. Fixed only for repeatable tests."""
    ephemeral_first: int = 49_152
    ephemeral_last: int = 65_535


@dataclass
class TcpCounters:
    segments_received: int = 0
    predicted: int = 0
    """Segments taken on the short path (header prediction)."""
    segments_sent: int = 0
    bytes_received: int = 0
    """In-order payload bytes taken into receive queues (or handed to receive callbacks)."""
    bytes_sent: int = 0
    """New payload bytes sent (retransmissions excluded)."""
    active_opens: int = 0
    passive_opens: int = 0
    established: int = 0
    retransmits: int = 0
    loss_probes: int = 0
    """Tail loss probes sent (RFC 8985 7)."""
    timeouts: int = 0
    fast_retransmits: int = 0
    dup_acks: int = 0
    out_of_order: int = 0
    out_of_order_dropped: int = 0
    duplicate_bytes: int = 0
    """Bytes trimmed because they had been received before."""
    not_acceptable: int = 0
    """Segments outside the receive window (answered with an ACK)."""
    ack_too_new: int = 0
    ack_too_old: int = 0
    """Segments whose ACK is older than SND.UNA - MAX.SND.WND: dropped and challenged (RFC 5961 5.2)."""
    acks_sent: int = 0
    delayed_acks: int = 0
    window_probes: int = 0
    keepalive_probes: int = 0
    keepalive_timeouts: int = 0
    """Connections ended because the peer answered no keep-alive probe."""
    window_updates: int = 0
    rst_sent: int = 0
    rst_received: int = 0
    rst_ignored: int = 0
    """Resets outside the window, dropped (RFC 5961)."""
    challenge_acks: int = 0
    challenge_acks_limited: int = 0
    """Challenge or out-of-window ACKs not sent because of the per-connection limit."""
    no_socket: int = 0
    """Segments for no connection and no listener (answered with a reset)."""
    syn_refused_backlog: int = 0
    """SYNs refused because the listener's accept queue is full."""
    syn_refused_table_full: int = 0
    syn_cookies_sent: int = 0
    syn_cookies_accepted: int = 0
    syn_cookies_failed: int = 0
    """ACKs to a listener that carried no valid cookie (answered with a reset)."""
    half_open_evicted: int = 0
    """Half-open connections dropped to make room for one completed with a cookie."""
    time_wait_reused: int = 0
    """TIME_WAIT entries taken back early because the table was full."""
    time_wait_reopened: int = 0
    """A new SYN above the old sequence space reopened a TIME_WAIT 4-tuple (RFC 1122 4.2.2.13)."""
    sacked_segments: int = 0
    """Our segments the peer reported received out of order (SACK)."""
    sack_recoveries: int = 0
    """Fast recoveries driven by the peer's SACK blocks (the rest are NewReno's three duplicate ACKs)."""
    window_overrides: int = 0
    """Segments forced into a window smaller than one MSS by the override timer (RFC 9293 3.8.6.2.1)."""
    urgent_received: int = 0
    bad_segments: int = 0
    """Segments the parser rejected (the stack's drops table says why)."""
    not_for_us: int = 0
    connections_reset: int = 0
    connections_refused: int = 0
    connections_timed_out: int = 0
    tx_pool_empty: int = 0
    tx_buffers_low_free: int = 0
    """The fewest free transmit buffers seen (like the receive pool's low_free)."""
    send_errors: int = 0
    icmp_errors: int = 0
    icmp_ignored: int = 0
    """ICMP errors whose quoted sequence number is outside SND.UNA..SND.NXT (RFC 5927): forged or stale."""
