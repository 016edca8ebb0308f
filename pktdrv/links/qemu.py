"""`qemu-stream:` and `qemu-dgram:`: the socket links QEMU's `-netdev stream` and `-netdev dgram` speak.

    qemu-stream:unix:/tmp/q.sock          connect to QEMU (server=on), passt or gvproxy on a Unix socket
    qemu-stream:tcp:127.0.0.1:5555        ... or on TCP
    qemu-stream:tcp:127.0.0.1:5555?listen=1   listen for QEMU (server=off); after a disconnect, the next
    qemu-dgram:127.0.0.1:5556:127.0.0.1:5555  one frame per UDP datagram, ours from the first address

The stream form (QEMU's net/stream.c, with `net_fill_rstate` in net/net.c; the same as the legacy
`-netdev socket,listen=/connect=` and passt's `--socket`) puts each frame after its length, a 32-bit
big-endian number. A frame cut across reads is kept until the rest comes. A length of 0 carries nothing
and is skipped; a length above what the link carries (but within 65535) is read past and counted; a length
above 65535 means the stream's framing is lost (QEMU itself drops the connection there, "oversized packet
received"), so the connection is dropped: a listener takes the next one, a client reports it.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

from ._datagram import DatagramLink
from ._stream import Endpoint, ListeningChannel, SocketChannel, StreamLink, open_error
from .base import ETH_HEADER_LEN, LinkError, random_mac
from .kinds import LinkKind, Options, flag, split_host_port

LENGTH = struct.Struct(">I")
MAX_STREAM_FRAME = 65_535
"""Largest length taken as framing; anything above it cannot be a frame (QEMU's buffer is 69632)."""
DEFAULT_MTU = 1500


@dataclass
class DeframerCounters:
    frames: int = 0
    empty: int = 0
    """Length 0: nothing carried, skipped."""
    oversize: int = 0
    """Frames longer than the link carries (read past, not delivered)."""
    runts: int = 0
    """Frames shorter than an Ethernet header (not delivered)."""
    bad_lengths: int = 0
    """Lengths above 65535: the framing is lost; the connection is dropped."""


class StreamDeframer:
    """Cuts length-prefixed frames out of a byte stream, keeping a partial one across reads."""

    def __init__(self, max_frame: int) -> None:
        self.max_frame = max_frame
        self.counters = DeframerCounters()
        self.buffer = bytearray()
        self.skip = 0
        """Bytes of an oversize frame still to read past."""
        self.lost = False
        """The framing is lost (a length above 65535); nothing more is decoded until `reset`."""

    def reset(self) -> None:
        self.buffer.clear()
        self.skip = 0
        self.lost = False

    def feed(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        if self.lost:
            return []
        frames: list[bytes] = []
        if self.skip:
            passed = min(self.skip, len(data))
            self.skip -= passed
            data = memoryview(data)[passed:]
        buffer = self.buffer
        buffer += data
        offset = 0
        counters = self.counters
        while len(buffer) - offset >= 4:
            (length,) = LENGTH.unpack_from(buffer, offset)
            if length > MAX_STREAM_FRAME:
                counters.bad_lengths += 1
                self.lost = True
                buffer.clear()
                return frames
            if length == 0:
                counters.empty += 1
                offset += 4
                continue
            if length > self.max_frame:
                counters.oversize += 1
                available = len(buffer) - offset - 4
                if available >= length:
                    offset += 4 + length
                    continue
                self.skip = length - available
                offset = len(buffer)
                break
            end = offset + 4 + length
            if end > len(buffer):
                break
            if length < ETH_HEADER_LEN:
                counters.runts += 1
            else:
                frames.append(bytes(buffer[offset + 4 : end]))
                counters.frames += 1
            offset = end
        del buffer[:offset]
        return frames


def encode_stream_frame(frame: bytes) -> bytes:
    return LENGTH.pack(len(frame)) + frame


class QemuStreamLink(StreamLink):
    min_frame = 0
    """No padding: QEMU's NICs pad what they receive themselves (its ne2000_receive does), and passt takes
    a TCP segment's length from the frame rather than from IP's total length, so padding sent to it reads
    as data (a padded pure ACK becomes 6 bytes the guest never sent, and the connection stalls)."""

    def __init__(self, target: str, mac: bytes | None, mtu: int | None, options: Options) -> None:
        spec = f"qemu-stream:{target}"
        try:
            endpoint = stream_endpoint(target)
        except ValueError as exc:
            raise LinkError(f"{spec}: {exc}") from None
        listen = bool(options.get("listen", False))
        self.endpoint = endpoint
        try:
            if listen:
                channel: ListeningChannel | SocketChannel = ListeningChannel(endpoint.listen(), endpoint.path)
            else:
                channel = SocketChannel(endpoint.connect())
        except OSError as exc:
            raise open_error(spec, f"{'listen on' if listen else 'connect to'} {endpoint}", exc) from exc
        mtu = mtu or DEFAULT_MTU
        super().__init__(spec, channel, mac or random_mac(), mtu)
        self.deframer = StreamDeframer(mtu + ETH_HEADER_LEN)

    def decode(self, data: bytes) -> list[bytes]:
        return self.deframer.feed(data)

    def encode(self, frame: bytes) -> bytes | None:
        return encode_stream_frame(frame)

    def on_connect(self) -> bytes:
        self.deframer.reset()
        return b""

    def connection_broken(self) -> bool:
        return self.deframer.lost


def stream_endpoint(target: str) -> Endpoint:
    """`unix:PATH` or `tcp:HOST:PORT`; ValueError in words."""
    family, sep, rest = target.partition(":")
    if family == "unix" and sep and rest:
        return Endpoint(path=rest)
    if family == "tcp" and sep:
        host, port = split_host_port(rest)
        return Endpoint(host=host, port=port)
    raise ValueError(f"{target!r}: a stream is unix:PATH or tcp:HOST:PORT")


@dataclass
class DgramCounters:
    frames_in: int = 0
    frames_out: int = 0
    foreign: int = 0
    """Datagrams from an address other than the remote one (not ours to take)."""
    runts: int = 0
    oversize: int = 0
    tx_errors: int = 0


class QemuDgramLink(DatagramLink):
    """One Ethernet frame per UDP datagram, to and from the remote address (QEMU's `-netdev dgram`)."""

    min_frame = 0
    """No padding, as on the stream link: the peer is QEMU, which pads on receive."""

    def __init__(self, target: str, mac: bytes | None, mtu: int | None, options: Options) -> None:
        super().__init__(f"qemu-dgram:{target}", mac or random_mac(), mtu or DEFAULT_MTU)
        try:
            local, remote = dgram_addresses(target)
        except ValueError as exc:
            raise LinkError(f"{self.spec}: {exc}") from None
        self.counters = DgramCounters()
        try:
            family, _, _, _, local_address = socket.getaddrinfo(local[0], local[1], type=socket.SOCK_DGRAM)[0]
            remote_info = socket.getaddrinfo(remote[0], remote[1], family, socket.SOCK_DGRAM)[0]
        except OSError as exc:
            raise LinkError(f"{self.spec}: cannot resolve the addresses: {exc}") from exc
        self.remote = remote_info[4]
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(local_address)
        except OSError as exc:
            sock.close()
            raise open_error(self.spec, f"bind {local[0]}:{local[1]}", exc) from exc
        sock.setblocking(False)
        self.sock = sock

    def take(self, datagram: bytes, source: tuple[str, int]) -> int:
        # QEMU takes datagrams from anywhere; we take only the remote's, so a stray sender is not a frame.
        if source != self.remote[:2]:
            self.counters.foreign += 1
        elif len(datagram) < ETH_HEADER_LEN:
            self.counters.runts += 1
        elif len(datagram) > self.mtu + ETH_HEADER_LEN:
            self.counters.oversize += 1
        else:
            self.counters.frames_in += 1
            self.deliver(datagram)
            return 1
        return 0

    def send(self, frame: bytes | bytearray | memoryview) -> None:
        if self._closed:
            raise LinkError(f"{self.spec}: link is closed")
        try:
            self.sock.sendto(frame, self.remote)
            self.counters.frames_out += 1
        except (BlockingIOError, ConnectionRefusedError):
            # A full socket buffer or the peer not up yet: the frame is lost, as on a wire.
            self.counters.tx_errors += 1
        except OSError as exc:
            raise LinkError(f"{self.spec}: cannot send: {exc.strerror or exc}") from exc


def dgram_addresses(target: str) -> tuple[tuple[str, int], tuple[str, int]]:
    """`LOCALHOST:LOCALPORT:REMOTEHOST:REMOTEPORT` (IPv6 hosts in brackets); ValueError in words."""
    parts = _split_outside_brackets(target)
    if len(parts) != 4:
        raise ValueError(f"{target!r}: a datagram link is LOCALHOST:LOCALPORT:REMOTEHOST:REMOTEPORT")
    local = split_host_port(f"{parts[0]}:{parts[1]}")
    remote = split_host_port(f"{parts[2]}:{parts[3]}")
    return (local[0].strip("[]"), local[1]), (remote[0].strip("[]"), remote[1])


def _split_outside_brackets(text: str) -> list[str]:
    parts: list[str] = []
    current = ""
    depth = 0
    for char in text:
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        if char == ":" and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


QEMU_STREAM = LinkKind(QemuStreamLink, {"listen": flag("listen for the peer to connect")}, stream_endpoint)
QEMU_DGRAM = LinkKind(QemuDgramLink, {}, dgram_addresses)
