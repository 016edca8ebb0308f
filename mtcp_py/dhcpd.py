"""A DHCP server (RFC 2131) for a small network behind a gateway: mtcp-nat's, as slirp's hands out 10.0.2.15.

Addresses come from one pool; a client keeps the address it had (by hardware address), gets the one it
asks for when that is free, or else the lowest free one. DISCOVER is offered, REQUEST acknowledged or
refused (NAK: another server chosen, an address not ours to give, or taken), DECLINE marks an address as
in use by someone else, RELEASE frees it, INFORM is answered with the options only. Replies go where RFC
2131 4.1 says: to `ciaddr` when the client has one, broadcast when it asks or when it is a NAK, else unicast
to the offered address at the client's MAC (which the server teaches ARP first, since the client cannot
answer ARP for an address it does not have yet).

Given `now` in ticks; never reads a clock. Bad messages are counted by cause and dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pktdrv.clock import TICK_HZ

from .udp import UdpEndpoints, UdpLayer
from .wire import WireError, dhcp
from .wire.dhcp import CLIENT_PORT, FLAG_BROADCAST, OP_REPLY, OP_REQUEST, SERVER_PORT, DhcpMessage, MessageType
from .wire.dhcp import Option as Opt

LearnNeighbour = Callable[[int, bytes, int], None]
"""Tell ARP that an address is at a MAC (address, mac, now)."""
BROADCAST = 0xFFFFFFFF


@dataclass(frozen=True)
class DhcpServerConfig:
    server: int
    """Our address: the server identifier, and the router we give out unless `router` says otherwise."""
    netmask: int
    first: int
    """The first address of the pool."""
    count: int = 16
    router: int | None = None
    dns: tuple[int, ...] = ()
    lease_seconds: int = 86_400
    domain: str = ""


@dataclass
class DhcpServerCounters:
    received: int = 0
    bad: int = 0
    not_requests: int = 0
    discovers: int = 0
    offers: int = 0
    requests: int = 0
    acks: int = 0
    naks: int = 0
    declines: int = 0
    releases: int = 0
    informs: int = 0
    pool_exhausted: int = 0
    drops: dict[str, int] = field(default_factory=dict)


@dataclass
class Lease:
    address: int
    expires: int
    """Tick; an offer not yet requested holds its address only briefly."""
    bound: bool = False


class DhcpServer:
    OFFER_HOLD_TICKS = int(60 * TICK_HZ)
    """An offered address is kept for the client about a minute (RFC 2131 4.3.1 leaves it to the server)."""
    DECLINED_TICKS = int(600 * TICK_HZ)

    def __init__(self, udp: UdpLayer, config: DhcpServerConfig, learn_neighbour: LearnNeighbour) -> None:
        self.udp = udp
        self.config = config
        self.learn_neighbour = learn_neighbour
        self.counters = DhcpServerCounters()
        self.leases: dict[bytes, Lease] = {}
        """Hardware address -> its lease or offer."""
        self.declined: dict[int, int] = {}
        """Addresses someone else answered for (DECLINE), until the tick given."""
        udp.register(SERVER_PORT, self._on_datagram)

    # -- addresses -----------------------------------------------------------------------------------------

    def _in_pool(self, address: int) -> bool:
        return self.config.first <= address < self.config.first + self.config.count

    def _holder(self, address: int, now: int) -> bytes | None:
        for mac, lease in self.leases.items():
            if lease.address == address and lease.expires > now:
                return mac
        return None

    def _free(self, address: int, mac: bytes, now: int) -> bool:
        if not self._in_pool(address) or self.declined.get(address, 0) > now:
            return False
        holder = self._holder(address, now)
        return holder is None or holder == mac

    def _choose(self, mac: bytes, requested: int | None, now: int) -> int | None:
        lease = self.leases.get(mac)
        if lease is not None and self._free(lease.address, mac, now):
            return lease.address
        if requested is not None and self._free(requested, mac, now):
            return requested
        for address in range(self.config.first, self.config.first + self.config.count):
            if self._free(address, mac, now):
                return address
        return None

    # -- messages ------------------------------------------------------------------------------------------

    def _on_datagram(self, source: UdpEndpoints, payload: memoryview, now: int) -> None:
        c = self.counters
        c.received += 1
        try:
            message = dhcp.parse(payload)
        except WireError as exc:
            c.bad += 1
            c.drops[exc.reason] = c.drops.get(exc.reason, 0) + 1
            return
        if message.op != OP_REQUEST or len(message.chaddr) != 6:
            c.not_requests += 1
            return
        kind = message.message_type
        if kind == MessageType.DISCOVER:
            c.discovers += 1
            self._offer(message, now)
        elif kind == MessageType.REQUEST:
            c.requests += 1
            self._request(message, now)
        elif kind == MessageType.DECLINE:
            c.declines += 1
            address = message.address(Opt.REQUESTED_ADDRESS)
            if address is not None and self.leases.get(message.chaddr, Lease(0, 0)).address == address:
                del self.leases[message.chaddr]
                self.declined[address] = now + self.DECLINED_TICKS
        elif kind == MessageType.RELEASE:
            c.releases += 1
            lease = self.leases.get(message.chaddr)
            if lease is not None and lease.address == message.ciaddr:
                del self.leases[message.chaddr]
        elif kind == MessageType.INFORM:
            c.informs += 1
            self._reply(message, MessageType.ACK, 0, now, lease_time=False)
        else:
            c.not_requests += 1

    def _offer(self, message: DhcpMessage, now: int) -> None:
        address = self._choose(message.chaddr, message.address(Opt.REQUESTED_ADDRESS), now)
        if address is None:
            self.counters.pool_exhausted += 1
            return
        lease = self.leases.get(message.chaddr)
        if lease is None or lease.address != address or not lease.bound:
            self.leases[message.chaddr] = Lease(address, now + self.OFFER_HOLD_TICKS)
        self.counters.offers += 1
        self._reply(message, MessageType.OFFER, address, now)

    def _request(self, message: DhcpMessage, now: int) -> None:
        server_id = message.address(Opt.SERVER_ID)
        if server_id is not None and server_id != self.config.server:
            lease = self.leases.get(message.chaddr)  # the client chose another server: our offer is void
            if lease is not None and not lease.bound:
                del self.leases[message.chaddr]
            return
        wanted = message.address(Opt.REQUESTED_ADDRESS) or message.ciaddr
        if not wanted or not self._free(wanted, message.chaddr, now):
            self.counters.naks += 1
            self._reply(message, MessageType.NAK, 0, now)
            return
        self.leases[message.chaddr] = Lease(wanted, now + int(self.config.lease_seconds * TICK_HZ), bound=True)
        self.counters.acks += 1
        self._reply(message, MessageType.ACK, wanted, now)

    def _reply(self, request: DhcpMessage, kind: MessageType, address: int, now: int,
               lease_time: bool = True) -> None:
        cfg = self.config
        options: dict[int, bytes] = {Opt.MESSAGE_TYPE: bytes((kind,)), Opt.SERVER_ID: dhcp.address_bytes(cfg.server)}
        if kind != MessageType.NAK:
            if lease_time:
                options[Opt.LEASE_TIME] = dhcp.seconds_bytes(cfg.lease_seconds)
                options[Opt.RENEWAL_TIME] = dhcp.seconds_bytes(cfg.lease_seconds // 2)
                options[Opt.REBINDING_TIME] = dhcp.seconds_bytes(cfg.lease_seconds * 7 // 8)
            options[Opt.SUBNET_MASK] = dhcp.address_bytes(cfg.netmask)
            options[Opt.ROUTER] = dhcp.address_bytes(cfg.router if cfg.router is not None else cfg.server)
            if cfg.dns:
                options[Opt.DOMAIN_NAME_SERVER] = dhcp.address_bytes(*cfg.dns)
            if cfg.domain:
                options[Opt.DOMAIN_NAME] = cfg.domain.encode("ascii")
        reply = DhcpMessage(op=OP_REPLY, xid=request.xid, chaddr=request.chaddr, options=options,
                            flags=request.flags, ciaddr=request.ciaddr if kind == MessageType.ACK else 0,
                            yiaddr=address, siaddr=cfg.server, giaddr=request.giaddr)
        # RFC 2131 4.1: NAKs broadcast; to ciaddr when the client has one; broadcast when it asks; else
        # unicast to the new address at the client's MAC.
        if kind == MessageType.NAK or (not request.ciaddr and (request.flags & FLAG_BROADCAST or not address)):
            destination = BROADCAST
        elif request.ciaddr:
            destination = request.ciaddr
        else:
            destination = address
            self.learn_neighbour(address, request.chaddr, now)
        self.udp.send(SERVER_PORT, destination, CLIENT_PORT, dhcp.build(reply), now)

    # -- the poll loop's hooks -----------------------------------------------------------------------------

    def drive(self, now: int) -> None:
        for mac in [m for m, lease in self.leases.items() if lease.expires <= now]:
            del self.leases[mac]

    def next_deadline(self) -> int | None:
        return min((lease.expires for lease in self.leases.values()), default=None)

    def close(self, now: int) -> None:
        self.udp.unregister(SERVER_PORT)
