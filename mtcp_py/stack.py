"""The stack: one object that owns the pool, the protocol layers, their counters and the configuration.

Start and stop follow mTCP's Utils::initStack / endStack: find the packet driver, register for every frame
type, start the timers, bring up ARP, IP, ICMP (and the layers above), then open the flow of buffers.
Any failure part way undoes what was done; end_stack stops receiving first, releases the handle, tears
down in reverse order, and may be called any number of times.

The main line is mTCP's polling loop with time passed in: `poll(now)` drains the link (up to a budget of
frames, each through the packet driver's two upcalls into the pool's ring), then is PACKET_PROCESS_MULT
followed by driving ARP, IP reassembly and TCP timers; `next_deadline()` says when it next has work.
The stack reads no clock: `now` (ticks) is always given, by the edge that owns the clock and the waiting
(`mtcp_py.runtime`). `clock` is kept only for that edge to find.
"""

from __future__ import annotations

import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from pktdrv import Clock, PacketDriver, PacketDriverError
from pktdrv.driver import IF_NUMBER_ANY, IF_TYPE_ANY, InterfaceClass
from pktdrv.links import Link, format_mac

from .arp import ArpConfig, ArpLayer
from .buffers import PacketPool
from .checksum import complete_partial
from .dns import Resolver, ResolverConfig
from .icmp import IcmpLayer
from .ip import IpConfig, IpLayer
from .tcp import TcpConfig, TcpLayer
from .tcp.predict import predicted_input
from .udp import UdpConfig, UdpLayer
from .wire import WireError, ethernet, ip_to_str
from .wire.ethernet import ethertype

POLL_BUDGET = 32
"""Frames one poll drains from the link before timers, acknowledgements and the application get a turn."""


class StackError(Exception):
    """The stack could not start (no driver, bad configuration); the message says which step failed."""


class TimedLayer(Protocol):
    """A layer above IP that the poll loop drives (TCP, UDP...)."""

    def drive(self, now: int) -> None: ...

    def next_deadline(self) -> int | None: ...

    def close(self, now: int) -> None: ...


@dataclass(frozen=True)
class StackConfig:
    ip: int
    netmask: int = 0xFFFFFF00
    gateway: int = 0
    nameserver: int = 0
    nameservers: tuple[int, ...] = ()
    """Every NAMESERVER, in order; empty means `nameserver` alone (when set)."""
    mtu: int = 1500
    hostname: str = ""
    packet_buffers: int = 40
    buffer_size: int = 1514
    arp: ArpConfig = field(default_factory=ArpConfig)
    announce: bool = True
    """Send a gratuitous ARP at start."""
    tcp: TcpConfig | None = None
    """TCP settings, or None for the defaults."""
    tcp_enabled: bool = True
    udp: UdpConfig | None = None
    """UDP settings, or None for the defaults."""
    udp_enabled: bool = True
    dns: ResolverConfig | None = None
    """Resolver settings, or None for the defaults (the resolver runs when UDP does)."""
    no_address: bool = False
    """Start with no IP address (IPADDR 0.0.0.0), as a DHCP client does: sent from 0.0.0.0, every unicast
    and broadcast accepted, no gratuitous ARP, no ARP answered."""

    @classmethod
    def from_mtcp(cls, cfg: Any, **overrides: Any) -> StackConfig:
        """From an MtcpConfig (the MTCPCFG file)."""
        values = dict(ip=cfg.ip, netmask=cfg.netmask, gateway=cfg.gateway, nameserver=cfg.nameserver,
                      nameservers=tuple(getattr(cfg, "nameservers", ())),
                      mtu=cfg.mtu, hostname=cfg.hostname)
        values.update(overrides)
        return cls(**values)


@dataclass
class EthernetCounters:
    frames: int = 0
    ipv4: int = 0
    arp: int = 0
    unknown_type: int = 0
    sent: int = 0
    send_errors: int = 0
    checksums_offloaded: int = 0
    """Frames sent with their transport checksum left to the link (checksum offload)."""
    checksums_vouched: int = 0
    """IPv4 frames received whose transport checksum the link vouched for, so it was not verified."""


class Stack:
    def __init__(self, driver: PacketDriver | Link, config: StackConfig, clock: Clock) -> None:
        self.driver = driver if isinstance(driver, PacketDriver) else PacketDriver(driver)
        self.config = config
        self.clock = clock
        self.pool = PacketPool(config.packet_buffers, config.buffer_size)
        self.eth = EthernetCounters()
        self.drops: Counter[str] = Counter()
        """Frames dropped by the parsers, by reason (WireError.reason)."""
        self.internal_errors = 0
        self.last_internal_error = ""
        self.handle: int | None = None
        self.mac = b""
        self.arp: ArpLayer
        self.ip: IpLayer
        self.icmp: IcmpLayer
        self.tcp_layer: TcpLayer | None = None
        self.udp_layer: UdpLayer | None = None
        self.resolver: Resolver | None = None
        self.predict: TcpLayer | None = None
        """The TCP layer when its short path is on (header prediction), else None."""
        """TCP, when the configuration enables it (`tcp` is the same, or an error saying it is off)."""
        self.layers: list[TimedLayer] = []
        self.egress_rewrite: Callable[[bytearray | memoryview], None] | None = None
        """Sees every frame on its way to the driver and may change it in place (mtcp-nat translates the
        source of the TCP segments it carries); None on an ordinary stack."""
        self.started = False
        self._ended = False
        self.now = 0
        """The last tick this stack was given."""

    # -- start and stop ------------------------------------------------------------------------------------

    def init_stack(self) -> Stack:
        try:
            self._init_steps()
        except BaseException:
            self.end_stack()
            raise
        self.started = True
        return self

    def _init_steps(self) -> None:
        cfg = self.config
        if not cfg.ip and not cfg.no_address:
            raise StackError("no IP address configured: set IPADDR, or run mtcp-dhcp to get one")
        try:
            self.handle = self.driver.access_type(InterfaceClass.DIX_ETHERNET, IF_TYPE_ANY, IF_NUMBER_ANY, b"",
                                                  self.pool.receiver)
            self.mac = self.driver.get_address(self.handle)
        except PacketDriverError as exc:
            raise StackError(f"packet driver: {exc}") from exc
        mtu = min(cfg.mtu, self.driver.link.mtu)
        self.arp = ArpLayer(self.mac, cfg.ip, self.send_frame, cfg.arp)
        self.ip = IpLayer(IpConfig(cfg.ip, cfg.netmask, cfg.gateway, mtu), self.mac, self.arp, self.send_frame)
        self.icmp = IcmpLayer(self.ip)
        if cfg.tcp_enabled:
            self._init_tcp()
        if cfg.udp_enabled:
            self.udp_layer = UdpLayer(self.ip, self.icmp, cfg.udp)
            self.layers.append(self.udp_layer)
            nameservers = cfg.nameservers or ((cfg.nameserver,) if cfg.nameserver else ())
            self.resolver = Resolver(self.udp_layer, self.tcp_layer, nameservers, cfg.hostname, cfg.ip, cfg.dns)
            self.layers.append(self.resolver)
        self.pool.start_receiving()
        if self.driver.checksum_offload:
            self.pool.checksum_source = self.driver
            self.ip.send_partial = self.send_partial_frame
        if cfg.announce and cfg.ip:
            self.arp.announce()

    def _init_tcp(self) -> None:
        self.tcp_layer = TcpLayer(self.ip, self.config.tcp, rx_frames=self.config.packet_buffers)
        self.layers.append(self.tcp_layer)
        if self.tcp_layer.config.header_prediction:
            self.predict = self.tcp_layer

    @property
    def tcp(self) -> TcpLayer:
        """The TCP layer; StackError when this stack runs without TCP (StackConfig.tcp_enabled)."""
        if self.tcp_layer is None:
            raise StackError("TCP is not enabled on this stack")
        return self.tcp_layer

    @property
    def udp(self) -> UdpLayer:
        """The UDP layer; StackError when this stack runs without UDP (StackConfig.udp_enabled)."""
        if self.udp_layer is None:
            raise StackError("UDP is not enabled on this stack")
        return self.udp_layer

    @property
    def dns(self) -> Resolver:
        """The DNS resolver (it runs over UDP); StackError when this stack runs without UDP."""
        if self.resolver is None:
            raise StackError("DNS needs UDP, which is not enabled on this stack")
        return self.resolver

    def add_layer(self, layer: TimedLayer) -> None:
        """Have the poll loop drive `layer` too (a protocol a program runs over UDP with timers of its own,
        such as the DHCP client); end_stack closes it with the others."""
        self.layers.append(layer)

    def end_stack(self) -> None:
        """Stop receiving, release the driver, tear down. Harmless to call again."""
        if self._ended:
            return
        self._ended = True
        self.pool.stop_receiving()
        now = self.now
        for layer in reversed(self.layers):
            try:
                layer.close(now)
            except Exception:  # a layer failing to close must not keep the link open
                self._note_internal_error()
        if self.handle is not None:
            try:
                self.driver.release_type(self.handle)
            except PacketDriverError:
                pass
            self.handle = None
        self.driver.shutdown()
        self.pool.drain()
        self.started = False

    @property
    def ended(self) -> bool:
        return self._ended

    def __enter__(self) -> Stack:
        if not self.started:
            self.init_stack()
        return self

    def __exit__(self, *exc: object) -> None:
        self.end_stack()

    # -- the frame path ------------------------------------------------------------------------------------

    def send_frame(self, frame: bytes | bytearray | memoryview) -> bool:
        if self.egress_rewrite is not None and not isinstance(frame, bytes):
            self.egress_rewrite(frame)
        try:
            self.driver.send_pkt(frame)
        except PacketDriverError:
            self.eth.send_errors += 1
            return False
        self.eth.sent += 1
        return True

    def send_partial_frame(self, frame: memoryview, csum_start: int, csum_offset: int) -> bool:
        """send_frame for a frame whose transport checksum the link fills (checksum offload)."""
        if self.egress_rewrite is not None:
            # A rewrite mends checksums as it changes addresses, so it needs them whole.
            complete_partial(frame, csum_start, csum_offset)
            return self.send_frame(frame)
        try:
            self.driver.send_pkt_partial(frame, csum_start, csum_offset)
        except PacketDriverError:
            self.eth.send_errors += 1
            return False
        self.eth.sent += 1
        self.eth.checksums_offloaded += 1
        return True

    def process_single(self, now: int) -> bool:
        """Take one frame off the ring and dispatch it (mTCP's PACKET_PROCESS_SINGLE). False: none waiting."""
        pool = self.pool
        item = pool.take()
        if item is None:
            return False
        index, length = item
        frame = pool.views[index][:length]
        self.eth.frames += 1
        try:
            if length < ethernet.HEADER_LEN:
                raise WireError("eth_truncated")
            kind = ethertype(frame)
            if kind == ethernet.TYPE_IPV4:
                self.eth.ipv4 += 1
                packet = frame[ethernet.HEADER_LEN :]
                vouched = pool.checksum_ok[index]
                if vouched:
                    self.eth.checksums_vouched += 1
                if self.predict and predicted_input(self.predict, packet, now, vouched):
                    self.ip.counters.received += 1
                    self.ip.counters.delivered += 1
                else:
                    ip = self.ip
                    ip.rx_checksum_ok = bool(vouched)
                    try:
                        ip.on_packet(packet, now)
                    finally:
                        ip.rx_checksum_ok = False  # it vouches for this frame only, not what is handled later
            elif kind == ethernet.TYPE_ARP:
                self.eth.arp += 1
                self.arp.on_packet(frame[ethernet.HEADER_LEN :], now)
            else:
                self.eth.unknown_type += 1
        except WireError as exc:
            self.drops[exc.reason] += 1
        except Exception:
            # A bug must never take the stack down on one frame: count it, keep the trace for -stats.
            self._note_internal_error()
        finally:
            frame.release()
            pool.release(index)
        return True

    def _note_internal_error(self) -> None:
        self.internal_errors += 1
        self.last_internal_error = traceback.format_exc(limit=4)

    def process_all(self, now: int, max_frames: int | None = None) -> int:
        """Dispatch up to `max_frames` waiting frames (all of them if None); returns how many."""
        done = 0
        while max_frames is None or done < max_frames:
            if not self.process_single(now):
                break
            done += 1
        return done

    def poll(self, now: int, budget: int = POLL_BUDGET) -> int:
        """One turn of the main loop at tick `now`: drain up to `budget` frames from the link and dispatch
        them, then ARP, IP and the layers above. Returns how many frames were handled."""
        if now > self.now:
            self.now = now
        now = self.now
        driver = self.driver
        driver.poll(now)
        handled = self.process_all(now)  # what arrived inline (a hub) or was released by a wrapper
        read = 0
        while read < budget:
            # Drain in batches the pool can hold, dispatching each before reading more: mTCP's 40 buffers
            # are enough for any burst because the ring is emptied between reads.
            got = driver.drain(min(budget - read, self.pool.free))
            handled += self.process_all(now)
            if not got:
                break
            read += got
        self.drive(now)
        return handled

    def set_fine_time(self, seconds: float) -> None:
        """The edge's clock to the microsecond, for what needs finer than a tick (TCP's initial sequence
        numbers); given by the edge with each poll, never read here."""
        if self.tcp_layer is not None:
            self.tcp_layer.set_fine_time(seconds)

    def drive(self, now: int) -> None:
        self.arp.drive(now)
        self.ip.drive(now)
        for layer in self.layers:
            layer.drive(now)

    def next_deadline(self) -> int | None:
        """The tick at which poll() next has timer work, or None; frames waiting mean now."""
        if self.pool.pending:
            return self.now
        deadlines = [d for d in (self.arp.next_deadline(), self.ip.next_deadline(), self.driver.next_deadline())
                     if d is not None]
        deadlines.extend(d for layer in self.layers if (d := layer.next_deadline()) is not None)
        return min(deadlines) if deadlines else None

    def fileno(self) -> int | None:
        """The link's descriptor (readable when frames wait), for the edge's select; None for inline links."""
        return self.driver.fileno()

    # -- observability -------------------------------------------------------------------------------------

    def counters(self) -> dict[str, dict[str, int]]:
        """Every counter, by layer, for -stats tables and for tests that assert the path a frame took."""
        stats = self.driver.stats
        table: dict[str, dict[str, int]] = {
            "driver": {k: v for k, v in asdict(stats).items()},
            "buffers": asdict(self.pool.counters),
            "ethernet": asdict(self.eth),
        }
        if hasattr(self, "icmp"):  # the layers exist (an init that failed early made none)
            table["arp"] = asdict(self.arp.counters)
            table["ip"] = asdict(self.ip.counters)
            table["reassembly"] = asdict(self.ip.reassembler.counters)
            table["icmp"] = asdict(self.icmp.counters)
            if self.tcp_layer is not None:
                table["tcp"] = asdict(self.tcp_layer.counters)
            if self.udp_layer is not None:
                table["udp"] = asdict(self.udp_layer.counters)
            if self.resolver is not None:
                table["dns"] = asdict(self.resolver.counters)
        table["drops"] = dict(self.drops)
        table["stack"] = {"internal_errors": self.internal_errors}
        return table

    def describe(self) -> str:
        return f"{ip_to_str(self.config.ip)} ({format_mac(self.mac)}) on {self.driver.link.spec}"

