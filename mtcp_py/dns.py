"""The DNS resolver: A lookups as mTCP's Dns class makes them, driven by the stack's poll loop.

`Resolver.start(name, now)` returns a `Lookup` at once; the poll loop (`drive(now)`, `next_deadline()`)
carries it on until `.done`, with `.address` or a distinct `.error`. Nothing here waits or reads a clock.

- A dotted address, and the stack's own HOSTNAME, are answered with no query; a trailing dot is allowed.
- Answers are cached for their TTL (the smallest along the CNAME chain; TTL 0 is not cached).
- A query goes to the first NAMESERVER from its own random ephemeral UDP port with a random identifier; with no
  answer after `retry_ticks` (2 s, mTCP's DNS_RETRY_THRESHOLD) it goes to the next, round the list, until
  `timeout_ticks` pass ("timed out"). A server that answers SERVFAIL or REFUSED, or whose host says its
  port is unreachable (ICMP), is passed over for the others; when every one has failed, that is the result.
- A reply counts only from a server asked, from port 53, with an identifier sent to it and our question;
  anything else is counted and ignored, malformed bytes are counted by cause (`drops`), never raised.
- A CNAME chain is followed through the answer; when the answer stops at a name with no A record, that name
  is asked for next. A truncated reply (TC) is asked again over TCP, from the same server.
- A referral (NS records and, as glue, their addresses: what a server that does not recurse answers, as
  with DNSTEST's -norecurse, which clears RD) is followed to the servers it names, at most `max_referrals`
  times; one without glue has the first nameserver's address looked up first, as mTCP does.
- What a lookup sent and received is kept in `.exchanges` (up to MAX_EXCHANGES), for -verbose.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from pktdrv.clock import TICK_SECONDS

from .ip import IcmpError
from .tcp import TcpError, TcpLayer, TcpSocket
from .udp import UdpEndpoints, UdpError, UdpErrorReceiver, UdpLayer, UdpReceiver
from .wire import WireError, ip_from_str, ip_to_str
from .wire import dns as wire

NXDOMAIN_ERROR = "no such host (NXDOMAIN)"
SERVFAIL_ERROR = "server failure (SERVFAIL)"
REFUSED_ERROR = "refused (REFUSED)"
TIMED_OUT = "timed out"
NODATA_ERROR = "the name has no address (no A record)"
UNREACHABLE_ERROR = "nameserver unreachable (ICMP port or host unreachable)"
NO_NAMESERVER = "no nameserver configured (set NAMESERVER in the mTCP configuration file)"
RCODE_ERRORS = {wire.NXDOMAIN: NXDOMAIN_ERROR, wire.SERVFAIL: SERVFAIL_ERROR, wire.REFUSED: REFUSED_ERROR,
                wire.FORMERR: "the server could not read our query (FORMERR)",
                wire.NOTIMP: "the server does not do this query (NOTIMP)"}


MAX_EXCHANGES = 64


def rcode_error(rcode: int) -> str:
    return RCODE_ERRORS.get(rcode, f"server error (rcode {rcode})")


@dataclass(frozen=True)
class ResolverConfig:
    retry_ticks: int = 36
    """No answer this long (2 s): ask the next nameserver (mTCP's DNS_RETRY_THRESHOLD)."""
    timeout_ticks: int = 182
    """A lookup that has no result after this long (10 s, DNSTEST's default) has timed out."""
    cache_entries: int = 32
    max_ttl: int = 86_400
    """Seconds; a longer TTL is cached this long (a day), as resolvers cap it."""
    max_cname: int = 8
    max_referrals: int = 8


@dataclass
class ResolverCounters:
    lookups: int = 0
    answered_locally: int = 0
    """Dotted addresses and our own HOSTNAME: no query sent."""
    cache_hits: int = 0
    queries_sent: int = 0
    tcp_queries: int = 0
    responses: int = 0
    malformed: int = 0
    ignored: int = 0
    """Replies from a server not asked, a port other than 53, or with an identifier or question not ours."""
    timeouts: int = 0
    failures: int = 0


@dataclass(frozen=True, slots=True)
class Exchange:
    """One message sent or received (or a note on what the lookup did), for -verbose."""

    tick: int
    sent: bool
    server: int
    transport: str
    message: wire.Message | None = None
    size: int = 0
    note: str = ""

    def describe(self) -> list[str]:
        way = "sent to" if self.sent else "received from"
        head = f"{way} {ip_to_str(self.server)} ({self.transport}, {self.size} bytes)" if self.size else \
            f"{ip_to_str(self.server)} ({self.transport})"
        lines = [head + (f": {self.note}" if self.note else "")]
        if self.message is not None:
            lines.extend("  " + line for line in wire.describe(self.message))
        return lines


@dataclass
class _TcpQuery:
    sock: TcpSocket
    server: int
    ident: int
    framed: bytes
    sent: int = 0
    received: bytearray = field(default_factory=bytearray)


class Lookup:
    """One name being resolved; read `.done`, then `.address` (and `.addresses`) or `.error`."""

    def __init__(self, name: str, qname: str, now: int, recurse: bool, deadline: int) -> None:
        self.name = name
        self.qname = qname
        self.recurse = recurse
        self.started = now
        self.deadline = deadline
        self.finished: int | None = None
        self.done = False
        self.address: int | None = None
        self.addresses: tuple[int, ...] = ()
        self.error: str | None = None
        self.rcode: int | None = None
        self.from_cache = False
        self.cname_chain: list[str] = []
        """The names the CNAME records led through, in order, after the name asked for."""
        self.exchanges: list[Exchange] = []
        self.exchanges_not_kept = 0
        self.current = qname
        """The name being asked for now (the end of the CNAME chain so far)."""
        self.servers: list[int] = []
        self.server_index = 0
        self.failed: set[int] = set()
        self.outstanding: dict[int, int] = {}
        """Identifier -> the server it was sent to."""
        self.next_retry = deadline
        self.port = 0
        self.tcp: _TcpQuery | None = None
        self.ttl = 1 << 31
        self.referrals = 0
        self.resume: str | None = None
        """While the address of a nameserver a referral named without glue is looked up: the name to go
        back to asking for, of that nameserver, once its address is known (as mTCP does)."""

    def note(self, exchange: Exchange) -> None:
        """Keep `exchange` for -verbose; past MAX_EXCHANGES only count it (a flood of junk costs no memory)."""
        if len(self.exchanges) < MAX_EXCHANGES:
            self.exchanges.append(exchange)
        else:
            self.exchanges_not_kept += 1

    def __repr__(self) -> str:
        state = "pending" if not self.done else (self.error or ip_to_str(self.address or 0))
        return f"<Lookup {self.name!r} {state}>"


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """A name's answer, kept until tick `expires` (its TTL from when it came)."""

    addresses: tuple[int, ...]
    cname_chain: tuple[str, ...]
    expires: int


class ResolveError(Exception):
    """A name that could not be resolved; the message is the Lookup's error ("no such host (NXDOMAIN)")."""

    def __init__(self, name: str, error: str) -> None:
        super().__init__(error)
        self.name = name
        self.error = error


class Resolver:
    def __init__(self, udp: UdpLayer, tcp: TcpLayer | None, nameservers: Sequence[int], hostname: str = "",
                 own_ip: int = 0, config: ResolverConfig | None = None, rng: random.Random | None = None) -> None:
        self.udp = udp
        self.tcp = tcp
        self.nameservers = [ns for ns in nameservers if ns]
        self.hostname = wire.normalize(hostname) if hostname else ""
        self.own_ip = own_ip
        self.config = config or ResolverConfig()
        self.rng = rng or random.SystemRandom()
        """Identifiers must be unguessable (RFC 5452); tests pass a seeded one."""
        self.counters = ResolverCounters()
        self.drops: Counter[str] = Counter()
        self.cache: dict[str, CacheEntry] = {}
        self.active: list[Lookup] = []

    # -- the program's calls -------------------------------------------------------------------------------

    def start(self, name: str, now: int, recurse: bool = True, timeout_ticks: int | None = None) -> Lookup:
        """Begin resolving `name`; the Lookup may already be done (an address, our name, a cached one)."""
        self.counters.lookups += 1
        qname = wire.normalize(name)
        lookup = Lookup(name, qname, now, recurse, now + (timeout_ticks or self.config.timeout_ticks))
        try:
            address = ip_from_str(name)
        except ValueError:
            pass
        else:
            self.counters.answered_locally += 1
            self._finish(lookup, now, addresses=(address,))
            return lookup
        own_ip = self.own_ip or self.udp.ip.address  # an address DHCP gave after the start
        if self.hostname and own_ip and qname == self.hostname:
            self.counters.answered_locally += 1
            self._finish(lookup, now, addresses=(own_ip,))
            return lookup
        cached = self.cached(qname, now)
        if cached is not None:
            self.counters.cache_hits += 1
            lookup.from_cache = True
            lookup.cname_chain = list(cached.cname_chain)
            self._finish(lookup, now, addresses=cached.addresses)
            return lookup
        try:
            wire.encode_name(qname)
        except wire.BadName as exc:
            self._finish(lookup, now, error=f"not a host name: {exc}")
            return lookup
        if not self.nameservers:
            self._finish(lookup, now, error=NO_NAMESERVER)
            return lookup
        try:
            lookup.port = self._register_random_port(
                lambda ends, data, t: self._on_udp(lookup, ends, data, t),
                lambda error, port, t: self._on_icmp(lookup, error, port, t))
        except UdpError as exc:
            self._finish(lookup, now, error=str(exc))
            return lookup
        lookup.servers = list(self.nameservers)
        self.active.append(lookup)
        self._send(lookup, now)
        return lookup

    def cached(self, name: str, now: int) -> CacheEntry | None:
        entry = self.cache.get(wire.normalize(name))
        if entry is None:
            return None
        if entry.expires <= now:
            del self.cache[wire.normalize(name)]
            return None
        return entry

    def cancel(self, lookup: Lookup, now: int) -> None:
        if not lookup.done:
            self._finish(lookup, now, error="cancelled")

    # -- sending -------------------------------------------------------------------------------------------

    def _register_random_port(self, receiver: UdpReceiver, on_error: UdpErrorReceiver) -> int:
        """A random free ephemeral port for the query (RFC 5452 9.2: the port and the identifier together
        are what a spoofer must guess); the UDP layer's next free one if a few tries find none."""
        first, last = self.udp.config.ephemeral_first, self.udp.config.ephemeral_last
        for _ in range(8):
            port = self.rng.randint(first, last)
            if port not in self.udp.ports:
                return self.udp.register(port, receiver, on_error)
        return self.udp.register(0, receiver, on_error)

    def _new_ident(self, lookup: Lookup) -> int:
        while True:
            ident = self.rng.randrange(0x10000)
            if ident not in lookup.outstanding:
                return ident

    def _send(self, lookup: Lookup, now: int) -> None:
        """Ask the current server over UDP; one that cannot be sent to is passed over at once."""
        server = lookup.servers[lookup.server_index]
        ident = self._new_ident(lookup)
        query = wire.build_query(ident, lookup.current, wire.TYPE_A, lookup.recurse)
        status = self.udp.send(lookup.port, server, wire.PORT, query, now)
        lookup.next_retry = now + self.config.retry_ticks
        if not status.ok:
            lookup.note(Exchange(now, True, server, "udp", note=f"not sent: {status.value}"))
            self._server_failed(lookup, server, now, f"cannot reach the nameserver: {status.value}")
            return
        self.counters.queries_sent += 1
        lookup.outstanding[ident] = server
        lookup.note(Exchange(now, True, server, "udp", wire.parse(query), len(query)))

    def _next_server(self, lookup: Lookup) -> bool:
        """Move to the next server not yet failed in this round; False when none is left."""
        count = len(lookup.servers)
        for step in range(1, count + 1):
            index = (lookup.server_index + step) % count
            if lookup.servers[index] not in lookup.failed:
                lookup.server_index = index
                return True
        return False

    def _server_failed(self, lookup: Lookup, server: int, now: int, error: str, rcode: int | None = None) -> None:
        lookup.failed.add(server)
        if not self._next_server(lookup):
            lookup.rcode = rcode
            self._finish(lookup, now, error=error)
            return
        self._send(lookup, now)

    def _ask_anew(self, lookup: Lookup, servers: Sequence[int], now: int) -> None:
        """A new question (a CNAME's target, or the same one of a referral's servers): a fresh round."""
        lookup.servers = list(servers)
        lookup.server_index = 0
        lookup.failed.clear()
        lookup.outstanding.clear()
        self._send(lookup, now)

    # -- receiving -----------------------------------------------------------------------------------------

    def _on_udp(self, lookup: Lookup, ends: UdpEndpoints, data: memoryview, now: int) -> None:
        if lookup.done:
            return
        if ends.src_port != wire.PORT or ends.src not in lookup.outstanding.values():
            self.counters.ignored += 1
            self.drops["dns_wrong_source"] += 1
            return
        self._on_message(lookup, ends.src, "udp", bytes(data), now)

    def _on_message(self, lookup: Lookup, server: int, transport: str, raw: bytes, now: int) -> None:
        try:
            message = wire.parse(raw)
        except WireError as exc:
            self.counters.malformed += 1
            self.drops[exc.reason] += 1
            lookup.note(Exchange(now, False, server, transport, size=len(raw), note=f"malformed, ignored ({exc})"))
            return
        if not message.response or lookup.outstanding.get(message.ident) != server or \
                not self._our_question(lookup, message):
            self.counters.ignored += 1
            self.drops["dns_not_our_reply"] += 1
            lookup.note(Exchange(now, False, server, transport, message, len(raw), "not ours, ignored"))
            return
        self.counters.responses += 1
        del lookup.outstanding[message.ident]
        lookup.note(Exchange(now, False, server, transport, message, len(raw)))
        self._on_reply(lookup, server, transport, message, now)

    @staticmethod
    def _our_question(lookup: Lookup, message: wire.Message) -> bool:
        if not message.questions:
            return message.rcode != wire.NOERROR  # some servers leave the question out of an error
        if len(message.questions) != 1:
            return False
        question = message.questions[0]
        return question.name == lookup.current and question.qtype == wire.TYPE_A and \
            question.qclass == wire.CLASS_IN

    def _on_reply(self, lookup: Lookup, server: int, transport: str, message: wire.Message, now: int) -> None:
        if message.truncated and transport == "udp" and self.tcp is not None:
            if lookup.tcp is None:  # a second TC reply (to a retry) while TCP already asks: nothing to do
                self._start_tcp(lookup, server, now)
            return
        if message.rcode == wire.NXDOMAIN:
            lookup.rcode = message.rcode
            self._finish(lookup, now, error=NXDOMAIN_ERROR)
            return
        if message.rcode != wire.NOERROR:
            self._server_failed(lookup, server, now, rcode_error(message.rcode), message.rcode)
            return
        name, addresses, ttl = lookup.current, [], lookup.ttl
        chain = lookup.cname_chain if lookup.resume is None else []  # a nameserver's aliases are not the name's
        for _ in range(self.config.max_cname + 1):
            found = [r for r in message.answers if r.name == name and r.address is not None]
            if found:
                addresses = [r.address for r in found if r.address is not None]
                ttl = min(ttl, *(r.ttl for r in found))
                break
            alias = next((r for r in message.answers if r.name == name and r.rtype == wire.TYPE_CNAME
                          and r.rclass == wire.CLASS_IN and r.target), None)
            if alias is None or alias.target is None:
                break
            if alias.target == lookup.qname or alias.target in chain:
                self._finish(lookup, now, error=f"CNAME loop at {alias.target}")
                return
            if len(chain) >= self.config.max_cname:
                self._finish(lookup, now, error=f"CNAME chain longer than {self.config.max_cname}")
                return
            chain.append(alias.target)
            ttl = min(ttl, alias.ttl)
            name = alias.target
        lookup.ttl = ttl
        if addresses and lookup.resume is not None:  # the referred nameserver's address: ask it now
            lookup.current, lookup.resume = lookup.resume, None
            self._ask_anew(lookup, addresses, now)
        elif addresses:
            self._finish(lookup, now, addresses=tuple(addresses), answered=True)
        elif name != lookup.current:  # the chain ends at a name this answer has no address for
            lookup.current = name
            self._ask_anew(lookup, self.nameservers, now)
        elif not message.answers and (referral := self._referral(message)) is not None:
            self._follow_referral(lookup, *referral, now)
        else:
            self._finish(lookup, now, error=NODATA_ERROR)

    def _follow_referral(self, lookup: Lookup, nameservers: list[str], glue: list[int], now: int) -> None:
        """Ask the servers a referral names: at their glue addresses, else first look up the first one's
        address from our own nameservers (mTCP asks for it the same way)."""
        if lookup.referrals >= self.config.max_referrals:
            self._finish(lookup, now, error=f"more than {self.config.max_referrals} referrals")
            return
        lookup.referrals += 1
        if glue:
            self._ask_anew(lookup, glue, now)
        elif lookup.resume is None:
            lookup.resume, lookup.current = lookup.current, nameservers[0]
            self._ask_anew(lookup, self.nameservers, now)
        else:  # a referral while already looking for a nameserver's address: give up rather than nest
            self._finish(lookup, now, error=f"a referral to {nameservers[0]} without its address (no glue)")

    @staticmethod
    def _referral(message: wire.Message) -> tuple[list[str], list[int]] | None:
        """The nameservers a referral names and the addresses it gives for them (glue); None: no referral."""
        names = [r.target for r in message.authority if r.rtype == wire.TYPE_NS and r.target]
        if not names:
            return None
        return names, [r.address for r in message.additional if r.name in names and r.address]

    def _on_icmp(self, lookup: Lookup, error: IcmpError, remote_port: int, now: int) -> None:
        server = error.original.dst
        if lookup.done or remote_port != wire.PORT or server not in lookup.outstanding.values():
            return
        lookup.note(Exchange(now, False, error.reporter, "icmp",
                             note=f"unreachable (type {error.type} code {error.code})"))
        for ident in [i for i, s in lookup.outstanding.items() if s == server]:
            del lookup.outstanding[ident]
        self._server_failed(lookup, server, now, UNREACHABLE_ERROR)

    # -- TCP, for a truncated reply ------------------------------------------------------------------------

    def _start_tcp(self, lookup: Lookup, server: int, now: int) -> None:
        assert self.tcp is not None
        try:
            sock = self.tcp.connect(server, wire.PORT, now=now)
        except TcpError as exc:
            self._server_failed(lookup, server, now, f"truncated reply, and TCP failed: {exc.reason}")
            return
        ident = self._new_ident(lookup)
        query = wire.build_query(ident, lookup.current, wire.TYPE_A, lookup.recurse)
        lookup.tcp = _TcpQuery(sock, server, ident, wire.tcp_frame(query))
        lookup.outstanding[ident] = server
        lookup.next_retry = lookup.deadline  # no UDP retries while TCP carries the question
        self.counters.tcp_queries += 1
        lookup.note(Exchange(now, True, server, "tcp", wire.parse(query), len(query),
                             "the reply was truncated (TC): asking again over TCP"))

    def _drive_tcp(self, lookup: Lookup, query: _TcpQuery, now: int) -> None:
        sock = query.sock
        if sock.is_connected and sock.error is None and query.sent < len(query.framed):
            query.sent += sock.send(memoryview(query.framed)[query.sent :])
        while sock.readable:
            query.received += sock.recv()
        try:
            length = wire.tcp_length(query.received) if len(query.received) >= 2 else None
        except WireError as exc:
            self.drops[exc.reason] += 1
            self.counters.malformed += 1
            self._tcp_failed(lookup, query, now, f"malformed ({exc})")
            return
        if length is not None and len(query.received) >= 2 + length:
            lookup.tcp = None
            self._on_message(lookup, query.server, "tcp", bytes(query.received[2 : 2 + length]), now)
            if not lookup.done and query.ident in lookup.outstanding:  # malformed or not ours: no reply
                self._tcp_failed(lookup, query, now, "no usable reply")
            else:
                sock.close()
            return
        if sock.error is not None or sock.peer_closed or sock.is_closed:
            self._tcp_failed(lookup, query, now, sock.error or "closed before the reply")

    def _tcp_failed(self, lookup: Lookup, query: _TcpQuery, now: int, why: str) -> None:
        lookup.tcp = None
        query.sock.abort()
        lookup.outstanding.pop(query.ident, None)
        lookup.note(Exchange(now, False, query.server, "tcp", note=why))
        self._server_failed(lookup, query.server, now, f"truncated reply, and TCP failed: {why}")

    # -- ending --------------------------------------------------------------------------------------------

    def _finish(self, lookup: Lookup, now: int, addresses: tuple[int, ...] = (), error: str | None = None,
                answered: bool = False) -> None:
        """End `lookup`; `answered`: the addresses came from a nameserver, so they are cached."""
        lookup.done = True
        lookup.finished = now
        if lookup.tcp is not None:
            lookup.tcp.sock.abort()
            lookup.tcp = None
        if lookup.port:
            self.udp.unregister(lookup.port)
            lookup.port = 0
        if lookup in self.active:
            self.active.remove(lookup)
        if error is not None:
            lookup.error = error
            if error == TIMED_OUT:
                self.counters.timeouts += 1
            else:
                self.counters.failures += 1
            return
        lookup.addresses = addresses
        lookup.address = addresses[0]
        if answered:
            self._remember(lookup, now)

    def _remember(self, lookup: Lookup, now: int) -> None:
        seconds = min(lookup.ttl, self.config.max_ttl)
        if seconds <= 0 or self.config.cache_entries <= 0:
            return
        for name in [n for n, e in self.cache.items() if e.expires <= now]:
            del self.cache[name]
        while len(self.cache) >= self.config.cache_entries:
            del self.cache[min(self.cache, key=lambda n: self.cache[n].expires)]
        ticks = math.ceil(seconds / TICK_SECONDS)
        self.cache[lookup.qname] = CacheEntry(lookup.addresses, tuple(lookup.cname_chain), now + ticks)

    # -- the poll loop's hooks (TimedLayer) ----------------------------------------------------------------

    def drive(self, now: int) -> None:
        for lookup in list(self.active):
            if lookup.tcp is not None:
                self._drive_tcp(lookup, lookup.tcp, now)
            if lookup.done:
                continue
            if now >= lookup.deadline:
                self._finish(lookup, now, error=TIMED_OUT)
            elif now >= lookup.next_retry:
                server = lookup.servers[lookup.server_index]
                lookup.note(Exchange(now, False, server, "udp", note="no answer yet"))
                self._next_server(lookup)  # the same one again when it is the only one left
                self._send(lookup, now)

    def next_deadline(self) -> int | None:
        deadlines = [min(lookup.deadline, lookup.next_retry) for lookup in self.active]
        return min(deadlines) if deadlines else None

    def close(self, now: int) -> None:
        for lookup in list(self.active):
            self._finish(lookup, now, error="the stack was closed")
