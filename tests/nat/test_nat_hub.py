"""mtcp-nat's gateway with our own stack as the guest, both on an in-memory hub in this process, and the
"internet" on the host's loopback (the gateway 10.0.2.2 stands for 127.0.0.1, as in slirp). No root.

Expectations come from what the host-side servers see and send (loopback sockets), from RFC 2131 for the
DHCP exchange and RFC 1035 for DNS, never from the gateway's own state.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

from mtcp_py.apps.nat import Forward, Gateway, Plan, tcp_forward_listeners
from mtcp_py.dhcp import DhcpClient
from mtcp_py.runtime import turn
from mtcp_py.stack import Stack, StackConfig
from mtcp_py.tcp import TcpConfig, TcpSocket
from mtcp_py.udp import UdpEndpoints
from mtcp_py.wire import dhcp, dns, ip_from_str
from mtcp_py.wire.dhcp import FLAG_BROADCAST, MessageType, Option
from pktdrv import MonotonicTicks, open_link

_names = itertools.count()
GATEWAY, DNS_IP, GUEST = "10.0.2.2", "10.0.2.3", "10.0.2.15"


@dataclass
class Lab:
    gateway: Gateway
    guest: Stack
    listeners: dict[int, tuple[socket.socket, Forward]]

    def step(self) -> None:
        self.gateway.step(self.listeners, 0.002)
        turn(self.guest)

    def until(self, condition: Callable[[], bool], what: str, steps: int = 20_000) -> None:
        for _ in range(steps):
            if condition():
                return
            self.step()
        raise AssertionError(f"never happened: {what}")


@contextmanager
def make_lab(*, restrict: bool = False, upstream: str | None = None, max_flows: int = 8,
             forwards: tuple[Forward, ...] = (), guest_address: str = GUEST) -> Iterator[Lab]:
    hub = f"nat{next(_names)}"
    clock = MonotonicTicks()
    plan = Plan.from_cidr("10.0.2.0/24")
    stack = Stack(open_link(f"hub:{hub}", clock),
                  StackConfig(plan.gateway, tcp=TcpConfig(max_sockets=max_flows * 2 + 8)), clock).init_stack()
    gateway = Gateway(stack, plan, upstream, restrict, max_flows)
    guest = Stack(open_link(f"hub:{hub}", clock),
                  StackConfig(ip_from_str(guest_address) if guest_address else 0, gateway=plan.gateway,
                              no_address=not guest_address), clock).init_stack()
    with tcp_forward_listeners(list(forwards)) as listeners:
        yield Lab(gateway, guest, listeners)
    gateway.close()
    guest.end_stack()
    stack.end_stack()


@pytest.fixture
def lab() -> Iterator[Lab]:
    with make_lab() as made:
        yield made


def loopback_server(serve: Callable[[socket.socket], None]) -> tuple[int, threading.Thread]:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def run() -> None:
        with server:
            conn, _ = server.accept()
            with conn:
                serve(conn)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return port, thread


def read_all(sock: TcpSocket, lab: Lab) -> bytes:
    out = bytearray()

    def done() -> bool:
        while chunk := sock.recv():
            out.extend(chunk)
        return sock.at_eof or sock.error is not None

    lab.until(done, "the guest reads to the end")
    return bytes(out)


def test_guest_tcp_to_the_host_both_ways_exact_with_half_close(lab: Lab) -> None:
    upload = os.urandom(1 << 20)
    download = os.urandom(1 << 20)
    got: list[bytes] = []

    def serve(conn: socket.socket) -> None:
        data = bytearray()
        while chunk := conn.recv(65536):
            data.extend(chunk)
        got.append(bytes(data))  # the guest's FIN arrived as our EOF
        conn.sendall(download)

    port, thread = loopback_server(serve)
    sock = lab.guest.tcp.connect(ip_from_str(GATEWAY), port)
    sent = 0

    def uploaded() -> bool:
        nonlocal sent
        if sock.is_connected and sent < len(upload):
            sent += sock.send(memoryview(upload)[sent:])
        return sent == len(upload)

    lab.until(uploaded, "the upload queued")
    sock.close()
    back = read_all(sock, lab)
    thread.join(10)
    assert got and hashlib.sha256(got[0]).digest() == hashlib.sha256(upload).digest()
    assert hashlib.sha256(back).digest() == hashlib.sha256(download).digest()
    lab.until(lambda: lab.gateway.tcp.open_flows() == 0, "the flow ends")


def test_refused_host_port_is_refused_at_the_guest(lab: Lab) -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    sock = lab.guest.tcp.connect(ip_from_str(GATEWAY), port)
    lab.until(lambda: sock.error is not None, "the connection fails")
    assert sock.error == "connection refused"
    assert lab.gateway.tcp.counters.refused == 1


def test_restricted_guest_reaches_nothing_beyond_the_host() -> None:
    with make_lab(restrict=True) as lab:
        sock = lab.guest.tcp.connect(ip_from_str("198.51.100.1"), 80)
        lab.until(lambda: sock.error is not None, "the connection is refused")
        assert sock.error == "connection refused"
        assert lab.gateway.tcp.counters.restricted == 1


def test_guest_udp_to_the_host_and_back(lab: Lab) -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    port = server.getsockname()[1]
    got: list[tuple[UdpEndpoints, bytes]] = []
    local = lab.guest.udp.register(0, lambda src, data, now: got.append((src, bytes(data))))

    def echo() -> None:
        data, client = server.recvfrom(65536)
        server.sendto(data.upper(), client)

    thread = threading.Thread(target=echo, daemon=True)
    thread.start()
    lab.guest.udp.send(local, ip_from_str(GATEWAY), port, b"hello", 0)
    lab.until(lambda: bool(got), "the answer")
    assert got[0][1] == b"HELLO"
    assert (got[0][0].src, got[0][0].src_port) == (ip_from_str(GATEWAY), port)
    server.close()


def test_dhcp_gives_the_guest_10_0_2_15_with_router_and_dns() -> None:
    with make_lab(guest_address="") as lab:
        replies: list[dhcp.DhcpMessage] = []
        lab.guest.udp.register(68, lambda src, data, now: replies.append(dhcp.parse(data)))
        mac = lab.guest.mac

        def ask(kind: MessageType, **options: bytes) -> dhcp.DhcpMessage:
            replies.clear()
            message = dhcp.DhcpMessage(dhcp.OP_REQUEST, 0x1234, mac, {Option.MESSAGE_TYPE: bytes((kind,)),
                                       **{int(Option[k.upper()]): v for k, v in options.items()}},
                                       flags=FLAG_BROADCAST)
            lab.guest.udp.send(68, 0xFFFFFFFF, 67, dhcp.build(message), 0)
            lab.until(lambda: bool(replies), f"an answer to {kind.name}")
            return replies[0]

        offer = ask(MessageType.DISCOVER)
        assert offer.message_type == MessageType.OFFER and offer.yiaddr == ip_from_str(GUEST)
        ack = ask(MessageType.REQUEST, requested_address=dhcp.address_bytes(offer.yiaddr),
                  server_id=dhcp.address_bytes(ip_from_str(GATEWAY)))
        assert ack.message_type == MessageType.ACK and ack.yiaddr == ip_from_str(GUEST)
        assert ack.address(Option.SUBNET_MASK) == 0xFFFFFF00
        assert ack.addresses(Option.ROUTER) == (ip_from_str(GATEWAY),)
        assert ack.addresses(Option.DOMAIN_NAME_SERVER) == (ip_from_str(DNS_IP),)
        nak = ask(MessageType.REQUEST, requested_address=dhcp.address_bytes(ip_from_str("10.0.2.200")))
        assert nak.message_type == MessageType.NAK


def fake_dns_server(answer: bytes) -> tuple[socket.socket, threading.Thread]:
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))

    def run() -> None:
        query, client = server.recvfrom(512)
        reply = query[:2] + answer[2:]  # the client's id, our canned rest
        server.sendto(reply, client)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return server, thread


def ask_dns(lab: Lab, name: str) -> dns.Message:
    got: list[bytes] = []
    port = lab.guest.udp.register(0, lambda src, data, now: got.append(bytes(data)))
    lab.guest.udp.send(port, ip_from_str(DNS_IP), 53, dns.build_query(0x4242, name), 0)
    lab.until(lambda: bool(got), "the DNS answer")
    return dns.parse(got[0])


def test_dns_at_10_0_2_3_is_relayed_to_the_upstream_server() -> None:
    name = dns.encode_name("retro.example")
    answer = (struct.pack("!HHHHHH", 0, 0x8180, 1, 1, 0, 0) + name + struct.pack("!HH", 1, 1)
              + b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 300, 4) + bytes([198, 51, 100, 7]))
    server, thread = fake_dns_server(answer)
    upstream_port = server.getsockname()[1]
    with make_lab(upstream="127.0.0.1") as lab:
        lab.gateway.datagrams.dns_port = upstream_port
        reply = ask_dns(lab, "retro.example")
        assert reply.ident == 0x4242 and reply.rcode == dns.NOERROR
        assert [r.address for r in reply.answers] == [ip_from_str("198.51.100.7")]
    server.close()


def test_dns_without_an_upstream_is_servfail(lab: Lab) -> None:
    reply = ask_dns(lab, "retro.example")
    assert reply.ident == 0x4242 and reply.response and reply.rcode == dns.SERVFAIL
    assert [q.name for q in reply.questions] == ["retro.example"]


def test_port_forward_reaches_a_listener_in_the_guest() -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    host_port = probe.getsockname()[1]
    probe.close()
    with make_lab(forwards=(Forward("tcp", "127.0.0.1", host_port, 2323),)) as lab:
        listener = lab.guest.tcp.listen(2323)
        client = socket.create_connection(("127.0.0.1", host_port), timeout=10)
        accepted: list[TcpSocket] = []

        def accept() -> bool:
            if (sock := listener.accept()) is not None:
                accepted.append(sock)
            return bool(accepted)

        lab.until(accept, "the guest accepts")
        conn = accepted[0]
        assert conn.remote_address[0] == GATEWAY
        client.sendall(b"hello from the host")
        client.shutdown(socket.SHUT_WR)
        assert read_all(conn, lab) == b"hello from the host"
        conn.send(b"and back")
        conn.close()
        lab.until(lambda: conn.all_sent, "the guest's answer is acknowledged")
        client.settimeout(10)
        assert client.recv(100) == b"and back"
        client.close()


def test_syn_flood_stays_within_the_flow_table() -> None:
    with make_lab(max_flows=4) as lab:
        server = socket.create_server(("127.0.0.1", 0), backlog=64)
        port = server.getsockname()[1]
        socks = [lab.guest.tcp.connect(ip_from_str(GATEWAY), port) for _ in range(12)]
        lab.until(lambda: all(s.is_connected or s.error for s in socks), "every connection settles", 40_000)
        assert lab.gateway.tcp.open_flows() <= 4
        assert lab.gateway.tcp.counters.recycled >= 8
        server.close()


def test_our_dhcp_client_gets_its_lease_from_the_gateway() -> None:
    """mtcp-dhcp's client (written to RFC 2131 from the client's side) against the gateway's server."""
    with make_lab(guest_address="") as lab:
        client = DhcpClient(lab.guest.udp, lab.guest.mac, hostname="retro", attempts=1, attempt_seconds=10)
        lab.guest.add_layer(client)
        client.start(lab.guest.clock.now())
        lab.until(lambda: client.done, "the client's lease")
        lease = client.lease
        assert lease is not None, client.result
        assert (lease.address, lease.netmask, lease.gateway, lease.nameserver) == (
            ip_from_str(GUEST), 0xFFFFFF00, ip_from_str(GATEWAY), ip_from_str(DNS_IP))
        assert lease.lease_seconds == 86_400
        assert lab.gateway.dhcp.counters.acks == 1


def test_resets_cross_both_ways(lab: Lab) -> None:
    seen: list[str] = []

    def serve(conn: socket.socket) -> None:
        conn.recv(10)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # closing with linger 0 sends the guest's peer a reset

    port, thread = loopback_server(serve)
    sock = lab.guest.tcp.connect(ip_from_str(GATEWAY), port)
    lab.until(lambda: sock.is_connected, "connected")
    sock.send(b"hello")
    lab.until(lambda: sock.error is not None, "the host's reset reaches the guest")
    assert sock.error == "connection reset"
    thread.join(10)

    def serve_and_watch(conn: socket.socket) -> None:
        try:
            while conn.recv(10):
                pass
            seen.append("eof")
        except ConnectionResetError:
            seen.append("reset")

    port, thread = loopback_server(serve_and_watch)
    sock = lab.guest.tcp.connect(ip_from_str(GATEWAY), port)
    lab.until(lambda: sock.is_connected, "connected")
    lab.until(lambda: lab.gateway.tcp.open_flows() == 1 and all(f.sock for f in lab.gateway.tcp.flows.values()),
              "the flow is spliced")
    sock.abort()
    lab.until(lambda: bool(seen), "the host side sees the end")
    thread.join(10)
    assert seen == ["reset"]


def test_udp_forward_reaches_the_guest_and_back() -> None:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    host_port = probe.getsockname()[1]
    probe.close()
    with make_lab() as lab:
        lab.gateway.udp_forwards.add(Forward("udp", "127.0.0.1", host_port, 7))
        def echo_upper(src: UdpEndpoints, data: memoryview, now: int) -> None:
            lab.guest.udp.send(7, src.src, src.src_port, bytes(data).upper(), now)

        lab.guest.udp.register(7, echo_upper)
        client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        client.setblocking(False)
        client.sendto(b"echo me", ("127.0.0.1", host_port))
        answers: list[bytes] = []

        def answered() -> bool:
            try:
                answers.append(client.recv(100))
            except BlockingIOError:
                pass
            return bool(answers)

        lab.until(answered, "the guest's answer at the host client")
        assert answers == [b"ECHO ME"]
        client.close()


def test_udp_flood_to_many_destinations_stays_within_the_flow_table() -> None:
    with make_lab(max_flows=4) as lab:
        port = lab.guest.udp.register(0, lambda *a: None)
        fds_before = len(os.listdir("/proc/self/fd"))
        for target in range(200):
            lab.guest.udp.send(port, ip_from_str(GATEWAY), 20_000 + target, b"flood", 0)
            lab.step()
        flows = lab.gateway.datagrams
        assert len(flows.udp) <= 8  # twice the TCP flows
        assert flows.counters.udp_recycled >= 192
        assert len(os.listdir("/proc/self/fd")) <= fds_before + 8


def test_a_guest_that_does_not_read_back_pressures_the_host_peer(lab: Lab) -> None:
    """A slow guest must slow the host's peer, never make the gateway buffer: the gateway holds at most one
    chunk for the guest, and the host's sender stops once the host socket's and our TCP's windows are full."""
    sent = [0]
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        conn.settimeout(0.2)
        block = bytes(65536)
        while not stop.is_set():
            try:
                sent[0] += conn.send(block)
            except TimeoutError:
                continue  # blocked: the guest's slowness reached us
            except OSError:
                return

    port, thread = loopback_server(serve)
    sock = lab.guest.tcp.connect(ip_from_str(GATEWAY), port)
    lab.until(lambda: sock.is_connected, "connected")
    lab.until(lambda: sock.rx.free < 2 * 1460, "the guest's receive queue (nearly) full")
    for _ in range(300):
        lab.step()
    flows = list(lab.gateway.tcp.flows.values())
    assert len(flows) == 1 and len(flows[0].to_guest) <= 16_384
    held_by_us = sock.readable
    assert held_by_us <= sock.rx.capacity
    plateau = sent[0]
    for _ in range(300):
        lab.step()
    assert sent[0] == plateau  # the host's sender is stopped, not buffered without bound
    assert plateau < 16 << 20
    stop.set()
    sock.abort()
    thread.join(10)
