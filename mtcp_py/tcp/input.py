"""Segment arrival (RFC 9293 3.10.7): acceptability, RST and SYN checks (RFC 5961), ACK acceptance (RFC
5961 5.2) and processing with RTT samples, SACK blocks and duplicate ACKs handed to loss recovery, the
send window update, data into the receive queue, the urgent pointer, FIN (held if it comes early)."""

from __future__ import annotations

from ..wire.tcp import ACK, FIN, RST, SYN, URG, SackBlocks, TcpRepr
from .config import RECEIVING, REFUSED, RESET, State
from .seq import seq_add, seq_diff, seq_ge, seq_gt, seq_le, seq_lt
from .tcb import Tcb


class SegmentInput(Tcb):
    def on_segment(self, seg: TcpRepr, now: int) -> None:
        state = self.state
        if state is State.SYN_SENT:
            self._on_segment_syn_sent(seg, now)
            return
        if state is State.CLOSED or state is State.LISTEN:
            return
        self.heard_at = now  # for keep-alives: the short path's segments move RCV.NXT or SND.UNA instead
        c = self.owner.counters
        flags = seg.flags
        seq = seg.seq
        payload = seg.payload
        if state is State.SYN_RECEIVED and flags & SYN and seq == self.irs:
            self._on_syn_again(seg, now)
            return
        # First check: is the segment inside the receive window?
        seg_len = len(payload) + (1 if flags & SYN else 0) + (flags & FIN)
        window = self.rx.free
        rel = seq_diff(seq, self.rcv_nxt)
        if seg_len == 0:
            acceptable = rel == 0 if window == 0 else 0 <= rel < window
        else:
            acceptable = window > 0 and (0 <= rel < window or 0 <= rel + seg_len - 1 < window)
        if not acceptable:
            if flags & RST:
                c.rst_ignored += 1
                return
            if window == 0 and rel == 0 and flags & ACK:
                # A zero window still takes valid ACKs (RFC 9293 3.10.7.4); the data waits for room.
                if not self.process_ack(seg.ack, seq, seg.window, seg.sack, bool(payload), bool(flags & FIN), now):
                    return
            elif rel < 0:
                c.duplicate_bytes += min(len(payload), -rel)
            c.not_acceptable += 1
            if state is State.TIME_WAIT and flags & FIN:
                self.time_wait_at = now + self.owner.config.time_wait_ticks
            if payload and not flags & SYN:
                self.send_ack(now)  # data the peer resends must be answered, or its recovery stalls
            else:
                self.challenge_ack(now)  # nothing to lose by limiting these; much to gain under a flood
            return
        if flags & RST:
            if rel == 0:
                self._on_reset(now)
            else:
                # In the window but not exactly next: maybe forged, so ask the real peer (RFC 5961 3.2).
                self.challenge_ack(now)
            return
        if flags & SYN:
            # A SYN on a synchronized connection: a challenge ACK, never a reset (RFC 5961 4.2).
            self.challenge_ack(now)
            return
        if not flags & ACK:
            return
        if self.fin_wait_2_at is not None:
            self.fin_wait_2_at = now + self.owner.config.fin_wait_2_ticks
        if state is State.SYN_RECEIVED:
            ack = seg.ack
            if not (seq_lt(self.snd_una, ack) and seq_le(ack, self.snd_nxt)):
                self.owner.send_reset(self.local_port, self.remote_ip, self.remote_port, ack, 0, RST, now)
                return
            self._establish(seg, now)
        if not self.process_ack(seg.ack, seq, seg.window, seg.sack, bool(payload), bool(flags & FIN), now):
            return
        if flags & URG and self.state in RECEIVING:
            self._take_urgent(seg)
        if payload and self.state in RECEIVING:
            self.receive_data(rel, payload, now)
        if flags & FIN:
            self._receive_fin(seq_add(seq, len(payload)), now)
        elif self.fin_seq_in is not None and self.fin_seq_in == self.rcv_nxt:
            self._receive_fin(self.fin_seq_in, now)  # the data before an early FIN has all come in

    # -- opening ---------------------------------------------------------------------------------------------

    def take_syn_options(self, seg: TcpRepr) -> None:
        """MSS, window scale and SACK-permitted from the peer's SYN; scaling and SACK are used only when both
        sides offered them. An MSS of 0 is ignored and a large one clamped to ours, as Linux does."""
        self.snd_mss = max(1, min(seg.mss if seg.mss else 536, self.our_mss))
        if seg.window_scale is not None and self.offer_shift >= 0:
            self.snd_shift = seg.window_scale
            self.rcv_shift = self.offer_shift
        else:
            self.snd_shift = self.rcv_shift = 0
            self.offer_shift = -1
        self.sack_ok = self.offer_sack and seg.sack_permitted
        if not seg.sack_permitted:
            self.offer_sack = False  # our SYN-ACK offers it only in answer to an offer (RFC 2018 2)

    def _on_segment_syn_sent(self, seg: TcpRepr, now: int) -> None:
        flags = seg.flags
        ack_ok = False
        if flags & ACK:
            if seq_le(seg.ack, self.iss) or seq_gt(seg.ack, self.snd_nxt):
                if not flags & RST:
                    self.owner.send_reset(self.local_port, self.remote_ip, self.remote_port, seg.ack, 0, RST, now)
                return
            ack_ok = True
        if flags & RST:
            if ack_ok:
                self.owner.counters.rst_received += 1
                self.owner.counters.connections_refused += 1
                self.fail(REFUSED, now)
            return
        if not flags & SYN:
            return
        self.irs = seg.seq
        self.rcv_nxt = seq_add(seg.seq, 1)
        self.take_syn_options(seg)
        if ack_ok:
            self.snd_una = seg.ack
            if self.timing_seq is not None:
                self.rtt.sample(now - self.timing_start)
                self.timing_seq = None
            self.snd_wnd = seg.window  # never scaled in a SYN (RFC 7323 2.2)
            self.max_snd_wnd = self.snd_wnd
            self.snd_wl1 = seg.seq
            self.snd_wl2 = seg.ack
            self.retransmit_at = None
            self.retries = 0
            self.rtt.reset_backoff()
            self.state = State.ESTABLISHED
            self.owner.counters.established += 1
            self.start_congestion_control()
            self.ack_now = True
        else:
            # Simultaneous open: both sides sent a SYN; answer with our SYN again, now with an ACK.
            self.state = State.SYN_RECEIVED
            self.snd_wnd = seg.window
            self.snd_wl1 = seg.seq
            self.snd_wl2 = self.iss
            self.syn_pending = True

    def _on_syn_again(self, seg: TcpRepr, now: int) -> None:
        """In SYN_RECEIVED the peer repeated its SYN: our SYN-ACK was lost, or (simultaneous open) this is
        its SYN-ACK."""
        if seg.flags & ACK and seg.ack == self.snd_nxt:
            self._establish(seg, now)
            self.snd_una = seg.ack
            self.retransmit_at = None
            self.ack_now = True
        elif not seg.flags & ACK:
            self.syn_pending = True

    def _establish(self, seg: TcpRepr, now: int) -> None:
        self.state = State.ESTABLISHED
        self.retries = 0
        self.rtt.reset_backoff()
        self.snd_wnd = seg.window << self.snd_shift
        self.max_snd_wnd = self.snd_wnd
        self.snd_wl1 = seg.seq
        self.snd_wl2 = seg.ack
        self.owner.counters.established += 1
        self.start_congestion_control()
        self.owner.established(self)

    # -- acknowledgements --------------------------------------------------------------------------------

    def process_ack(self, ack: int, seq: int, raw_window: int, sack: SackBlocks, has_data: bool, has_fin: bool,
                    now: int) -> bool:
        """RFC 9293 3.10.7.4 fifth check, from the segment's fields (the full path and the predicted one
        share it). False when the segment is finished with (or the connection is)."""
        c = self.owner.counters
        # The sequence comparisons of seq.py written out where they run for every segment.
        acked = (ack - self.snd_una) & 0xFFFF_FFFF
        if acked & 0x8000_0000:
            acked -= 0x1_0000_0000
        if acked > 0 and (self.snd_nxt - ack) & 0xFFFF_FFFF >= 0x8000_0000:  # seq_gt(ack, SND.NXT)
            c.ack_too_new += 1
            self.challenge_ack(now)
            return False
        if acked < -self.max_snd_wnd:
            # Older than anything the peer could still be acknowledging: a blind injection (RFC 5961 5.2).
            c.ack_too_old += 1
            self.challenge_ack(now)
            return False
        self.probes_unanswered = 0
        window = raw_window << self.snd_shift
        delivered = 0
        if acked > 0:
            self.snd_una = ack
            if self.timing_seq is not None and seq_ge(ack, self.timing_seq):
                self.rtt.sample(now - self.timing_start)
                self.timing_seq = None
            rtt = self.rtt
            rtt.backoff = 0  # rtt.reset_backoff(), without the call: this runs for every ACK
            self.retries = 0
            delivered = self.on_new_ack(ack, now)
            self.retransmit_at = None if ack == self.snd_nxt else now + rtt.timeout()
        # SACK blocks are read against the new SND.UNA: what they cover above it has arrived.
        sacked_new = self.take_sack(sack, now) if sack else 0
        delivered += sacked_new
        if acked == 0 and self.sent and not has_data and not has_fin and (window == self.snd_wnd or sacked_new):
            delivered += self.on_duplicate_ack(now)
        if self.fast_recovery:
            self.reduce_window(delivered)
        if delivered:
            self.probes_sent = 0
            self.arm_probe(now)
        wl1 = self.snd_wl1
        wl2 = self.snd_wl2
        if acked >= 0 and ((wl1 - seq) & 0xFFFF_FFFF >= 0x8000_0000
                           or (wl1 == seq and (wl2 == ack or (wl2 - ack) & 0xFFFF_FFFF >= 0x8000_0000))):
            # Only an ACK within SND.UNA..SND.NXT may move the window (RFC 9293 3.10.7.4).
            self.snd_wnd = window
            self.snd_wl1 = seq
            self.snd_wl2 = ack
            if window > self.max_snd_wnd:
                self.max_snd_wnd = window
            if window:
                self.persist_backoff = 0
                if window >= self.snd_mss:
                    self.persist_at = None  # below one MSS it stays: it is the override timer then
        if self.fin_sent and ack == seq_add(self.fin_seq, 1):
            state = self.state
            if state is State.FIN_WAIT_1:
                self.state = State.FIN_WAIT_2
                self.fin_wait_2_at = now + self.owner.config.fin_wait_2_ticks
            elif state is State.CLOSING:
                self.enter_time_wait(now)
                return False
            elif state is State.LAST_ACK:
                self.become_closed()
                return False
        return True

    # -- data and FIN --------------------------------------------------------------------------------------

    def receive_data(self, rel: int, payload: bytes | bytearray | memoryview, now: int) -> None:
        c = self.owner.counters
        if rel < 0:
            c.duplicate_bytes += -rel
            payload = payload[-rel:]
            rel = 0
        rx = self.rx
        room = rx.capacity - rx.ready - rel  # rx.free, without the property: this runs per segment
        n = len(payload)
        if n > room:
            payload = payload[:max(room, 0)]
            n = len(payload)
        if n <= 0:
            return
        if rel == 0:
            callback = self.on_receive
            if callback is not None and not rx.ready and not rx.ranges and callback(self, memoryview(payload)):
                grown = n
            else:
                grown = rx.add(0, payload) or 0
            self.rcv_nxt = (self.rcv_nxt + grown) & 0xFFFF_FFFF
            c.bytes_received += grown
            if grown > n or rx.ranges:
                self.ack_now = True  # a hole filled (or another remains): say so at once (RFC 5681 4.2)
            else:
                self.unacked_segments += 1
                if self.unacked_segments >= 2:
                    self.ack_now = True
                elif self.ack_due is None:
                    self.ack_due = now + self.owner.config.delayed_ack_ticks
        else:
            c.out_of_order += 1
            if rx.add(rel, payload) is None:
                c.out_of_order_dropped += 1
            else:
                self.sack_latest = seq_add(self.rcv_nxt, rel)
            # A duplicate ACK per early segment, not one per batch: three of them start fast retransmit.
            self.send_ack(now)

    def _take_urgent(self, seg: TcpRepr) -> None:
        """Urgent data stays inline (RFC 9293 3.8.5); the socket shows where it ends (`urgent_pending`)."""
        pointer = seq_add(seg.seq, seg.urgent)
        if self.rcv_up is None or seq_gt(pointer, self.rcv_up):
            self.rcv_up = pointer
            self.owner.counters.urgent_received += 1

    def _receive_fin(self, fin_seq: int, now: int) -> None:
        if fin_seq != self.rcv_nxt:
            # Data before the FIN is missing: hold the FIN (if it is inside the window) until it fills in.
            if 0 < seq_diff(fin_seq, self.rcv_nxt) <= self.rx.free and self.state in RECEIVING:
                self.fin_seq_in = fin_seq
            return
        self.fin_seq_in = None
        self.rcv_nxt = seq_add(self.rcv_nxt, 1)
        self.peer_closed = True
        self.ack_now = True
        state = self.state
        if state is State.ESTABLISHED:
            self.state = State.CLOSE_WAIT
        elif state is State.FIN_WAIT_1:
            self.state = State.CLOSING
        elif state is State.FIN_WAIT_2:
            self.enter_time_wait(now)

    def _on_reset(self, now: int) -> None:
        c = self.owner.counters
        c.rst_received += 1
        if self.state is State.SYN_RECEIVED and self.passive:
            self.become_closed()  # the peer gave up its open; the listener carries on
        elif self.state is State.TIME_WAIT:
            self.become_closed()
        else:
            c.connections_reset += 1
            self.fail(RESET, now)
