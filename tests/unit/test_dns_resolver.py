"""The resolver on an in-memory hub, on a virtual clock, against nameservers written here from RFC 1035's
layouts (stacks of their own answering on UDP and TCP port 53): recursion desired or not, CNAME chains,
several nameservers with retries, ICMP, the cache and its TTL, TC and TCP, each rcode its own result,
replies that are not ours, and arbitrary bytes from the server's port (fuzzed: only counters move)."""

from __future__ import annotations

import itertools
import random
import struct
from collections.abc import Callable, Iterator, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mtcp_py.dns import NXDOMAIN_ERROR, REFUSED_ERROR, SERVFAIL_ERROR, TIMED_OUT, Lookup, ResolverConfig
from mtcp_py.runtime import run_until
from mtcp_py.stack import Stack, StackConfig
from mtcp_py.tcp import TcpListener, TcpSocket
from mtcp_py.udp import UdpEndpoints
from mtcp_py.wire import ip_from_str
from pktdrv import VirtualClock, open_link
from pktdrv.clock import TICK_SECONDS
from tests.unit.test_dns_wire import AA, HEADER, QR, RA, RD, TC, name, pointer, record

CLIENT, SERVER1, SERVER2 = "10.9.0.1", "10.9.0.2", "10.9.0.3"
PEER = ip_from_str("10.9.0.50")
_hubs = itertools.count()
Reply = Callable[[bytes], "bytes | None"]


def reply(query: bytes, answers: Sequence[bytes] = (), rcode: int = 0, flags: int = QR | RA,
          authority: Sequence[bytes] = (), additional: Sequence[bytes] = ()) -> bytes:
    """A reply to `query`: its identifier and question, RD copied (RFC 1035 4.1.1), the records given."""
    ident, query_flags = struct.unpack_from("!HH", query)
    return HEADER.pack(ident, flags | (query_flags & RD) | rcode, 1, len(answers), len(authority),
                       len(additional)) + query[12:] + b"".join(answers) + b"".join(authority) + b"".join(additional)


def a_record(address: int = PEER, ttl: int = 300, owner: bytes = pointer(12)) -> bytes:
    return record(owner, 1, address.to_bytes(4, "big"), ttl)


def question_name(query: bytes) -> str:
    labels, at = [], 12
    while query[at]:
        labels.append(query[at + 1 : at + 1 + query[at]].decode())
        at += 1 + query[at]
    return ".".join(labels)


class Nameserver:
    """UDP port 53 on a stack of its own; `answer(query)` gives the reply bytes, or None to stay silent."""

    def __init__(self, stack: Stack, answer: Reply) -> None:
        self.stack = stack
        self.answer = answer
        self.queries: list[bytes] = []
        self.tcp_queries: list[bytes] = []
        self.tcp_answer: Reply | None = None
        self.listener: TcpListener | None = None
        self.conns: list[tuple[TcpSocket, bytearray]] = []
        stack.udp.register(53, self._on_query)

    def _on_query(self, ends: UdpEndpoints, data: memoryview, now: int) -> None:
        query = bytes(data)
        self.queries.append(query)
        answer = self.answer(query)
        if answer is not None:
            self.stack.udp.send(53, ends.src, ends.src_port, answer, now)

    def serve_tcp(self, answer: Reply) -> None:
        self.tcp_answer = answer
        self.listener = self.stack.tcp.listen(53)

    def step(self) -> None:
        if self.listener is None:
            return
        while (sock := self.listener.accept()) is not None:
            self.conns.append((sock, bytearray()))
        for conn in list(self.conns):
            sock, received = conn
            received += sock.recv()
            if len(received) >= 2 and len(received) >= 2 + struct.unpack_from("!H", received)[0]:
                query = bytes(received[2:])
                self.tcp_queries.append(query)
                assert self.tcp_answer is not None
                answer = self.tcp_answer(query) or b""
                sock.send(struct.pack("!H", len(answer)) + answer)
                sock.close()
                self.conns.remove(conn)


class Net:
    def __init__(self, clock: VirtualClock, client: Stack, servers: list[Stack]) -> None:
        self.clock = clock
        self.client = client
        self.servers = servers
        self.nameservers: list[Nameserver] = []
        client.dns.rng = random.Random(7)

    def serve(self, index: int, answer: Reply) -> Nameserver:
        server = Nameserver(self.servers[index], answer)
        self.nameservers.append(server)
        return server

    def resolve(self, host: str, **kwargs: object) -> Lookup:
        lookup = self.client.dns.start(host, self.clock.now(), **kwargs)  # type: ignore[arg-type]
        self.wait(lambda: lookup.done)
        return lookup

    def wait(self, condition: Callable[[], bool], seconds: float = 60) -> None:
        def check() -> bool:
            for server in self.nameservers:
                server.step()
            return condition()

        assert run_until([self.client, *self.servers], check, seconds)


@pytest.fixture
def net() -> Iterator[Net]:
    clock = VirtualClock()
    hub = f"dnsres{next(_hubs)}"

    def stack(address: str, mac: int, **config: object) -> Stack:
        link = open_link(f"hub:{hub}?mac=02:00:00:00:09:{mac:02x}", clock)
        return Stack(link, StackConfig(ip_from_str(address), **config), clock).init_stack()  # type: ignore[arg-type]

    client = stack(CLIENT, 1, nameservers=(ip_from_str(SERVER1), ip_from_str(SERVER2)), hostname="retro",
                   dns=ResolverConfig(timeout_ticks=round(6 / TICK_SECONDS)))
    servers = [stack(SERVER1, 2), stack(SERVER2, 3)]
    yield Net(clock, client, servers)
    for s in (client, *servers):
        s.end_stack()


def answers_a(ttl: int = 300) -> Reply:
    return lambda query: reply(query, [a_record(ttl=ttl)], flags=QR | AA | RA)


# -- answers ------------------------------------------------------------------------------------------------


def test_a_query_with_recursion_desired(net: Net) -> None:
    server = net.serve(0, answers_a())
    lookup = net.resolve("peer.lan")
    assert lookup.address == PEER and lookup.error is None
    (query,) = server.queries
    flags, qdcount = struct.unpack_from("!HH", query, 2)
    assert flags == RD and qdcount == 1
    assert query[12:] == name(b"peer", b"lan") + b"\0\1\0\1"  # QTYPE A, QCLASS IN


def test_norecurse_clears_rd(net: Net) -> None:
    server = net.serve(0, answers_a())
    assert net.resolve("peer.lan", recurse=False).address == PEER
    assert struct.unpack_from("!H", server.queries[0], 2)[0] & RD == 0


def test_trailing_dot_and_case(net: Net) -> None:
    server = net.serve(0, answers_a())
    assert net.resolve("PEER.Lan.").address == PEER
    assert question_name(server.queries[0]) == "peer.lan"


def test_dotted_address_and_own_hostname_need_no_query(net: Net) -> None:
    server = net.serve(0, answers_a())
    assert net.resolve("192.0.2.7").address == ip_from_str("192.0.2.7")
    assert net.resolve("RETRO.").address == ip_from_str(CLIENT)
    assert server.queries == []


def test_cname_chain_in_one_answer(net: Net) -> None:
    def answer(query: bytes) -> bytes:
        # www.lan -> web.lan (at 12 + 4 + ... ) -> peer.lan A
        q_end = len(query)
        first_target_at = q_end + 12  # owner pointer (2) and fixed part (10)
        chain1 = record(pointer(12), 5, b"\x03web" + pointer(16))
        second_target_at = first_target_at + len(b"\x03web") + 2 + 12
        chain2 = record(pointer(first_target_at), 5, b"\x04peer" + pointer(16))
        return reply(query, [chain1, chain2, a_record(owner=pointer(second_target_at))])

    net.serve(0, answer)
    lookup = net.resolve("www.lan")
    assert lookup.address == PEER
    assert lookup.cname_chain == ["web.lan", "peer.lan"]


def test_cname_without_the_address_is_asked_for_next(net: Net) -> None:
    def answer(query: bytes) -> bytes:
        if question_name(query) == "alias.lan":
            return reply(query, [record(pointer(12), 5, name(b"peer", b"lan"))])
        return reply(query, [a_record()])

    server = net.serve(0, answer)
    lookup = net.resolve("alias.lan")
    assert lookup.address == PEER and lookup.cname_chain == ["peer.lan"]
    assert [question_name(q) for q in server.queries] == ["alias.lan", "peer.lan"]


def test_cname_loop_is_an_error(net: Net) -> None:
    def answer(query: bytes) -> bytes:
        target = b"b" if question_name(query) == "a.lan" else b"a"
        return reply(query, [record(pointer(12), 5, name(target, b"lan"))])

    net.serve(0, answer)
    lookup = net.resolve("a.lan")
    assert lookup.address is None and lookup.error is not None and "CNAME loop" in lookup.error


def test_referral_is_followed_without_recursion(net: Net) -> None:
    """The first server knows only who is authoritative (NS and its glue A, RFC 1034 4.3.1); the second
    answers. Without recursion, as DNSTEST's -norecurse, the resolver goes there itself."""
    def referral(query: bytes) -> bytes:
        ns = record(pointer(12 + 5), 2, name(b"ns", b"lan"))  # lan. NS ns.lan.
        glue = a_record(ip_from_str(SERVER2), owner=name(b"ns", b"lan"))
        return reply(query, [], flags=QR, authority=[ns], additional=[glue])

    first = net.serve(0, referral)
    second = net.serve(1, answers_a())
    lookup = net.resolve("peer.lan", recurse=False)
    assert lookup.address == PEER
    assert len(first.queries) == 1 and len(second.queries) == 1


# -- errors, each its own ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("rcode", "error"), [(3, NXDOMAIN_ERROR), (2, SERVFAIL_ERROR), (5, REFUSED_ERROR)])
def test_rcodes_are_distinct_results(net: Net, rcode: int, error: str) -> None:
    for index in (0, 1):
        net.serve(index, lambda query: reply(query, rcode=rcode))
    lookup = net.resolve("nosuch.lan")
    assert lookup.address is None and lookup.error == error and lookup.rcode == rcode


def test_nxdomain_is_final_but_servfail_asks_the_next_server(net: Net) -> None:
    first = net.serve(0, lambda query: reply(query, rcode=2))
    second = net.serve(1, answers_a())
    assert net.resolve("peer.lan").address == PEER
    assert len(first.queries) == 1 and len(second.queries) == 1


def test_no_address_is_nodata(net: Net) -> None:
    net.serve(0, lambda query: reply(query, flags=QR | AA | RA))
    lookup = net.resolve("peer.lan")
    assert lookup.address is None and lookup.error is not None and "no A record" in lookup.error


def test_silent_nameservers_time_out_after_retries_to_each(net: Net) -> None:
    first = net.serve(0, lambda query: None)
    second = net.serve(1, lambda query: None)
    lookup = net.resolve("peer.lan")
    assert lookup.error == TIMED_OUT
    assert len(first.queries) >= 2 and len(second.queries) >= 1  # in turn: first, second, first...
    assert len({q[:2] for q in first.queries + second.queries}) == len(first.queries + second.queries)


def test_second_nameserver_answers_when_the_first_is_silent(net: Net) -> None:
    first = net.serve(0, lambda query: None)
    second = net.serve(1, answers_a())
    assert net.resolve("peer.lan").address == PEER
    assert len(first.queries) == 1 and len(second.queries) == 1


def test_port_unreachable_moves_to_the_next_nameserver_at_once(net: Net) -> None:
    """Nothing listens on the first server's port 53: its ICMP port unreachable (RFC 1122 4.1.3.1) passes
    it over without waiting for the retry timer."""
    second = net.serve(1, answers_a())
    lookup = net.resolve("peer.lan")
    assert lookup.address == PEER and len(second.queries) == 1
    assert any(e.transport == "icmp" for e in lookup.exchanges)
    assert not any(e.note == "no answer yet" for e in lookup.exchanges)  # no retry timer was needed


def test_no_nameserver(net: Net) -> None:
    net.client.dns.nameservers = []
    lookup = net.resolve("peer.lan")
    assert lookup.error is not None and "NAMESERVER" in lookup.error


def test_name_that_cannot_be_asked_for(net: Net) -> None:
    lookup = net.resolve("a..b")
    assert lookup.error is not None and lookup.error.startswith("not a host name")


# -- the cache -------------------------------------------------------------------------------------------


def test_answer_cached_for_its_ttl(net: Net) -> None:
    server = net.serve(0, answers_a(ttl=10))
    assert net.resolve("peer.lan").address == PEER
    again = net.resolve("peer.lan")
    assert again.address == PEER and again.from_cache and len(server.queries) == 1
    run_until([net.client, *net.servers], lambda: False, 11)  # past the TTL, on the virtual clock
    later = net.resolve("peer.lan")
    assert later.address == PEER and not later.from_cache and len(server.queries) == 2


def test_ttl_zero_is_not_cached(net: Net) -> None:
    server = net.serve(0, answers_a(ttl=0))
    net.resolve("peer.lan")
    assert not net.resolve("peer.lan").from_cache and len(server.queries) == 2


# -- TC and TCP ----------------------------------------------------------------------------------------------


def test_truncated_reply_is_asked_again_over_tcp(net: Net) -> None:
    many = [a_record(ip_from_str(f"10.9.1.{i}")) for i in range(1, 61)]
    server = net.serve(0, lambda query: reply(query, many[:20], flags=QR | TC | RA))
    server.serve_tcp(lambda query: reply(query, many))
    lookup = net.resolve("big.lan")
    assert lookup.error is None and len(lookup.addresses) == 60
    assert len(server.queries) == 1 and len(server.tcp_queries) == 1
    assert question_name(server.tcp_queries[0]) == "big.lan"


def test_tcp_refused_after_tc_is_passed_over_for_the_next_server(net: Net) -> None:
    net.serve(0, lambda query: reply(query, flags=QR | TC | RA))  # and no TCP listener: a reset
    second = net.serve(1, answers_a())
    assert net.resolve("peer.lan").address == PEER and len(second.queries) == 1


# -- replies that are not ours ------------------------------------------------------------------------------


def test_wrong_identifier_and_wrong_question_are_ignored(net: Net) -> None:
    def answer(query: bytes) -> bytes:
        wrong_id = bytearray(reply(query, [a_record(ip_from_str("6.6.6.6"))]))
        wrong_id[0] ^= 0xFF
        wrong_question = HEADER.pack(*struct.unpack_from("!H", query), QR | RA, 1, 1, 0, 0) + \
            name(b"evil", b"lan") + b"\0\1\0\1" + a_record(ip_from_str("6.6.6.7"))
        net.servers[0].udp.send(53, ip_from_str(CLIENT), lookup_port[0], bytes(wrong_id), net.clock.now())
        net.servers[0].udp.send(53, ip_from_str(CLIENT), lookup_port[0], wrong_question, net.clock.now())
        return reply(query, [a_record()])

    lookup_port: list[int] = []
    net.serve(0, answer)
    lookup = net.client.dns.start("peer.lan", net.clock.now())
    lookup_port.append(lookup.port)
    net.wait(lambda: lookup.done)
    assert lookup.address == PEER
    assert net.client.dns.counters.ignored == 2


def test_each_query_comes_from_a_random_ephemeral_port(net: Net) -> None:
    """RFC 5452 9.2: the source port is random too, not the UDP layer's next one, so that a spoofer must
    guess it as well as the identifier."""
    lookups = [net.client.dns.start(f"host{i}.lan", net.clock.now()) for i in range(6)]
    ports = [lookup.port for lookup in lookups]
    assert all(49_152 <= port <= 65_535 for port in ports) and len(set(ports)) == len(ports)
    assert ports != list(range(ports[0], ports[0] + len(ports)))  # not handed out in order


@settings(max_examples=1500, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_from_the_nameserver_only_move_counters(data: bytes) -> None:
    clock = VirtualClock()
    hub = f"dnsfuzz{next(_hubs)}"
    client = Stack(open_link(f"hub:{hub}?mac=02:00:00:00:09:01", clock),
                   StackConfig(ip_from_str(CLIENT), nameservers=(ip_from_str(SERVER1),)), clock).init_stack()
    try:
        lookup = client.dns.start("peer.lan", clock.now())
        receiver = client.udp.ports[lookup.port].receiver
        before = client.dns.counters.malformed + client.dns.counters.ignored + client.dns.counters.responses
        receiver(UdpEndpoints(ip_from_str(SERVER1), 53, ip_from_str(CLIENT), lookup.port), memoryview(data),
                 clock.now())
        after = client.dns.counters.malformed + client.dns.counters.ignored + client.dns.counters.responses
        assert after == before + 1
        assert client.udp.counters.receiver_errors == 0 and client.internal_errors == 0
    finally:
        client.end_stack()


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200), st.booleans())
def test_arbitrary_bytes_over_tcp_after_tc_end_the_lookup_cleanly(data: bytes, framed: bool) -> None:
    """The TCP reply is junk (behind a right length prefix, or raw): the lookup still ends, with an error
    or, when the junk happens to be a reply, with it; nothing raises out of the stack."""
    clock = VirtualClock()
    hub = f"dnstcpfuzz{next(_hubs)}"
    client = Stack(open_link(f"hub:{hub}?mac=02:00:00:00:09:01", clock),
                   StackConfig(ip_from_str(CLIENT), nameservers=(ip_from_str(SERVER1),),
                               dns=ResolverConfig(timeout_ticks=round(5 / TICK_SECONDS))), clock).init_stack()
    server_stack = Stack(open_link(f"hub:{hub}?mac=02:00:00:00:09:02", clock), StackConfig(ip_from_str(SERVER1)),
                         clock).init_stack()
    try:
        net = Net(clock, client, [server_stack])
        server = net.serve(0, lambda query: reply(query, flags=QR | TC | RA))
        if framed:
            server.serve_tcp(lambda query: data)
        else:
            server.serve_tcp(lambda query: None)
            server.tcp_answer = None
            server.step = lambda: _raw_tcp(server, data)  # type: ignore[method-assign]
        lookup = net.resolve("peer.lan")
        assert lookup.done
        assert client.internal_errors == 0 and client.udp.counters.receiver_errors == 0
    finally:
        client.end_stack()
        server_stack.end_stack()


def _raw_tcp(server: Nameserver, data: bytes) -> None:
    """Answer every TCP connection with `data` as it is, then close."""
    assert server.listener is not None
    while (sock := server.listener.accept()) is not None:
        sock.send(data)
        sock.close()


def test_referral_without_glue_looks_up_the_nameserver_first(net: Net) -> None:
    """The referral names ns.other.net and gives no address for it: its address is asked of our own
    nameserver first, then the question goes to it (mTCP's DNS does the same)."""
    def first_answer(query: bytes) -> bytes:
        if question_name(query) == "ns.other.net":
            return reply(query, [a_record(ip_from_str(SERVER2))], flags=QR | AA)
        return reply(query, [], flags=QR, authority=[record(pointer(12 + 5), 2, name(b"ns", b"other", b"net"))])

    first = net.serve(0, first_answer)
    second = net.serve(1, answers_a())
    lookup = net.resolve("peer.lan", recurse=False)
    assert lookup.address == PEER and lookup.cname_chain == []
    assert [question_name(q) for q in first.queries] == ["peer.lan", "ns.other.net"]
    assert [question_name(q) for q in second.queries] == ["peer.lan"]


def test_referrals_are_bounded(net: Net) -> None:
    def refer_to_myself(query: bytes) -> bytes:
        ns = record(pointer(12 + 5), 2, name(b"ns", b"lan"))
        return reply(query, [], flags=QR, authority=[ns], additional=[a_record(ip_from_str(SERVER1),
                                                                                owner=name(b"ns", b"lan"))])

    server = net.serve(0, refer_to_myself)
    lookup = net.resolve("peer.lan", recurse=False)
    assert lookup.error is not None and "referrals" in lookup.error
    assert len(server.queries) == ResolverConfig().max_referrals + 1
