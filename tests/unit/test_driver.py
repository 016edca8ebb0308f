"""The emulated packet driver against the specification's functions, errors and receiver upcall."""

from __future__ import annotations

from typing import Any

import pytest

from pktdrv import DriverRegistry, ErrorCode, PacketDriver, PacketDriverError, ReceiveMode
from pktdrv.driver import SPEC_VERSION
from pktdrv.links.base import Deliver, Link
from pktdrv.registry import SIGNATURE

from .frames import BROADCAST, PEER_MAC, STACK_MAC, eth

IP = b"\x08\x00"
ARP = b"\x08\x06"


class FakeLink(Link):
    def __init__(self, mtu: int = 1500) -> None:
        self.spec = "fake:0"
        self.mac = STACK_MAC
        self.mtu = mtu
        self.sent: list[bytes] = []
        self.deliver: Deliver | None = None
        self.closed = False
        self.fail = False

    def open(self, deliver: Deliver) -> None:
        self.deliver = deliver

    def send(self, frame: bytes | bytearray | memoryview) -> None:
        if self.fail:
            raise OSError("wire unplugged")
        self.sent.append(bytes(frame))

    def close(self) -> None:
        self.closed = True


class Recorder:
    """A receiver that records its calls; `answer` decides the first call's result."""

    def __init__(self, size: int = 1514) -> None:
        self.calls: list[tuple[int, int, Any]] = []
        self.frames: list[bytes] = []
        self.size = size
        self.refuse = False
        self.raise_on: int | None = None

    def __call__(self, handle: int, flag: int, arg: Any) -> Any:
        self.calls.append((handle, flag, arg if flag == 0 else len(arg)))
        if self.raise_on == flag:
            raise RuntimeError("receiver bug")
        if flag == 0:
            return None if self.refuse else bytearray(self.size)
        self.frames.append(bytes(arg[: self.calls[-2][2]]))
        return None


def driver_with(recorder: Recorder | None = None, types: bytes = b"") -> tuple[PacketDriver, FakeLink, int]:
    link = FakeLink()
    drv = PacketDriver(link)
    handle = drv.access_type(1, 0xFFFF, 0, types, recorder or Recorder())
    return drv, link, handle


def frame_to(dst: bytes, kind: bytes = IP, size: int = 60) -> bytes:
    return eth(dst, PEER_MAC, int.from_bytes(kind, "big"), bytes(size - 14))


def test_driver_info() -> None:
    drv, _, handle = driver_with()
    info = drv.driver_info()
    assert (info.version, info.if_class, info.if_number, info.functionality) == (SPEC_VERSION, 1, 0, 2)
    assert drv.driver_info(handle) == info
    assert SPEC_VERSION == 0x010B


@pytest.mark.parametrize(("args", "code"), [
    ((3, 0xFFFF, 0, b""), ErrorCode.NO_CLASS),
    ((1, 0x1234, 0, b""), ErrorCode.NO_TYPE),
    ((1, 0xFFFF, 7, b""), ErrorCode.NO_NUMBER),
    ((1, 0xFFFF, 0, b"123456789"), ErrorCode.BAD_TYPE),
])
def test_access_type_errors(args: tuple[int, int, int, bytes], code: ErrorCode) -> None:
    drv = PacketDriver(FakeLink())
    with pytest.raises(PacketDriverError) as info:
        drv.access_type(*args, Recorder())
    assert info.value.code == code
    assert code.name in str(info.value)
    assert not drv.handles


def test_access_type_no_receiver_is_bad_type() -> None:
    drv = PacketDriver(FakeLink())
    with pytest.raises(PacketDriverError) as info:
        drv.access_type(1, 0xFFFF, 0, IP, None)  # type: ignore[arg-type]
    assert info.value.code == ErrorCode.BAD_TYPE


def test_access_type_in_use_and_no_space() -> None:
    drv, _, _ = driver_with(types=IP)
    with pytest.raises(PacketDriverError) as info:
        drv.access_type(1, 0xFFFF, 0, IP, Recorder())
    assert info.value.code == ErrorCode.TYPE_INUSE
    for n in range(PacketDriver.MAX_HANDLES - 1):
        drv.access_type(1, 0xFFFF, 0, bytes([0x90, n]), Recorder())
    with pytest.raises(PacketDriverError) as info:
        drv.access_type(1, 0xFFFF, 0, b"\x91\x00", Recorder())
    assert info.value.code == ErrorCode.NO_SPACE


def test_bad_handle_on_every_handle_taking_function() -> None:
    drv, _, handle = driver_with()
    bad = handle + 5
    calls = [
        lambda: drv.driver_info(bad), lambda: drv.release_type(bad), lambda: drv.terminate(bad),
        lambda: drv.get_address(bad), lambda: drv.reset_interface(bad), lambda: drv.set_rcv_mode(bad, 3),
        lambda: drv.get_rcv_mode(bad), lambda: drv.get_statistics(bad),
    ]
    for call in calls:
        with pytest.raises(PacketDriverError) as info:
            call()
        assert info.value.code == ErrorCode.BAD_HANDLE
        assert info.value.code.name == "BAD_HANDLE"
    assert not drv.terminated


def test_a_link_that_is_no_wire_gets_its_frames_unpadded() -> None:
    """QEMU's stream and datagram links take frames as they are (min_frame 0): no runt padding."""
    drv, link, _ = driver_with()
    link.min_frame = 0
    drv.send_pkt(b"\x01" * 54)
    assert link.sent == [b"\x01" * 54]


def test_exception_carries_code_and_name() -> None:
    exc = PacketDriverError(ErrorCode.CANT_SEND, "too long")
    assert exc.code is ErrorCode.CANT_SEND
    assert str(exc) == "CANT_SEND (12): too long"
    assert str(PacketDriverError(ErrorCode.BAD_MODE)) == "BAD_MODE (8)"


def test_send_pkt_bad_lengths_and_runt_padding() -> None:
    drv, link, _ = driver_with()
    for length in (0, 13, 1515):
        with pytest.raises(PacketDriverError) as info:
            drv.send_pkt(bytes(length))
        assert info.value.code == ErrorCode.CANT_SEND
    assert drv.stats.errors_out == 3
    assert link.sent == []
    drv.send_pkt(b"\x01" * 14)
    assert link.sent == [b"\x01" * 14 + bytes(46)]
    drv.send_pkt(bytes(1514))
    assert len(link.sent[-1]) == 1514
    assert (drv.stats.packets_out, drv.stats.bytes_out) == (2, 60 + 1514)
    link.fail = True
    with pytest.raises(PacketDriverError) as info:
        drv.send_pkt(bytes(60))
    assert info.value.code == ErrorCode.CANT_SEND
    assert drv.stats.errors_out == 4


def test_set_address() -> None:
    drv, link, handle = driver_with(types=IP)
    with pytest.raises(PacketDriverError) as info:
        drv.set_address(b"\x01\x00\x00\x00\x00\x01")
    assert info.value.code == ErrorCode.BAD_ADDRESS
    with pytest.raises(PacketDriverError) as info:
        drv.set_address(b"\x02\x00")
    assert info.value.code == ErrorCode.BAD_ADDRESS
    new = bytes.fromhex("020000000099")
    assert drv.set_address(new) == new
    assert drv.get_address(handle) == new
    assert link.mac == new
    drv.access_type(1, 0xFFFF, 0, ARP, Recorder())
    with pytest.raises(PacketDriverError) as info:
        drv.set_address(STACK_MAC)
    assert info.value.code == ErrorCode.CANT_SET


def test_set_rcv_mode() -> None:
    drv, _, handle = driver_with(types=IP)
    assert drv.get_rcv_mode(handle) == ReceiveMode.BROADCAST
    for bad in (0, 7, 255):
        with pytest.raises(PacketDriverError) as info:
            drv.set_rcv_mode(handle, bad)
        assert info.value.code == ErrorCode.BAD_MODE
    drv.set_rcv_mode(handle, 6)
    assert drv.get_rcv_mode(handle) == 6
    drv.reset_interface(handle)
    assert drv.get_rcv_mode(handle) == ReceiveMode.BROADCAST


def test_get_parameters() -> None:
    drv, _, _ = driver_with()
    p = drv.get_parameters()
    assert (p.major_rev, p.minor_rev, p.addr_len, p.mtu, p.int_num) == (1, 11, 6, 1514, 0x60)


def test_terminate_closes_the_link_when_last_handle_goes() -> None:
    drv, link, handle = driver_with(types=IP)
    other = drv.access_type(1, 0xFFFF, 0, ARP, Recorder())
    drv.terminate(handle)
    assert not link.closed and not drv.terminated
    drv.terminate(other)
    assert link.closed and drv.terminated
    with pytest.raises(PacketDriverError) as info:
        drv.send_pkt(bytes(60))
    assert info.value.code == ErrorCode.BAD_COMMAND


def test_receiver_called_twice() -> None:
    rec = Recorder()
    drv, link, handle = driver_with(rec)
    frame = frame_to(STACK_MAC, size=100)
    assert link.deliver is not None
    link.deliver(frame)
    assert rec.calls == [(handle, 0, 100), (handle, 1, 1514)]
    assert rec.frames == [frame]
    s = drv.get_statistics(handle)
    assert (s.packets_in, s.bytes_in, s.packets_lost) == (1, 100, 0)


def test_receiver_refusal_short_buffer_and_exception_are_counted() -> None:
    rec = Recorder()
    drv, link, _ = driver_with(rec)
    assert link.deliver is not None
    rec.refuse = True
    link.deliver(frame_to(STACK_MAC))
    assert len(rec.calls) == 1
    assert (drv.stats.packets_lost, drv.stats.dropped_refused) == (1, 1)
    rec.refuse, rec.size = False, 50
    link.deliver(frame_to(STACK_MAC, size=60))
    assert (drv.stats.packets_lost, drv.stats.dropped_short_buffer) == (2, 1)
    rec.size, rec.raise_on = 1514, 0
    link.deliver(frame_to(STACK_MAC))  # must not raise
    assert (drv.stats.packets_lost, drv.stats.dropped_receiver_error) == (3, 1)
    assert drv.stats.packets_in == 0
    link.deliver(b"\x00" * 13)
    assert (drv.stats.errors_in, drv.stats.dropped_runt) == (1, 1)


def test_specific_type_beats_catch_all_in_either_order() -> None:
    for catch_all_first in (True, False):
        link = FakeLink()
        drv = PacketDriver(link)
        specific, rest = Recorder(), Recorder()
        if catch_all_first:
            drv.access_type(1, 0xFFFF, 0, b"", rest)
            drv.access_type(1, 0xFFFF, 0, ARP, specific)
        else:
            drv.access_type(1, 0xFFFF, 0, ARP, specific)
            drv.access_type(1, 0xFFFF, 0, b"", rest)
        assert link.deliver is not None
        link.deliver(frame_to(STACK_MAC, ARP))
        link.deliver(frame_to(STACK_MAC, IP))
        assert [f[12:14] for f in specific.frames] == [ARP]
        assert [f[12:14] for f in rest.frames] == [IP]


def test_no_handle_for_type_is_lost() -> None:
    drv, link, _ = driver_with(types=IP)
    assert link.deliver is not None
    link.deliver(frame_to(STACK_MAC, ARP))
    assert (drv.stats.packets_lost, drv.stats.dropped_no_handle) == (1, 1)


MULTI_IN = bytes.fromhex("01005e000001")
MULTI_OUT = bytes.fromhex("01005e000002")
OTHER = bytes.fromhex("020000000077")


@pytest.mark.parametrize(("mode", "accepted"), [
    (1, set()),
    (2, {"us"}),
    (3, {"us", "broadcast"}),
    (4, {"us", "broadcast", "multi_in"}),
    (5, {"us", "broadcast", "multi_in", "multi_out"}),
    (6, {"us", "broadcast", "multi_in", "multi_out", "other"}),
])
def test_receive_modes(mode: int, accepted: set[str]) -> None:
    rec = Recorder()
    drv, link, handle = driver_with(rec)
    drv.set_rcv_mode(handle, mode)
    drv.set_multicast_list([MULTI_IN])
    assert link.deliver is not None
    destinations = {"us": STACK_MAC, "other": OTHER, "broadcast": BROADCAST, "multi_in": MULTI_IN,
                    "multi_out": MULTI_OUT}
    got = set()
    for name, dst in destinations.items():
        before = len(rec.frames)
        link.deliver(frame_to(dst))
        if len(rec.frames) > before:
            got.add(name)
    assert got == accepted
    assert drv.stats.dropped_filtered == len(destinations) - len(accepted)
    assert drv.stats.packets_lost == 0


def test_multicast_list_rejects_unicast() -> None:
    drv, _, _ = driver_with()
    with pytest.raises(PacketDriverError) as info:
        drv.set_multicast_list([OTHER])
    assert info.value.code == ErrorCode.BAD_ADDRESS
    drv.set_multicast_list([MULTI_IN])
    assert drv.get_multicast_list() == [MULTI_IN]


# -- the registry -------------------------------------------------------------------------------------------


def test_registry_signature_find_and_scan() -> None:
    registry = DriverRegistry()
    drv = PacketDriver(FakeLink())
    registry.install(drv, 0x61)
    assert registry.handler_bytes(0x61)[3:11] == SIGNATURE == b"PKT DRVR"
    assert registry.find(0x61) is drv
    assert drv.interrupt == 0x61
    assert registry.scan() == [0x61]
    with pytest.raises(PacketDriverError) as info:
        registry.find(0x60)
    assert info.value.code == ErrorCode.NO_NUMBER
    with pytest.raises(PacketDriverError) as info:
        registry.install(PacketDriver(FakeLink()), 0x61)
    assert info.value.code == ErrorCode.NO_NUMBER


def test_registry_vector_pointing_elsewhere() -> None:
    registry = DriverRegistry()
    registry.hook_other(0x62, b"\xeb\x0a\x90NOT DRVR")
    with pytest.raises(PacketDriverError) as info:
        registry.find(0x62)
    assert info.value.code == ErrorCode.NO_NUMBER
    assert registry.scan() == []


@pytest.mark.parametrize("vector", [0x5F, 0x81, 0x21])
def test_registry_range(vector: int) -> None:
    registry = DriverRegistry()
    for call in (lambda: registry.install(PacketDriver(FakeLink()), vector), lambda: registry.find(vector)):
        with pytest.raises(PacketDriverError) as info:
            call()
        assert info.value.code == ErrorCode.NO_NUMBER
    registry.install(PacketDriver(FakeLink()), 0x80)
    assert registry.scan() == [0x80]


def test_registry_terminated_driver_is_gone() -> None:
    registry = DriverRegistry()
    drv, _, handle = driver_with()
    registry.install(drv, 0x60)
    drv.terminate(handle)
    with pytest.raises(PacketDriverError) as info:
        registry.find(0x60)
    assert info.value.code == ErrorCode.NO_NUMBER
    assert registry.scan() == []


def test_receiver_raising_on_second_call_is_lost_not_received() -> None:
    rec = Recorder()
    drv, link, _ = driver_with(rec)
    assert link.deliver is not None
    rec.raise_on = 1
    link.deliver(frame_to(STACK_MAC))
    assert (drv.stats.packets_in, drv.stats.bytes_in) == (0, 0)
    assert (drv.stats.packets_lost, drv.stats.dropped_receiver_error) == (1, 1)
