"""`ethnet:` against a DOSBox-X server and DOSBox-X clients written here from DOSBox-X's
src/misc/ethernet_ethnet.cpp (joncampbell123/dosbox-x; DOSBox-X is not packaged here, so its peers are
these). The bytes are built with struct from that source: control header C8 03 LEN CONN(4) Ns Nr; AVPs
of flags|length, vendor, attribute; message types SCCRQ 1, SCCRP 2, SCCCN 3, StopCCN 4, HELLO 6, ICRQ 10,
ICRP 11, ICCN 12, ACK 20; data 00 03 00 00 SESSION(4) FRAME. On loopback only.
"""

from __future__ import annotations

import socket
import struct
import threading
from typing import Any

import pytest

from pktdrv import LinkError, open_link
from pktdrv.clock import ms_to_ticks
from pktdrv.links import LinkSpecError
from pktdrv.links.ethnet import EthnetLink
from tests.links.linkutil import BROADCAST, frame, free_port, pump

LINK_MAC = bytes.fromhex("020000000001")
GUEST_MAC = bytes.fromhex("02000000d0b1")
OTHER_MAC = bytes.fromhex("02000000d0b2")


def avp(attribute: int, value: bytes, vendor: int = 0, mandatory: bool = False) -> bytes:
    return struct.pack(">HHH", (0x8000 if mandatory else 0) | (6 + len(value)), vendor, attribute) + value


def ctrl(conn: int, ns: int, nr: int, message_type: int, *avps: bytes) -> bytes:
    body = avp(0, struct.pack(">H", message_type), mandatory=True) + b"".join(avps)
    return struct.pack(">BBHIHH", 0xC8, 3, 12 + len(body), conn, ns, nr) + body


def parse_ctrl(data: bytes) -> dict[str, Any]:
    flags, version, length, conn, ns, nr = struct.unpack_from(">BBHIHH", data)
    assert (flags, version, length) == (0xC8, 3, len(data)), data.hex()
    avps: dict[tuple[int, int], bytes] = {}
    offset = 12
    while offset < len(data):
        header, vendor, attribute = struct.unpack_from(">HHH", data, offset)
        size = header & 0x3FF
        avps[(vendor, attribute)] = data[offset + 6:offset + size]
        offset += size
    assert offset == len(data)
    return {"conn": conn, "ns": ns, "nr": nr, "type": struct.unpack(">H", avps[(0, 0)])[0], "avps": avps}


def u32(value: bytes) -> int:
    return int(struct.unpack(">I", value)[0])


def recv(sock: socket.socket) -> tuple[bytes, tuple[str, int]]:
    sock.settimeout(5)
    data, source = sock.recvfrom(65536)
    return data, source


def recv_ctrl(sock: socket.socket, skip_acks: bool = True) -> tuple[dict[str, Any], tuple[str, int]]:
    while True:
        data, source = recv(sock)
        message = parse_ctrl(data)
        if not (skip_acks and message["type"] == 20):
            return message, source


def data_msg(session: int, payload: bytes) -> bytes:
    return b"\x00\x03\x00\x00" + struct.pack(">I", session) + payload


def test_client_link_to_a_dosbox_x_server() -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    port = server.getsockname()[1]
    state: dict[str, Any] = {}

    def dosbox_x_server() -> None:  # ETHNET_ServerLoop's answers, in order
        sccrq, client = recv_ctrl(server)
        state["sccrq"] = sccrq
        state["client"] = client
        accid = u32(sccrq["avps"][(0, 61)])
        server.sendto(ctrl(accid, sccrq["nr"], sccrq["ns"] + 1, 2, avp(61, struct.pack(">I", 0x5EC0)),
                           avp(8, b"DOSBox-X", mandatory=True), avp(62, b"\x00\x05"), avp(3, struct.pack(">I", 3)),
                           avp(0x4000, GUEST_MAC, vendor=0xD05B)), client)
        server.sendto(ctrl(accid, sccrq["nr"], sccrq["ns"] + 1, 20), client)
        state["scccn"], _ = recv_ctrl(server)
        icrq, _ = recv_ctrl(server)
        state["icrq"] = icrq
        server.sendto(ctrl(accid, icrq["nr"], icrq["ns"] + 1, 11, avp(63, icrq["avps"][(0, 64)]),
                           avp(64, icrq["avps"][(0, 63)]), avp(8, b"DOSBox-X", mandatory=True),
                           avp(62, b"\x00\x05")), client)
        state["iccn"], _ = recv_ctrl(server)

    thread = threading.Thread(target=dosbox_x_server)
    thread.start()
    link = open_link(f"ethnet:127.0.0.1:{port}?mac={LINK_MAC.hex(':')}")
    thread.join(10)
    assert isinstance(link, EthnetLink)
    sccrq = state["sccrq"]
    assert sccrq["conn"] == 0 and sccrq["type"] == 1
    assert u32(sccrq["avps"][(0, 3)]) & 3 and u32(sccrq["avps"][(0, 61)]) != 0
    assert b"\x00\x05" in sccrq["avps"][(0, 62)]
    assert sccrq["avps"][(0xD05B, 0x4000)] == LINK_MAC  # without it the server sends us no unicast
    assert state["scccn"]["type"] == 3 and state["scccn"]["conn"] == 0x5EC0
    assert state["icrq"]["type"] == 10 and state["iccn"]["type"] == 12
    my_session = u32(state["icrq"]["avps"][(0, 63)])  # the client's, for data the server sends it
    server_session = u32(state["icrq"]["avps"][(0, 64)])
    client = state["client"]
    got: list[bytes] = []
    link.open(got.append)
    link.poll(1000)
    server.sendto(data_msg(my_session, frame(1, dst=LINK_MAC, src=GUEST_MAC)), client)
    server.sendto(data_msg(my_session ^ 1, frame(2)), client)  # another session: not ours
    assert pump(link, lambda: len(got) == 1 and link.counters.unknown == 1, ticks=False)
    assert got == [frame(1, dst=LINK_MAC, src=GUEST_MAC)]
    link.send(frame(3, dst=GUEST_MAC, src=LINK_MAC))
    assert recv(server)[0] == data_msg(server_session, frame(3, dst=GUEST_MAC, src=LINK_MAC))
    # The server's HELLO is answered with an ACK (Ns = its Nr, Nr = its Ns + 1).
    server.sendto(ctrl(u32(sccrq["avps"][(0, 61)]), 7, 9, 6), client)
    assert pump(link, lambda: link.counters.acks_sent == 1, ticks=False)
    ack = parse_ctrl(recv(server)[0])
    assert (ack["type"], ack["conn"], ack["ns"], ack["nr"]) == (20, 0x5EC0, 9, 8)
    # Quiet for 3 s: the client says HELLO; 15 s without a datagram: the tunnel is down, said once.
    link.poll(1000 + ms_to_ticks(3000))
    hello = parse_ctrl(recv(server)[0])
    assert (hello["type"], hello["conn"]) == (6, 0x5EC0)
    link.poll(1000 + ms_to_ticks(15_000) + 1)
    with pytest.raises(LinkError, match="stopped answering"):
        link.drain(8)
    assert link.fileno() is None
    link.close()
    server.close()


class DosboxXClient:
    """ConnectToServer and ETHNET_ClientLoop, from the guest's side, against the link as the server."""

    def __init__(self, port: int, mac: bytes, link: EthnetLink) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.server = ("127.0.0.1", port)
        self.mac = mac
        self.ccid, self.cli_session, self.svr_session = 0x1111, 0x2222, 0x3333
        self.sock.sendto(ctrl(0, 0, 0, 1, avp(61, struct.pack(">I", self.ccid)), avp(3, struct.pack(">I", 3)),
                              avp(60, struct.pack(">I", 99)), avp(62, b"\x00\x05"),
                              avp(8, b"DOSBox-X", mandatory=True), avp(7, b"DOSBox-X.1,2", mandatory=True),
                              avp(0x4000, mac, vendor=0xD05B)), self.server)
        sccrp = self.expect(link, 2)
        assert sccrp["conn"] == self.ccid and b"\x00\x05" in sccrp["avps"][(0, 62)]
        assert sccrp["avps"][(0xD05B, 0x4000)] == link.mac and u32(sccrp["avps"][(0, 3)]) == 3
        self.their_ccid = u32(sccrp["avps"][(0, 61)])
        self.sock.sendto(ctrl(self.their_ccid, 1, 1, 3), self.server)
        self.sock.sendto(ctrl(self.their_ccid, 2, 1, 10, avp(63, struct.pack(">I", self.cli_session)),
                              avp(64, struct.pack(">I", self.svr_session)), avp(62, b"\x00\x05"),
                              avp(8, b"DOSBox-X", mandatory=True)), self.server)
        icrp = self.expect(link, 11)
        assert (u32(icrp["avps"][(0, 63)]), u32(icrp["avps"][(0, 64)])) == (self.svr_session, self.cli_session)
        self.sock.sendto(ctrl(self.their_ccid, 3, 2, 12, avp(63, struct.pack(">I", self.cli_session)),
                              avp(64, struct.pack(">I", self.svr_session))), self.server)

    def expect(self, link: EthnetLink, message_type: int) -> dict[str, Any]:
        self.sock.settimeout(0)
        while True:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                assert pump(link, lambda: bool(__import__("select").select([self.sock], [], [], 0)[0]),
                            ticks=False)
                continue
            message = parse_ctrl(data)
            if message["type"] == message_type:
                return message

    def recv_data(self) -> bytes:
        """The next data message (the server's ACKs to SCCCN and others come first)."""
        data, _ = recv(self.sock)
        while data[0] & 0x80:
            data, _ = recv(self.sock)
        assert data[:8] == data_msg(self.cli_session, b""), data[:8].hex()
        return data[8:]


def test_server_link_for_dosbox_x_clients_relays_and_keeps_alive() -> None:
    port = free_port(socket.SOCK_DGRAM)
    link = open_link(f"ethnet:127.0.0.1:{port}?listen=1&mac={LINK_MAC.hex(':')}")
    assert isinstance(link, EthnetLink)
    got: list[bytes] = []
    link.open(got.append)
    link.poll(100)
    guest = DosboxXClient(port, GUEST_MAC, link)
    other = DosboxXClient(port, OTHER_MAC, link)
    assert pump(link, lambda: all(p.up for p in link.peers.values()) and len(link.peers) == 2, ticks=False)
    # A broadcast from one guest reaches the stack and the other guest; unicast to the other guest only
    # it; unicast to the stack only the stack.
    guest.sock.sendto(data_msg(guest.svr_session, frame(1, dst=BROADCAST, src=GUEST_MAC)), guest.server)
    assert pump(link, lambda: len(got) == 1, ticks=False)
    assert other.recv_data() == frame(1, dst=BROADCAST, src=GUEST_MAC)
    guest.sock.sendto(data_msg(guest.svr_session, frame(2, dst=OTHER_MAC, src=GUEST_MAC)), guest.server)
    assert pump(link, lambda: link.counters.relayed == 2, ticks=False)
    assert other.recv_data() == frame(2, dst=OTHER_MAC, src=GUEST_MAC)
    guest.sock.sendto(data_msg(guest.svr_session, frame(3, dst=LINK_MAC, src=GUEST_MAC)), guest.server)
    assert pump(link, lambda: len(got) == 2, ticks=False)
    assert got == [frame(1, dst=BROADCAST, src=GUEST_MAC), frame(3, dst=LINK_MAC, src=GUEST_MAC)]
    link.send(frame(4, dst=GUEST_MAC, src=LINK_MAC))
    assert guest.recv_data() == frame(4, dst=GUEST_MAC, src=LINK_MAC)
    link.send(frame(5, dst=BROADCAST, src=LINK_MAC))
    assert guest.recv_data() == frame(5, dst=BROADCAST, src=LINK_MAC)
    assert other.recv_data() == frame(5, dst=BROADCAST, src=LINK_MAC)
    # A guest's HELLO is ACKed; after 4 s of quiet the server says HELLO; after 15 s the guest is dropped.
    guest.sock.sendto(ctrl(guest.their_ccid, 4, 2, 6), guest.server)
    ack = guest.expect(link, 20)
    assert (ack["conn"], ack["ns"], ack["nr"]) == (guest.ccid, 2, 5)
    link.poll(100 + ms_to_ticks(4000) + 1)
    hello = parse_ctrl(recv(guest.sock)[0])
    assert (hello["type"], hello["conn"]) == (6, guest.ccid)
    link.poll(100 + ms_to_ticks(15_000) + 1)
    assert link.peers == {} and link.counters.timeouts == 2
    link.close()
    guest.sock.close()
    other.sock.close()


def test_ethnet_that_cannot_open_or_is_written_wrong_says_why() -> None:
    quiet = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    quiet.bind(("127.0.0.1", 0))
    with pytest.raises(LinkError, match="no answer from the server|connection refused"):
        open_link(f"ethnet:127.0.0.1:{quiet.getsockname()[1] }")
    quiet.close()
    with pytest.raises(LinkSpecError, match="a port is a number from 1 to 65535"):
        open_link("ethnet:127.0.0.1:0")
    with pytest.raises(LinkSpecError, match="listen=x: not 0 or 1"):
        open_link("ethnet:127.0.0.1?listen=x")
