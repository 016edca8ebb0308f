"""`slip:URL`: SLIP (RFC 1055) on a serial line, shown to the stack as Ethernet, as a DOS SLIP packet
driver (Crynwr's ETHERSL) shows it to DOS programs.

    slip:/dev/ttyS0?baud=19200                 a serial port (or a pty) through pyserial
    slip:socket://127.0.0.1:5555               a TCP socket: DOSBox's null modem listening there
    slip:socket://127.0.0.1:5555?listen=1      we listen; DOSBox's null modem (server:...) connects to us
    ...&dosbox=1                               DOSBox's null modem without transparent:1 (see below)

SLIP carries bare IP datagrams: no addresses, no type. So, as ETHERSL does, the link answers the stack's
ARP requests itself (every address is the peer, at a made-up MAC), unwraps the IPv4 frames the stack
sends and wraps what comes off the line in an Ethernet header addressed to the stack. Anything else the
stack sends (IPv6, say) cannot be carried and is counted. On a bridge the same view makes the far end one
host among others (slip_view.py; `peer=IP` names its address before it has sent anything). Off the line,
what is not an IPv4 datagram (a driver's or slirp's text banner, a modem's chatter, line noise) is counted
and dropped; back-to-back ENDs are empty packets, skipped; an ESC followed by anything but ESC_END/ESC_ESC
keeps the byte, as RFC 1055's reference code does, and is counted.

`baud=N` paces what we send at the line's rate, N/10 bytes a second: bytes wait in the link and are let
out by `poll(now)`, never by a sleep. DOSBox 0.74's null modem without `transparent:1` (its
src/hardware/serialport/nullmodem.cpp) sends a data 0xFF as 0xFF 0xFF and a change of its modem lines as
0xFF then a byte of RTS (1), DTR (2) and break (4), and reads what it is sent the same way; `dosbox=1`
undoes the first and does the second, and tells DOSBox our RTS and DTR are up when a connection starts.
"""

from __future__ import annotations

import os
import select
from dataclasses import dataclass
from typing import Any

import serial

from ._stream import ByteChannel, ChannelClosed, Endpoint, ListeningChannel, StreamLink, open_error
from .base import LinkError, random_mac
from .kinds import LinkKind, Options, baud_rate, flag, split_host_port
from .pacing import LinePacer, baud_to_bytes_per_second
from .slip_view import SlipEthernetView, ipv4_datagram

END = 0xC0
ESC = 0xDB
ESC_END = 0xDC
ESC_ESC = 0xDD
DOSBOX_ESCAPE = 0xFF
DOSBOX_RTS = 0x01
DOSBOX_DTR = 0x02
SLIP_PEER_MAC = bytes.fromhex("025c11900001")
"""The made-up station address of the other end of the line, which the stack's ARP learns."""
DEFAULT_MTU = 1500
DEFAULT_SERIAL_BAUD = 115_200
"""What a serial device is set to when no baud is given (a pty or a socket ignores it)."""


@dataclass
class SlipCounters:
    packets: int = 0
    """Datagrams taken off the line and given to the stack."""
    empty: int = 0
    """Back-to-back ENDs: empty packets, skipped."""
    bad_escapes: int = 0
    """ESC followed by a byte other than ESC_END or ESC_ESC."""
    oversize: int = 0
    """Packets longer than the link carries (discarded up to the next END)."""
    noise_packets: int = 0
    """Packets that are not an IPv4 datagram (banners, chatter, noise), and their bytes."""
    noise_bytes: int = 0
    dosbox_line_states: int = 0
    """DOSBox modem-line bytes (0xFF then a state byte) taken out of the stream."""


class SlipDecoder:
    """RFC 1055 framing: bytes in, packets out; a packet cut across reads is kept for the next."""

    def __init__(self, max_packet: int, counters: SlipCounters | None = None) -> None:
        self.max_packet = max_packet
        self.counters = counters or SlipCounters()
        self.packet = bytearray()
        self.escaped = False
        self.discarding = False
        """The current packet passed max_packet: drop bytes until the next END."""

    def reset(self) -> None:
        self.packet.clear()
        self.escaped = False
        self.discarding = False

    def feed(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        packets: list[bytes] = []
        packet = self.packet
        counters = self.counters
        limit = self.max_packet
        escaped = self.escaped
        discarding = self.discarding
        for byte in bytes(data):
            if byte == END:
                if discarding:
                    discarding = False
                elif packet:
                    packets.append(bytes(packet))
                else:
                    counters.empty += 1
                packet.clear()
                escaped = False
                continue
            if discarding:
                continue
            if escaped:
                escaped = False
                if byte == ESC_END:
                    byte = END
                elif byte == ESC_ESC:
                    byte = ESC
                else:
                    counters.bad_escapes += 1
            elif byte == ESC:
                escaped = True
                continue
            if len(packet) >= limit:
                counters.oversize += 1
                packet.clear()
                discarding = True
                continue
            packet.append(byte)
        self.escaped = escaped
        self.discarding = discarding
        return packets


def slip_encode(packet: bytes) -> bytes:
    """END, the packet with END and ESC escaped, END: the leading END flushes any noise the line took in
    since the last packet, as RFC 1055 advises."""
    body = packet.replace(bytes([ESC]), bytes([ESC, ESC_ESC])).replace(bytes([END]), bytes([ESC, ESC_END]))
    return bytes([END]) + body + bytes([END])


class DosboxUnescaper:
    """DOSBox's non-transparent null-modem stream: 0xFF 0xFF is a data 0xFF; 0xFF X is a modem-line state."""

    def __init__(self, counters: SlipCounters) -> None:
        self.counters = counters
        self.pending_escape = False

    def reset(self) -> None:
        self.pending_escape = False

    def feed(self, data: bytes) -> bytes:
        out = bytearray()
        pending = self.pending_escape
        for byte in data:
            if pending:
                pending = False
                if byte == DOSBOX_ESCAPE:
                    out.append(byte)
                else:
                    self.counters.dosbox_line_states += 1
            elif byte == DOSBOX_ESCAPE:
                pending = True
            else:
                out.append(byte)
        self.pending_escape = pending
        return bytes(out)


def dosbox_escape(data: bytes) -> bytes:
    return data.replace(b"\xff", b"\xff\xff")


class SerialChannel(ByteChannel):
    """A pyserial port (device, pty, socket://...), read and written without blocking."""

    def __init__(self, port: Any) -> None:
        self.port = port
        fd = port.fileno() if hasattr(port, "fileno") else None
        self.fd: int | None = fd if isinstance(fd, int) else None
        if self.fd is not None:
            os.set_blocking(self.fd, False)

    def fileno(self) -> int | None:
        return self.fd

    def read(self) -> bytes:
        if self.fd is None:
            try:
                return bytes(self.port.read(65_536))
            except serial.SerialException as exc:
                raise ChannelClosed(str(exc)) from exc
        # A tty in raw mode (VMIN=0) reads 0 bytes when none wait, so 0 bytes means the end only when the
        # descriptor said it was readable: ask first, as pyserial does.
        if not select.select([self.fd], [], [], 0)[0]:
            return b""
        try:
            data = os.read(self.fd, 65_536)
        except (BlockingIOError, InterruptedError):
            return b""
        except OSError as exc:
            # A pty whose other side closed reads EIO; a USB adapter pulled out, ENXIO or EIO.
            raise ChannelClosed(f"the line went away ({exc.strerror or exc})") from exc
        if not data:
            raise ChannelClosed("the line went away (end of file)")
        return data

    def write(self, data: bytes | bytearray | memoryview) -> int:
        # Not pyserial's write: with write_timeout=0 it spins on EAGAIN instead of returning 0.
        if self.fd is None:
            try:
                return int(self.port.write(data) or 0)
            except serial.SerialException as exc:
                raise ChannelClosed(str(exc)) from exc
        try:
            return os.write(self.fd, data)
        except (BlockingIOError, InterruptedError):
            return 0
        except OSError as exc:
            raise ChannelClosed(exc.strerror or str(exc)) from exc

    def close(self) -> None:
        try:
            self.port.close()
        except (OSError, serial.SerialException):
            pass


class SlipLink(StreamLink):
    def __init__(self, target: str, mac: bytes | None, mtu: int | None, options: Options) -> None:
        spec = f"slip:{target}"
        try:
            check_slip_target(target)
        except ValueError as exc:
            raise LinkError(f"{spec}: {exc}") from None
        listen = bool(options.get("listen", False))
        baud = options.get("baud")
        self.dosbox = bool(options.get("dosbox", False))
        channel: ByteChannel
        if listen:
            if not target.startswith("socket://"):
                raise LinkError(f"{spec}: listen=1 needs a socket://HOST:PORT target")
            host, port = split_host_port(target[len("socket://"):])
            endpoint = Endpoint(host=host, port=port)
            try:
                channel = ListeningChannel(endpoint.listen())
            except OSError as exc:
                raise open_error(spec, f"listen on {endpoint}", exc) from exc
        else:
            try:
                port_object = serial.serial_for_url(
                    target, baudrate=baud if isinstance(baud, int) else DEFAULT_SERIAL_BAUD,
                    timeout=0, write_timeout=0)
            except (serial.SerialException, ValueError, OSError) as exc:
                raise LinkError(f"{spec}: cannot open: {exc}") from exc
            channel = SerialChannel(port_object)
        pacer = LinePacer(baud_to_bytes_per_second(baud)) if isinstance(baud, int) else None
        mtu = mtu or DEFAULT_MTU
        super().__init__(spec, channel, mac or random_mac(), mtu, pacer)
        self.slip = SlipCounters()
        self.decoder = SlipDecoder(mtu, self.slip)
        self.unescaper = DosboxUnescaper(self.slip)
        peer_ip = options.get("peer")
        self.view = SlipEthernetView(lambda: self.mac, SLIP_PEER_MAC, self.queue_local,
                                     peer_ip if isinstance(peer_ip, bytes) else None)

    # -- off the line: SLIP packets to Ethernet frames ------------------------------------------------------

    def decode(self, data: bytes) -> list[bytes]:
        if self.dosbox:
            data = self.unescaper.feed(data)
        frames = []
        for packet in self.decoder.feed(data):
            datagram = ipv4_datagram(packet)
            if datagram is None:
                self.slip.noise_packets += 1
                self.slip.noise_bytes += len(packet)
                continue
            self.slip.packets += 1
            frame = self.view.from_line(datagram)
            if frame is not None:
                frames.append(frame)
        return frames

    def on_connect(self) -> bytes:
        self.decoder.reset()
        self.unescaper.reset()
        if self.dosbox:
            # DOSBox shows the guest CTS and DSR from our RTS and DTR: say both are up, as a cable would.
            return bytes([DOSBOX_ESCAPE, DOSBOX_RTS | DOSBOX_DTR])
        return b""

    # -- from the holder (a stack, a bridge): Ethernet frames to SLIP packets -------------------------------

    def encode(self, frame: bytes) -> bytes | None:
        datagram = self.view.to_line(frame)
        if datagram is None:
            return None
        data = slip_encode(datagram)
        return dosbox_escape(data) if self.dosbox else data

    def poll(self, now: int) -> None:
        self.view.now = max(self.view.now, now)
        super().poll(now)


def ipv4_address(text: str) -> bytes:
    """`peer=10.0.2.20`: the far end's address, for a bridge to answer ARP for it before it has spoken."""
    parts = text.split(".")
    if len(parts) != 4 or not all(p.isascii() and p.isdecimal() and int(p) <= 255 for p in parts):
        raise ValueError("not an IPv4 address (the far end of the line, e.g. 10.0.2.20)")
    return bytes(int(p) for p in parts)


def check_slip_target(target: str) -> None:
    if not target or target.isspace():
        raise ValueError("needs a serial port or URL, e.g. slip:/dev/ttyS0 or slip:socket://127.0.0.1:5555")
    if target.startswith("socket://"):
        split_host_port(target[len("socket://"):])


SLIP = LinkKind(SlipLink, {
    "listen": flag("listen on the socket:// address for a null modem to connect"),
    "baud": baud_rate,
    "dosbox": flag("decode DOSBox's null modem without transparent:1"),
    "peer": ipv4_address,
}, check_slip_target)
