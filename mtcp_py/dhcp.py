"""The DHCP client (RFC 2131 section 4.4, from INIT to BOUND): DISCOVER, take the first usable OFFER,
REQUEST it, and stop at the ACK with a `Lease`, or with a `DhcpFailure` that says why.

As mTCP's DHCP does, the conversation gets `attempts` tries of `attempt_seconds` each; every try starts
afresh with a new transaction ID and a DISCOVER. Inside a try the message waiting for an answer (DISCOVER,
then REQUEST) is sent again after 4 seconds, then 8, 16... each randomized by up to a second either way
(RFC 2131 4.1). A NAK ends the try at once and the next one starts from DISCOVER (RFC 2131 3.1 step 5:
"the client restarts the configuration process"). An offer that gives no usable address, or names no
server to request it from, is refused and the client keeps waiting for another.

The client is a layer the stack's poll loop drives (`drive(now)`, `next_deadline()`, `close(now)`); it
sends through the stack's UDP from port 68 to 255.255.255.255, port 67, while the stack has no address
(source 0.0.0.0, replies accepted whether unicast to the offered address at our MAC or broadcast). It
never reads a clock or waits: `now` is given in ticks.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from pktdrv.clock import TICK_SECONDS, ms_to_ticks

from .udp import UdpEndpoints, UdpLayer
from .wire import WireError, dhcp, ip_to_str
from .wire.dhcp import DhcpMessage, MessageType, Option

LIMITED_BROADCAST = 0xFFFFFFFF
FIRST_RETRANSMIT_SECONDS = 4
LAST_RETRANSMIT_SECONDS = 64
PARAMETERS_WANTED = bytes((Option.SUBNET_MASK, Option.ROUTER, Option.DOMAIN_NAME_SERVER, Option.HOST_NAME,
                           Option.DOMAIN_NAME, Option.LEASE_TIME))
"""Option 55: what we ask the server for (RFC 2132 9.8)."""
MAX_HOSTNAME = 63
"""RFC 1123 2.1's label; option 12 could carry 255 octets, but a name longer than this is no host name."""
INFINITE = 0xFFFFFFFF
"""A lease time that never ends (RFC 2132 9.2)."""


@dataclass(frozen=True)
class Lease:
    """What the server's ACK gave us (options missing from the ACK taken from its OFFER)."""

    address: int
    netmask: int
    routers: tuple[int, ...]
    nameservers: tuple[int, ...]
    lease_seconds: int | None
    """Seconds, INFINITE for a lease without end, None when the server said nothing."""
    server: int
    host_name: str | None = None
    domain_name: str | None = None
    netmask_given: bool = True
    """False when the server sent no subnet mask and the address's class gave it (RFC 1122 3.3.1.1 era)."""

    @property
    def gateway(self) -> int:
        return self.routers[0] if self.routers else 0

    @property
    def nameserver(self) -> int:
        return self.nameservers[0] if self.nameservers else 0


class FailureKind(Enum):
    NO_OFFER = "no offer"
    """No server offered anything, in any attempt."""
    REJECTED = "no usable offer"
    """Offers came, and every one was refused (no address, no server identifier)."""
    NAK = "NAK"
    """The server refused our REQUEST (DHCPNAK) in the last attempt."""
    TIMEOUT = "timeout"
    """An offer was requested and no ACK came before the attempt ran out."""


@dataclass(frozen=True)
class DhcpFailure:
    kind: FailureKind
    detail: str

    def __str__(self) -> str:
        return f"{self.kind.value}: {self.detail}"


class State(Enum):
    INIT = "init"
    SELECTING = "selecting"
    REQUESTING = "requesting"
    BOUND = "bound"
    FAILED = "failed"


@dataclass
class DhcpCounters:
    attempts: int = 0
    discovers_sent: int = 0
    requests_sent: int = 0
    send_failed: int = 0
    offers: int = 0
    offers_rejected: int = 0
    acks: int = 0
    acks_rejected: int = 0
    naks: int = 0
    not_ours: int = 0
    """Replies for another client or another transaction (wrong op, chaddr or xid), or from a port not 67."""
    replies_unicast: int = 0
    """Replies for us sent to the offered address at our MAC (what servers do unless the broadcast bit is set)."""
    replies_broadcast: int = 0
    """Replies for us sent to a broadcast address."""
    unexpected: int = 0
    """Ours, but not what the state waits for (an OFFER while requesting, an ACK while selecting...)."""
    malformed: Counter[str] = field(default_factory=Counter)
    """Messages WireError refused, by reason."""
    rejected: Counter[str] = field(default_factory=Counter)
    """Offers refused, by why."""


def classful_netmask(address: int) -> int:
    """The mask of the address's class, for a server that sends none."""
    top = address >> 24
    return 0xFF000000 if top < 128 else 0xFFFF0000 if top < 192 else 0xFFFFFF00


def address_problem(address: int, netmask: int | None) -> str | None:
    """Why `address` cannot be a host's own address (RFC 1122 3.2.1.3), or None when it can."""
    if address == 0:
        return "no address"
    top = address >> 24
    if top == 0 or top == 127 or top >= 224:
        return f"{ip_to_str(address)} is not a host address"
    if netmask is not None and netmask != 0xFFFFFFFF:
        host = address & ~netmask & 0xFFFFFFFF
        if host in (0, ~netmask & 0xFFFFFFFF):
            return f"{ip_to_str(address)} is its network's own or broadcast address"
    return None


class DhcpClient:
    def __init__(self, udp: UdpLayer, mac: bytes, *, hostname: str = "", attempts: int = 3,
                 attempt_seconds: float = 10, broadcast_flag: bool = False, rng: random.Random | None = None,
                 report: Callable[[str], None] | None = None) -> None:
        if attempts < 1:
            raise ValueError("at least one attempt")
        if not (hostname.isascii() and len(hostname) <= MAX_HOSTNAME):
            raise ValueError(f"{hostname!r}: a host name is at most {MAX_HOSTNAME} ASCII characters")
        self.udp = udp
        self.mac = bytes(mac)
        self.hostname = hostname
        self.attempts = attempts
        self.attempt_seconds = attempt_seconds
        self.attempt_ticks = max(1, ms_to_ticks(attempt_seconds * 1000))
        self.broadcast_flag = broadcast_flag
        self.rng = rng or random.Random()
        self.report = report or (lambda text: None)
        self.counters = DhcpCounters()
        self.state = State.INIT
        self.result: Lease | DhcpFailure | None = None
        self.xid = 0
        self.attempt = 0
        self.offer: DhcpMessage | None = None
        self.server = 0
        self._started_at = 0
        self._attempt_end = 0
        self._resend_at = 0
        self._backoff = FIRST_RETRANSMIT_SECONDS
        self._attempt_outcome: FailureKind = FailureKind.NO_OFFER
        self._requested = 0
        self._requested_from = 0
        self._nak_detail = ""
        udp.register(dhcp.CLIENT_PORT, self.on_datagram)

    @property
    def done(self) -> bool:
        return self.result is not None

    @property
    def lease(self) -> Lease | None:
        return self.result if isinstance(self.result, Lease) else None

    # -- the conversation ----------------------------------------------------------------------------------

    def start(self, now: int) -> None:
        if self.state is not State.INIT:
            raise RuntimeError("the client was started already")
        self._started_at = now
        self._next_attempt(now)

    def _next_attempt(self, now: int) -> None:
        if self.attempt >= self.attempts:
            self._fail()
            return
        self.attempt += 1
        self.counters.attempts += 1
        self.xid = self.rng.getrandbits(32)
        self.offer = None
        self.server = 0
        self.state = State.SELECTING
        self._attempt_end = now + self.attempt_ticks
        self._attempt_outcome = FailureKind.NO_OFFER
        self._backoff = FIRST_RETRANSMIT_SECONDS
        self._send(now)

    def _fail(self) -> None:
        kind = self._attempt_outcome
        tries = f"{self.attempts} attempt{'s' if self.attempts > 1 else ''} of {self.attempt_seconds:g} s"
        if kind is FailureKind.NO_OFFER:
            detail = f"no DHCP server answered in {tries}"
            if self.counters.offers_rejected:
                detail += f" (and {self.counters.offers_rejected} offer(s) refused before)"
        elif kind is FailureKind.REJECTED:
            reasons = ", ".join(f"{why} ({count})" for why, count in self.counters.rejected.items())
            detail = f"{self.counters.offers_rejected} offer(s) refused in {tries}: {reasons}"
        elif kind is FailureKind.NAK:
            detail = self._nak_detail
        else:
            detail = f"{ip_to_str(self._requested)} was offered by {ip_to_str(self._requested_from)} and " \
                     f"requested, but no ACK came in {tries}"
        self.state = State.FAILED
        self.result = DhcpFailure(kind, detail)

    def _message(self, kind: MessageType, now: int) -> DhcpMessage:
        options: dict[int, bytes] = {Option.MESSAGE_TYPE: bytes((kind,))}
        if kind is MessageType.REQUEST and self.offer is not None:
            # RFC 2131 4.3.2 and table 5: in SELECTING the REQUEST names the address and the chosen server.
            options[Option.REQUESTED_ADDRESS] = dhcp.address_bytes(self.offer.yiaddr)
            options[Option.SERVER_ID] = dhcp.address_bytes(self.server)
        if self.hostname:
            options[Option.HOST_NAME] = self.hostname.encode("ascii")
        options[Option.PARAMETER_LIST] = PARAMETERS_WANTED
        seconds = min(0xFFFF, int((now - self._started_at) * TICK_SECONDS))
        return DhcpMessage(op=dhcp.OP_REQUEST, xid=self.xid, chaddr=self.mac, options=options, secs=seconds,
                           flags=dhcp.FLAG_BROADCAST if self.broadcast_flag else 0)

    def _send(self, now: int) -> None:
        kind = MessageType.DISCOVER if self.state is State.SELECTING else MessageType.REQUEST
        payload = dhcp.build(self._message(kind, now))
        status = self.udp.send(dhcp.CLIENT_PORT, LIMITED_BROADCAST, dhcp.SERVER_PORT, payload, now)
        if not status.ok:
            self.counters.send_failed += 1
        elif kind is MessageType.DISCOVER:
            self.counters.discovers_sent += 1
        else:
            self.counters.requests_sent += 1
        jitter = self.rng.uniform(-1.0, 1.0)
        self._resend_at = now + max(1, ms_to_ticks((self._backoff + jitter) * 1000))
        self._backoff = min(self._backoff * 2, LAST_RETRANSMIT_SECONDS)
        self.report(f"attempt {self.attempt} of {self.attempts}: {kind.name} sent"
                    + ("" if status.ok else f" (failed: {status.value})"))

    # -- replies -------------------------------------------------------------------------------------------

    def on_datagram(self, endpoints: UdpEndpoints, payload: memoryview, now: int) -> None:
        if self.state not in (State.SELECTING, State.REQUESTING):
            return
        if endpoints.src_port != dhcp.SERVER_PORT:
            self.counters.not_ours += 1
            return
        try:
            message = dhcp.parse(payload)
        except WireError as exc:
            self.counters.malformed[exc.reason] += 1
            return
        if (message.op != dhcp.OP_REPLY or message.htype != dhcp.HTYPE_ETHERNET or message.chaddr != self.mac
                or message.xid != self.xid):
            self.counters.not_ours += 1
            return
        if endpoints.broadcast:
            self.counters.replies_broadcast += 1
        else:
            self.counters.replies_unicast += 1
        kind = message.message_type
        if self.state is State.SELECTING and kind == MessageType.OFFER:
            self._on_offer(message, now)
        elif self.state is State.REQUESTING and kind in (MessageType.ACK, MessageType.NAK):
            server = message.address(Option.SERVER_ID)
            if server is not None and server != self.server:
                self.counters.not_ours += 1  # another server's answer to a REQUEST that named ours
            elif kind == MessageType.ACK:
                self._on_ack(message, now)
            else:
                self._on_nak(message, now)
        else:
            self.counters.unexpected += 1


    def _on_offer(self, offer: DhcpMessage, now: int) -> None:
        self.counters.offers += 1
        server = offer.address(Option.SERVER_ID)
        problem = address_problem(offer.yiaddr, offer.address(Option.SUBNET_MASK))
        if problem is None and server is None:
            problem = "no server identifier"  # RFC 2131 table 3: an OFFER MUST carry one; we must name it
        if problem is not None:
            self.counters.offers_rejected += 1
            self.counters.rejected[problem] += 1
            self._attempt_outcome = FailureKind.REJECTED
            self.report(f"offer refused: {problem}")
            return
        assert server is not None
        self.offer = offer
        self.server = server
        self._requested, self._requested_from = offer.yiaddr, server
        self.report(f"OFFER of {ip_to_str(offer.yiaddr)} from {ip_to_str(server)}")
        self.state = State.REQUESTING
        self._attempt_outcome = FailureKind.TIMEOUT
        self._backoff = FIRST_RETRANSMIT_SECONDS
        self._send(now)

    def _on_ack(self, ack: DhcpMessage, now: int) -> None:
        self.counters.acks += 1
        offer = self.offer
        assert offer is not None
        netmask = ack.address(Option.SUBNET_MASK) or offer.address(Option.SUBNET_MASK)
        problem = address_problem(ack.yiaddr, netmask)
        if problem is not None:
            self.counters.acks_rejected += 1
            self.report(f"ACK refused: {problem}")
            return
        self.state = State.BOUND
        self.result = Lease(
            address=ack.yiaddr,
            netmask=netmask or classful_netmask(ack.yiaddr),
            routers=ack.addresses(Option.ROUTER) or offer.addresses(Option.ROUTER),
            nameservers=ack.addresses(Option.DOMAIN_NAME_SERVER) or offer.addresses(Option.DOMAIN_NAME_SERVER),
            lease_seconds=_first_given(ack.seconds(Option.LEASE_TIME), offer.seconds(Option.LEASE_TIME)),
            server=self.server,
            host_name=ack.name(Option.HOST_NAME) or offer.name(Option.HOST_NAME),
            domain_name=ack.name(Option.DOMAIN_NAME) or offer.name(Option.DOMAIN_NAME),
            netmask_given=netmask is not None,
        )
        self.report(f"ACK: {ip_to_str(ack.yiaddr)} is ours")

    def _on_nak(self, nak: DhcpMessage, now: int) -> None:
        self.counters.naks += 1
        said = nak.server_message
        self._nak_detail = f"{ip_to_str(self.server)} refused {ip_to_str(self._requested)}" + \
            (f" ({said})" if said else "")
        self.report(f"NAK: {self._nak_detail}")
        self._attempt_outcome = FailureKind.NAK
        self._next_attempt(now)

    # -- the poll loop's hooks (a TimedLayer) --------------------------------------------------------------

    def drive(self, now: int) -> None:
        if self.state not in (State.SELECTING, State.REQUESTING):
            return
        if now >= self._attempt_end:
            waited = "no offer" if self.state is State.SELECTING else "no ACK"
            self.report(f"attempt {self.attempt} of {self.attempts}: {waited} in {self.attempt_seconds:g} s")
            self._next_attempt(now)
        elif now >= self._resend_at:
            self._send(now)

    def next_deadline(self) -> int | None:
        if self.state not in (State.SELECTING, State.REQUESTING):
            return None
        return min(self._attempt_end, self._resend_at)

    def close(self, now: int) -> None:
        self.udp.unregister(dhcp.CLIENT_PORT)


def _first_given(*values: int | None) -> int | None:
    return next((value for value in values if value is not None), None)
