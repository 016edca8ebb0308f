"""The DHCP client on a stack with no address, against the scripted server on a hub, on a virtual clock.

What the client must send, and when, is RFC 2131's (table 5 for the fields and options, 4.1 for the
retransmission delays, 3.1 for NAK); what the lease must hold is what the server sent.
"""

from __future__ import annotations

import itertools
import random
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mtcp_py.dhcp import INFINITE, DhcpClient, FailureKind, Lease
from mtcp_py.stack import Stack, StackConfig
from pktdrv import VirtualClock, open_link
from pktdrv.clock import TICK_SECONDS

from .test_dhcp_peer import (
    ACK,
    DISCOVER,
    DNS,
    DOMAIN,
    LEASE_SECONDS,
    NAK,
    NETMASK,
    OFFER,
    OFFERED,
    REQUEST,
    ROUTER,
    SERVER_IP,
    ClientMessage,
    ScriptedServer,
    addr,
    bootp_reply,
    option,
    run_with,
    standard_options,
)

CLIENT_MAC = bytes.fromhex("020000000001")
_names = itertools.count()


@dataclass
class DhcpLab:
    stack: Stack
    server: ScriptedServer
    clock: VirtualClock

    def run(self, **options: object) -> DhcpClient:
        client = DhcpClient(self.stack.udp, self.stack.mac, rng=random.Random(7), **options)  # type: ignore[arg-type]
        self.stack.add_layer(client)
        client.start(self.clock.now())
        assert run_with(self.stack, self.server, lambda: client.done)
        return client


@pytest.fixture
def lab() -> Iterator[DhcpLab]:
    clock = VirtualClock()
    name = f"dhcp-unit{next(_names)}"
    server = ScriptedServer(name, clock)
    stack = Stack(open_link(f"hub:{name}?mac={CLIENT_MAC.hex(':')}", clock),
                  StackConfig(0, no_address=True, tcp_enabled=False, announce=False), clock).init_stack()
    yield DhcpLab(stack, server, clock)
    stack.end_stack()
    server.close()


def seconds_between(first: ClientMessage, second: ClientMessage) -> float:
    return (second.at - first.at) * TICK_SECONDS


# -- the conversation --------------------------------------------------------------------------------------


def test_discover_offer_request_ack_gives_the_servers_lease(lab: DhcpLab) -> None:
    client = lab.run(hostname="retro")
    assert client.result == Lease(address=OFFERED, netmask=NETMASK, routers=(ROUTER,), nameservers=DNS,
                                  lease_seconds=LEASE_SECONDS, server=SERVER_IP, domain_name=DOMAIN.decode())
    assert lab.server.kinds() == [DISCOVER, REQUEST]
    assert (client.counters.replies_unicast, client.counters.replies_broadcast) == (2, 0)


def test_discover_as_rfc_2131_table_5_says(lab: DhcpLab) -> None:
    lab.run(hostname="retro")
    discover = lab.server.seen[0]
    assert discover.eth_dst == b"\xff" * 6 and discover.eth_src == CLIENT_MAC
    assert (discover.ip_src, discover.ip_dst) == (0, 0xFFFFFFFF)  # from 0.0.0.0 to the limited broadcast
    assert (discover.src_port, discover.dst_port) == (68, 67)
    assert (discover.op, discover.htype, discover.hlen) == (1, 1, 6)
    assert discover.ciaddr == 0 and discover.yiaddr == 0
    assert discover.chaddr == CLIENT_MAC
    assert discover.cookie == bytes((99, 130, 83, 99))
    assert discover.length >= 300  # BOOTP's minimum, which some relay agents enforce (RFC 1542 2.1)
    assert discover.options[53] == bytes((DISCOVER,))
    assert 50 not in discover.options and 54 not in discover.options  # MUST NOT in a DISCOVER
    assert discover.options[12] == b"retro"  # our HOSTNAME
    assert {1, 3, 6, 15, 51} <= set(discover.options[55])  # mask, router, DNS, domain, lease asked for


def test_request_names_the_offer_and_the_server(lab: DhcpLab) -> None:
    lab.run(hostname="retro")
    discover, request = lab.server.seen
    assert request.xid == discover.xid  # the same transaction (RFC 2131 4.4.1)
    assert (request.ip_src, request.ip_dst) == (0, 0xFFFFFFFF)
    assert request.ciaddr == 0  # MUST be zero in SELECTING
    assert request.options[53] == bytes((REQUEST,))
    assert request.options[50] == addr(OFFERED)  # requested IP address: MUST
    assert request.options[54] == addr(SERVER_IP)  # server identifier: MUST
    assert request.options[12] == b"retro"


def test_no_hostname_option_without_a_hostname(lab: DhcpLab) -> None:
    lab.run()
    assert all(12 not in m.options for m in lab.server.seen)  # RFC 2132 3.14: at least one octet


def test_replies_broadcast_to_us_are_taken(lab: DhcpLab) -> None:
    lab.server.broadcast = True
    client = lab.run()
    assert isinstance(client.result, Lease)
    assert (client.counters.replies_unicast, client.counters.replies_broadcast) == (0, 2)


def test_broadcast_flag_asks_for_broadcast_replies(lab: DhcpLab) -> None:
    client = lab.run(broadcast_flag=True)
    assert isinstance(client.result, Lease)
    assert all(m.flags == 0x8000 for m in lab.server.seen)  # the B bit, the rest zero (RFC 2131 2)


def test_secs_counts_from_the_first_discover(lab: DhcpLab) -> None:
    first: list[int] = []

    def late_offer(message: ClientMessage) -> list[bytes]:
        first.append(message.at)
        return lab.server.offer(message) if len(first) == 2 else []

    lab.server.on_discover = late_offer
    lab.run()
    assert lab.server.seen[0].secs == 0
    request = lab.server.seen[-1]
    assert request.secs == int((request.at - lab.server.seen[0].at) * TICK_SECONDS)


# -- retransmission and attempts ---------------------------------------------------------------------------


def test_silence_is_no_offer_after_every_attempt(lab: DhcpLab) -> None:
    lab.server.on_discover = lambda message: []
    client = lab.run(attempts=2, attempt_seconds=10)
    assert client.result is not None and not isinstance(client.result, Lease)
    assert client.result.kind is FailureKind.NO_OFFER
    xids = [m.xid for m in lab.server.seen]
    assert len(set(xids)) == 2  # a new transaction for each attempt
    first_attempt = [m for m in lab.server.seen if m.xid == xids[0]]
    # RFC 2131 4.1: the first retransmission after 4 s, randomized by up to 1 s either way; the next would
    # come 8 s later, past the 10 s attempt.
    assert len(first_attempt) == 2
    assert 3 <= seconds_between(first_attempt[0], first_attempt[1]) <= 5 + TICK_SECONDS


def test_retransmissions_back_off_by_doubling(lab: DhcpLab) -> None:
    lab.server.on_discover = lambda message: []
    lab.run(attempts=1, attempt_seconds=60)
    gaps = [seconds_between(a, b) for a, b in itertools.pairwise(lab.server.seen)]
    assert len(gaps) >= 3
    for index, gap in enumerate(gaps[:3]):
        base = 4 * 2**index
        assert base - 1 <= gap <= base + 1 + TICK_SECONDS, gaps


def test_lost_request_is_sent_again(lab: DhcpLab) -> None:
    answered: list[ClientMessage] = []

    def second_time(message: ClientMessage) -> list[bytes]:
        answered.append(message)
        return lab.server.ack(message) if len(answered) == 2 else []

    lab.server.on_request = second_time
    client = lab.run()
    assert isinstance(client.result, Lease)
    assert lab.server.kinds() == [DISCOVER, REQUEST, REQUEST]
    assert 3 <= seconds_between(answered[0], answered[1]) <= 5 + TICK_SECONDS


def test_offer_and_no_ack_is_a_timeout(lab: DhcpLab) -> None:
    lab.server.on_request = lambda message: []
    client = lab.run(attempts=2, attempt_seconds=5)
    assert client.result is not None and not isinstance(client.result, Lease)
    assert client.result.kind is FailureKind.TIMEOUT
    assert "10.9.0.50" in str(client.result)


# -- NAK ---------------------------------------------------------------------------------------------------


def nak(message: ClientMessage, text: bytes = b"address not available") -> list[bytes]:
    return [bootp_reply(message.xid, message.chaddr, 0, [option(53, bytes((NAK,))), option(54, addr(SERVER_IP)),
                                                         option(56, text)], siaddr=0)]


def test_nak_every_time_fails_with_nak(lab: DhcpLab) -> None:
    lab.server.on_request = nak
    client = lab.run(attempts=3)
    assert client.result is not None and not isinstance(client.result, Lease)
    assert client.result.kind is FailureKind.NAK
    assert "address not available" in str(client.result)
    # RFC 2131 3.1 step 5: after a NAK the client starts again from DISCOVER, once per attempt.
    assert lab.server.kinds() == [DISCOVER, REQUEST] * 3
    assert client.counters.naks == 3


def test_nak_then_a_fresh_discover_gets_the_lease(lab: DhcpLab) -> None:
    calls: list[int] = []

    def nak_once(message: ClientMessage) -> list[bytes]:
        calls.append(1)
        return nak(message) if len(calls) == 1 else lab.server.ack(message)

    lab.server.on_request = nak_once
    client = lab.run()
    assert isinstance(client.result, Lease)
    discovers = [m for m in lab.server.seen if m.kind == DISCOVER]
    assert len(discovers) == 2 and discovers[0].xid != discovers[1].xid


def test_nak_from_another_server_is_ignored(lab: DhcpLab) -> None:
    def two_answers(message: ClientMessage) -> list[bytes]:
        other = [bootp_reply(message.xid, message.chaddr, 0, [option(53, bytes((NAK,))),
                                                              option(54, addr(0x0A090002))])]
        return other + lab.server.ack(message)

    lab.server.on_request = two_answers
    client = lab.run()
    assert isinstance(client.result, Lease)
    assert client.counters.naks == 0


# -- offers refused ----------------------------------------------------------------------------------------


def test_offer_without_an_address_is_refused(lab: DhcpLab) -> None:
    lab.server.on_discover = lambda m: [bootp_reply(m.xid, m.chaddr, 0, standard_options(OFFER))]
    client = lab.run(attempts=2, attempt_seconds=5)
    assert client.result is not None and not isinstance(client.result, Lease)
    assert client.result.kind is FailureKind.REJECTED
    assert "no address" in str(client.result)
    assert REQUEST not in lab.server.kinds()


@pytest.mark.parametrize("yiaddr", [0xFFFFFFFF, 0x7F000001, 0xE0000001, 0x0A0900FF, 0x0A090000, 0x00000005])
def test_offer_of_no_host_address_is_refused(lab: DhcpLab, yiaddr: int) -> None:
    lab.server.on_discover = lambda m: [bootp_reply(m.xid, m.chaddr, yiaddr, standard_options(OFFER))]
    client = lab.run(attempts=1, attempt_seconds=5)
    assert client.result is not None and not isinstance(client.result, Lease)
    assert client.result.kind is FailureKind.REJECTED
    assert REQUEST not in lab.server.kinds()


def test_offer_without_server_identifier_is_refused(lab: DhcpLab) -> None:
    options = [o for o in standard_options(OFFER) if o[0] != 54]
    lab.server.on_discover = lambda m: [bootp_reply(m.xid, m.chaddr, OFFERED, options)]
    client = lab.run(attempts=1, attempt_seconds=5)
    assert client.result is not None and not isinstance(client.result, Lease)
    assert "no server identifier" in str(client.result)


def test_bad_offer_then_good_offer_takes_the_good_one(lab: DhcpLab) -> None:
    lab.server.on_discover = lambda m: [bootp_reply(m.xid, m.chaddr, 0, standard_options(OFFER)),
                                        *lab.server.offer(m)]
    client = lab.run()
    assert isinstance(client.result, Lease) and client.result.address == OFFERED
    assert client.counters.offers_rejected == 1


def test_replies_for_others_are_ignored(lab: DhcpLab) -> None:
    def crowd(m: ClientMessage) -> list[bytes]:
        return [
            bootp_reply(m.xid ^ 1, m.chaddr, 0x0A090063, standard_options(OFFER)),  # another transaction
            bootp_reply(m.xid, bytes.fromhex("020000000099"), 0x0A090063, standard_options(OFFER)),  # another MAC
            bootp_reply(m.xid, m.chaddr, 0x0A090063, standard_options(OFFER), op=1),  # a request, not a reply
            bootp_reply(m.xid, m.chaddr, 0x0A090063, standard_options(ACK)),  # an ACK to nothing asked
            bootp_reply(m.xid, m.chaddr, 0x0A090063, standard_options(OFFER), cookie=b"\x00" * 4),  # BOOTP only
            *lab.server.offer(m),
        ]

    lab.server.on_discover = crowd
    client = lab.run()
    assert isinstance(client.result, Lease) and client.result.address == OFFERED
    assert client.counters.not_ours == 3
    assert client.counters.unexpected == 1
    assert client.counters.malformed["dhcp_bad_cookie"] == 1


def test_ack_without_an_address_is_not_taken(lab: DhcpLab) -> None:
    lab.server.on_request = lambda m: [bootp_reply(m.xid, m.chaddr, 0, standard_options(ACK))]
    client = lab.run(attempts=1, attempt_seconds=5)
    assert client.result is not None and not isinstance(client.result, Lease)
    assert client.result.kind is FailureKind.TIMEOUT
    assert client.counters.acks_rejected >= 1


# -- what the lease holds ----------------------------------------------------------------------------------


def test_options_in_the_ack_win_and_missing_ones_come_from_the_offer(lab: DhcpLab) -> None:
    lab.server.on_request = lambda m: [bootp_reply(m.xid, m.chaddr, OFFERED, [
        option(53, bytes((ACK,))), option(54, addr(SERVER_IP)), option(3, addr(0x0A090001, 0x0A090002)),
        option(51, struct.pack("!I", INFINITE)), option(12, b"given")])]
    client = lab.run()
    lease = client.result
    assert isinstance(lease, Lease)
    assert lease.routers == (0x0A090001, 0x0A090002) and lease.gateway == 0x0A090001  # the first is preferred
    assert lease.nameservers == DNS and lease.netmask == NETMASK  # from the offer
    assert lease.lease_seconds == INFINITE
    assert lease.host_name == "given"


def test_overloaded_file_and_sname_fields_are_read(lab: DhcpLab) -> None:
    # RFC 2131 4.1 / RFC 2132 9.3: option 52 = 3 puts more options in `file`, then `sname`.
    def overloaded(m: ClientMessage) -> list[bytes]:
        main = [option(53, bytes((ACK,))), option(54, addr(SERVER_IP)), option(52, b"\x03")]
        file = option(3, addr(ROUTER)) + b"\xff"
        sname = option(6, addr(*DNS)) + option(1, addr(NETMASK)) + b"\xff"
        return [bootp_reply(m.xid, m.chaddr, OFFERED, main, file=file, sname=sname)]

    lab.server.on_request = overloaded
    lab.server.on_discover = lambda m: [bootp_reply(m.xid, m.chaddr, OFFERED, [option(53, bytes((OFFER,))),
                                                                              option(54, addr(SERVER_IP))])]
    lease = lab.run().result
    assert isinstance(lease, Lease)
    assert (lease.gateway, lease.nameservers, lease.netmask) == (ROUTER, DNS, NETMASK)


def test_no_netmask_anywhere_takes_the_address_class(lab: DhcpLab) -> None:
    bare = [option(53, bytes((OFFER,))), option(54, addr(SERVER_IP))]
    lab.server.on_discover = lambda m: [bootp_reply(m.xid, m.chaddr, OFFERED, bare)]
    lab.server.on_request = lambda m: [bootp_reply(m.xid, m.chaddr, OFFERED, [option(53, bytes((ACK,))),
                                                                             option(54, addr(SERVER_IP))])]
    lease = lab.run().result
    assert isinstance(lease, Lease)
    assert lease.netmask == 0xFF000000 and not lease.netmask_given  # 10/8 is class A
    assert lease.lease_seconds is None and lease.routers == () and lease.nameserver == 0


def test_client_leaves_port_68_when_the_stack_ends(lab: DhcpLab) -> None:
    lab.run()
    assert 68 in lab.stack.udp.ports
    lab.stack.end_stack()
    assert 68 not in lab.stack.udp.ports


# -- fuzz: whatever the server says, the conversation ends, and only with a usable lease -------------------

REPLY_KINDS = st.sampled_from([OFFER, ACK, NAK, 4, 7, 99])
reply_specs = st.lists(st.tuples(REPLY_KINDS, st.sampled_from([0, OFFERED, 0x0A090033, 0xFFFFFFFF, 0x7F000001]),
                                 st.booleans(), st.booleans(), st.binary(max_size=12)), max_size=4)


def new_lab() -> DhcpLab:
    clock = VirtualClock()
    name = f"dhcp-fuzz{next(_names)}"
    server = ScriptedServer(name, clock)
    stack = Stack(open_link(f"hub:{name}?mac={CLIENT_MAC.hex(':')}", clock),
                  StackConfig(0, no_address=True, tcp_enabled=False, announce=False), clock).init_stack()
    return DhcpLab(stack, server, clock)


@settings(max_examples=60, deadline=None)
@given(reply_specs, reply_specs, st.lists(st.binary(max_size=400), max_size=3))
def test_any_server_the_client_ends_with_a_usable_lease_or_a_reason(
        to_discover: list[tuple[int, int, bool, bool, bytes]], to_request: list[tuple[int, int, bool, bool, bytes]],
        junk: list[bytes]) -> None:
    def script(specs: list[tuple[int, int, bool, bool, bytes]]) -> Callable[[ClientMessage], list[bytes]]:
        def answer(m: ClientMessage) -> list[bytes]:
            replies = list(junk)
            for kind, yiaddr, with_server, right_xid, extra in specs:
                options = [option(53, bytes((kind,)))] + ([option(54, addr(SERVER_IP))] if with_server else [])
                replies.append(bootp_reply(m.xid if right_xid else m.xid ^ 0xFF, m.chaddr, yiaddr,
                                           options + [option(200, extra)]))
            return replies
        return answer

    lab = new_lab()
    lab.server.on_discover = script(to_discover)
    lab.server.on_request = script(to_request)
    try:
        client = lab.run(attempts=2, attempt_seconds=5)
    finally:
        lab.stack.end_stack()
        lab.server.close()
    if isinstance(client.result, Lease):
        assert client.result.address in (OFFERED, 0x0A090033)
        assert client.result.server == SERVER_IP
    else:
        assert client.result is not None and str(client.result)
    for request in (m for m in lab.server.seen if m.kind == REQUEST):
        assert request.options[50] in (addr(OFFERED), addr(0x0A090033))  # never an address refused
