"""`86box:`: 86Box's network switch, one Ethernet frame per UDP datagram on port 8086.

    86box:switch                 the switch every 86Box on this host and segment shares
    86box:switch?secret=S        a private switch: only machines given the same secret

As 86Box 6's src/network/net_switch.c does it: one receiving socket bound to port 8086 on every address
(SO_REUSEADDR and SO_REUSEPORT, so every 86Box and this link get each datagram), and for each interface that
is up with an IPv4 address, a sending socket: to the multicast group 239.255.86.86 (239.255.80.86 when a
secret is set) on a multicast interface, with multicast loopback off; to the subnet broadcast address on a
loopback or broadcast interface (127.255.255.255 on lo, which is how copies reach the other programs on
this host). With a secret, every datagram starts with the 32-byte SHA3-256 digest of it, and datagrams
with another digest are not ours. Our own frames come back (through lo) and are recognised by their source
address and dropped; as the emulated card does, frames for another station are dropped too (counted).
The target after `86box:` is a name for the user's benefit; 86Box's switch has no names.
"""

from __future__ import annotations

import fcntl
import hashlib
import socket
import struct
from dataclasses import dataclass, field

from ._datagram import DatagramLink
from .base import ETH_HEADER_LEN, LinkError, random_mac
from .kinds import LinkKind, Options, text_value

SWITCH_PORT = 8086
GROUP_OPEN = "239.255.86.86"
GROUP_SECRET = "239.255.80.86"
SECRET_HASH_LEN = 32
MIN_DATAGRAM = 12
"""86Box takes a datagram of at least the two addresses (without the secret's digest)."""
IFF_UP = 0x1
IFF_BROADCAST = 0x2
IFF_LOOPBACK = 0x8
IFF_POINTOPOINT = 0x10
IFF_MULTICAST = 0x1000
SIOCGIFFLAGS = 0x8913
SIOCGIFADDR = 0x8915
SIOCGIFDSTADDR = 0x8917
SIOCGIFBRDADDR = 0x8919
SIOCGIFNETMASK = 0x891B


@dataclass(frozen=True)
class Interface:
    name: str
    address: str
    netmask: str
    broadcast: str | None
    flags: int


def _ioctl_address(sock: socket.socket, name: str, request: int) -> str | None:
    try:
        out = fcntl.ioctl(sock.fileno(), request, struct.pack("256s", name.encode()[:15]))
    except OSError:
        return None
    return socket.inet_ntoa(out[20:24])


def ipv4_interfaces() -> list[Interface]:
    """Every interface with an IPv4 address, as getifaddrs gives 86Box (the first address of each)."""
    found = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _, name in socket.if_nameindex():
            try:
                out = fcntl.ioctl(sock.fileno(), SIOCGIFFLAGS, struct.pack("256s", name.encode()[:15]))
            except OSError:
                continue
            flags = struct.unpack_from("H", out, 16)[0]
            address = _ioctl_address(sock, name, SIOCGIFADDR)
            if address is None:
                continue
            netmask = _ioctl_address(sock, name, SIOCGIFNETMASK) or "255.255.255.255"
            other = SIOCGIFDSTADDR if flags & IFF_POINTOPOINT else SIOCGIFBRDADDR
            found.append(Interface(name, address, netmask, _ioctl_address(sock, name, other), flags))
    return found


@dataclass
class SwitchCounters:
    frames_in: int = 0
    frames_out: int = 0
    own: int = 0
    """Our own frames come back (through lo)."""
    not_for_us: int = 0
    """Unicast frames for another station."""
    other_secret: int = 0
    """Datagrams of another switch (a different secret, or none)."""
    runts: int = 0
    oversize: int = 0
    tx_errors: int = 0
    routes: list[str] = field(default_factory=list)
    """Where each frame is sent: `iface -> address`."""


class Box86Link(DatagramLink):
    def __init__(self, target: str, mac: bytes | None, mtu: int | None, options: Options) -> None:
        super().__init__(f"86box:{target}", mac or random_mac(), mtu or 1500)
        secret = options.get("secret")
        self.secret_hash = hashlib.sha3_256(secret.encode()).digest() if isinstance(secret, str) else b""
        self.group = GROUP_SECRET if self.secret_hash else GROUP_OPEN
        self.counters = SwitchCounters()
        self._tx: list[tuple[socket.socket, tuple[str, int]]] = []
        rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            rx.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            rx.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            rx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
            rx.bind(("0.0.0.0", SWITCH_PORT))
        except OSError as exc:
            rx.close()
            raise LinkError(f"{self.spec}: cannot bind UDP port {SWITCH_PORT}: {exc.strerror or exc}") from exc
        rx.setblocking(False)
        self.sock = rx
        self._add_interfaces()
        if not self._tx:
            self.close()
            raise LinkError(f"{self.spec}: no interface could carry the switch (none up with an IPv4 address)")

    def _add_interfaces(self) -> None:
        """net_switch_update_hostaddrs: every interface, then lo if missing, then any-interface multicast
        when no interface but lo could be used."""
        seen: set[str] = set()
        added = 0
        for interface in ipv4_interfaces():
            added += self._add(interface, seen)
        self._add(Interface("lo", "127.0.0.1", "255.0.0.0", "255.255.255.255", IFF_UP | IFF_LOOPBACK), seen)
        if not added:
            self._add(Interface("any", "0.0.0.0", "0.0.0.0", "255.255.255.255", IFF_UP | IFF_MULTICAST), seen)

    def _add(self, interface: Interface, seen: set[str]) -> int:
        flags = interface.flags
        if not flags & IFF_UP or interface.address in seen:
            return 0
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            if flags & (IFF_MULTICAST | IFF_LOOPBACK) == IFF_MULTICAST and self._join(tx, interface):
                destination = self.group
            elif flags & IFF_LOOPBACK:
                # lo has no broadcast address of its own: 86Box makes one from the netmask.
                address = struct.unpack(">I", socket.inet_aton(interface.address))[0]
                mask = struct.unpack(">I", socket.inet_aton(interface.netmask))[0] or 0xFF000000
                destination = socket.inet_ntoa(struct.pack(">I", address | (~mask & 0xFFFFFFFF)))
                tx.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            elif flags & (IFF_BROADCAST | IFF_POINTOPOINT) and interface.broadcast not in (
                    None, "0.0.0.0", interface.address):
                destination = str(interface.broadcast)
                if flags & IFF_BROADCAST:
                    tx.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            else:
                tx.close()
                return 0
        except OSError:
            tx.close()
            return 0
        seen.add(interface.address)
        self._tx.append((tx, (destination, SWITCH_PORT)))
        self.counters.routes.append(f"{interface.name} -> {destination}")
        return 0 if flags & IFF_LOOPBACK else 1

    def _join(self, tx: socket.socket, interface: Interface) -> bool:
        local = socket.inet_aton(interface.address)
        try:
            tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, local)
            self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, socket.inet_aton(self.group) + local)
        except OSError:
            return False  # 86Box then tries the interface's broadcast address
        # Copies for programs on this host go through lo, so none loops back here.
        tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
        return True

    def take(self, datagram: bytes, source: tuple[str, int]) -> int:
        counters = self.counters
        if self.secret_hash:
            if len(datagram) < SECRET_HASH_LEN + MIN_DATAGRAM:
                counters.runts += 1
                return 0
            if datagram[:SECRET_HASH_LEN] != self.secret_hash:
                counters.other_secret += 1
                return 0
            datagram = datagram[SECRET_HASH_LEN:]
        if len(datagram) < ETH_HEADER_LEN:
            counters.runts += 1
        elif len(datagram) > self.mtu + ETH_HEADER_LEN:
            counters.oversize += 1
        elif datagram[6:12] == self.mac:
            counters.own += 1
        elif not datagram[0] & 1 and datagram[:6] != self.mac:
            counters.not_for_us += 1
        else:
            counters.frames_in += 1
            self.deliver(datagram)
            return 1
        return 0

    def send(self, frame: bytes | bytearray | memoryview) -> None:
        if self._closed:
            raise LinkError(f"{self.spec}: link is closed")
        datagram = self.secret_hash + bytes(frame)
        for tx, destination in self._tx:
            try:
                tx.sendto(datagram, destination)
            except OSError:
                self.counters.tx_errors += 1  # one interface down (no carrier, no route): the others carry it
        self.counters.frames_out += 1

    def close_sockets(self) -> None:
        for tx, _ in self._tx:
            tx.close()
        self._tx.clear()
        self.sock.close()


def check_switch_name(target: str) -> None:
    if not target.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise ValueError(f"{target!r}: a switch is named with letters, digits, '-', '_' or '.' (86box:switch)")


BOX86 = LinkKind(Box86Link, {"secret": text_value("the switch's secret, as set in 86Box")}, check_switch_name,
                 default_target="switch")
