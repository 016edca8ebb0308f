"""mtcp-pkttool: mTCP's PKTTOOL (2020): look at packet drivers and the frames on a link.

    mtcp-pkttool scan                        # the packet drivers the registry finds: vector, class, type, MAC
    mtcp-pkttool stats [-time S]             # the driver's statistics table (after listening S seconds)
    mtcp-pkttool listen [-v] [-raw] [-s N] [-outputfile F] [filters]
    mtcp-pkttool read FILE [-v] [-raw] [-s N] [filters]

`listen` opens the configured link's driver in promiscuous mode and prints one decoded line per frame
(Ethernet, ARP, IPv4, ICMP, UDP, TCP with flags, seq, ack and length; DNS and DHCP named); `-raw` adds a hex
dump, `-s N` stops after N frames, `-outputfile F` writes what was seen to a pcap file; `read` prints the
same lines for a pcap file. Filters: `-proto P` (arp, ip, icmp, udp, tcp, dns, dhcp; repeatable), `-host A`,
`-port N`. Frames go to stdout, one line each; the per-protocol counters, as a table, to stderr at the end
(Ctrl-C or SIGTERM ends listening). Exit status 0, 1 when the link or file cannot be opened, 2 for a bad
command line or configuration.
"""

from __future__ import annotations

import argparse
import select
import struct
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from rich.console import Console
from rich.table import Table

from mtcp_py.config import ConfigError, MtcpConfig
from mtcp_py.wire import ip_from_str, ip_to_str
from pktdrv import DriverRegistry, LinkError, MonotonicTicks, PacketDriver, PacketDriverError, open_link
from pktdrv.driver import IF_NUMBER_ANY, IF_TYPE_ANY, InterfaceClass, ReceiveMode
from pktdrv.links import LinkSpecError
from pktdrv.links.pcap import PcapWriter, read_pcap

from .common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    add_common_options,
    fail,
    load,
    stderr_console,
    terminate_as_interrupt,
    whole_number,
)

PROG = "mtcp-pkttool"
PROTOCOLS = ("arp", "ip", "icmp", "udp", "tcp", "dns", "dhcp")
TCP_FLAGS = ((0x01, "F"), (0x02, "S"), (0x04, "R"), (0x08, "P"), (0x10, "."), (0x20, "U"), (0x40, "E"), (0x80, "C"))
ICMP_TYPES = {0: "echo reply", 3: "unreachable", 4: "source quench", 5: "redirect", 8: "echo request",
              11: "time exceeded", 12: "parameter problem", 13: "timestamp", 14: "timestamp reply"}
DHCP_TYPES = {1: "DISCOVER", 2: "OFFER", 3: "REQUEST", 4: "DECLINE", 5: "ACK", 6: "NAK", 7: "RELEASE",
              8: "INFORM"}
DNS_TYPES = {1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT", 28: "AAAA", 33: "SRV",
             255: "ANY"}
ETHERTYPES = {0x0800: "IPv4", 0x0806: "ARP", 0x86DD: "IPv6", 0x8100: "802.1Q", 0x8035: "RARP"}
IP_PROTOCOLS = {1: "ICMP", 2: "IGMP", 6: "TCP", 17: "UDP", 41: "IPv6", 47: "GRE", 50: "ESP", 58: "ICMPv6"}


@dataclass
class Decoded:
    """One frame in words: the line printed, and what the filters and counters look at."""

    line: str
    protocols: set[str] = field(default_factory=set)
    hosts: set[int] = field(default_factory=set)
    ports: set[int] = field(default_factory=set)


def mac(data: bytes) -> str:
    return data.hex(":")


def dns_summary(payload: bytes) -> str:
    """`DNS query 0x1a2b A example.com` or `DNS response 0x1a2b (2 answers)`; read with care (any bytes)."""
    if len(payload) < 12:
        return "DNS (short)"
    ident, flags, questions, answers = struct.unpack_from("!HHHH", payload)
    kind = "response" if flags & 0x8000 else "query"
    text = f"DNS {kind} {ident:#06x}"
    if questions:
        labels: list[str] = []
        offset = 12
        while offset < len(payload) and payload[offset] and len(labels) < 64:
            length = payload[offset]
            if length & 0xC0:  # a pointer: the question's name is never compressed in practice
                break
            labels.append(payload[offset + 1: offset + 1 + length].decode("ascii", errors="replace"))
            offset += 1 + length
        if offset + 3 < len(payload):
            qtype = struct.unpack_from("!H", payload, offset + 1)[0]
            text += f" {DNS_TYPES.get(qtype, str(qtype))} {'.'.join(labels) or '.'}"
    if flags & 0x8000:
        text += f" ({answers} answers, rcode {flags & 0xF})"
    return text


def dhcp_summary(payload: bytes) -> str:
    if len(payload) < 240 or payload[236:240] != b"\x63\x82\x53\x63":
        return "DHCP/BOOTP (no magic cookie)"
    xid = struct.unpack_from("!I", payload, 4)[0]
    kind = "?"
    offset = 240
    while offset + 1 < len(payload):
        code = payload[offset]
        if code == 255:
            break
        if code == 0:
            offset += 1
            continue
        length = payload[offset + 1]
        if code == 53 and length >= 1 and offset + 2 < len(payload):
            kind = DHCP_TYPES.get(payload[offset + 2], str(payload[offset + 2]))
        offset += 2 + length
    return f"DHCP {kind} xid {xid:#010x} client {mac(payload[28:34])}"


def decode_transport(protocol: int, data: bytes, src: int, dst: int, out: Decoded) -> str:
    where = f"{ip_to_str(src)} > {ip_to_str(dst)}"
    if protocol == 1 and len(data) >= 4:
        out.protocols.add("icmp")
        kind, code = data[0], data[1]
        text = f"{where} ICMP {ICMP_TYPES.get(kind, f'type {kind}')}"
        if kind in (0, 8) and len(data) >= 8:
            ident, seq = struct.unpack_from("!HH", data, 4)
            text += f" id {ident} seq {seq} len {len(data) - 8}"
        elif code:
            text += f" code {code}"
        return text
    if protocol == 17 and len(data) >= 8:
        out.protocols.add("udp")
        sport, dport, length = struct.unpack_from("!HHH", data)
        out.ports.update((sport, dport))
        payload = data[8:length] if 8 <= length <= len(data) else data[8:]
        text = f"{ip_to_str(src)}.{sport} > {ip_to_str(dst)}.{dport} UDP len {len(payload)}"
        if 53 in (sport, dport):
            out.protocols.add("dns")
            text += " " + dns_summary(payload)
        elif {sport, dport} & {67, 68}:
            out.protocols.add("dhcp")
            text += " " + dhcp_summary(payload)
        return text
    if protocol == 6 and len(data) >= 20:
        out.protocols.add("tcp")
        sport, dport, seq, ack, offset_flags, window = struct.unpack_from("!HHIIHH", data)
        out.ports.update((sport, dport))
        header = (offset_flags >> 12) * 4
        flags = "".join(name for bit, name in TCP_FLAGS if offset_flags & bit) or "none"
        length = max(0, len(data) - header)
        text = (f"{ip_to_str(src)}.{sport} > {ip_to_str(dst)}.{dport} TCP [{flags}] seq {seq} ack {ack} "
                f"win {window} len {length}")
        if 53 in (sport, dport):
            out.protocols.add("dns")
        return text
    return f"{where} {IP_PROTOCOLS.get(protocol, f'protocol {protocol}')} len {len(data)}"


def decode(frame: bytes, verbose: bool = False) -> Decoded:
    """A frame in one line. Never raises: truncated or odd frames say so."""
    out = Decoded("")
    if len(frame) < 14:
        out.line = f"runt frame of {len(frame)} bytes"
        return out
    ethertype = struct.unpack_from("!H", frame, 12)[0]
    macs = f"{mac(frame[6:12])} > {mac(frame[0:6])} " if verbose else ""
    body = frame[14:]
    if ethertype == 0x0806 and len(body) >= 28:
        out.protocols.add("arp")
        op = struct.unpack_from("!H", body, 6)[0]
        smac, sip, tip = body[8:14], struct.unpack_from("!I", body, 14)[0], struct.unpack_from("!I", body, 24)[0]
        out.hosts.update((sip, tip))
        if op == 1:
            text = f"ARP who-has {ip_to_str(tip)} tell {ip_to_str(sip)}"
        elif op == 2:
            text = f"ARP reply {ip_to_str(sip)} is-at {mac(smac)}"
        else:
            text = f"ARP op {op}"
        out.line = macs + text
        return out
    if ethertype == 0x0800 and len(body) >= 20 and body[0] >> 4 == 4:
        out.protocols.add("ip")
        ihl = (body[0] & 0x0F) * 4
        total, ident, flags_offset, ttl, protocol = struct.unpack_from("!HHHBB", body, 2)
        src, dst = struct.unpack_from("!II", body, 12)
        out.hosts.update((src, dst))
        payload = body[ihl:total] if ihl <= total <= len(body) else body[ihl:]
        details = f"IPv4 id {ident} ttl {ttl} len {total} " if verbose else ""
        if flags_offset & 0x1FFF:
            out.line = macs + details + f"{ip_to_str(src)} > {ip_to_str(dst)} fragment offset " \
                                        f"{(flags_offset & 0x1FFF) * 8} len {len(payload)}"
            return out
        out.line = macs + details + decode_transport(protocol, payload, src, dst, out)
        return out
    name = ETHERTYPES.get(ethertype, f"ethertype {ethertype:#06x}")
    out.line = macs + f"{name} len {len(body)}" + (" (truncated)" if ethertype in (0x0800, 0x0806) else "")
    return out


def hex_dump(frame: bytes) -> list[str]:
    return [f"  {offset:04x}  {frame[offset:offset + 16].hex(' ')}" for offset in range(0, len(frame), 16)]


@dataclass
class Filters:
    protocols: set[str] = field(default_factory=set)
    host: int | None = None
    port: int | None = None

    def match(self, decoded: Decoded) -> bool:
        if self.protocols and not self.protocols & decoded.protocols:
            return False
        if self.host is not None and self.host not in decoded.hosts:
            return False
        return self.port is None or self.port in decoded.ports


class Printer:
    """Prints matching frames and counts them by protocol."""

    def __init__(self, filters: Filters, verbose: bool, raw: bool, limit: int | None) -> None:
        self.filters, self.verbose, self.raw, self.limit = filters, verbose, raw, limit
        self.counts: Counter[str] = Counter()
        self.shown = 0
        self.seen = 0

    @property
    def done(self) -> bool:
        return self.limit is not None and self.shown >= self.limit

    def frame(self, stamp: float, frame: bytes) -> bool:
        """Print `frame` if it matches; True when it did."""
        self.seen += 1
        decoded = decode(frame, self.verbose)
        if not self.filters.match(decoded):
            return False
        self.shown += 1
        self.counts["frames"] += 1
        for protocol in decoded.protocols or {"other"}:
            self.counts[protocol] += 1
        clock = time.strftime("%H:%M:%S", time.localtime(stamp)) + f".{int(stamp % 1 * 1e6):06d}"
        lines = [f"{clock} {decoded.line}", *(hex_dump(frame) if self.raw else [])]
        sys.stdout.write("\n".join(lines) + "\n")
        return True

    def report(self) -> None:
        """The per-protocol counters, on stderr (stdout carries only the frames' lines)."""
        console = stderr_console()
        console.print(f"{PROG}: {self.shown} frames shown of {self.seen} seen")
        console.print(self.table())

    def table(self) -> Table:
        table = Table()
        table.add_column("protocol")
        table.add_column("frames", justify="right")
        for protocol in ("frames", *PROTOCOLS, "other"):
            if self.counts[protocol]:
                table.add_row(protocol, str(self.counts[protocol]))
        return table


def open_driver(config: MtcpConfig, link: str | None) -> PacketDriver:
    spec = link or config.link
    if not spec:
        fail(PROG, f"{config.path or '<no config>'}: LINK: no link given (LINK in the config file, or --link)",
             EXIT_USAGE)
    try:
        return PacketDriver(open_link(spec, MonotonicTicks()), interrupt=config.packet_int)
    except LinkSpecError as exc:
        fail(PROG, str(exc), EXIT_USAGE)
    except (LinkError, OSError) as exc:
        fail(PROG, str(exc), EXIT_FAILED)


def frames_from(driver: PacketDriver, until: float | None = None) -> Iterator[tuple[float, bytes]]:
    """Every frame the driver receives (promiscuous, all types), as (time, bytes), until `until`."""
    received: list[bytes] = []

    def receiver(handle: int, call: int, data: object) -> bytearray | None:
        if call == 0:
            assert isinstance(data, int)
            return bytearray(data)
        assert isinstance(data, (bytearray, memoryview))
        received.append(bytes(data))
        return None

    try:
        handle = driver.access_type(InterfaceClass.DIX_ETHERNET, IF_TYPE_ANY, IF_NUMBER_ANY, b"", receiver)
        driver.set_rcv_mode(handle, ReceiveMode.PROMISCUOUS)
    except (PacketDriverError, LinkError, OSError) as exc:
        fail(PROG, f"{driver.link.spec}: {exc}", EXIT_FAILED)
    fd = driver.fileno()
    while until is None or time.time() < until:
        driver.drain(256)
        for frame in received:
            yield time.time(), frame
        received.clear()
        wait = 0.2 if until is None else max(0.0, min(0.2, until - time.time()))
        if fd is not None:
            select.select([fd], [], [], wait)
        else:
            time.sleep(min(wait, 0.005))  # an in-memory hub has nothing to wait on


def command_scan(config: MtcpConfig, link: str | None) -> int:
    """The configured link's driver, installed at PACKETINT, then every vector 0x60-0x80 scanned for the
    "PKT DRVR" signature as PKTTOOL does."""
    registry = DriverRegistry()
    driver = open_driver(config, link)
    try:
        registry.install(driver, config.packet_int)
        table = Table(title="Packet drivers")
        for column in ("vector", "name", "class", "type", "number", "MAC"):
            table.add_column(column, no_wrap=column in ("vector", "MAC"))
        for vector in registry.scan():
            found = registry.find(vector)
            info = found.driver_info()
            known = info.if_class in set(InterfaceClass)
            kind = InterfaceClass(info.if_class).name if known else "unknown"
            table.add_row(f"{vector:#04x}", info.name, f"{info.if_class} ({kind})", str(info.if_type),
                          str(info.if_number), mac(bytes(found.link.mac)))
        Console(highlight=False).print(table)
        return EXIT_OK
    finally:
        driver.shutdown()


def command_stats(config: MtcpConfig, link: str | None, seconds: float) -> int:
    """The driver's statistics table, after receiving for `seconds` (an emulated driver starts at zero)."""
    driver = open_driver(config, link)
    try:
        if seconds > 0:
            for _ in frames_from(driver, time.time() + seconds):
                pass
        stats = driver.stats.copy()
        table = Table(title=f"Packet driver statistics ({driver.link.spec})")
        table.add_column("counter")
        table.add_column("value", justify="right")
        for name, value in stats.__dict__.items():
            table.add_row(name, str(value))
        Console(highlight=False).print(table)
        return EXIT_OK
    finally:
        driver.shutdown()


def command_listen(config: MtcpConfig, link: str | None, printer: Printer, output: str | None) -> int:
    driver = open_driver(config, link)
    writer: PcapWriter | None = None
    try:
        if output:
            try:
                writer = PcapWriter(output)
            except OSError as exc:
                fail(PROG, f"{output}: {exc.strerror or exc}", EXIT_FAILED)
        try:
            for stamp, frame in frames_from(driver):
                if printer.frame(stamp, frame) and writer is not None:
                    writer.write(stamp, frame)
                if printer.done:
                    break
        except KeyboardInterrupt:
            pass
        return EXIT_OK
    finally:
        if writer is not None:
            writer.close()
        driver.shutdown()
        printer.report()


def command_read(path: str, printer: Printer) -> int:
    try:
        for stamp, frame in read_pcap(path):
            printer.frame(stamp, frame)
            if printer.done:
                break
    except (OSError, ValueError, struct.error) as exc:
        fail(PROG, f"{path}: {getattr(exc, 'strerror', None) or exc}", EXIT_FAILED)
    printer.report()
    return EXIT_OK


def add_frame_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-v", "--verbose", action="store_true", help="MAC addresses and IP header fields")
    parser.add_argument("-raw", "--raw", action="store_true", help="a hex dump of each frame")
    parser.add_argument("-s", "--count", metavar="N", help="stop after N frames")
    parser.add_argument("-proto", "--proto", action="append", default=[], metavar="P",
                        help=f"only these protocols ({', '.join(PROTOCOLS)}); repeatable")
    parser.add_argument("-host", "--host", metavar="A", help="only frames to or from this IPv4 address")
    parser.add_argument("-port", "--port", metavar="N", help="only UDP or TCP frames to or from this port")


def make_printer(args: argparse.Namespace) -> Printer:
    for protocol in args.proto:
        if protocol.lower() not in PROTOCOLS:
            fail(PROG, f"-proto {protocol}: one of {', '.join(PROTOCOLS)}", EXIT_USAGE)
    host = None
    if args.host is not None:
        try:
            host = ip_from_str(args.host)
        except ValueError:
            fail(PROG, f"-host {args.host}: an IPv4 address (names need DNS)", EXIT_USAGE)
    port = whole_number(PROG, "-port", args.port, 1, 65_535, "a port is a number") if args.port else None
    limit = whole_number(PROG, "-s", args.count, 1) if args.count is not None else None
    filters = Filters({p.lower() for p in args.proto}, host, port)
    return Printer(filters, args.verbose, args.raw, limit)


def parse_args(argv: Iterable[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description="mTCP PKTTOOL: packet drivers and frames.",
                                     add_help=False, allow_abbrev=False)
    parser.add_argument("-help", "-h", "--help", action="help", help="show this help and exit")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    scan = commands.add_parser("scan", help="the packet drivers found, with class, type and MAC", add_help=False)
    stats = commands.add_parser("stats", help="the driver's statistics table", add_help=False)
    stats.add_argument("-time", "--time", default="0", metavar="S", help="receive for S seconds first")
    listen = commands.add_parser("listen", help="one decoded line per frame on the link", add_help=False)
    add_frame_options(listen)
    listen.add_argument("-outputfile", "--outputfile", metavar="F", help="also write the frames to pcap file F")
    read = commands.add_parser("read", help="the same lines for a pcap file", add_help=False)
    read.add_argument("file", metavar="FILE")
    add_frame_options(read)
    for sub in (scan, stats, listen, read):
        sub.add_argument("-help", "-h", "--help", action="help", help="show this help and exit")
        if sub is not read:
            add_common_options(sub)
    return parser.parse_args(list(argv) if argv is not None else None)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.command == "read":
            return command_read(args.file, make_printer(args))
        config = load(PROG, args.config)
        with terminate_as_interrupt():
            if args.command == "scan":
                return command_scan(config, args.link)
            if args.command == "stats":
                seconds = float(args.time) if args.time.replace(".", "", 1).isdigit() else -1.0
                if seconds < 0:
                    fail(PROG, f"-time {args.time}: seconds, a number 0 or more", EXIT_USAGE)
                return command_stats(config, args.link, seconds)
            return command_listen(config, args.link, make_printer(args), args.outputfile)
    except ConfigError as exc:
        fail(PROG, str(exc), EXIT_USAGE)
    except KeyboardInterrupt:
        return EXIT_OK
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
