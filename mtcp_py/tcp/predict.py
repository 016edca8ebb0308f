"""Header prediction: Van Jacobson's short path, as BSD's tcp_input has it.

Most segments on a busy connection are the one expected next: in-order data, or an ACK for what we sent,
with nothing unusual (no option, no flag but ACK and PSH, no urgent data, no recovery under way, nothing
out of order). For those, one precompiled unpack reads the IPv4 and TCP headers straight from the
receive buffer, the checksums are verified (the TCP one unless the link vouched for it: checksum offload),
and the segment goes to the same two steps the full path
ends in (`process_ack`, then `receive_data`), building no Repr on the way; in-order data that acknowledges
nothing new, a bulk receiver's every segment, has what is left of those two steps written out here, as
BSD has it. Anything else, or anything
that fails a check, returns False having changed nothing, and the stack takes the full path, which
counts and explains every drop. `tests/tcp/test_predict.py` feeds both paths the same traffic and
requires the same segments out.
"""

from __future__ import annotations

import struct

from ..checksum import residue
from ..wire.tcp import ACK, PROTO_TCP, PSH
from .config import State
from .layer import TcpLayer

HEADERS = struct.Struct("!BxHxxHxBxxIIHHIIBBH4x")
"""IPv4 without options, then TCP without options: 40 bytes, of which only the fields the short path reads
(the rest are padding to the unpack, so no object is made for them: the checksums are summed as bytes)."""
_ONLY_ACK = 0xFF & ~PSH
"""Flags that must read exactly ACK once PSH is set aside."""
_ESTABLISHED = State.ESTABLISHED


def predicted_input(layer: TcpLayer, packet: memoryview, now: int, vouched: int = 0) -> bool:
    """Take the IPv4 `packet` on the short path if it is what a connection expects; True if taken.
    `vouched`: the link vouched for the TCP checksum (offload), so only the IPv4 header's is verified."""
    size = len(packet)
    if size < 40:
        return False
    ver_ihl, total, frag, protocol, src, dst, src_port, dst_port, seq, ack, offset, flags, window = \
        HEADERS.unpack_from(packet, 0)
    if ver_ihl != 0x45 or protocol != PROTO_TCP or frag & 0xBFFF or offset != 0x50 or flags & _ONLY_ACK != ACK:
        return False  # options, a fragment, a reserved bit, or any flag but ACK and PSH
    if total < 40 or total > size or dst != layer.local_ip:
        return False
    sock = layer.connections.get((src, src_port, dst_port))
    if sock is None or sock.state is not _ESTABLISHED or seq != sock.rcv_nxt:
        return False
    rx = sock.rx
    if sock.recover is not None or sock.sacked_out or sock.lost_out or rx.ranges or sock.rcv_up is not None \
            or sock.fin_seq_in is not None:
        return False  # recovery, reordering or urgent data: the full path's business
    payload_len = total - 40
    if payload_len:
        if payload_len > rx.capacity - rx.ready:
            return False  # beyond the window (rx.free): the full path trims it
    elif ack == sock.snd_una:
        return False  # a duplicate ACK or a window update: the full path counts it
    # Both checksums as `checksum.transport_ok` has them, inline: the IPv4 header's sum is never zero (its
    # version is in it), so it is right when its value is a multiple of 0xFFFF; and the segment's sum with
    # its pseudo-header added as one small integer.
    if int.from_bytes(packet[:20], "big") % 0xFFFF:
        return False
    if not vouched:
        segment = int.from_bytes(packet[20:total], "big")
        if total & 1:
            segment <<= 8
        if residue(segment + (src + dst + PROTO_TCP + total - 20)):
            return False
    layer.now = now
    counters = layer.counters
    counters.segments_received += 1
    counters.predicted += 1
    if not payload_len:
        sock.process_ack(ack, seq, window, (), False, False, now)
        return True
    if ack == sock.snd_una:
        # In-order data that acknowledges nothing new (a bulk receiver's every segment): of process_ack's
        # work only this is left, as BSD's short path has it. ESTABLISHED and not in recovery, so no FIN of
        # ours is outstanding and no window is being reduced; the window update is process_ack's, word for
        # word, and test_predict holds the two paths to the same state.
        sock.probes_unanswered = 0
        wl1 = sock.snd_wl1
        wl2 = sock.snd_wl2
        if (wl1 - seq) & 0xFFFF_FFFF >= 0x8000_0000 or (wl1 == seq and (wl2 == ack or (wl2 - ack) & 0xFFFF_FFFF
                                                                        >= 0x8000_0000)):
            window <<= sock.snd_shift
            sock.snd_wnd = window
            sock.snd_wl1 = seq
            sock.snd_wl2 = ack
            if window > sock.max_snd_wnd:
                sock.max_snd_wnd = window
            if window:
                sock.persist_backoff = 0
                if window >= sock.snd_mss:
                    sock.persist_at = None
        if sock.on_receive is None:
            # And receive_data's in-order case, as BSD appends in its short path: it fits (checked above) and
            # no hole is open, so the bytes become ready at once and the ACK is delayed by the same rule.
            rx.append(packet[40:total])
            sock.rcv_nxt = (seq + payload_len) & 0xFFFF_FFFF
            counters.bytes_received += payload_len
            sock.unacked_segments += 1
            if sock.unacked_segments >= 2:
                sock.ack_now = True
            elif sock.ack_due is None:
                sock.ack_due = now + layer.config.delayed_ack_ticks
            return True
    elif not sock.process_ack(ack, seq, window, (), True, False, now):
        return True
    sock.receive_data(0, packet[40:total], now)
    return True
