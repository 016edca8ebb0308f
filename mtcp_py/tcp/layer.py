"""The TCP layer: the socket table, listeners (with SYN cookies under a flood), demultiplexing, TIME_WAIT
reuse, resets for closed ports, initial sequence numbers (RFC 6528), ICMP errors (RFC 5927), and the
segment builders that put buffers on the wire through IP.

Registered with IP for protocol 6; the stack's poll loop calls `drive(now)` after each batch of frames
(so acknowledgements for a batch go out together) and asks `next_deadline()` when to come back.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections import deque

from ..ip import FRAME_HEADERS, IcmpError, IpLayer, SendStatus
from ..wire import WireError, ip_from_str
from ..wire.icmp import DEST_UNREACHABLE, UNREACH_PORT, UNREACH_PROTOCOL
from ..wire.ipv4 import Ipv4Repr
from ..wire.tcp import (
    ACK,
    CHECKSUM_AT,
    HEADER_LEN,
    PROTO_TCP,
    RST,
    SYN,
    TcpRepr,
    emit_plain_header,
    emit_plain_header_partial,
    parse_quoted,
    reset_fields,
)
from .config import NO_ROUTE, REFUSED, STACK_CLOSED, State, TcpConfig, TcpCounters, TcpError
from .cookies import SynCookies
from .seq import seq_add, seq_gt, seq_le, seq_lt
from .socket import TcpSocket
from .tcb import Tcb
from .txbuf import TxBuffer, TxPool

ISN_TICK_STEP = 13_733
"""RFC 6528's clock runs at 4 microseconds; one 55 ms tick is about 13,733 of its steps."""
ISN_STEPS_PER_SECOND = 250_000
DEFAULT_WINDOW = 256 * 1024
"""The receive window at least: under loss, a sender with a small window stalls on every hole."""
SEND_WINDOW = 256 * 1024
"""What one socket may have queued and in flight by default, as much as it offers to receive."""
_TUPLE = struct.Struct("!IHIH")
_SENT = SendStatus.SENT
_PARTIAL_LEAST = 60 - FRAME_HEADERS
"""The shortest segment whose checksum is left to the link: a shorter frame is padded to 60 bytes, and the
padding would be summed with it."""


class TcpListener:
    """A port in LISTEN. Connections that complete the handshake wait in a backlog for accept()."""

    def __init__(self, layer: TcpLayer, port: int, backlog: int) -> None:
        self.layer = layer
        self.port = port
        self.backlog = backlog
        self.ready: deque[TcpSocket] = deque()
        self.embryonic = 0
        """Connections in SYN_RECEIVED for this port."""
        self.closed = False

    @property
    def full(self) -> bool:
        return len(self.ready) + self.embryonic >= self.backlog

    @property
    def queue_full(self) -> bool:
        """Established connections alone fill the backlog: the application is not accepting."""
        return len(self.ready) >= self.backlog

    @property
    def pending(self) -> int:
        """Established connections waiting for accept()."""
        return len(self.ready)

    def accept(self) -> TcpSocket | None:
        """The next established connection, or None. The caller now owns it (close or abort it)."""
        while self.ready:
            sock = self.ready.popleft()
            sock.listener = None
            if sock.state is State.CLOSED and sock.error is not None:
                self.layer.release(sock)  # reset before anyone took it
                continue
            return sock
        return None

    def close(self) -> None:
        """Stop listening; connections not yet accepted are reset."""
        if self.closed:
            return
        self.closed = True
        self.layer.listeners.pop(self.port, None)
        for sock in list(self.layer.sockets):
            if sock.listener is self:
                sock.abort()
        self.ready.clear()


class TcpLayer:
    def __init__(self, ip: IpLayer, config: TcpConfig | None = None, rx_frames: int = 40) -> None:
        self.ip = ip
        self.config = cfg = config or TcpConfig()
        self.counters = TcpCounters()
        self.local_ip = ip.address
        self.mss = max(1, min(cfg.mss, ip.mtu - 40))
        # Links are drained on the main line, so a burst beyond the pool waits in the device's queue (or the
        # hub's) instead of overrunning the pool: the window may be larger than the pool's frames.
        pool_window = max(max(rx_frames * 3 // 4, 2) * self.mss, DEFAULT_WINDOW)
        self.receive_window = cfg.receive_window or cfg.receive_buffer or pool_window
        self.receive_buffer = cfg.receive_buffer or 2 * self.receive_window
        self.syn_window = min(self.receive_window, self.receive_buffer, 0xFFFF)
        """The window a cookie's SYN-ACK offers: a SYN's is never scaled (RFC 7323 2.2)."""
        per_socket = cfg.tx_buffers_per_socket or max(48, -(-SEND_WINDOW // self.mss))
        pool_size = cfg.tx_buffers or per_socket + per_socket // 3
        self.tx_per_socket = per_socket if cfg.tx_buffers_per_socket else min(per_socket, max(pool_size * 3 // 4, 1))
        """The most transmit buffers one socket holds (TcpConfig.tx_buffers_per_socket, resolved)."""
        self.pool = TxPool(pool_size, self.mss)
        self.sockets: list[TcpSocket] = []
        self.connections: dict[tuple[int, int, int], TcpSocket] = {}
        """By (remote IP, remote port, local port)."""
        self.listeners: dict[int, TcpListener] = {}
        self.now = 0
        """The last tick this layer was given; the application's calls act at this time."""
        self._key = cfg.isn_key if cfg.isn_key is not None else os.urandom(32)
        self.cookies = SynCookies(self._key)
        self.fine_time = 0
        """The edge's clock in RFC 6528's 4 us steps, set with each poll (`set_fine_time`): ISNs only."""
        self._last_isn_clock = -1
        span = cfg.ephemeral_last - cfg.ephemeral_first + 1
        self._next_port = cfg.ephemeral_first + int.from_bytes(hashlib.blake2s(self._key, digest_size=4).digest(),
                                                                "big") % span
        self._scratch = bytearray(FRAME_HEADERS + HEADER_LEN + 40)  # room for every option we send
        self._offer_shift = 0
        while min(self.receive_window, self.receive_buffer) >> self._offer_shift > 0xFFFF \
                and self._offer_shift < 14:
            self._offer_shift += 1
        ip.register(PROTO_TCP, self)

    # -- the application's calls -----------------------------------------------------------------------------

    def connect(self, remote_ip: int | str, remote_port: int, local_port: int = 0,
                now: int | None = None) -> TcpSocket:
        """Start an active open; the SYN goes out at the next poll. Poll until is_connected or error."""
        if isinstance(remote_ip, str):
            remote_ip = ip_from_str(remote_ip)
        if not 0 < remote_port < 65536:
            raise TcpError(f"bad port {remote_port}")
        if now is not None:
            self.now = now
        if self.ip.next_hop(remote_ip) is None:
            raise TcpError(NO_ROUTE)
        self._make_room()
        port = local_port or self._ephemeral_port(remote_ip, remote_port)
        if (remote_ip, remote_port, port) in self.connections:
            raise TcpError(f"local port {port} is already connected to that peer")
        sock = self._new_socket(port, remote_ip, remote_port)
        sock.offer_shift = self._offer_shift if self.config.window_scale else -1
        sock.state = State.SYN_SENT
        sock.snd_una = sock.iss
        sock.snd_nxt = seq_add(sock.iss, 1)
        sock.syn_pending = True
        self.counters.active_opens += 1
        return sock

    def listen(self, port: int, backlog: int = 5) -> TcpListener:
        if not 0 < port < 65536:
            raise TcpError(f"bad port {port}")
        if port in self.listeners:
            raise TcpError(f"port {port} is already listening")
        listener = TcpListener(self, port, max(1, min(backlog, self.config.backlog_max)))
        self.listeners[port] = listener
        return listener

    def alloc_buffer(self) -> TxBuffer | None:
        """A free transmit buffer (zero-copy API); prefer TcpSocket.alloc_buffer, which counts per socket."""
        return self.pool.alloc()

    # -- the table -------------------------------------------------------------------------------------------

    def _make_room(self, evict_half_open: bool = False) -> None:
        """Make sure a new socket fits: take back the oldest TIME_WAIT entry, or (for a connection that has
        proved itself with a cookie) the oldest half-open one; else TcpError."""
        if len(self.sockets) < self.config.max_sockets:
            return
        waiting = [s for s in self.sockets if s.state is State.TIME_WAIT]
        if waiting:
            oldest = min(waiting, key=lambda s: s.time_wait_at or 0)
            oldest.app_closed = True
            oldest.become_closed()
            self.counters.time_wait_reused += 1
            return
        if evict_half_open:
            half_open = self._half_open()
            if half_open:
                half_open[0].become_closed()  # the table's order is their age; a flood's SYNs go first
                self.counters.half_open_evicted += 1
                return
        raise TcpError("no free socket (the table is full)")

    def _half_open(self) -> list[TcpSocket]:
        return [s for s in self.sockets if s.state is State.SYN_RECEIVED and s.passive and s.listener is not None]

    def _ephemeral_port(self, remote_ip: int, remote_port: int) -> int:
        cfg = self.config
        span = cfg.ephemeral_last - cfg.ephemeral_first + 1
        for _ in range(span):
            port = self._next_port
            self._next_port = cfg.ephemeral_first + (port + 1 - cfg.ephemeral_first) % span
            if port not in self.listeners and all(s.local_port != port for s in self.sockets):
                return port
        raise TcpError("no free local port")

    def set_fine_time(self, seconds: float) -> None:
        """The edge's clock, finer than a tick, for initial sequence numbers only (RFC 6528's timer M)."""
        self.fine_time = int(seconds * ISN_STEPS_PER_SECOND)

    def _isn(self, local_port: int, remote_ip: int, remote_port: int) -> int:
        """RFC 6528: M + F(4-tuple, secret). M is the 4 us clock, and never repeats: two incarnations of
        one 4-tuple within one clock step still get different ISNs."""
        clock = max(self.fine_time, self.now * ISN_TICK_STEP, self._last_isn_clock + 1)
        self._last_isn_clock = clock
        digest = hashlib.blake2s(_TUPLE.pack(self.local_ip, local_port, remote_ip, remote_port), key=self._key,
                                 digest_size=4).digest()
        return (int.from_bytes(digest, "big") + clock) & 0xFFFF_FFFF

    def _new_socket(self, local_port: int, remote_ip: int, remote_port: int) -> TcpSocket:
        sock = TcpSocket(self, local_port, remote_ip, remote_port, self.mss, self.receive_buffer,
                         self.receive_window)
        sock.iss = self._isn(local_port, remote_ip, remote_port)
        sock.snd_wl2 = sock.iss
        self.sockets.append(sock)
        self.connections[(remote_ip, remote_port, local_port)] = sock
        return sock

    def established(self, tcb: Tcb) -> None:
        listener = tcb.listener
        if isinstance(listener, TcpListener) and isinstance(tcb, TcpSocket):
            listener.embryonic -= 1
            listener.ready.append(tcb)

    def release(self, tcb: Tcb) -> None:
        if tcb.released:
            return
        tcb.released = True
        if isinstance(tcb, TcpSocket):
            tcb.free_all_buffers()
            if tcb in self.sockets:
                self.sockets.remove(tcb)
            listener = tcb.listener
            if isinstance(listener, TcpListener):
                if tcb in listener.ready:
                    listener.ready.remove(tcb)
                else:
                    listener.embryonic -= 1
                tcb.listener = None
        key = (tcb.remote_ip, tcb.remote_port, tcb.local_port)
        if self.connections.get(key) is tcb:
            del self.connections[key]

    # -- segments in -----------------------------------------------------------------------------------------

    def on_datagram(self, header: Ipv4Repr, payload: memoryview, now: int) -> None:
        self.now = now
        c = self.counters
        c.segments_received += 1
        if header.dst != self.local_ip:
            c.not_for_us += 1  # TCP is never broadcast
            return
        try:
            seg = TcpRepr.parse(payload, header.src, header.dst, not self.ip.rx_checksum_ok)
        except WireError:
            c.bad_segments += 1
            raise
        sock = self.connections.get((header.src, seg.src_port, seg.dst_port))
        listener = self.listeners.get(seg.dst_port)
        if sock is not None and sock.state is State.TIME_WAIT and listener is not None \
                and seg.flags & (SYN | ACK | RST) == SYN and seq_gt(seg.seq, sock.rcv_nxt):
            # A new incarnation above the old one's sequence space reopens the 4-tuple (RFC 1122 4.2.2.13).
            c.time_wait_reopened += 1
            sock.become_closed()
            self.release(sock)
            sock = None
        if sock is not None and sock.state is not State.CLOSED:
            sock.on_segment(seg, now)
            return
        if listener is not None:
            self._on_listen(listener, header.src, seg, now)
            return
        if not seg.flags & RST:
            c.no_socket += 1
            self._reset_for(header.src, seg, now)

    def _reset_for(self, remote_ip: int, seg: TcpRepr, now: int) -> None:
        """The reset RFC 9293 3.10.7.1 answers a segment for no connection with."""
        seq, ack, flags = reset_fields(seg.seq, seg.ack, seg.flags, seg.seg_len)
        self.send_reset(seg.dst_port, remote_ip, seg.src_port, seq, ack, flags, now)

    def _on_listen(self, listener: TcpListener, remote_ip: int, seg: TcpRepr, now: int) -> None:
        c = self.counters
        flags = seg.flags
        if flags & RST:
            return
        if flags & ACK:
            if not flags & SYN and self.config.syn_cookies and self._cookie_ack(listener, remote_ip, seg, now):
                return
            self._reset_for(remote_ip, seg, now)
            return
        if not flags & SYN:
            return
        if listener.queue_full:
            # Refused before anything is allocated: a reset costs no memory and tells the peer at once.
            c.syn_refused_backlog += 1
            self._reset_for(remote_ip, seg, now)
            return
        if listener.full:
            # The half-open slots are taken (a SYN flood, or many slow peers): answer statelessly.
            if self.config.syn_cookies:
                self._send_cookie(remote_ip, seg, now)
            else:
                c.syn_refused_backlog += 1
                self._reset_for(remote_ip, seg, now)
            return
        try:
            self._make_room()
        except TcpError:
            if self.config.syn_cookies and self._half_open():
                self._send_cookie(remote_ip, seg, now)  # half-open entries fill the table: one can make way
            else:
                c.syn_refused_table_full += 1
                self._reset_for(remote_ip, seg, now)
            return
        sock = self._new_half_open(listener, remote_ip, seg, seg.seq)
        sock.offer_shift = self._offer_shift if self.config.window_scale else -1
        sock.take_syn_options(seg)
        sock.snd_wnd = seg.window
        sock.snd_wl1 = seg.seq
        sock.syn_pending = True

    def _new_half_open(self, listener: TcpListener, remote_ip: int, seg: TcpRepr, peer_isn: int,
                       iss: int | None = None) -> TcpSocket:
        """A passive connection in SYN_RECEIVED for `listener`, answering the peer's ISN `peer_isn`; our ISS
        is `iss` (a cookie's) or the RFC 6528 one."""
        sock = self._new_socket(seg.dst_port, remote_ip, seg.src_port)
        if iss is not None:
            sock.iss = sock.snd_wl2 = iss
        sock.passive = True
        sock.listener = listener
        listener.embryonic += 1  # established() moves it to the ready queue
        sock.irs = peer_isn
        sock.rcv_nxt = seq_add(peer_isn, 1)
        sock.state = State.SYN_RECEIVED
        sock.snd_una = sock.iss
        sock.snd_nxt = seq_add(sock.iss, 1)
        self.counters.passive_opens += 1
        return sock

    def _send_cookie(self, remote_ip: int, seg: TcpRepr, now: int) -> None:
        self.counters.syn_cookies_sent += 1
        peer_mss = seg.mss if seg.mss else 536
        iss, _mss = self.cookies.make(self.local_ip, seg.dst_port, remote_ip, seg.src_port, seg.seq,
                                      min(peer_mss, self.mss), now)
        reply = TcpRepr(seg.dst_port, seg.src_port, iss, seq_add(seg.seq, 1), SYN | ACK, self.syn_window, b"",
                        self.mss)
        length = reply.emit(self._scratch, FRAME_HEADERS, self.local_ip, remote_ip)
        self._sent(None, self.ip.send_prepared(self._scratch, length, remote_ip, PROTO_TCP, now), now)

    def _cookie_ack(self, listener: TcpListener, remote_ip: int, seg: TcpRepr, now: int) -> bool:
        """An ACK for a listener: if it returns a valid cookie, the connection it completes (RFC 4987)."""
        c = self.counters
        peer_isn = seq_add(seg.seq, -1)
        mss = self.cookies.check(self.local_ip, seg.dst_port, remote_ip, seg.src_port, peer_isn,
                                 seq_add(seg.ack, -1), now)
        if mss is None:
            c.syn_cookies_failed += 1
            return False
        if listener.queue_full:
            c.syn_refused_backlog += 1
            return False
        try:
            self._make_room(evict_half_open=True)
        except TcpError:
            c.syn_refused_table_full += 1
            return False
        c.syn_cookies_accepted += 1
        sock = self._new_half_open(listener, remote_ip, seg, peer_isn, iss=seq_add(seg.ack, -1))
        sock.offer_shift = -1  # the SYN-ACK offered no scaling and no SACK
        sock.offer_sack = False
        sock.rcv_adv = seq_add(seg.seq, self.syn_window)
        sock.snd_mss = max(1, min(mss, self.mss))
        sock.on_segment(seg, now)  # completes the handshake and takes any data the ACK carries
        return True

    def on_icmp_error(self, error: IcmpError, now: int) -> None:
        self.now = now
        if error.original.src != self.local_ip:
            return
        try:
            local_port, remote_port, seq = parse_quoted(error.original_payload)
        except WireError:
            self.counters.icmp_ignored += 1
            return
        sock = self.connections.get((error.original.dst, remote_port, local_port))
        if sock is None:
            return
        if not (seq_le(sock.snd_una, seq) and seq_lt(seq, sock.snd_nxt)):
            self.counters.icmp_ignored += 1  # not a segment we have outstanding (RFC 5927 4.1)
            return
        self.counters.icmp_errors += 1
        # Hard errors only matter while opening; later they may be transient (RFC 1122 4.2.3.9).
        if sock.state is State.SYN_SENT and error.type == DEST_UNREACHABLE:
            sock.fail(REFUSED if error.code in (UNREACH_PORT, UNREACH_PROTOCOL) else NO_ROUTE, now)

    # -- segments out ----------------------------------------------------------------------------------------

    def _sent(self, tcb: Tcb | None, status: SendStatus, now: int) -> bool:
        self.counters.segments_sent += 1
        if status.ok:
            return True
        self.counters.send_errors += 1
        if tcb is not None and status in (SendStatus.NO_ROUTE, SendStatus.HOST_UNREACHABLE) \
                and tcb.state is State.SYN_SENT:
            tcb.fail(NO_ROUTE, now)
        return False

    def send_control(self, tcb: Tcb, flags: int, seq: int, ack: int, now: int, *, syn_options: bool = False) -> bool:
        window = tcb.advertise(syn=bool(flags & SYN))
        if syn_options:
            scale = tcb.offer_shift if tcb.offer_shift >= 0 else None
            seg = TcpRepr(tcb.local_port, tcb.remote_port, seq, ack, flags, window, b"", tcb.our_mss, scale,
                          sack_permitted=tcb.offer_sack)
        else:
            seg = TcpRepr(tcb.local_port, tcb.remote_port, seq, ack, flags, window, b"",
                          sack=tcb.sack_blocks() if tcb.sack_ok and flags & ACK else ())
        length = seg.emit(self._scratch, FRAME_HEADERS, self.local_ip, tcb.remote_ip)
        return self._sent(tcb, self.ip.send_prepared(self._scratch, length, tcb.remote_ip, PROTO_TCP, now), now)

    def send_buffer(self, tcb: Tcb, buf: TxBuffer, flags: int, now: int) -> bool:
        """Put a data buffer on the wire: header in front of the data already in place, checksum, IP."""
        window = tcb.advertise()
        buf.sent_count += 1
        length = HEADER_LEN + buf.length
        remote_ip = tcb.remote_ip
        ip = self.ip
        if ip.send_partial is not None and length >= _PARTIAL_LEAST:
            emit_plain_header_partial(buf.view, FRAME_HEADERS, tcb.local_port, tcb.remote_port, buf.seq, tcb.rcv_nxt,
                                      flags, window, length, self.local_ip, remote_ip)
            status = ip.send_prepared(buf.frame, length, remote_ip, PROTO_TCP, now, csum_offset=CHECKSUM_AT)
        else:
            emit_plain_header(buf.view, FRAME_HEADERS, tcb.local_port, tcb.remote_port, buf.seq, tcb.rcv_nxt,
                              flags, window, length, self.local_ip, remote_ip)
            status = ip.send_prepared(buf.frame, length, remote_ip, PROTO_TCP, now)
        if status is _SENT:  # _sent() for the common case, written out: this runs for every segment
            self.counters.segments_sent += 1
            return True
        return self._sent(tcb, status, now)

    def send_reset(self, local_port: int, remote_ip: int, remote_port: int, seq: int, ack: int, flags: int,
                   now: int) -> None:
        self.counters.rst_sent += 1
        seg = TcpRepr(local_port, remote_port, seq, ack, flags, 0)
        length = seg.emit(self._scratch, FRAME_HEADERS, self.local_ip, remote_ip)
        self._sent(None, self.ip.send_prepared(self._scratch, length, remote_ip, PROTO_TCP, now), now)

    # -- the poll loop ---------------------------------------------------------------------------------------

    def drive(self, now: int) -> None:
        """mTCP's Tcp::drivePackets: timers, queued data, owed ACKs, for every connection."""
        self.now = now
        for sock in self.sockets[:] if len(self.sockets) > 1 else self.sockets:
            sock.drive(now)
        self.counters.tx_buffers_low_free = self.pool.low_free

    drive_packets = drive
    """mTCP's name for the same step."""

    def next_deadline(self) -> int | None:
        best: int | None = None
        for sock in self.sockets:
            deadline = sock.next_deadline()
            if deadline is not None and (best is None or deadline < best):
                best = deadline
        return best

    def close(self, now: int) -> None:
        """At end_stack: reset every live connection so peers do not wait, and free the table."""
        self.now = now
        for sock in list(self.sockets):
            if sock.error is None:
                sock.error = STACK_CLOSED
            sock.abort()
        for listener in list(self.listeners.values()):
            listener.close()

    def socket_states(self) -> list[tuple[str, str, str]]:
        """(local, remote, state) for every connection in the table (for -stats and debugging)."""
        return [(f"{s.local_address[0]}:{s.local_port}", f"{s.remote_address[0]}:{s.remote_port}", s.state.value)
                for s in self.sockets]

