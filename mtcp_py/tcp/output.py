"""Sending and timers: mTCP's drivePackets. Segments deemed lost go out first, then queued buffers while
the congestion window and the peer's window allow (Nagle holding back a lone small one, silly window
avoidance a small one the window would split); sent ones wait on the `sent` ring. The retransmission,
persist (also the SWS override), delayed-ACK, TIME_WAIT and FIN_WAIT_2 timers are tick deadlines
checked here."""

from __future__ import annotations

from ..wire.tcp import ACK, FIN, PSH, SYN
from .config import SENDING, TIMED_OUT, State
from .seq import seq_add, seq_diff
from .tcb import Tcb


class SegmentOutput(Tcb):
    def drive(self, now: int) -> None:
        state = self.state
        if state is State.CLOSED:
            return
        if self.time_wait_at is not None:
            if now >= self.time_wait_at:
                self.become_closed()
            elif self.ack_now:
                self.send_ack(now)
            return
        if self.retransmit_at is not None and now >= self.retransmit_at:
            self._on_retransmit_timeout(now)
            if self.state is State.CLOSED:
                return
        elif self.probe_at is not None and now >= self.probe_at:
            self.send_probe(now)
        if self.fin_wait_2_at is not None and now >= self.fin_wait_2_at and self.state is State.FIN_WAIT_2:
            self.become_closed()
            return
        if self.keepalive_at is not None and now >= self.keepalive_at:
            self._keepalive(now)
            if self.state is State.CLOSED:
                return
        if self.syn_pending:
            self.send_syn(now)
        elif self.state in SENDING:
            if self.lost_out > self.retrans_out:
                self.send_lost(now)
            if self.outgoing:
                self._send_queued(now)
            if self.fin_queued and not self.fin_sent and not self.outgoing:
                self._send_fin(now)
        if self.persist_at is not None and now >= self.persist_at:
            self._probe_window(now)
        if self.ack_due is not None and now >= self.ack_due:
            self.ack_now = True
            self.owner.counters.delayed_acks += 1
        if self.ack_now:
            if self.state is State.SYN_SENT:
                self.ack_now = False  # nothing to acknowledge before the peer's SYN
            else:
                self.send_ack(now)

    def next_deadline(self) -> int | None:
        """The tick at which drive() has work: the owner's `now` when something can go out at once."""
        if self.ack_now or self.syn_pending:
            return self.owner.now
        if self.state in SENDING and (
                (self.outgoing and self.sendable_size() > 0)
                or (self.fin_queued and not self.fin_sent and not self.outgoing)
                or (self.lost_out > self.retrans_out and self.pipe() < self.cwnd)):
            return self.owner.now
        best: int | None = None
        for deadline in (self.retransmit_at, self.probe_at, self.persist_at, self.ack_due, self.time_wait_at,
                         self.fin_wait_2_at, self.keepalive_at):
            if deadline is not None and (best is None or deadline < best):
                best = deadline
        return best

    # -- data ------------------------------------------------------------------------------------------------

    def sendable_size(self) -> int:
        """How many bytes of the head of `outgoing` may go out now (0: wait for the window, or Nagle)."""
        # Asked before every segment: pipe() and min() are written out (the same arithmetic, no calls).
        # Limited Transmit (RFC 3042): each of the first two duplicate ACKs lets one new segment out, so a
        # small window still draws the duplicates that fast retransmit needs.
        allowance = self.cwnd
        if self.recover is None:
            dup = self.dup_acks
            allowance += dup if dup < 2 else 2
        if len(self.sent) - self.sacked_out - self.lost_out + self.retrans_out >= allowance:
            return 0  # the congestion window is full
        head = self.outgoing[0]
        size = head.length
        mss = self.snd_mss
        if size > mss:
            size = mss
        in_flight = seq_diff(self.snd_nxt, self.snd_una)
        room = self.snd_wnd - in_flight
        if size > room:
            # Sender-side silly window avoidance (RFC 9293 3.8.6.2.1): a partial segment only when nothing is
            # in flight and the window is at least half the largest the peer has offered, or when the
            # override timer has run out.
            if in_flight == 0 and room > 0 and (room >= self.max_snd_wnd // 2 or self.override_due):
                return room
            return 0
        if self.nagle and size < mss and in_flight > 0 and len(self.outgoing) == 1 and not self.fin_queued:
            return 0
        return size

    def _send_queued(self, now: int) -> None:
        outgoing = self.outgoing
        while outgoing and self.state in SENDING:
            size = self.sendable_size()
            if size == 0:
                if not self.sent and self.retransmit_at is None and self.persist_at is None:
                    self.persist_at = now + self.rtt.timeout()
                break
            if not self.send_new(now, size):
                break
        if self.probe_at is None and self.sent:
            self.arm_probe(now)

    def send_new(self, now: int, size: int | None = None) -> bool:
        """Send the head of `outgoing` (its first `size` bytes, split off if need be); False: no buffer."""
        owner = self.owner
        outgoing = self.outgoing
        buf = outgoing[0]
        if size is None:
            size = min(buf.length, self.snd_mss)
        if size < buf.length and not self._split_head(size):
            owner.counters.tx_pool_empty += 1
            return False
        if self.override_due:
            self.override_due = False
            if size < self.snd_mss:
                owner.counters.window_overrides += 1
        outgoing.popleft()
        buf.seq = snd_nxt = self.snd_nxt
        buf.xmit_order = self.xmit_count = self.xmit_count + 1
        self.snd_nxt = snd_nxt = (snd_nxt + size) & 0xFFFF_FFFF
        self.sent.append(buf)
        owner.counters.bytes_sent += size
        if self.timing_seq is None:
            self.timing_seq = snd_nxt
            self.timing_start = now
        if self.retransmit_at is None:
            self.retransmit_at = now + self.rtt.timeout()
        owner.send_buffer(self, buf, ACK | PSH if not outgoing else ACK, now)
        return True

    def _split_head(self, size: int) -> bool:
        """Cut the head buffer after `size` bytes, the rest going to a new buffer right behind it."""
        head = self.outgoing[0]
        tail = self.owner.pool.alloc(self)
        if tail is None:
            return False
        tail.append(head.data[size : head.length])
        head.length = size
        self.outgoing.insert(1, tail)
        self.buffers_held += 1
        return True

    def free_all_buffers(self) -> None:
        pool = self.owner.pool
        for ring in (self.outgoing, self.sent):
            while ring:
                pool.release(ring.popleft())
        self.buffers_held = 0
        self.sacked_out = self.lost_out = self.retrans_out = 0

    # -- control segments ------------------------------------------------------------------------------------

    def send_syn(self, now: int) -> None:
        self.syn_pending = False
        if self.state is State.SYN_SENT:
            self.owner.send_control(self, SYN, self.iss, 0, now, syn_options=True)
        else:
            self.owner.send_control(self, SYN | ACK, self.iss, self.rcv_nxt, now, syn_options=True)
        if self.retransmit_at is None:
            self.retransmit_at = now + self.rtt.timeout()
        if self.retries == 0 and self.timing_seq is None:
            self.timing_seq = seq_add(self.iss, 1)
            self.timing_start = now

    def _send_fin(self, now: int) -> None:
        self.fin_sent = True
        self.fin_seq = self.snd_nxt
        self.snd_nxt = seq_add(self.snd_nxt, 1)
        self.state = State.FIN_WAIT_1 if self.state is State.ESTABLISHED else State.LAST_ACK
        if self.retransmit_at is None:
            self.retransmit_at = now + self.rtt.timeout()
        self.owner.send_control(self, FIN | ACK, self.fin_seq, self.rcv_nxt, now)

    def send_ack(self, now: int) -> None:
        self.owner.counters.acks_sent += 1
        self.owner.send_control(self, ACK, self.snd_nxt, self.rcv_nxt, now)

    def _probe_window(self, now: int) -> None:
        """Zero-window probe: a segment just before the window, which the peer must answer with an ACK
        that carries its current window (as Linux probes). With a window open but smaller than what waits,
        this timer is the override: what fits goes out. A peer that keeps answering may keep its window
        shut for ever (RFC 1122 4.2.2.17); one that stops answering is given up like a lost segment."""
        if not self.outgoing or self.state not in SENDING:
            self.persist_at = None
            self.persist_backoff = 0
            return
        if self.snd_wnd > 0:
            self.persist_at = None
            self.override_due = True
            self._send_queued(now)
            return
        if self.probes_unanswered >= self.owner.config.max_retransmits:
            self.owner.counters.connections_timed_out += 1
            self.fail(TIMED_OUT, now)
            return
        self.probes_unanswered += 1
        self.owner.counters.window_probes += 1
        self.owner.send_control(self, ACK, seq_add(self.snd_una, -1), self.rcv_nxt, now)
        self.persist_backoff += 1
        interval = min(self.rtt.rto << min(self.persist_backoff, 16), self.owner.config.persist_max_ticks)
        self.persist_at = now + interval

    def _keepalive(self, now: int) -> None:
        """RFC 1122 4.2.3.6 as Linux keeps it: after `idle` ticks with nothing heard and nothing in flight, a
        segment just before the window (which the peer must answer with an ACK), every `interval` ticks; a
        peer silent through `probes` of them is gone, and the connection ends as timed out."""
        assert self.keepalive is not None
        idle, interval, probes = self.keepalive
        mark = (self.rcv_nxt, self.snd_una)
        start: int | None = None
        if self.heard_at > self.keepalive_since:
            start = self.heard_at  # the idle time runs from the last segment heard, as Linux's lrcvtime
        elif mark != self.keepalive_mark or self.sent or self.outgoing or \
                self.state not in (State.ESTABLISHED, State.CLOSE_WAIT, State.FIN_WAIT_2):
            start = now  # progress on the short path, data in flight (retransmission watches it), or no idling
        if start is not None:
            self.keepalive_since = start
            self.keepalive_mark = mark
            self.keepalive_probes = 0
            self.keepalive_at = max(start + idle, now + 1)
            return
        if self.keepalive_probes >= probes:
            self.owner.counters.keepalive_timeouts += 1
            self.fail(TIMED_OUT, now)
            return
        self.keepalive_probes += 1
        self.owner.counters.keepalive_probes += 1
        self.owner.send_control(self, ACK, seq_add(self.snd_una, -1), self.rcv_nxt, now)
        self.keepalive_at = now + interval

    # -- retransmission --------------------------------------------------------------------------------------

    def _on_retransmit_timeout(self, now: int) -> None:
        c = self.owner.counters
        if self.snd_una == self.snd_nxt and not self.syn_pending:
            self.retransmit_at = None
            return
        c.timeouts += 1
        self.retries += 1
        opening = self.state in (State.SYN_SENT, State.SYN_RECEIVED)
        limit = self.owner.config.syn_retries if opening else self.owner.config.max_retransmits
        if self.retries > limit:
            if self.passive and self.state is State.SYN_RECEIVED:
                self.become_closed()
            else:
                c.connections_timed_out += 1
                self.fail(TIMED_OUT, now)
            return
        self.rtt.back_off()
        self.timing_seq = None
        self.retransmit_at = now + self.rtt.timeout()
        if opening:
            c.retransmits += 1
            self.syn_timed_out = True
            self.send_syn(now)
        elif self.sent:
            self.on_timeout_congestion()
            self.send_lost(now, force=True)
        elif self.fin_sent:
            c.retransmits += 1
            self.owner.send_control(self, FIN | ACK, self.fin_seq, self.rcv_nxt, now)

    # -- endings ---------------------------------------------------------------------------------------------

    def _stop_timers(self) -> None:
        self.retransmit_at = None
        self.probe_at = None
        self.persist_at = None
        self.ack_due = None
        self.time_wait_at = None
        self.fin_wait_2_at = None
        self.keepalive_at = None
        self.ack_now = False
        self.syn_pending = False
        self.recover = None
        self.fast_recovery = False

    def enter_time_wait(self, now: int) -> None:
        owe_ack = self.ack_now  # the ACK of the peer's FIN still has to go out
        self.free_all_buffers()
        self._stop_timers()
        self.ack_now = owe_ack
        self.state = State.TIME_WAIT
        self.time_wait_at = now + self.owner.config.time_wait_ticks

    def become_closed(self) -> None:
        self.free_all_buffers()
        self._stop_timers()
        self.state = State.CLOSED
        if self.app_closed or (self.passive and self.listener is not None):
            self.owner.release(self)

    def fail(self, reason: str, now: int) -> None:
        if self.error is None:
            self.error = reason
        self.become_closed()
