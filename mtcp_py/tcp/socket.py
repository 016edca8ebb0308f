"""A TCP connection as the application sees it: mTCP's polling calls over the block in `tcb.py`.

Nothing here waits. `send` queues what fits in transmit buffers and returns how much it took (0 means
"come back after a poll": backpressure); `recv` returns what is ready (b"" when nothing is). Segments go
out and come in when the stack is polled.
"""

from __future__ import annotations

from ..wire import ip_to_str
from ..wire.tcp import ACK, RST
from .config import (
    ABORTED,
    KEEPALIVE_IDLE_TICKS,
    KEEPALIVE_INTERVAL_TICKS,
    KEEPALIVE_PROBES,
    SENDING,
    SYNCHRONIZED,
    State,
    TcpError,
)
from .input import SegmentInput
from .output import SegmentOutput
from .recovery import LossRecovery
from .seq import seq_add, seq_diff
from .tcb import ReceiveCallback
from .txbuf import TxBuffer


class TcpSocket(SegmentInput, SegmentOutput, LossRecovery):
    # -- queries ---------------------------------------------------------------------------------------------

    @property
    def is_connecting(self) -> bool:
        return self.state is State.SYN_SENT or self.state is State.SYN_RECEIVED

    @property
    def is_connected(self) -> bool:
        """The handshake is done and the connection is not yet over (either side may still send)."""
        return self.state in SYNCHRONIZED and self.state is not State.TIME_WAIT

    @property
    def is_closed(self) -> bool:
        """Nothing more will happen on this connection (closed, reset, timed out, or in TIME_WAIT)."""
        return self.state is State.CLOSED or self.state is State.TIME_WAIT

    @property
    def at_eof(self) -> bool:
        """The peer closed its side and every byte it sent has been read."""
        return self.peer_closed and not self.rx.ready

    @property
    def readable(self) -> int:
        """Bytes recv() would return now."""
        return self.rx.ready

    @property
    def urgent_pending(self) -> int | None:
        """Bytes recv() returns before the urgent mark, the end of urgent data the peer sent (RFC 9293
        3.8.5; Telnet's Synch reads to it); None when no urgent data is ahead of the reader."""
        if self.rcv_up is None:
            return None
        data_end = seq_add(self.rcv_nxt, -1) if self.peer_closed else self.rcv_nxt
        left = seq_diff(self.rcv_up, seq_add(data_end, -self.rx.ready))
        if left <= 0:
            self.rcv_up = None  # read past the mark
            return None
        return left

    @property
    def unacknowledged(self) -> int:
        """Bytes queued or sent but not yet acknowledged by the peer."""
        queued = sum(buf.length for buf in self.outgoing)
        return queued + max(seq_diff(self.snd_nxt, self.snd_una) - (1 if self.fin_sent else 0), 0)

    @property
    def all_sent(self) -> bool:
        """Everything handed to send() has been acknowledged."""
        return not self.outgoing and not self.sent

    @property
    def send_space(self) -> int:
        """About how many bytes send() would take now."""
        if self.app_closed or self.state not in SENDING and not self.is_connecting:
            return 0
        spare = min(self.owner.pool.free, self.owner.tx_per_socket - self.buffers_held)
        tail_room = self.outgoing[-1].room if self.outgoing else 0
        return max(spare, 0) * self.segment_room() + tail_room

    def segment_room(self) -> int:
        return min(self.owner.pool.capacity, self.snd_mss if self.state in SYNCHRONIZED else self.our_mss)

    @property
    def local_address(self) -> tuple[str, int]:
        return ip_to_str(self.owner.local_ip), self.local_port

    @property
    def remote_address(self) -> tuple[str, int]:
        return ip_to_str(self.remote_ip), self.remote_port

    def __repr__(self) -> str:
        return f"<TcpSocket {self.local_port} -> {ip_to_str(self.remote_ip)}:{self.remote_port} " \
               f"{self.state.value}{' ' + self.error if self.error else ''}>"

    # -- sending ---------------------------------------------------------------------------------------------

    def _check_can_send(self) -> None:
        if self.error is not None:
            raise TcpError(self.error)
        if self.app_closed:
            raise TcpError("socket is closed for sending")
        if self.state not in SENDING and not self.is_connecting:
            raise TcpError("not connected")

    def send(self, data: bytes | bytearray | memoryview) -> int:
        """Queue as much of `data` as transmit buffers allow; returns the number of bytes taken."""
        self._check_can_send()
        view = memoryview(data)
        total = len(view)
        taken = 0
        outgoing = self.outgoing
        if outgoing and outgoing[-1].room:
            taken = outgoing[-1].append(view, 0)
        if taken < total:
            pool = self.owner.pool
            limit = self.owner.tx_per_socket
            room = self.segment_room()
            while taken < total and self.buffers_held < limit:
                buf = pool.alloc(self)
                if buf is None:
                    self.owner.counters.tx_pool_empty += 1
                    break
                self.buffers_held += 1
                buf.capacity = room
                taken += buf.append(view, taken)
                outgoing.append(buf)
        return taken

    def alloc_buffer(self) -> TxBuffer | None:
        """Zero-copy send, step 1: a transmit buffer to fill (`buf.data[:n]`), or None when none is free."""
        if self.buffers_held >= self.owner.tx_per_socket:
            return None
        buf = self.owner.pool.alloc(self)
        if buf is not None:
            self.buffers_held += 1
            buf.capacity = self.segment_room()
        return buf

    def send_buffer(self, buf: TxBuffer, length: int) -> None:
        """Zero-copy send, step 2: queue `length` bytes written at `buf.data`; the socket owns it now."""
        if length < 0 or length > len(buf.data):
            raise ValueError(f"length {length} outside the buffer")
        try:
            self._check_can_send()
        except TcpError:
            self.free_buffer(buf)
            raise
        buf.length = length
        buf.capacity = length  # a later send() starts a new buffer rather than appending to this one
        self.outgoing.append(buf)

    def free_buffer(self, buf: TxBuffer) -> None:
        """Give back a buffer from alloc_buffer() that will not be sent."""
        self.owner.pool.release(buf)
        self.buffers_held -= 1

    def set_nodelay(self, nodelay: bool = True) -> None:
        """Turn Nagle's algorithm off (True) or on: off sends small writes at once (interactive use)."""
        self.nagle = not nodelay

    # -- receiving -------------------------------------------------------------------------------------------

    def recv(self, max_bytes: int = 65_536) -> bytes:
        """Up to `max_bytes` bytes that have arrived, b"" when none have (check at_eof and error)."""
        data = self.rx.read(max_bytes)
        if data:
            self._after_read()
        return data

    def recv_into(self, target: bytearray | memoryview) -> int:
        n = self.rx.read_into(target)
        if n:
            self._after_read()
        return n

    def _after_read(self) -> None:
        """The window opened; announce it when that matters to the sender, as Linux's tcp_cleanup_rbuf
        judges it: the right edge moves by a worthwhile step (receiver SWS avoidance, RFC 9293 3.8.6.2.2)
        and the new window is at least twice what the peer may still send, so a reader that keeps up costs
        no extra ACKs (the ordinary ones carry the window) and one that fell behind is heard at once."""
        if self.state not in (State.ESTABLISHED, State.FIN_WAIT_1, State.FIN_WAIT_2):
            return
        free = min(self.rx.free, self.window_cap)
        right = (free >> self.rcv_shift) << self.rcv_shift
        remaining = seq_diff(self.rcv_adv, self.rcv_nxt)
        if right - remaining >= self.sws_step and right >= 2 * remaining:
            if not self.ack_now:
                self.owner.counters.window_updates += 1
            self.ack_now = True

    def set_keepalive(self, idle_ticks: int | None = KEEPALIVE_IDLE_TICKS,
                      interval_ticks: int = KEEPALIVE_INTERVAL_TICKS, probes: int = KEEPALIVE_PROBES) -> None:
        """Keep-alives (RFC 1122 4.2.3.6), off unless asked: after `idle_ticks` of silence, a probe every
        `interval_ticks`; `probes` unanswered end the connection as timed out. The defaults are RFC 1122's
        and Linux's: two hours, 75 s, 9. `idle_ticks=None` turns them off."""
        if idle_ticks is None:
            self.keepalive = None
            self.keepalive_at = None
            return
        if idle_ticks < 1 or interval_ticks < 1 or probes < 1:
            raise TcpError("keep-alive times and probes must be at least 1")
        self.keepalive = (idle_ticks, interval_ticks, probes)
        self.keepalive_mark = (self.rcv_nxt, self.snd_una)
        self.keepalive_probes = 0
        self.keepalive_since = self.owner.now
        self.keepalive_at = self.owner.now + idle_ticks

    def set_receive_callback(self, callback: ReceiveCallback | None) -> None:
        """Zero-copy receive: `callback(socket, view)` gets in-order data inside the stack's receive buffer
        and returns True when it consumed it (the view is invalid afterwards) or False to have it queued."""
        self.on_receive = callback

    # -- ending ----------------------------------------------------------------------------------------------

    def close(self) -> None:
        """Orderly close: a FIN after everything queued. recv() still works until the peer's FIN."""
        if self.app_closed:
            return
        self.app_closed = True
        state = self.state
        if state is State.CLOSED or state is State.SYN_SENT:
            self.become_closed()
            self.owner.release(self)
        elif state in (State.SYN_RECEIVED, State.ESTABLISHED, State.CLOSE_WAIT):
            self.fin_queued = True  # from SYN_RECEIVED, the FIN waits for the handshake to complete

    def abort(self) -> None:
        """Hard close: a reset to the peer now, queued and unacknowledged data discarded, slot freed."""
        state = self.state
        if state in SYNCHRONIZED and state is not State.TIME_WAIT or state is State.SYN_RECEIVED:
            self.owner.send_reset(self.local_port, self.remote_ip, self.remote_port, self.snd_nxt, self.rcv_nxt,
                                  RST | ACK, self.owner.now)
        if self.error is None and state is not State.CLOSED:
            self.error = ABORTED
        self.app_closed = True
        self.become_closed()
        self.owner.release(self)
