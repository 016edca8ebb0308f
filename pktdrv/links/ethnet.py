"""`ethnet:HOST:PORT`: DOSBox-X's NE2000 `ethnet` backend, an L2TPv3-like Ethernet tunnel over UDP.

    ethnet:127.0.0.1:11701              a client, to a DOSBox-X guest that typed ETHNET STARTSERVER
    ethnet:0.0.0.0:11701?listen=1       a server, for guests that type ETHNET CONNECT host

Byte for byte as DOSBox-X's src/misc/ethernet_ethnet.cpp has it (its comment: "a non-standard protocol
loosely based on L2TP"). A control message is the RFC 3931 header (0xC8 0x03, a 16-bit length, a 32-bit
control connection id, Ns, Nr) then AVPs (flags and a 10-bit length, vendor, attribute, value); a data
message is 00 03 00 00, the 32-bit session id, then the Ethernet frame. The client sends SCCRQ (its
assigned connection id, framing capabilities 3, pseudowire list [5], its MAC in vendor AVP 0xD05B/0x4000)
and waits 5 s for SCCRP, sends SCCCN and ICRQ (both session ids, chosen by the client), waits for ICRP,
sends ICCN. Either side answers other control messages with an ACK. The client says HELLO every 2 to
2.25 s, the server when a client was quiet for 4 s; 15 s without a datagram ends a connection. The server
passes frames between its clients: a frame with the multicast bit to every other client, a unicast one to
the client whose MAC it is for (so a client that does not send its MAC gets no unicast).

The client's handshake runs when the link opens (up to 5 s, as DOSBox-X's ETHNET CONNECT waits); after that
everything happens in `drain` and `poll(now)` on the caller's line.
"""

from __future__ import annotations

import random
import select
import socket
import struct
import time
from dataclasses import dataclass, field

from ..clock import ms_to_ticks
from ._datagram import DatagramLink
from .base import ETH_HEADER_LEN, LinkError, random_mac
from .kinds import LinkKind, Options, flag, port_number

DEFAULT_PORT = 11701
CONTROL_FLAGS = 0xC8
VERSION = 3
DATA_HEADER = struct.Struct(">BBHI")
CONTROL_HEADER = struct.Struct(">BBHIHH")
AVP_HEADER = struct.Struct(">HHH")
MESSAGE_TYPE = 0
FRAMING_CAPS = 3
HOST_NAME = 7
VENDOR_NAME = 8
ROUTER_ID = 60
ASSIGNED_CONNECTION_ID = 61
PSEUDOWIRE_CAPS = 62
LOCAL_SESSION_ID = 63
REMOTE_SESSION_ID = 64
VENDOR_DOSBOX = 0xD05B
DOSBOX_MAC = 0x4000
SCCRQ, SCCRP, SCCCN, STOPCCN, HELLO, ICRQ, ICRP, ICCN, ACK = 1, 2, 3, 4, 6, 10, 11, 12, 20
PSEUDOWIRE_ETHERNET = 5
HANDSHAKE_SECONDS = 5.0
TIMEOUT_TICKS = ms_to_ticks(15_000)
CLIENT_HELLO_TICKS = ms_to_ticks(2_000)
QUIET_HELLO_TICKS = ms_to_ticks(3_000)
"""After any datagram the client waits this long before its next HELLO (DOSBox-X resets it to 3 s)."""
SERVER_HELLO_TICKS = ms_to_ticks(4_000)
VENDOR = b"mtcp-py"


def avp(attribute: int, value: bytes, vendor: int = 0, mandatory: bool = False) -> bytes:
    return AVP_HEADER.pack((0x8000 if mandatory else 0) | ((6 + len(value)) & 0x3FF), vendor, attribute) + value


def control(connection: int, ns: int, nr: int, message: int, *avps: bytes) -> bytes:
    body = avp(MESSAGE_TYPE, message.to_bytes(2, "big"), mandatory=True) + b"".join(avps)
    return CONTROL_HEADER.pack(CONTROL_FLAGS, VERSION, CONTROL_HEADER.size + len(body), connection,
                               ns & 0xFFFF, nr & 0xFFFF) + body


def data_message(session: int, frame: bytes) -> bytes:
    return DATA_HEADER.pack(0, VERSION, 0, session) + frame


@dataclass
class Message:
    control: bool
    connection: int = 0
    ns: int = 0
    nr: int = 0
    avps: dict[tuple[int, int], bytes] = field(default_factory=dict)
    session: int = 0
    payload: bytes = b""

    @property
    def type(self) -> int:
        value = self.avps.get((0, MESSAGE_TYPE), b"")
        return int.from_bytes(value[:2], "big") if len(value) >= 2 else 0

    def number(self, attribute: int) -> int:
        value = self.avps.get((0, attribute), b"")
        return int.from_bytes(value[:4], "big") if len(value) >= 4 else 0

    def pseudowires(self) -> list[int]:
        value = self.avps.get((0, PSEUDOWIRE_CAPS), b"")
        return [int.from_bytes(value[i:i + 2], "big") for i in range(0, len(value) - 1, 2)]

    def mac(self) -> bytes | None:
        value = self.avps.get((VENDOR_DOSBOX, DOSBOX_MAC), b"")
        return value[:6] if len(value) >= 6 else None


def parse(datagram: bytes) -> Message | None:
    """A datagram as DOSBox-X's L2TPpacket::didRecv reads it, or None when it is neither kind."""
    if len(datagram) < 2:
        return None
    first = int.from_bytes(datagram[:2], "big")
    if first & 0xC800 == 0xC800 and len(datagram) >= CONTROL_HEADER.size:
        _, _, _, connection, ns, nr = CONTROL_HEADER.unpack_from(datagram)
        message = Message(True, connection, ns, nr)
        offset = CONTROL_HEADER.size
        while offset + 6 <= len(datagram):
            header, vendor, attribute = AVP_HEADER.unpack_from(datagram, offset)
            length = header & 0x3FF
            if length < 6 or offset + length > len(datagram):
                break
            message.avps.setdefault((vendor, attribute), datagram[offset + 6:offset + length])
            offset += length
        return message
    if first & 0x8000 == 0:
        if len(datagram) < DATA_HEADER.size:
            return Message(False)
        return Message(False, session=DATA_HEADER.unpack_from(datagram)[3], payload=datagram[DATA_HEADER.size:])
    return None


def _random_id() -> int:
    return random.randrange(1, 1 << 32)


@dataclass
class Peer:
    """One end of a tunnel: for the client link, the server; for the server link, each client."""

    address: tuple[str, int]
    my_connection: int
    their_connection: int = 0
    my_session: int = 0
    their_session: int = 0
    mac: bytes | None = None
    up: bool = False
    """ICCN seen (server) or handshake done (client): data may flow."""
    hello_at: int = 0
    timeout_at: int = 0


@dataclass
class EthnetCounters:
    frames_in: int = 0
    frames_out: int = 0
    relayed: int = 0
    hellos_sent: int = 0
    acks_sent: int = 0
    timeouts: int = 0
    unknown: int = 0
    """Datagrams that are not the tunnel's, or for a connection or session we do not have."""
    runts: int = 0


class EthnetLink(DatagramLink):
    def __init__(self, target: str, mac: bytes | None, mtu: int | None, options: Options) -> None:
        super().__init__(f"ethnet:{target}", mac or random_mac(), mtu or 1500)
        try:
            host, port = ethnet_address(target)
        except ValueError as exc:
            raise LinkError(f"{self.spec}: {exc}") from None
        self.listen = bool(options.get("listen", False))
        self.counters = EthnetCounters()
        self.now = 0
        self.peers: dict[tuple[str, int], Peer] = {}
        self._clock_seen = False
        """Whether poll has given the time yet: deadlines set before it are counted again from it."""
        try:
            info = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_DGRAM)[0]
        except OSError as exc:
            raise LinkError(f"{self.spec}: cannot resolve {host}: {exc}") from exc
        address = (str(info[4][0]), int(info[4][1]))
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.sock.bind(address if self.listen else ("0.0.0.0", 0))
        except OSError as exc:
            self.sock.close()
            raise LinkError(f"{self.spec}: cannot bind {host}:{port}: {exc.strerror or exc}") from exc
        if not self.listen:
            try:
                self.server = self._handshake(address)
            except (OSError, LinkError) as exc:
                self.sock.close()
                if isinstance(exc, LinkError):
                    raise
                raise LinkError(f"{self.spec}: {exc.strerror or exc}") from exc
        self.sock.setblocking(False)

    # -- the client's handshake (ConnectToServer) ----------------------------------------------------------

    def _handshake(self, address: tuple[str, int]) -> Peer:
        peer = Peer(address, _random_id(), my_session=_random_id(), their_session=_random_id(), mac=None)
        wire = [PSEUDOWIRE_ETHERNET.to_bytes(2, "big")]
        self.sock.sendto(control(0, 0, 0, SCCRQ, avp(ASSIGNED_CONNECTION_ID, peer.my_connection.to_bytes(4, "big")),
                                 avp(FRAMING_CAPS, (3).to_bytes(4, "big")),
                                 avp(ROUTER_ID, _random_id().to_bytes(4, "big")),
                                 avp(PSEUDOWIRE_CAPS, b"".join(wire)), avp(VENDOR_NAME, VENDOR, mandatory=True),
                                 avp(HOST_NAME, b"mtcp-py", mandatory=True),
                                 avp(DOSBOX_MAC, self.mac, vendor=VENDOR_DOSBOX)), address)
        deadline = time.monotonic() + HANDSHAKE_SECONDS
        reply = self._wait_for(SCCRP, address, deadline)
        peer.their_connection = reply.number(ASSIGNED_CONNECTION_ID)
        if not (reply.number(FRAMING_CAPS) and peer.their_connection
                and PSEUDOWIRE_ETHERNET in reply.pseudowires()):
            raise LinkError(f"{self.spec}: the server refused the tunnel (no Ethernet pseudowire in SCCRP)")
        peer.mac = reply.mac()
        self.sock.sendto(control(peer.their_connection, 1, 1, SCCCN), address)
        self.sock.sendto(control(peer.their_connection, 2, 1, ICRQ,
                                 avp(LOCAL_SESSION_ID, peer.my_session.to_bytes(4, "big")),
                                 avp(REMOTE_SESSION_ID, peer.their_session.to_bytes(4, "big")),
                                 avp(PSEUDOWIRE_CAPS, b"".join(wire)),
                                 avp(VENDOR_NAME, VENDOR, mandatory=True)), address)
        reply = self._wait_for(ICRP, address, deadline)
        if (reply.number(REMOTE_SESSION_ID), reply.number(LOCAL_SESSION_ID)) != (peer.my_session,
                                                                                  peer.their_session):
            raise LinkError(f"{self.spec}: the server answered ICRQ with other session ids")
        self.sock.sendto(control(peer.their_connection, 3, 2, ICCN,
                                 avp(LOCAL_SESSION_ID, peer.my_session.to_bytes(4, "big")),
                                 avp(REMOTE_SESSION_ID, peer.their_session.to_bytes(4, "big"))), address)
        peer.up = True
        peer.hello_at = self.now + QUIET_HELLO_TICKS
        peer.timeout_at = self.now + TIMEOUT_TICKS
        self._ns, self._nr = 4, 2
        return peer

    def _wait_for(self, message_type: int, address: tuple[str, int], deadline: float) -> Message:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.sock], [], [], left)[0]:
                raise LinkError(f"{self.spec}: no answer from the server in {HANDSHAKE_SECONDS:.0f} s "
                                "(did the guest type ETHNET STARTSERVER?)")
            try:
                datagram, source = self.sock.recvfrom(65_536)
            except ConnectionRefusedError:
                raise LinkError(f"{self.spec}: connection refused (nothing listens on that port)") from None
            message = parse(datagram)
            if source[:2] == address[:2] and message is not None and message.control:
                if message.type == message_type:
                    return message
                if message.type not in (ACK, HELLO):
                    raise LinkError(f"{self.spec}: the server answered with message type {message.type}")

    # -- the link -------------------------------------------------------------------------------------------

    def take(self, datagram: bytes, source: tuple[str, int]) -> int:
        message = parse(datagram)
        peer = self.peers.get(source) if self.listen else (self.server if source == self.server.address[:2]
                                                           else None)
        if message is None:
            self.counters.unknown += 1
            return 0
        if message.control:
            if self.listen:
                peer = self._server_control(message, source, peer)
            elif peer is not None and message.connection == peer.my_connection:
                if message.type not in (ACK,):
                    self._ack(peer, message)
                if message.type == STOPCCN:
                    self.failed = "the server ended the tunnel (StopCCN)"
            else:
                self.counters.unknown += 1
                return 0
        elif peer is None or not peer.up or message.session != peer.my_session:
            self.counters.unknown += 1
            return 0
        if peer is None:
            return 0
        peer.timeout_at = self.now + TIMEOUT_TICKS
        peer.hello_at = self.now + (SERVER_HELLO_TICKS if self.listen else QUIET_HELLO_TICKS)
        if message.control:
            return 0
        frame = message.payload
        if len(frame) < ETH_HEADER_LEN:
            self.counters.runts += 1
            return 0
        if self.listen:
            self._relay(frame, peer)
            if not (frame[0] & 1 or frame[:6] == self.mac):
                return 0  # for another client: passed on, not ours (a NIC filters it)
        self.counters.frames_in += 1
        self.deliver(frame)
        return 1

    def _ack(self, peer: Peer, message: Message) -> None:
        self.sock.sendto(control(peer.their_connection, message.nr, message.ns + 1, ACK), peer.address)
        self.counters.acks_sent += 1

    # -- the server (ETHNET_ServerLoop) ---------------------------------------------------------------------

    def _server_control(self, message: Message, source: tuple[str, int], peer: Peer | None) -> Peer | None:
        if message.type == SCCRQ:
            accid = message.number(ASSIGNED_CONNECTION_ID)
            if (message.number(FRAMING_CAPS) & 3 and message.connection == 0 and accid
                    and PSEUDOWIRE_ETHERNET in message.pseudowires()):
                peer = Peer(source, _random_id(), their_connection=accid, mac=message.mac())
                self.peers[source] = peer
                self.sock.sendto(control(accid, message.nr, message.ns + 1, SCCRP,
                                         avp(ASSIGNED_CONNECTION_ID, peer.my_connection.to_bytes(4, "big")),
                                         avp(VENDOR_NAME, VENDOR, mandatory=True),
                                         avp(PSEUDOWIRE_CAPS, PSEUDOWIRE_ETHERNET.to_bytes(2, "big")),
                                         avp(FRAMING_CAPS, (3).to_bytes(4, "big")),
                                         avp(DOSBOX_MAC, self.mac, vendor=VENDOR_DOSBOX)), source)
                self._ack(peer, message)
            else:
                self.counters.unknown += 1
            return peer
        if peer is None or message.connection != peer.my_connection:
            self.counters.unknown += 1
            return None
        if message.type == ICRQ:
            mine, theirs = message.number(REMOTE_SESSION_ID), message.number(LOCAL_SESSION_ID)
            if mine and theirs and PSEUDOWIRE_ETHERNET in message.pseudowires():
                peer.my_session, peer.their_session = mine, theirs
                self.sock.sendto(control(peer.their_connection, message.nr, message.ns + 1, ICRP,
                                         avp(LOCAL_SESSION_ID, mine.to_bytes(4, "big")),
                                         avp(REMOTE_SESSION_ID, theirs.to_bytes(4, "big")),
                                         avp(VENDOR_NAME, VENDOR, mandatory=True),
                                         avp(PSEUDOWIRE_CAPS, PSEUDOWIRE_ETHERNET.to_bytes(2, "big"))), source)
        elif message.type == ICCN:
            peer.up = True
            return peer  # DOSBox-X sends no ACK for ICCN
        if message.type != ACK:
            self._ack(peer, message)
        if message.type == STOPCCN:
            del self.peers[source]
            return None
        return peer

    def _relay(self, frame: bytes, sender: Peer) -> None:
        for peer in self.peers.values():
            if peer is sender or not peer.up:
                continue
            if frame[0] & 1 or peer.mac == frame[:6]:
                self.sock.sendto(data_message(peer.their_session, frame), peer.address)
                self.counters.relayed += 1

    # -- time -----------------------------------------------------------------------------------------------

    def poll(self, now: int) -> None:
        self.now = max(self.now, now)
        if self._closed or self.failed:
            return
        peers = list(self.peers.values()) if self.listen else [self.server]
        if not self._clock_seen:
            self._clock_seen = True
            for peer in peers:
                peer.hello_at = now + (SERVER_HELLO_TICKS if self.listen else QUIET_HELLO_TICKS)
                peer.timeout_at = now + TIMEOUT_TICKS
        for peer in peers:
            if now >= peer.timeout_at:
                self.counters.timeouts += 1
                if self.listen:
                    del self.peers[peer.address[:2]]
                    continue
                self.failed = "the server stopped answering (15 s without a datagram)"
                return
            if now >= peer.hello_at:
                ns, nr = (0, 0) if self.listen else (self._ns, self._nr)
                self._send(control(peer.their_connection, ns, nr, HELLO), peer.address)
                self.counters.hellos_sent += 1
                jitter = random.randrange(ms_to_ticks(250) + 1)
                peer.hello_at = now + (QUIET_HELLO_TICKS if self.listen else CLIENT_HELLO_TICKS) + jitter

    def next_deadline(self) -> int | None:
        if self._closed or self.failed:
            return None
        peers = list(self.peers.values()) if self.listen else [self.server]
        times = [min(p.hello_at, p.timeout_at) for p in peers]
        return min(times) if times else None

    def _send(self, datagram: bytes, address: tuple[str, int]) -> None:
        try:
            self.sock.sendto(datagram, address)
        except OSError:
            pass  # lost, as on a wire; the keep-alive notices a peer that is gone

    def send(self, frame: bytes | bytearray | memoryview) -> None:
        if self._closed:
            raise LinkError(f"{self.spec}: link is closed")
        if self.failed:
            raise LinkError(f"{self.spec}: {self.failed}")
        data = bytes(frame)
        if not self.listen:
            self._send(data_message(self.server.their_session, data), self.server.address)
            self.counters.frames_out += 1
            return
        for peer in self.peers.values():
            if peer.up and (data[0] & 1 or peer.mac == data[:6]):
                self._send(data_message(peer.their_session, data), peer.address)
                self.counters.frames_out += 1

    def close_sockets(self) -> None:
        if not self.listen and not self.failed:  # as ETHNET DISCONNECT does: tell the server
            self._send(control(self.server.their_connection, self._ns, self._nr, STOPCCN), self.server.address)
        self.sock.close()


def ethnet_address(target: str) -> tuple[str, int]:
    """`HOST:PORT` or `HOST` (port 11701, as ETHNET's default); ValueError in words."""
    host, sep, port_text = target.rpartition(":")
    if not sep:
        host, port_text = target, str(DEFAULT_PORT)
    if not host:
        raise ValueError(f"{target!r}: needs a host, e.g. ethnet:127.0.0.1:11701")
    return host, port_number(port_text)


ETHNET = LinkKind(EthnetLink, {"listen": flag("serve ETHNET CONNECT clients on HOST:PORT")}, ethnet_address)
