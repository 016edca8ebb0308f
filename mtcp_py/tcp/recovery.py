"""Congestion control and loss recovery: slow start and congestion avoidance (RFC 5681) from an initial
window of RFC 6928's size, fast recovery as NewReno (RFC 6582), or driven by the peer's SACK blocks as
RFC 6675 describes, and the reaction to a retransmission timeout; plus the SACK blocks we report.

Windows are counted in segments, as Linux counts them: every transmit buffer on the `sent` ring is one
segment. The scoreboard is three flags per buffer (sacked, lost, rexmit) and three counts kept in step
with them, so the common case (nothing lost) costs one subtraction: what is in flight, RFC 6675's pipe,
is ``len(sent) - sacked_out - lost_out + retrans_out``. Without SACK, each duplicate ACK counts as one
segment that left the network (Linux's reno_sacks), which gives NewReno's window inflation for free.
"""

from __future__ import annotations

from bisect import bisect_right

from ..wire.tcp import ACK, MAX_SACK_BLOCKS, PSH
from .seq import seq_add, seq_diff, seq_ge, seq_gt, seq_le, seq_lt
from .tcb import Tcb
from .txbuf import TxBuffer

DUP_THRESH = 3
"""Duplicate ACKs, or segments SACKed above a hole, that declare it lost (RFC 5681 3.2, RFC 6675 IsLost)."""
MAX_PROBES = 2
"""Loss probes without an answer before the RTO is left to act (RFC 8985 sends one; a second, at twice
the timeout, is cheap next to an RTO on a lossy LAN whose receiver acknowledges a burst only once)."""


def initial_window(mss: int, configured: int | None) -> int:
    """RFC 6928: min(10 * MSS, max(2 * MSS, 14600)) bytes, in segments."""
    if configured is not None:
        return max(1, configured)
    return min(10, max(2, 14_600 // max(mss, 1)))


class LossRecovery(Tcb):
    def pipe(self) -> int:
        """Segments in flight (RFC 6675 pipe)."""
        return len(self.sent) - self.sacked_out - self.lost_out + self.retrans_out

    def start_congestion_control(self) -> None:
        """At the end of the handshake: the initial window, and 3 s of RTO if a SYN had to be resent."""
        self.cwnd = initial_window(self.snd_mss, self.owner.config.initial_window)
        if self.syn_timed_out and self.rtt.srtt is None:
            self.rtt.rto = max(self.rtt.rto, min(55, self.rtt.maximum))  # 3 s in ticks (RFC 6298 5.7)

    # -- the tail loss probe (RFC 8985 7) -------------------------------------------------------------------

    def arm_probe(self, now: int) -> None:
        """Start the probe timer for what is in flight: two round trips and at least a tick (the initial RTO
        before any sample), doubled for a second probe; with one segment out, plus the peer's delayed ACK
        (about 200 ms, as Linux assumes). A probe due no sooner than the RTO is left to the RTO."""
        if self.probes_sent >= MAX_PROBES or not self.sent:
            self.probe_at = None
            return
        srtt = self.rtt.srtt
        pto = (int(2 * srtt) + 1 if srtt is not None else self.owner.config.rto_initial_ticks) << self.probes_sent
        if len(self.sent) == 1:
            pto += 4
        at = now + pto
        self.probe_at = at if self.retransmit_at is None or at < self.retransmit_at else None

    def send_probe(self, now: int) -> None:
        """The probe: a new segment if the peer's window takes one, else the last one again. In recovery,
        a retransmission that drew no answer is taken as lost again and sent once more."""
        self.probe_at = None
        if not self.sent:
            return
        c = self.owner.counters
        c.loss_probes += 1
        self.probes_sent += 1
        if self.fast_recovery or self.lost_out:
            for buf in self.sent:
                if buf.rexmit and not buf.sacked:
                    buf.rexmit = False
                    self.retrans_out -= 1
                    break
            if self.lost_out > self.retrans_out:
                self.send_lost(now, force=True)
            self.arm_probe(now)
            return
        if self.outgoing and self.snd_wnd - seq_diff(self.snd_nxt, self.snd_una) >= min(self.outgoing[0].length,
                                                                                         self.snd_mss):
            self.send_new(now)  # the probe is not held back by the congestion window (RFC 8985 7.3)
        elif not self.sent[-1].sacked:
            self._resend(self.sent[-1], now)
        self.arm_probe(now)

    # -- acknowledgements ------------------------------------------------------------------------------------

    def on_new_ack(self, ack: int, now: int) -> int:
        """SND.UNA moved to `ack`: free what it covers, grow the window, and leave or continue recovery.
        Returns how many segments it freed."""
        sent = self.sent
        pool = self.owner.pool
        freed = 0
        while sent:
            buf = sent[0]
            # seq_le(end, ack), written out: this runs for every segment acknowledged.
            end = (buf.seq + buf.length) & 0xFFFF_FFFF
            if end != ack and (end - ack) & 0xFFFF_FFFF < 0x8000_0000:
                break
            sent.popleft()
            if buf.sacked:
                self.sacked_out -= 1
            if buf.lost:
                self.lost_out -= 1
                if buf.rexmit:
                    self.retrans_out -= 1
            pool.release(buf)
            freed += 1
        self.buffers_held -= freed
        self.dup_acks = 0
        if not self.sack_ok and self.sacked_out:
            # NewReno: the duplicate ACKs this ACK accounts for are no longer outstanding (Linux's
            # tcp_remove_reno_sacks).
            self.sacked_out = max(0, self.sacked_out - max(freed - 1, 0))
        recover = self.recover
        if recover is not None and seq_ge(ack, recover):
            was_fast = self.fast_recovery
            self._end_recovery()
            if was_fast:
                return freed  # the window is ssthresh now; it grows from the next ACK on
        elif self.fast_recovery:
            # A partial ACK (RFC 6582 3.2): the next hole is lost too; send it at once.
            head = sent[0] if sent else None
            if head is not None and not head.sacked and not head.rexmit:
                if not head.lost:
                    head.lost = True
                    self.lost_out += 1
                self.send_lost(now, force=True)
            return freed
        if freed:
            self._grow(freed)
        return freed

    def _grow(self, acked: int) -> None:
        limit = self.owner.tx_per_socket
        if self.cwnd < self.ssthresh:
            cwnd = self.cwnd + (acked if acked < 2 else 2)  # slow start, L = 2 (RFC 3465)
            self.cwnd = cwnd if cwnd < limit else limit
        else:
            self.cwnd_count += acked
            if self.cwnd_count >= self.cwnd:
                self.cwnd_count -= self.cwnd
                self.cwnd = min(self.cwnd + 1, limit)

    def on_duplicate_ack(self, now: int) -> int:
        """An ACK that took nothing new (RFC 5681's definition): three of them start fast recovery.
        Returns the segments it shows delivered (without SACK, one: it left the network)."""
        c = self.owner.counters
        self.dup_acks += 1
        c.dup_acks += 1
        delivered = 0
        if not self.sack_ok and self.sacked_out < len(self.sent) - 1:
            self.sacked_out += 1
            delivered = 1
        if self.fast_recovery:
            return delivered
        if self.dup_acks >= DUP_THRESH and self.recover is None and self.sent:
            head = self.sent[0]
            if not head.lost and not head.sacked:
                head.lost = True
                self.lost_out += 1
            self._enter_recovery(now)
        return delivered

    def take_sack(self, blocks: tuple[tuple[int, int], ...], now: int) -> int:
        """Mark what the peer's SACK blocks cover; returns how many segments they newly reported."""
        if not self.sack_ok or not self.sent:
            return 0
        snd_una = self.snd_una
        snd_nxt = self.snd_nxt
        c = self.owner.counters
        news = 0
        for left, right in blocks:
            # Only blocks inside what is outstanding count (a D-SACK below SND.UNA, or a forged block, not).
            if not (seq_lt(snd_una, right) and seq_le(right, snd_nxt) and seq_lt(left, right)
                    and seq_le(snd_una, left)):
                continue
            for buf in self.sent:
                start = buf.seq
                if seq_ge(start, right):
                    break
                if buf.sacked or seq_lt(start, left) or seq_gt(seq_add(start, buf.length), right):
                    continue
                buf.sacked = True
                self.sacked_out += 1
                c.sacked_segments += 1
                news += 1
                if buf.lost:
                    buf.lost = False
                    self.lost_out -= 1
                    if buf.rexmit:
                        buf.rexmit = False
                        self.retrans_out -= 1
        if news:
            self._mark_lost()
            if self.recover is None and self.lost_out:
                c.sack_recoveries += 1
                self._enter_recovery(now)
        return news

    def reduce_window(self, delivered: int) -> None:
        """Proportional Rate Reduction (RFC 6937) during fast recovery: as the ACKs report `delivered`
        segments, let out segments at the rate that brings what is in flight down to ssthresh, rather
        than sending nothing for half a window and then a burst; below ssthresh, slow start back up to
        it (PRR-SSRB). The congestion window is set so that exactly that many may go."""
        if not self.fast_recovery:
            return
        self.prr_delivered += delivered
        pipe = self.pipe()
        sent_since = self.xmit_count - self.prr_base
        ssthresh = self.ssthresh
        if pipe > ssthresh:
            allowed = -(-self.prr_delivered * ssthresh // max(self.recover_fs, 1)) - sent_since
        else:
            allowed = min(ssthresh - pipe, max(self.prr_delivered - sent_since, delivered) + 1)
        self.cwnd = pipe + max(allowed, 0)

    def _mark_lost(self) -> None:
        """A segment is lost when DUP_THRESH segments sent after it have arrived: RFC 6675's IsLost for the
        segments sent once (sent after = above), and for a retransmission, proof that it was lost again
        (the idea of RACK, RFC 8985, counted in segments): without this only a timeout would recover it."""
        delivered = sorted(buf.xmit_order for buf in self.sent if buf.sacked)
        total = len(delivered)
        if not total:
            return
        for buf in self.sent:
            if buf.sacked or (buf.lost and not buf.rexmit):
                continue
            # One segment sent after a retransmission arriving is enough (Linux's lost_retrans rule):
            # a retransmission goes out alone, with nothing that could be reordered with it.
            threshold = 1 if buf.rexmit else DUP_THRESH
            if total - bisect_right(delivered, buf.xmit_order) >= threshold:
                if buf.lost:
                    buf.rexmit = False  # its retransmission is lost too: send it once more
                    self.retrans_out -= 1
                else:
                    buf.lost = True
                    self.lost_out += 1

    def _enter_recovery(self, now: int) -> None:
        c = self.owner.counters
        c.fast_retransmits += 1
        self.ssthresh = max(len(self.sent) // 2, 2)  # FlightSize / 2 (RFC 5681 eq. 4, RFC 6675 5)
        self.recover_fs = len(self.sent)
        self.prr_delivered = 0
        self.prr_base = self.xmit_count
        self.cwnd = self.pipe()  # reduce_window() decides what more may go, ACK by ACK
        self.cwnd_count = 0
        self.recover = self.snd_nxt
        self.fast_recovery = True
        self.probe_at = None
        self.send_lost(now, force=True)  # the first retransmission goes out whatever the window (RFC 5681 3.2)

    def _end_recovery(self) -> None:
        if self.fast_recovery:
            self.cwnd = max(self.ssthresh, 1)
        self.recover = None
        self.fast_recovery = False
        self.cwnd_count = 0
        if not self.sack_ok:
            self.sacked_out = 0
        if self.lost_out or self.retrans_out:
            for buf in self.sent:
                buf.lost = buf.rexmit = False
            self.lost_out = self.retrans_out = 0

    def on_timeout_congestion(self) -> None:
        """The retransmission timer expired (RFC 5681 3.1, eq. 4): a window of one segment, everything not
        SACKed lost, slow start back up to half of what was in flight. SACK information is kept through the
        first timeout, as Linux keeps it; a second one in a row forgets it (RFC 2018 8), in case the peer
        reneged on what it reported."""
        self.ssthresh = max(len(self.sent) // 2, 2)
        self.cwnd = 1
        self.cwnd_count = 0
        self.recover = self.snd_nxt
        self.fast_recovery = False
        self.dup_acks = 0
        self.probe_at = None
        self.probes_sent = 0
        keep_sack = self.sack_ok and self.retries <= 1
        sacked = 0
        for buf in self.sent:
            if keep_sack and buf.sacked:
                sacked += 1
                buf.lost = buf.rexmit = False
            else:
                buf.sacked = buf.rexmit = False
                buf.lost = True
        self.sacked_out = sacked if self.sack_ok else 0
        self.retrans_out = 0
        self.lost_out = len(self.sent) - sacked

    def send_lost(self, now: int, force: bool = False) -> None:
        """Send segments deemed lost, oldest first, while the congestion window has room (`force`: the
        first one regardless)."""
        if self.lost_out <= self.retrans_out:
            return
        for buf in self.sent:
            if not force and self.pipe() >= self.cwnd:
                return
            if buf.lost and not buf.rexmit:
                buf.rexmit = True
                self.retrans_out += 1
                force = False
                self._resend(buf, now)
                if self.retransmit_at is None:
                    self.retransmit_at = now + self.rtt.timeout()
                if self.lost_out <= self.retrans_out:
                    return

    def _resend(self, buf: TxBuffer, now: int) -> None:
        """Send `buf` again: counted, its transmit order renewed, and never an RTT sample (Karn)."""
        self.owner.counters.retransmits += 1
        self.timing_seq = None
        buf.xmit_order = self.xmit_count = self.xmit_count + 1
        self.owner.send_buffer(self, buf, ACK | PSH, now)

    # -- attacks ------------------------------------------------------------------------------------------

    def challenge_ack(self, now: int) -> None:
        """An ACK that asks the real peer where we are (RFC 5961), at most `challenge_ack_limit` of them per
        `challenge_ack_ticks` on this connection (section 7)."""
        c = self.owner.counters
        if not self.challenge_limit.allow(now):
            c.challenge_acks_limited += 1
            return
        c.challenge_acks += 1
        self.ack_now = True

    # -- what we report ------------------------------------------------------------------------------------

    def sack_blocks(self) -> tuple[tuple[int, int], ...]:
        """SACK blocks for an ACK: the out-of-order ranges, the one holding the newest segment first."""
        ranges = self.rx.ranges
        if not self.sack_ok or not ranges:
            return ()
        base = self.rcv_nxt
        latest = seq_diff(self.sack_latest, base) if self.sack_latest is not None else -1
        first = [r for r in ranges if r[0] <= latest < r[1]]
        rest = [r for r in reversed(ranges) if not r[0] <= latest < r[1]]
        return tuple((seq_add(base, start), seq_add(base, end)) for start, end in (first + rest)[:MAX_SACK_BLOCKS])
