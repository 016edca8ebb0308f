"""mtcp-nat: internet for a DOS machine with no root: our stack is the guest's gateway, DHCP and DNS included.

    mtcp-nat --guest LINK [--net 10.0.2.0/24] [--forward tcp:[ADDR:]HOSTPORT:GUESTPORT]...
             [--forward udp:[ADDR:]HOSTPORT:GUESTPORT]... [--dns-server ADDR] [--restrict] [--pcap FILE]
             [--max-flows N] [--stats]

The addresses are slirp's, which DOS users know from QEMU and DOSBox-X: on 10.0.2.0/24 the gateway is
10.0.2.2 (which also stands for the host's own 127.0.0.1), DNS is 10.0.2.3, and the guest gets 10.0.2.15
(and up) from our DHCP server. The guest's TCP connections end in our stack and go on from host sockets;
its UDP goes out through one host socket per flow; pings go through unprivileged ICMP sockets where the
host allows them (net.ipv4.ping_group_range), else are answered as unreachable (counted); DNS queries to
10.0.2.3 are relayed to --dns-server, or to the first nameserver of /etc/resolv.conf. --restrict keeps the
guest to the host (10.0.2.2) and the forwards. --forward makes a host port reach a port of the guest
(on 127.0.0.1 unless an address is given). Runs as an ordinary user until Ctrl-C or SIGTERM; --stats and
SIGUSR1 print the flows and the counters.
"""

from __future__ import annotations

import ipaddress
import select
import signal
import socket
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from rich.table import Table

from mtcp_py.config import MtcpConfig
from mtcp_py.dhcpd import DhcpServer, DhcpServerConfig
from mtcp_py.runtime import turn
from mtcp_py.stack import Stack
from mtcp_py.tcp import TcpConfig
from mtcp_py.udp import UdpEndpoints, UdpReceiver
from mtcp_py.wire import ip_from_str, ip_to_str
from pktdrv.clock import TICK_SECONDS
from pktdrv.links import LinkSpecError, parse_link

from .common import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    app_stack,
    fail,
    make_parser,
    stats_table,
    stderr_console,
    terminate_as_interrupt,
    whole_number,
)
from .nat_flows import DatagramNat
from .nat_tcp import TcpNat

PROG = "mtcp-nat"
LONGEST_WAIT = 1.0
UDP_FORWARD_IDLE = 60.0


@dataclass(frozen=True)
class Forward:
    protocol: str
    host: str
    host_port: int
    guest_port: int


@dataclass(frozen=True)
class Plan:
    network: int
    netmask: int
    gateway: int
    dns: int
    guest: int

    @classmethod
    def from_cidr(cls, text: str) -> Plan:
        net = ipaddress.IPv4Network(text, strict=False)
        if net.prefixlen > 27:
            raise ValueError(f"{text}: too small a network (at most /27, for 10.0.2.15-style addresses)")
        base = int(net.network_address)
        return cls(base, int(net.netmask), base + 2, base + 3, base + 15)


def parse_forward(text: str) -> Forward:
    protocol, _, rest = text.partition(":")
    parts = rest.split(":")
    if protocol not in ("tcp", "udp") or len(parts) not in (2, 3):
        raise ValueError(f"--forward {text}: write tcp:HOSTPORT:GUESTPORT or tcp:ADDR:HOSTPORT:GUESTPORT "
                         "(udp: the same)")
    host = parts[0] if len(parts) == 3 else "127.0.0.1"
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        raise ValueError(f"--forward {text}: {host!r} is not an IPv4 address") from None
    ports = []
    for port in parts[-2:]:
        if not (port.isascii() and port.isdecimal()) or not 0 < int(port) < 65536:
            raise ValueError(f"--forward {text}: {port!r} is not a port (1 to 65535)")
        ports.append(int(port))
    return Forward(protocol, host, ports[0], ports[1])


def resolv_conf_nameserver(path: Path = Path("/etc/resolv.conf")) -> str | None:
    """The host resolver's first IPv4 nameserver, or None."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return None
    for line in lines:
        words = line.split()
        if len(words) >= 2 and words[0] == "nameserver":
            try:
                ipaddress.IPv4Address(words[1])
            except ValueError:
                continue
            return words[1]
    return None


class UdpForwards:
    """Host UDP ports that reach a guest port: each host client gets a port of ours the guest answers to."""

    def __init__(self, stack: Stack, guest: Callable[[], int]) -> None:
        self.stack = stack
        self.guest = guest
        """The guest's address now (its DHCP lease), asked when a datagram is to go to it."""
        self.sockets: dict[int, tuple[socket.socket, Forward]] = {}
        self.clients: dict[tuple[int, tuple[str, int]], tuple[int, float]] = {}
        """(host socket fd, host client) -> (our port for it, last used)."""
        self.now = 0.0

    def add(self, forward: Forward) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((forward.host, forward.host_port))
        sock.setblocking(False)
        self.sockets[sock.fileno()] = (sock, forward)

    def readable(self, ready: set[int], tick: int) -> int:
        moved = 0
        for fd, (sock, forward) in self.sockets.items():
            if fd not in ready:
                continue
            for _ in range(16):
                try:
                    data, client = sock.recvfrom(65_535)
                except (BlockingIOError, OSError):
                    break
                key = (fd, client)
                entry = self.clients.get(key)
                port = entry[0] if entry else self.stack.udp.register(0, self._back_to(sock, client))
                self.clients[key] = (port, self.now)
                self.stack.udp.send(port, self.guest(), forward.guest_port, data, tick)
                moved += 1
        return moved

    def _back_to(self, sock: socket.socket, client: tuple[str, int]) -> UdpReceiver:
        def answer(source: UdpEndpoints, payload: memoryview, now: int) -> None:
            try:
                sock.sendto(payload, client)
            except OSError:
                pass

        return answer

    def expire(self, now: float) -> None:
        self.now = now
        for key, (port, used) in list(self.clients.items()):
            if now - used > UDP_FORWARD_IDLE:
                self.stack.udp.unregister(port)
                del self.clients[key]

    def close(self) -> None:
        for sock, _ in self.sockets.values():
            sock.close()


def counters_table(tcp: TcpNat, datagrams: DatagramNat, dhcp: DhcpServer) -> Table:
    table = Table(title=f"mtcp-nat: {tcp.open_flows()} TCP flows open, {len(datagrams.udp)} UDP flows")
    table.add_column("what")
    table.add_column("counter")
    table.add_column("value", justify="right")
    for name, group in (("tcp", tcp.counters), ("datagrams", datagrams.counters), ("dhcp", dhcp.counters)):
        shown = [(k, v) for k, v in vars(group).items() if v and not isinstance(v, dict)]
        shown += [(f"{k}: {cause}", n) for k, v in vars(group).items() if isinstance(v, dict) for cause, n in v.items()]
        for index, (key, value) in enumerate(shown):
            table.add_row(name if index == 0 else "", key, str(value))
    return table


@contextmanager
def tcp_forward_listeners(forwards: list[Forward]) -> Iterator[dict[int, tuple[socket.socket, Forward]]]:
    listeners: dict[int, tuple[socket.socket, Forward]] = {}
    try:
        for forward in forwards:
            if forward.protocol != "tcp":
                continue
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((forward.host, forward.host_port))
                sock.listen(8)
            except OSError as exc:
                sock.close()
                fail(PROG, f"--forward tcp:{forward.host}:{forward.host_port}: {exc.strerror or exc}")
            sock.setblocking(False)
            listeners[sock.fileno()] = (sock, forward)
        yield listeners
    finally:
        for sock, _ in listeners.values():
            sock.close()


def main(argv: list[str] | None = None) -> int:
    parser = make_parser(PROG, "Internet for a DOS guest with no root: our stack as its gateway.")
    parser.add_argument("--guest", "-guest", metavar="LINK", required=True, help="the link the guest is on")
    parser.add_argument("--net", "-net", default="10.0.2.0/24", help="the guest's network (default 10.0.2.0/24)")
    parser.add_argument("--forward", "-forward", action="append", default=[], metavar="tcp:HOSTPORT:GUESTPORT")
    parser.add_argument("--dns-server", "-dns-server", metavar="ADDR", help="where DNS queries go")
    parser.add_argument("--restrict", "-restrict", action="store_true", help="the host and the forwards only")
    parser.add_argument("--pcap", "-pcap", metavar="FILE", help="record the guest's frames")
    parser.add_argument("--max-flows", "-max-flows", default="32", metavar="N", help="TCP flows at once")
    parser.add_argument("--stats", "-stats", action="store_true", help="print the counters on exit")
    args = parser.parse_args(argv)
    try:
        plan = Plan.from_cidr(args.net)
    except ValueError as exc:
        fail(PROG, f"--net {exc}", EXIT_USAGE)
    try:
        forwards = [parse_forward(text) for text in args.forward]
    except ValueError as exc:
        fail(PROG, str(exc), EXIT_USAGE)
    link = args.guest
    if args.pcap:
        link += ("&" if "?" in link else "?") + f"pcap={args.pcap}"
    try:
        parse_link(link)
    except LinkSpecError as exc:
        fail(PROG, str(exc), EXIT_USAGE)
    if args.dns_server:
        try:
            ip_from_str(args.dns_server)
        except ValueError as exc:
            fail(PROG, f"--dns-server {exc}", EXIT_USAGE)
    max_flows = whole_number(PROG, "--max-flows", args.max_flows, 1, 1000)
    upstream = args.dns_server or resolv_conf_nameserver()
    config = MtcpConfig(ip=plan.gateway, netmask=plan.netmask, link=link, path="<mtcp-nat>")
    tcp_config = TcpConfig(max_sockets=max_flows * 2 + 8, tx_buffers=max(64, max_flows * 8))
    console = stderr_console()
    want_table = [False]

    def on_usr1(signum: int, frame: FrameType | None) -> None:
        want_table[0] = True

    previous_usr1 = signal.signal(signal.SIGUSR1, on_usr1)
    try:
        with ExitStack() as cleanup, terminate_as_interrupt():
            stack = cleanup.enter_context(app_stack(PROG, config, link, tcp=tcp_config))
            gateway = Gateway(stack, plan, upstream, args.restrict, max_flows)
            cleanup.callback(gateway.close)
            listeners = cleanup.enter_context(tcp_forward_listeners(forwards))
            for forward in forwards:
                if forward.protocol == "udp":
                    try:
                        gateway.udp_forwards.add(forward)
                    except OSError as exc:
                        fail(PROG, f"--forward udp:{forward.host}:{forward.host_port}: {exc.strerror or exc}")
            try:
                # The banner inside: a SIGTERM the moment it is out must take the same clean way.
                print(f"{PROG}: gateway {ip_to_str(plan.gateway)} on {stack.driver.link.spec}, DNS "
                      f"{ip_to_str(plan.dns)} -> {upstream or 'none (SERVFAIL)'}, guest {ip_to_str(plan.guest)}"
                      + (", restricted" if args.restrict else ""), file=sys.stderr, flush=True)
                gateway.run(listeners, want_table)
            except KeyboardInterrupt:
                print(f"{PROG}: stopping", file=sys.stderr)
            finally:
                if args.stats:
                    console.print(gateway.table())
                    console.print(stats_table(stack, "The gateway stack's counters"))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGUSR1, previous_usr1)
    return EXIT_OK


class Gateway:
    """The stack dressed as the guest's gateway, and the one loop that runs it with the host sockets."""

    def __init__(self, stack: Stack, plan: Plan, upstream: str | None, restrict: bool, max_flows: int) -> None:
        self.stack = stack
        self.plan = plan
        self.restrict = restrict
        stack.ip.accept_any = True
        stack.arp.also_answer.add(plan.dns)
        self.dhcp = DhcpServer(stack.udp, DhcpServerConfig(plan.gateway, plan.netmask, plan.guest, dns=(plan.dns,)),
                               lambda address, mac, now: stack.arp.learn(address, mac, now))
        stack.add_layer(self.dhcp)
        self.datagrams = DatagramNat(stack, self.host_address, plan.dns, upstream, max_flows=max_flows * 2)
        self.tcp = TcpNat(stack, self.host_address, max_flows)
        self.udp_forwards = UdpForwards(stack, self.guest_address)
        self._readable: set[int] = set()
        self._writable: set[int] = set()

    def host_address(self, address: int) -> str | None:
        """Where a destination the guest names is on the host, or None when it may not go there."""
        plan = self.plan
        if address == plan.gateway:
            return "127.0.0.1"
        if self.restrict or (address & plan.netmask) == plan.network or address >> 24 in (0, 127) \
                or address >= 0xE0000000:
            return None
        return ip_to_str(address)

    def guest_address(self) -> int:
        """The guest's address: its lease, or the first of the pool before it asked."""
        leases = [lease.address for lease in self.dhcp.leases.values() if lease.bound]
        return leases[0] if leases else self.plan.guest

    def table(self) -> Table:
        return counters_table(self.tcp, self.datagrams, self.dhcp)

    def run(self, listeners: dict[int, tuple[socket.socket, Forward]], want_table: list[bool]) -> None:
        while True:
            self.step(listeners, LONGEST_WAIT)
            if want_table[0]:
                want_table[0] = False
                stderr_console().print(self.table())

    def step(self, listeners: dict[int, tuple[socket.socket, Forward]], longest: float) -> int:
        """One turn of the loop: the stack, the host sockets found ready by the last wait, then a wait of
        at most `longest` seconds for the link, the host sockets or the next deadline. Returns what moved."""
        stack, clock = self.stack, self.stack.clock
        readable, writable = self._readable, self._writable
        turn(stack)
        now, tick = clock.seconds(), clock.now()
        self.datagrams.expire(now)
        self.udp_forwards.expire(now)
        for fd in readable & listeners.keys():
            sock, forward = listeners[fd]
            try:
                host, _ = sock.accept()
            except OSError:
                continue
            self.tcp.add_forward(host, self.guest_address(), forward.guest_port)
        moved = self.tcp.turn(now, readable, writable, tick)
        moved += self.datagrams.readable(readable, tick)
        moved += self.udp_forwards.readable(readable, tick)
        moved += turn(stack)
        wait = 0.0 if moved else longest
        deadline = stack.next_deadline()
        if deadline is not None:
            wait = min(wait, max(0.0, (deadline - clock.now()) * TICK_SECONDS))
        expiry = self.datagrams.next_expiry()
        if expiry is not None:
            wait = min(wait, max(0.0, expiry - now))
        link_fd = stack.fileno()
        reads = [*listeners, *self.datagrams.fds(), *self.tcp.want_read(), *self.udp_forwards.sockets]
        if link_fd is not None:
            reads.append(link_fd)
        elif wait > 0:
            wait = min(wait, 0.005)  # an in-process link has no descriptor to wake us
        try:
            ready_r, ready_w, _ = select.select(reads, self.tcp.want_write(), [], wait)
        except InterruptedError:
            ready_r, ready_w = [], []
        self._readable, self._writable = set(ready_r), set(ready_w)
        return moved

    def close(self) -> None:
        self.tcp.close()
        self.datagrams.close()
        self.udp_forwards.close()
        turn(self.stack)


if __name__ == "__main__":
    sys.exit(main())
