"""Checksum offload (`tap:NAME?offload=1`) without a kernel: the virtio_net_hdr's encoding, the link string,
the driver's and the wrappers' part, and two stacks on a hub where one link plays the kernel's part (it
sums what the stack left to it, and hands up segments whose checksum holds only the pseudo-header's sum,
as Linux's NEEDS_CSUM frames do)."""

from __future__ import annotations

import itertools
import random
import struct
import sys

import pytest

from mtcp_py.checksum import complete_partial, pseudo_header_sum, transport_checksum
from mtcp_py.stack import Stack, StackConfig
from mtcp_py.tcp import TcpConfig
from mtcp_py.wire import ip_from_str
from pktdrv import ErrorCode, PacketDriver, PacketDriverError, VirtualClock, open_link
from pktdrv.links import FaultLink, Faults, LinkSpecError, PcapLink, parse_link
from pktdrv.links.base import Deliver, Link
from pktdrv.links.tap import F_DATA_VALID, F_NEEDS_CSUM, VNET_HDR_LEN, decode_vnet, encode_vnet
from tests.exchange import connect_pair, exchange_exact

from .frames import slow_checksum

_names = itertools.count()
A_IP, B_IP = ip_from_str("10.8.0.1"), ip_from_str("10.8.0.2")


# -- the header ------------------------------------------------------------------------------------------------


def test_vnet_header_encode_and_decode() -> None:
    assert VNET_HDR_LEN == 10
    assert encode_vnet() == bytes(10)  # no flag, no GSO: the kernel checks the frame as a wire's
    header = encode_vnet(34, 16)
    order = "<" if sys.byteorder == "little" else ">"  # a TAP's legacy header is in the host's order
    assert header == struct.pack(f"{order}BBHHHH", F_NEEDS_CSUM, 0, 0, 0, 34, 16)
    assert decode_vnet(header) == (F_NEEDS_CSUM, 0, 34, 16)
    received = struct.pack(f"{order}BBHHHH", F_DATA_VALID, 0, 0, 0, 0, 0) + b"frame"
    assert decode_vnet(received) == (F_DATA_VALID, 0, 0, 0)


def test_complete_partial_is_the_whole_checksum() -> None:
    rng = random.Random(3)
    for size in (20, 21, 57, 1480):
        segment = bytearray(rng.randbytes(size))
        segment[16:18] = b"\0\0"
        want = transport_checksum(segment, A_IP, B_IP, 6)
        frame = bytearray(34) + segment
        struct.pack_into("!H", frame, 34 + 16, pseudo_header_sum(A_IP, B_IP, 6, size))
        complete_partial(frame, 34, 16)
        assert struct.unpack_from("!H", frame, 50)[0] == want


# -- the link string, the driver, the wrappers -----------------------------------------------------------------


def test_offload_is_a_tap_parameter_in_words() -> None:
    assert parse_link("tap:mtap0?offload=1").options == {"offload": True}
    assert parse_link("tap:mtap0").options == {}
    with pytest.raises(LinkSpecError, match=r"offload=2: not 0 or 1 \(1: TCP/UDP checksums left to the kernel"):
        parse_link("tap:mtap0?offload=2")
    with pytest.raises(LinkSpecError, match="unknown link parameter 'offload'"):
        parse_link("hub:x?offload=1")


def test_a_link_without_offload_refuses_a_partial_frame() -> None:
    driver = PacketDriver(open_link(f"hub:offload{next(_names)}"))
    assert not driver.checksum_offload
    with pytest.raises(PacketDriverError) as info:
        driver.send_pkt_partial(bytes(60), 34, 16)
    assert info.value.code == ErrorCode.CANT_SEND and driver.stats.errors_out == 1


class KernelLike(Link):
    """Plays a TAP with offload=1 over a hub port: sums what is left to it (checking the sender put the
    pseudo-header's sum in the field), and hands up TCP segments with only that sum in the field."""

    def __init__(self, inner: Link) -> None:
        self.inner, self.spec, self.mac, self.mtu = inner, inner.spec, inner.mac, inner.mtu
        self.checksum_offload = True
        self.partial_sent = 0
        self.partial_received = 0

    def stop_checksum_offload(self) -> None:
        self.checksum_offload = False

    def open(self, deliver: Deliver) -> None:
        def up(frame: bytes) -> None:
            self.rx_checksum_ok = False
            if self.checksum_offload and frame[12:14] == b"\x08\x00" and frame[23] == 6:
                partial = bytearray(frame)
                total = struct.unpack_from("!H", partial, 16)[0]
                src, dst = struct.unpack_from("!II", partial, 26)
                struct.pack_into("!H", partial, 50, pseudo_header_sum(src, dst, 6, total - 20))
                frame = bytes(partial)
                self.rx_checksum_ok = True
                self.partial_received += 1
            deliver(frame)

        self.inner.open(up)

    def send(self, frame: bytes | bytearray | memoryview) -> None:
        self.inner.send(frame)

    def send_partial(self, frame: bytes | bytearray | memoryview, csum_start: int, csum_offset: int) -> None:
        assert self.checksum_offload and (csum_start, csum_offset) == (34, 16)
        whole = bytearray(frame)
        at = csum_start + csum_offset
        src, dst = struct.unpack_from("!II", whole, 26)
        assert struct.unpack_from("!H", whole, at)[0] == pseudo_header_sum(src, dst, 6, len(whole) - 34)
        whole[at : at + 2] = b"\0\0"
        pseudo = struct.pack("!IIBBH", src, dst, 0, 6, len(whole) - 34)
        struct.pack_into("!H", whole, at, slow_checksum(pseudo + bytes(whole[csum_start:])))
        self.partial_sent += 1
        self.inner.send(whole)

    def drain(self, max_frames: int) -> int:
        return self.inner.drain(max_frames)

    def next_deadline(self) -> int | None:
        return self.inner.next_deadline()

    def close(self) -> None:
        self.inner.close()


def transfer(a_link: Link, b_link: Link, clock: VirtualClock, size: int) -> tuple[Stack, Stack]:
    a = Stack(a_link, StackConfig(A_IP, tcp=TcpConfig(isn_key=b"a")), clock).init_stack()
    b = Stack(b_link, StackConfig(B_IP, tcp=TcpConfig(isn_key=b"b")), clock).init_stack()
    listener = b.tcp.listen(9)
    client = a.tcp.connect(B_IP, 9)
    exchange_exact([a, b], client, connect_pair([a, b], client, listener), size)
    for stack in (a, b):
        assert stack.internal_errors == 0 and not stack.drops, (stack.drops, stack.last_internal_error)
    return a, b


def test_offloaded_transfer_both_ways_is_exact() -> None:
    clock = VirtualClock()
    hub = f"offload{next(_names)}"
    link = KernelLike(open_link(f"hub:{hub}?mac=02:00:00:00:00:0a", clock))
    a, b = transfer(link, open_link(f"hub:{hub}?mac=02:00:00:00:00:0b", clock), clock, 256 * 1024)
    # Every data segment was left to the link, every TCP segment in was vouched for (its field was only the
    # pseudo-header's sum: verified, it would have been dropped); control segments carry their own.
    assert a.eth.checksums_offloaded == link.partial_sent >= 256 * 1024 // 1460
    assert a.eth.checksums_vouched == link.partial_received > 256 * 1024 // 1460
    assert a.tcp.counters.predicted > 0
    assert b.eth.checksums_offloaded == b.eth.checksums_vouched == 0
    a.end_stack()
    b.end_stack()


@pytest.mark.parametrize("wrap", ["fault", "pcap"])
def test_a_wrapper_switches_offload_off(wrap: str, tmp_path: object) -> None:
    clock = VirtualClock()
    hub = f"offload{next(_names)}"
    inner = KernelLike(open_link(f"hub:{hub}?mac=02:00:00:00:00:0a", clock))
    outer: Link = FaultLink(inner, Faults(dup=0.01, seed=1)) if wrap == "fault" else \
        PcapLink(inner, f"{tmp_path}/run.pcap", clock)
    assert not inner.checksum_offload and not outer.checksum_offload
    a, b = transfer(outer, open_link(f"hub:{hub}?mac=02:00:00:00:00:0b", clock), clock, 64 * 1024)
    assert a.eth.checksums_offloaded == a.eth.checksums_vouched == inner.partial_sent == inner.partial_received == 0
    a.end_stack()
    b.end_stack()


def test_egress_rewrite_gets_whole_checksums() -> None:
    clock = VirtualClock()
    hub = f"offload{next(_names)}"
    link = KernelLike(open_link(f"hub:{hub}?mac=02:00:00:00:00:0a", clock))
    a = Stack(link, StackConfig(A_IP, tcp=TcpConfig(isn_key=b"a")), clock).init_stack()
    seen: list[bytes] = []
    a.egress_rewrite = lambda frame: seen.append(bytes(frame))
    frame = bytearray(34) + bytearray(40)
    struct.pack_into("!II", frame, 26, A_IP, B_IP)
    struct.pack_into("!H", frame, 50, pseudo_header_sum(A_IP, B_IP, 6, 40))
    assert a.send_partial_frame(memoryview(frame), 34, 16)
    assert link.partial_sent == 0 and len(seen) == 1
    assert struct.unpack_from("!H", seen[0], 50)[0] == transport_checksum(bytes(40), A_IP, B_IP, 6)
    a.end_stack()
