"""Header prediction: Van Jacobson's short path, as BSD's tcp_input has it.

Most segments on a busy connection are the one expected next: in-order data, or an ACK for what we sent,
with nothing unusual (no option, no flag but ACK and PSH, no urgent data, no recovery under way, nothing
out of order). For those, one precompiled unpack reads the IPv4 and TCP headers straight from the
receive buffer, the checksums are verified, and the segment goes to the same two steps the full path
ends in (`process_ack`, then `receive_data`), building no Repr on the way. Anything else, or anything
that fails a check, returns False having changed nothing, and the stack takes the full path, which
counts and explains every drop. `tests/tcp/test_predict.py` feeds both paths the same traffic and
requires the same segments out.
"""

from __future__ import annotations

import struct

from ..checksum import ones_sum, pseudo_header_sum
from ..wire.tcp import ACK, PROTO_TCP, PSH
from .config import State
from .layer import TcpLayer

HEADERS = struct.Struct("!BBHHHBBHIIHHIIBBHHH")
"""IPv4 without options, then TCP without options: 40 bytes."""
_ONLY_ACK = 0xFF & ~PSH
"""Flags that must read exactly ACK once PSH is set aside."""


def predicted_input(layer: TcpLayer, packet: memoryview, now: int) -> bool:
    """Take the IPv4 `packet` on the short path if it is what a connection expects; True if taken."""
    if len(packet) < 40:
        return False
    (ver_ihl, _tos, total, _ident, frag, _ttl, protocol, _ip_sum, src, dst, src_port, dst_port, seq, ack,
     offset, flags, window, _tcp_sum, _urgent) = HEADERS.unpack_from(packet, 0)
    if ver_ihl != 0x45 or protocol != PROTO_TCP or frag & 0xBFFF or offset != 0x50 or flags & _ONLY_ACK != ACK:
        return False  # options, a fragment, a reserved bit, or any flag but ACK and PSH
    if total < 40 or total > len(packet) or dst != layer.local_ip:
        return False
    sock = layer.connections.get((src, src_port, dst_port))
    if sock is None or sock.state is not State.ESTABLISHED or seq != sock.rcv_nxt:
        return False
    if sock.recover is not None or sock.sacked_out or sock.lost_out or sock.rx.ranges or sock.rcv_up is not None \
            or sock.fin_seq_in is not None:
        return False  # recovery, reordering or urgent data: the full path's business
    payload_len = total - 40
    if payload_len:
        if payload_len > sock.rx.free:
            return False  # beyond the window: the full path trims it
    elif ack == sock.snd_una:
        return False  # a duplicate ACK or a window update: the full path counts it
    if ones_sum(packet[:20]) != 0xFFFF:
        return False
    if ones_sum(packet[20:total], pseudo_header_sum(src, dst, PROTO_TCP, total - 20)) != 0xFFFF:
        return False
    layer.now = now
    layer.counters.segments_received += 1
    layer.counters.predicted += 1
    if sock.process_ack(ack, seq, window, (), payload_len > 0, False, now) and payload_len:
        sock.receive_data(0, packet[40:total], now)
    return True
