"""The transmission control block: everything one connection remembers, and the owner it reports to.

The fields follow RFC 9293's names (snd_una, snd_nxt, rcv_nxt...). Segment arrival (`input.py`) and
sending plus timers (`output.py`) are separate mixins over this block; `socket.py` adds the application's
calls. None of them reads a clock: every entry point is given `now` in ticks, or uses the last `now` the
owner saw.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from ..ratelimit import WindowLimit
from .config import State, TcpConfig, TcpCounters
from .rtt import RttEstimator
from .rxqueue import ReceiveQueue
from .txbuf import TxBuffer, TxPool

ReceiveCallback = Callable[[Any, memoryview], bool]
"""Zero-copy receive: called with the socket and in-order data still in the stack's receive buffer. Return True when the
data was consumed (the view is invalid after the call), False to have it queued as usual."""


class Owner(Protocol):
    """What a connection needs from the TCP layer that owns it."""

    config: TcpConfig
    counters: TcpCounters
    pool: TxPool
    tx_per_socket: int
    now: int
    local_ip: int

    def send_control(self, tcb: Tcb, flags: int, seq: int, ack: int, now: int, *, syn_options: bool = False) -> bool:
        ...

    def send_buffer(self, tcb: Tcb, buf: TxBuffer, flags: int, now: int) -> bool: ...

    def send_reset(self, local_port: int, remote_ip: int, remote_port: int, seq: int, ack: int, flags: int,
                   now: int) -> None: ...

    def established(self, tcb: Tcb) -> None: ...

    def release(self, tcb: Tcb) -> None: ...


class Tcb:
    def __init__(self, owner: Owner, local_port: int, remote_ip: int, remote_port: int, mss: int,
                 receive_buffer: int, receive_window: int | None = None) -> None:
        cfg = owner.config
        self.owner = owner
        self.local_port = local_port
        self.remote_ip = remote_ip
        self.remote_port = remote_port
        self.state = State.CLOSED
        self.passive = False
        self.listener: object | None = None
        """The listener that made this connection, until accept() hands it out."""
        self.error: str | None = None
        self.peer_closed = False
        self.app_closed = False
        """The application called close() (FIN queued) or abort(); the slot is freed once CLOSED."""
        self.released = False
        self.nagle = cfg.nagle
        # send sequence space
        self.iss = 0
        self.snd_una = 0
        self.snd_nxt = 0
        self.snd_wnd = 0
        self.snd_wl1 = 0
        self.snd_wl2 = 0
        self.max_snd_wnd = 0
        self.snd_mss = min(536, mss)
        """What the peer may receive per segment; 536 until its MSS option says otherwise (RFC 9293 3.7.1)."""
        self.our_mss = mss
        self.snd_shift = 0
        self.fin_queued = False
        self.fin_sent = False
        self.fin_seq = 0
        # receive sequence space
        self.irs = 0
        self.rcv_nxt = 0
        self.rcv_shift = 0
        self.offer_shift = 0
        """The scale this side offers in its SYN; used only if the peer offers one too."""
        self.rcv_adv = 0
        """Right edge of the window last advertised."""
        self.rx = ReceiveQueue(receive_buffer, cfg.out_of_order_ranges)
        self.window_cap = receive_window or receive_buffer
        """The most this socket advertises, however much room its queue has."""
        self.sws_step = min(self.window_cap >> 1, mss)
        """The least the window's right edge moves by (receiver SWS avoidance, RFC 9293 3.8.6.2.2)."""
        self.on_receive: ReceiveCallback | None = None
        # rings of transmit buffers
        self.outgoing: deque[TxBuffer] = deque()
        self.sent: deque[TxBuffer] = deque()
        self.buffers_held = 0
        # timers (absolute ticks, or None when idle)
        self.rtt = RttEstimator(cfg.rto_initial_ticks, cfg.rto_min_ticks, cfg.rto_max_ticks)
        self.retransmit_at: int | None = None
        self.probe_at: int | None = None
        """The tail loss probe's deadline (RFC 8985 7): with data in flight and no ACK by then, one segment
        goes out to draw an ACK, so a lost last segment or a lost lone ACK costs a tick, not an RTO."""
        self.probes_sent = 0
        """Probes sent since an ACK last reported something delivered."""
        self.retries = 0
        self.persist_at: int | None = None
        self.persist_backoff = 0
        self.ack_due: int | None = None
        self.time_wait_at: int | None = None
        self.fin_wait_2_at: int | None = None
        self.keepalive: tuple[int, int, int] | None = None
        """(idle, interval, probes), in ticks, when keep-alives are on (RFC 1122 4.2.3.6: off unless asked)."""
        self.keepalive_at: int | None = None
        self.keepalive_mark = (0, 0)
        """(RCV.NXT, SND.UNA) when the idle time began: any progress since means the peer is there."""
        self.keepalive_since = 0
        """The tick the current idle time began."""
        self.keepalive_probes = 0
        self.heard_at = -1
        """The tick the full path last took a segment (an answer to a probe moves neither edge)."""
        self.timing_seq: int | None = None
        """The acknowledgement that ends the round trip being timed, or None (Karn: never a resent one)."""
        self.timing_start = 0
        # acknowledgements owed
        self.ack_now = False
        self.unacked_segments = 0
        self.syn_pending = False
        # congestion control and loss recovery (recovery.py), in segments as Linux counts them
        self.cwnd = 1
        self.ssthresh = 0x7FFF_FFFF
        self.cwnd_count = 0
        """Segments acknowledged toward the next one-segment growth in congestion avoidance."""
        self.sack_ok = False
        """Both SYNs offered SACK: the peer's blocks drive retransmission, ours go in every ACK."""
        self.offer_sack = cfg.sack
        self.dup_acks = 0
        self.recover: int | None = None
        """SND.NXT when recovery began (RFC 6582): until an ACK covers it, no new recovery starts."""
        self.fast_recovery = False
        """In fast recovery (duplicate ACKs or SACK); False during the slow start after a timeout."""
        self.recover_fs = 0
        """Segments outstanding when fast recovery began (RFC 6937's RecoverFS)."""
        self.prr_delivered = 0
        self.prr_base = 0
        """`xmit_count` when fast recovery began: what was sent since is PRR's prr_out."""
        self.sacked_out = 0
        """Segments on `sent` the peer has (SACKed), or without SACK the duplicate ACKs seen (Linux's
        reno_sacks): either way, segments that have left the network."""
        self.lost_out = 0
        self.retrans_out = 0
        self.xmit_count = 0
        """Data segments sent so far, new or again: each buffer remembers its last one (`xmit_order`)."""
        self.syn_timed_out = False
        """A SYN was sent again: the RTO starts at 3 s once connected (RFC 6298 5.7)."""
        # attacks: RFC 5961 challenge ACKs, limited per connection
        self.challenge_limit = WindowLimit(cfg.challenge_ack_limit, cfg.challenge_ack_ticks)
        # receive side extras
        self.fin_seq_in: int | None = None
        """Sequence number of a FIN that arrived ahead of missing data, held until the data fills in."""
        self.sack_latest: int | None = None
        """Where the newest out-of-order segment began: its block is reported first (RFC 2018 4)."""
        self.rcv_up: int | None = None
        """The urgent pointer (RFC 9293 3.8.5): the sequence number just past the urgent data."""
        self.override_due = False
        """The override timer fired: send what fits in a window below one MSS (RFC 9293 3.8.6.2.1)."""
        self.probes_unanswered = 0

    def advertise(self, syn: bool = False) -> int:
        """The window field for a segment about to go out; it acknowledges all received, so no ACK is owed."""
        # Runs for every segment sent: plain comparisons stand in for min() and the queue's `free` property.
        rx = self.rx
        free = rx.capacity - rx.ready
        cap = self.window_cap
        if free > cap:
            free = cap
        if syn:
            window = free if free < 0xFFFF else 0xFFFF  # a SYN's window is never scaled (RFC 7323 2.2)
            self.rcv_adv = (self.rcv_nxt + window) & 0xFFFF_FFFF
        else:
            offered = (self.rcv_adv - self.rcv_nxt) & 0xFFFF_FFFF
            if offered < 0x8000_0000 and free - offered < self.sws_step:
                # Receiver SWS avoidance (RFC 9293 3.8.6.2.2): the right edge moves only by a worthwhile step.
                free = offered
            shift = self.rcv_shift
            window = free >> shift
            if window > 0xFFFF:
                window = 0xFFFF
            self.rcv_adv = (self.rcv_nxt + (window << shift)) & 0xFFFF_FFFF
        self.ack_now = False
        self.ack_due = None
        self.unacked_segments = 0
        return window

    # -- what the mixins provide to each other --------------------------------------------------------------

    def drive(self, now: int) -> None:
        raise NotImplementedError

    def send_ack(self, now: int) -> None:
        raise NotImplementedError

    def fail(self, reason: str, now: int) -> None:
        raise NotImplementedError

    def enter_time_wait(self, now: int) -> None:
        raise NotImplementedError

    def become_closed(self) -> None:
        raise NotImplementedError

    def pipe(self) -> int:
        raise NotImplementedError

    def start_congestion_control(self) -> None:
        raise NotImplementedError

    def arm_probe(self, now: int) -> None:
        raise NotImplementedError

    def send_probe(self, now: int) -> None:
        raise NotImplementedError

    def send_new(self, now: int, size: int | None = None) -> bool:
        raise NotImplementedError

    def on_new_ack(self, ack: int, now: int) -> int:
        raise NotImplementedError

    def on_duplicate_ack(self, now: int) -> int:
        raise NotImplementedError

    def take_sack(self, blocks: tuple[tuple[int, int], ...], now: int) -> int:
        raise NotImplementedError

    def reduce_window(self, delivered: int) -> None:
        raise NotImplementedError

    def on_timeout_congestion(self) -> None:
        raise NotImplementedError

    def send_lost(self, now: int, force: bool = False) -> None:
        raise NotImplementedError

    def challenge_ack(self, now: int) -> None:
        raise NotImplementedError

    def sack_blocks(self) -> tuple[tuple[int, int], ...]:
        raise NotImplementedError
