"""TCP, built the mTCP way: a fixed socket table, a pool of pre-allocated transmit buffers, and polling.

How it fits together
--------------------
`Stack` makes a `TcpLayer` (``stack.tcp``) at start. Every turn of the poll loop (``stack.poll(now)``, or
``runtime.run_until``) hands it the frames that arrived, then calls ``drive(now)``: timers, queued data
and owed acknowledgements go out then, in a batch. Nothing in TCP reads a clock or waits.

Connecting (polling API)::

    sock = stack.tcp.connect("10.0.2.1", 80)        # SYN at the next poll (an int address works too)
    run_until(stack, lambda: sock.is_connected or sock.error)
    if sock.error: print(sock.error)   # "connection refused", "timed out", "no route"

Listening::

    listener = stack.tcp.listen(7, backlog=8)       # SYNs beyond the backlog are refused with a reset
    ...in the main loop: while (sock := listener.accept()) is not None: clients.append(sock)

Sending with backpressure: ``sock.send(data)`` copies what fits into transmit buffers and returns how many
bytes it took. 0 means the buffers are full (the peer has not acknowledged yet): keep the rest and call
again after a poll. ``sock.send_space`` says roughly how much would fit; ``sock.all_sent`` that the peer
acknowledged everything. Nagle is on; ``sock.set_nodelay()`` turns it off for interactive traffic.
Keep-alives are off, as RFC 1122 4.2.3.6 wants; ``sock.set_keepalive()`` turns them on (two hours idle,
then a probe every 75 s, nine unanswered end the connection as "timed out"; each figure can be given).

Receiving: ``sock.recv(n)`` returns what is ready, ``b""`` when nothing is. ``sock.readable`` counts it,
``sock.at_eof`` says the peer closed and all was read, ``sock.peer_closed`` that its FIN came.
The advertised window is the free room in the socket's receive queue, so a slow reader slows the sender.

Urgent data (RFC 9293 3.8.5) stays inline; ``sock.urgent_pending`` says how many bytes recv() returns
before the urgent mark (None when there is none ahead), which is what Telnet's Synch needs.

Ending: ``sock.close()`` sends a FIN after the queued data (a half-close: keep reading until ``at_eof``);
the slot is freed when the connection is over (after TIME_WAIT, 2 MSL = 60 s as Linux, or after
``fin_wait_2_ticks`` of silence if the peer never sends its FIN). A full table takes back its oldest
TIME_WAIT entry, and a new SYN above the old sequence space reopens one (RFC 1122 4.2.2.13).
``sock.abort()`` sends a reset and frees the slot at once. Either way, call exactly one of them on every
socket you got from connect() or accept().

Errors: ``sock.error`` is None, or why the connection ended badly: ``"connection refused"`` (reset or ICMP
port unreachable answering our SYN), ``"connection reset"`` (the peer aborted), ``"timed out"`` (no
acknowledgement after ``max_retransmits`` tries with backoff), ``"no route"`` (no route or no ARP reply),
``"aborted"`` (this side called abort), ``"stack closed"``. ``send()`` on a failed socket raises
``TcpError`` with the same reason. Queries: ``is_connecting``, ``is_connected``, ``is_closed``, ``state``.

Blocking layer (``mtcp_py.blocking``), for scripts and simple programs::

    from mtcp_py.blocking import connect, listen
    with connect(stack, "10.0.2.1", 7, timeout=5) as conn:     # TcpError on failure
        conn.send_all(b"hello")
        conn.shutdown()                                         # FIN; we can still read
        while data := conn.recv(timeout=5):                     # b"" at the peer's FIN
            ...
    server = listen(stack, 7); conn = server.accept(timeout=10)

A wait that runs out raises ``blocking.WaitTimeout`` (a TcpError, reason "timed out"). When several stacks
share one process (two stacks on a hub), pass the others as ``poll_also=[...]`` so every wait polls them.

Zero-copy (the InterNiche API): ``buf = sock.alloc_buffer()`` gives a transmit buffer (None when none is
free); write at most ``sock.segment_room()`` bytes into ``buf.data`` and ``sock.send_buffer(buf, n)``
(or ``sock.free_buffer(buf)`` to give it back). ``sock.set_receive_callback(fn)``: ``fn(sock, view)``
gets in-order data still in the stack's receive buffer and returns True once it has consumed it (the
view is invalid after the call) or False to have it queued for recv() as usual.

On the wire it holds as the Linux kernel does (`tests/tcp/test_attacks.py`, `test_congestion.py`):
- RFC 5961: an ACK older than SND.UNA - MAX.SND.WND or newer than SND.NXT drops the segment; RSTs and
  SYNs that are not exact get a challenge ACK, at most ``challenge_ack_limit`` per second per connection.
- RFC 5927: an ICMP error counts only if it quotes a sequence number we have outstanding.
- Options are read as Linux reads them (a bad option is skipped or ends the walk, never drops the
  segment); MSS 0 means 536, a larger MSS than ours is clamped.
- SYN floods: when a listener's half-open slots are taken, SYNs are answered with SYN cookies (RFC 4987),
  so nothing is allocated until the peer's ACK proves it real. ISNs follow RFC 6528 with the edge's
  4 us clock (``set_fine_time``).
- Congestion control: RFC 6928's initial window, slow start and congestion avoidance (RFC 5681), fast
  recovery as NewReno (RFC 6582) or from the peer's SACK blocks (RFC 2018, RFC 6675), lost
  retransmissions detected by what was sent after them, a tail loss probe (RFC 8985 7), and the RTO's
  slow start; SACK blocks in every ACK we send once both sides offered it.
- Silly windows avoided both ways (RFC 9293 3.8.6.2), with the sender's override timer; a zero window
  may stay shut as long as the peer answers our probes.

Settings are `TcpConfig` (``StackConfig(tcp=TcpConfig(...))``): table size, buffer counts, receive queue
size, timers in ticks. Counters are ``stack.counters()["tcp"]``.

Throughput: the cost is per frame, so bulk transfers want big frames. On a TAP link give the device and the
stack a large MTU (``private_netns(mtu=65000)``, ``StackConfig(mtu=65000, buffer_size=65014,
tcp=TcpConfig(mss=64960))``): the receive window follows the receive pool (three quarters of its frames'
worth of segments, window-scaled past 64 KiB), so a full window never overruns the driver's buffers; the
receive queue behind it is twice that, so data not yet read does not close the window.
`bench/bench_tcp.py` measures it.
"""

from __future__ import annotations

from .config import ABORTED, NO_ROUTE, REFUSED, RESET, STACK_CLOSED, TIMED_OUT, State, TcpConfig, TcpCounters, TcpError
from .layer import TcpLayer, TcpListener
from .socket import TcpSocket
from .txbuf import TxBuffer

__all__ = [
    "ABORTED",
    "NO_ROUTE",
    "REFUSED",
    "RESET",
    "STACK_CLOSED",
    "TIMED_OUT",
    "State",
    "TcpConfig",
    "TcpCounters",
    "TcpError",
    "TcpLayer",
    "TcpListener",
    "TcpSocket",
    "TxBuffer",
]
