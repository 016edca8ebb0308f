"""Scripted TCP exchanges on a virtual clock, smoltcp style.

A `Harness` is one TCP layer behind a fake IP layer that records every segment it is asked to send.
`deliver(seg, at=t)` hands the layer a segment from the peer at tick t and then runs its poll step;
`expect([segs], at=t)` runs the poll step at tick t and asserts that exactly these segments came out;
`expect_nothing(at=t)` asserts silence. Segments are `TcpRepr`s built from the templates below with
`dataclasses.replace`.
"""

from __future__ import annotations

from dataclasses import replace

from mtcp_py.ip import FRAME_HEADERS, SendStatus
from mtcp_py.tcp import State, TcpConfig, TcpLayer, TcpSocket
from mtcp_py.wire import ip_from_str
from mtcp_py.wire.ipv4 import Ipv4Repr
from mtcp_py.wire.tcp import ACK, FIN, PSH, RST, SYN, TcpRepr

LOCAL_IP = ip_from_str("10.0.0.1")
REMOTE_IP = ip_from_str("10.0.0.2")
LOCAL_PORT = 80
REMOTE_PORT = 49_500
REMOTE_ISS = 10_000
MSS = 1460
KEY = b"scripted-tests-key"

__all__ = ["ACK", "FIN", "PSH", "RST", "SYN", "State"]


class FakeIp:
    """Just enough of IpLayer: an address, an MTU, and a list of what was sent."""

    def __init__(self, address: int = LOCAL_IP, mtu: int = 1500) -> None:
        self.address = address
        self.mtu = mtu
        self.handlers: dict[int, object] = {}
        self.sent: list[bytes] = []
        self.status = SendStatus.SENT
        self.send_partial = None
        """No checksum offload: every segment is summed, as the scripted expectations are."""
        self.rx_checksum_ok = False

    def register(self, protocol: int, handler: object) -> None:
        self.handlers[protocol] = handler

    def next_hop(self, dst: int) -> int | None:
        return dst

    def send_prepared(self, buf: bytearray, payload_len: int, dst: int, protocol: int, now: int,
                      **_: object) -> SendStatus:
        assert dst == REMOTE_IP and protocol == 6
        self.sent.append(bytes(buf[FRAME_HEADERS : FRAME_HEADERS + payload_len]))
        return self.status


# What the peer sends us, and what we send the peer, before per-step changes.
SEND_TEMPL = TcpRepr(REMOTE_PORT, LOCAL_PORT, REMOTE_ISS + 1, 0, ACK, 64_000)
RECV_TEMPL = TcpRepr(LOCAL_PORT, REMOTE_PORT, 0, REMOTE_ISS + 1, ACK, 0)


def config(**changes: object) -> TcpConfig:
    values: dict[str, object] = dict(isn_key=KEY, receive_buffer=16_384, window_scale=False, sack=False)
    values.update(changes)
    return TcpConfig(**values)  # type: ignore[arg-type]


class Harness:
    def __init__(self, cfg: TcpConfig | None = None, mtu: int = 1500) -> None:
        self.ip = FakeIp(mtu=mtu)
        self.tcp = TcpLayer(self.ip, cfg or config())  # type: ignore[arg-type]
        self.now = 0

    def _at(self, at: int | None) -> int:
        if at is not None:
            assert at >= self.now, "time does not go back"
            self.now = at
        return self.now

    def deliver(self, seg: TcpRepr, at: int | None = None, raw: bytes | None = None) -> None:
        now = self._at(at)
        data = raw if raw is not None else seg.to_bytes(REMOTE_IP, LOCAL_IP)
        header = Ipv4Repr(REMOTE_IP, LOCAL_IP, 6, len(data))
        self.tcp.on_datagram(header, memoryview(data), now)
        self.tcp.drive(now)

    def poll(self, at: int | None = None) -> None:
        self.tcp.drive(self._at(at))

    def take(self) -> list[TcpRepr]:
        out = [TcpRepr.parse(raw, LOCAL_IP, REMOTE_IP) for raw in self.ip.sent]
        self.ip.sent.clear()
        return [replace(seg, payload=bytes(seg.payload)) for seg in out]

    def expect(self, segs: list[TcpRepr], at: int | None = None) -> None:
        self.poll(at)
        got = self.take()
        want = [replace(seg, payload=bytes(seg.payload)) for seg in segs]
        assert got == want, "\n got: " + "\n      ".join(map(str, got)) + "\nwant: " + "\n      ".join(map(str, want))

    def expect_nothing(self, at: int | None = None) -> None:
        self.expect([], at)


def syn_sent(cfg: TcpConfig | None = None) -> tuple[Harness, TcpSocket]:
    h = Harness(cfg)
    sock = h.tcp.connect(REMOTE_IP, REMOTE_PORT, local_port=LOCAL_PORT, now=0)
    h.expect([replace(RECV_TEMPL, seq=sock.iss, ack=0, flags=SYN, window=min(sock.rx.free, 0xFFFF), mss=MSS)], at=0)
    return h, sock


def established(cfg: TcpConfig | None = None, window: int = 64_000) -> tuple[Harness, TcpSocket]:
    """An active open completed at tick 0 (RTT sample 0 ticks, so the RTO is the 4-tick minimum)."""
    h, sock = syn_sent(cfg)
    h.deliver(replace(SEND_TEMPL, seq=REMOTE_ISS, ack=sock.iss + 1, flags=SYN | ACK, window=window, mss=MSS), at=0)
    h.expect([ours(sock)])
    assert sock.state is State.ESTABLISHED
    return h, sock


def active_open(h: Harness, **synack: object) -> tuple[TcpSocket, TcpRepr]:
    """Connect at tick 0 and answer our SYN with a SYN-ACK carrying `synack`'s changes; (socket, our SYN)."""
    sock = h.tcp.connect(REMOTE_IP, REMOTE_PORT, local_port=LOCAL_PORT, now=0)
    h.poll(0)
    (syn,) = h.take()
    values: dict[str, object] = dict(seq=REMOTE_ISS, ack=(sock.iss + 1) & 0xFFFF_FFFF, flags=SYN | ACK, mss=MSS)
    values.update(synack)
    h.deliver(replace(SEND_TEMPL, **values), at=0)  # type: ignore[arg-type]
    h.take()
    return sock, syn


def ours(sock: TcpSocket, offset: int = 0, **changes: object) -> TcpRepr:
    """A segment from us: seq is ISS + 1 + offset, window is the receive queue's free space."""
    values: dict[str, object] = dict(seq=(sock.iss + 1 + offset) & 0xFFFF_FFFF, ack=sock.rcv_nxt,
                                     window=min(sock.rx.free, 0xFFFF))
    values.update(changes)
    return replace(RECV_TEMPL, **values)  # type: ignore[arg-type]


def theirs(sock: TcpSocket | None, offset: int = 0, **changes: object) -> TcpRepr:
    """A segment from the peer: seq is its ISS + 1 + offset, acknowledging everything we sent (with no
    socket yet, say what it acknowledges)."""
    values: dict[str, object] = dict(seq=(REMOTE_ISS + 1 + offset) & 0xFFFF_FFFF,
                                     ack=sock.snd_nxt if sock is not None else 0)
    values.update(changes)
    return replace(SEND_TEMPL, **values)  # type: ignore[arg-type]


def with_options(seg: TcpRepr, options_hex: str) -> bytes:
    """The peer's segment as bytes with raw options (any bytes, padded to 4) after its header."""
    from mtcp_py.checksum import checksum, pseudo_header_sum

    plain = bytearray(replace(seg, mss=None, window_scale=None, sack_permitted=False, sack=()).to_bytes(
        REMOTE_IP, LOCAL_IP))
    options = bytes.fromhex(options_hex)
    options += b"\0" * (-len(options) % 4)
    raw = plain[:20] + options + plain[20:]
    raw[12] = ((20 + len(options)) // 4) << 4
    raw[16:18] = b"\0\0"
    raw[16:18] = checksum(raw, pseudo_header_sum(REMOTE_IP, LOCAL_IP, 6, len(raw))).to_bytes(2, "big")
    return bytes(raw)
